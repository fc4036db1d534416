"""Keys that TLS-based EAP methods derive from their TLS session (RFC 5216 §2.3, RFC 5281 §8 and
§11.1, RFC 9190 §2.3, RFC 9427 §2.1, §2.4 and §2.5).

* TLS 1.2 (and earlier): the RFC 5705 exporter with no context — the PRF over the master secret and
  both randoms. EAP-TLS and PEAPv0 use the label ``client EAP encryption`` (RFC 5216 §2.3; PEAP
  took EAP-TLS's, as hostapd and FreeRADIUS do), EAP-TTLS ``ttls keying material`` (RFC 5281 §8).
* TLS 1.3: one label for every method, ``EXPORTER_EAP_TLS_Key_Material``, with the method's type
  octet as the context (0x0D EAP-TLS, 0x15 TTLS, 0x19 PEAP), so the methods' keys differ (RFC 9190
  §2.3, RFC 9427 §2.1).
* 128 octets come out: MSK = the first 64, EMSK = the next 64. The RADIUS reply carries the MSK as
  MS-MPPE-Recv-Key = MSK[0:32] and MS-MPPE-Send-Key = MSK[32:64] (RFC 2548 §2.4, as FreeRADIUS and
  hostapd send them).
* TTLS inner CHAP / MS-CHAP / MS-CHAPv2 take their challenge from the tunnel instead of the wire
  (RFC 5281 §11.1, the "implicit challenge"): the exporter with label ``ttls challenge``; for
  MS-CHAPv2, 17 octets — 16 of challenge, then the Ident octet. RFC 9427 §2.4 keeps the label under
  TLS 1.3, with no context.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from radius.eap.packet import EapType

__all__ = [
    "EMSK_LENGTH",
    "MSK_LENGTH",
    "TTLS_CHALLENGE_LENGTH",
    "EapKeys",
    "Exporter",
    "derive",
    "mppe_keys",
    "ttls_challenge",
]

MSK_LENGTH = 64
EMSK_LENGTH = 64
TTLS_CHALLENGE_LENGTH = 17  # MS-CHAPv2: 16 octets of challenge + the Ident (RFC 5281 §11.2.4)

TLS13_LABEL = "EXPORTER_EAP_TLS_Key_Material"
TLS12_LABELS = {
    EapType.TLS: "client EAP encryption",
    EapType.PEAP: "client EAP encryption",
    EapType.TTLS: "ttls keying material",
}


class Exporter(Protocol):
    """What the keys are derived from: a finished TLS session (``radius.eap.tlsengine.TlsServer``)."""

    @property
    def version(self) -> str: ...

    def export(self, label: str, length: int, context: bytes | None) -> bytes: ...


@dataclass(frozen=True, slots=True)
class EapKeys:
    msk: bytes
    emsk: bytes


def derive(tls: Exporter, method: EapType) -> EapKeys:
    """The MSK and EMSK of a TLS-based method ``method`` (TLS, TTLS or PEAP) over ``tls``."""
    if method not in TLS12_LABELS:
        raise ValueError(f"{method!r} is not a TLS-based method")
    if tls.version == "TLSv1.3":
        material = tls.export(TLS13_LABEL, MSK_LENGTH + EMSK_LENGTH, bytes([method]))
    else:
        material = tls.export(TLS12_LABELS[method], MSK_LENGTH + EMSK_LENGTH, None)
    return EapKeys(msk=material[:MSK_LENGTH], emsk=material[MSK_LENGTH:])


def mppe_keys(msk: bytes) -> tuple[bytes, bytes]:
    """(MS-MPPE-Recv-Key, MS-MPPE-Send-Key) for the RADIUS reply, before the attribute's own salt
    encryption (RFC 2548 §2.4.2-§2.4.3, the codec's job)."""
    if len(msk) != MSK_LENGTH:
        raise ValueError("an MSK is 64 octets")
    return msk[:32], msk[32:]


def ttls_challenge(tls: Exporter) -> bytes:
    """The TTLS implicit challenge, :data:`TTLS_CHALLENGE_LENGTH` octets (RFC 5281 §11.1; RFC 9427 §2.4
    for TLS 1.3: same label, no context)."""
    return tls.export("ttls challenge", TTLS_CHALLENGE_LENGTH, None)
