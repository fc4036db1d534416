"""The seam between the TLS tunnel and the methods run inside it (PEAP, EAP-TTLS).

The TLS side (``radius.eap.conversation``) owns the handshake, the records and the keys; once
the tunnel is up it builds one :class:`InnerPhase` (``radius.eap.peap.PeapInner`` or
``radius.eap.ttls.TtlsInner``) and from then on only moves application data:

* ``start()`` right after the handshake: what to send first (PEAP asks for the identity; TTLS
  waits for the peer, ``send=b""``);
* ``receive(data)`` with each decrypted message of the peer, and ``b""`` when the peer sent an
  EAP-TTLS/PEAP Response with no TLS data while nothing of ours was left to send (not the ack
  of one of our fragments): EAP-TTLS peers acknowledge MS-CHAP2-Success and MS-CHAP-Error that
  way (hostapd eap_server_ttls.c: an empty ``tls_in``), and a TTLS peer that has not spoken yet
  is asked again with an empty request (``send=b""``);
* ``supply(need, answer)`` with the caller's answer to a :mod:`radius.eap.needs` need that
  ``receive`` returned.

Each returns an :class:`InnerOutput`: data to encrypt into the next EAP-Request, and, once the
inner method has ended, its result. Inner methods never see TLS, and TLS code never parses
inner data. Nothing from the peer makes an inner phase raise: malformed input ends it with
``InnerFailure("inner_malformed")``.

Failure reasons (:data:`INNER_REASONS`, decision-record values): ``bad_user_name``,
``realm_mismatch``, ``bad_password`` (a wrong password or NT-Response; for inner PAP also an
unknown user, which only the caller can tell), ``unknown_user`` (NeedNtHashes answered ``[]``),
``peer_rejected`` (the peer refused our MS-CHAPv2 proof or answered our Result TLV with
failure), ``inner_malformed``, ``inner_method_not_allowed`` (not in ``allowed``),
``inner_no_common_method`` (the peer NAKed EAP-MSCHAPv2, or offered TTLS CHAP/MS-CHAPv1),
``inner_unsupported_avp`` (a mandatory AVP we do not know), ``inner_challenge_mismatch`` (TTLS
MS-CHAPv2 not answering the implicit challenge).

Identities (:func:`inner_identity`): the inner name is ``user@realm`` or ``user`` (then our
realm), lower-cased as the RADIUS pipeline does; its realm must be ours and the outer
identity's (``@realm``, ``anonymous@realm``; an outer name without a realm counts as ours).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from accounts.wiretext import is_clean, storable
from radius.eap.needs import Need
from radius.eap.packet import EapCode, EapMalformed, EapPacket, parse

__all__ = [
    "INNER_METHODS",
    "INNER_REASONS",
    "PEAP_MSCHAPV2",
    "TTLS_EAP_MSCHAPV2",
    "TTLS_MSCHAPV2",
    "TTLS_PAP",
    "InnerFailure",
    "InnerOutput",
    "InnerPhase",
    "InnerSuccess",
    "inner_identity",
    "tunnelled_response",
]

# The decision-record names of the inner methods; ``allowed`` holds some of them.
PEAP_MSCHAPV2 = "peap/mschapv2"
TTLS_PAP = "eap-ttls/pap"
TTLS_MSCHAPV2 = "eap-ttls/mschapv2"
TTLS_EAP_MSCHAPV2 = "eap-ttls/eap-mschapv2"
INNER_METHODS = frozenset({PEAP_MSCHAPV2, TTLS_PAP, TTLS_MSCHAPV2, TTLS_EAP_MSCHAPV2})

#: every InnerFailure.reason the inner phases give (see the module's docstring)
INNER_REASONS = frozenset(
    {
        "bad_user_name",
        "realm_mismatch",
        "bad_password",
        "unknown_user",
        "peer_rejected",
        "inner_malformed",
        "inner_method_not_allowed",
        "inner_no_common_method",
        "inner_unsupported_avp",
        "inner_challenge_mismatch",
    }
)

MAX_IDENTITY = 253  # octets: what a RADIUS User-Name holds, so what an account name can be


@dataclass(frozen=True, slots=True, kw_only=True)
class InnerSuccess:
    """Fired when the inner method proved the peer's credential (and the peer accepted ours)."""

    identity: str  # inner "user@realm" (realm filled in with ours when absent)
    method: str  # decision-record name, e.g. "peap/mschapv2", "eap-ttls/pap"


@dataclass(frozen=True, slots=True, kw_only=True)
class InnerFailure:
    """Fired when the inner method ended without proving the peer's credential."""

    reason: str  # "bad_password", "unknown_user", "realm_mismatch", "inner_malformed", …
    identity: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class InnerOutput:
    """Fired when the inner phase has something to send, or has ended."""

    send: bytes = b""  # application data to encrypt and send in the next EAP-Request (b"": an ack / nothing)
    result: InnerSuccess | InnerFailure | None = None  # None: the conversation goes on
    #   PEAP sends its Result TLV and waits for the client's before result is set;
    #   TTLS/PAP sets result at once.


class InnerPhase(Protocol):
    def start(self) -> InnerOutput: ...  # right after the handshake
    def receive(self, data: bytes) -> InnerOutput | Need: ...  # decrypted application data from the peer
    def supply(self, need: Need, answer: object) -> InnerOutput: ...  # the answer to a Need it returned


def tunnelled_response(data: bytes) -> EapPacket | None:
    """The EAP-Response a peer sent whole inside the tunnel, or None when ``data`` holds none.

    Octets past its Length are the tunnel's padding and ignored (RFC 3748 §4.1; see
    :mod:`radius.eap.packet`); anything that does not parse, or is not a Response, is None.
    """
    try:
        packet = parse(data, padding=True)
    except EapMalformed:
        return None
    return packet if packet.code is EapCode.RESPONSE else None


def _realm_of(name: str, ours: str) -> str:
    _user, sep, realm = name.strip().rpartition("@")
    return realm.lower() if sep else ours


def inner_identity(
    raw: bytes, *, outer_identity: str, realm: str, strip_domain: bool = False
) -> str | InnerFailure:
    r"""The account's ``user@realm`` from an inner name as the peer sent it, or why not.

    ``bad_user_name``: empty, longer than a User-Name, NUL, control characters or invalid
    UTF-8 (no account has such a name; checked before any lookup, as the pipeline does).
    ``realm_mismatch``: the realm is not ours, or not the outer identity's. ``strip_domain``:
    drop a Windows ``DOMAIN\`` prefix from the user part, as the pipeline does for MS-CHAP.
    """
    if not raw or len(raw) > MAX_IDENTITY or not is_clean(raw):
        return InnerFailure(reason="bad_user_name", identity=storable(raw, MAX_IDENTITY) or None)
    ours = realm.lower()
    user, sep, inner_realm = raw.decode("utf-8").strip().rpartition("@")
    username = (user if sep else inner_realm).lower()
    inner_realm = inner_realm.lower() if sep else ours
    if strip_domain:
        username = username.rpartition("\\")[2]
    identity = f"{username}@{inner_realm}"
    if not username:
        return InnerFailure(reason="bad_user_name", identity=identity)
    if inner_realm != ours or inner_realm != _realm_of(outer_identity, ours):
        return InnerFailure(reason="realm_mismatch", identity=identity)
    return identity
