"""The few EAP header facts the inner methods need (RFC 3748 §4), kept private.

``radius.eap.packet`` (the TLS side's codec) is the one EAP packet codec of the package; the
inner methods were written beside it, in parallel, and use only this much: building an
EAP-Request and reading an EAP-Response inside the tunnel (EAP-TTLS carries whole packets in
EAP-Message AVPs; PEAPv0 whole packets only for Extensions). To be folded into ``packet`` when
both sides are merged.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

REQUEST = 1
RESPONSE = 2

IDENTITY = 1
NAK = 3
MSCHAPV2 = 26
EXTENSIONS = 33  # PEAPv0's EAP-TLV ([MS-PEAP] §2.2.8)

HEADER = struct.Struct("!BBH")  # Code, Identifier, Length


@dataclass(frozen=True, slots=True, kw_only=True)
class InnerEap:
    """Fired when a whole EAP packet with a type arrived inside the tunnel."""

    code: int
    identifier: int
    type: int
    data: bytes  # type-data, after the Type octet


def request(identifier: int, eap_type: int, data: bytes) -> bytes:
    """An EAP-Request of ``eap_type`` carrying ``data``."""
    return HEADER.pack(REQUEST, identifier & 0xFF, HEADER.size + 1 + len(data)) + bytes([eap_type]) + data


def parse(data: bytes) -> InnerEap | None:
    """An EAP packet with a Type octet, or None when its header does not hold (octets past the
    Length are padding, RFC 3748 §4.1, and ignored)."""
    if len(data) < HEADER.size + 1:
        return None
    code, identifier, length = HEADER.unpack_from(data)
    if length < HEADER.size + 1 or length > len(data):
        return None
    return InnerEap(code=code, identifier=identifier, type=data[4], data=data[5:length])
