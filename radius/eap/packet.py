"""EAP packets (RFC 3748 §4): the codec, nothing else.

    Code (1) | Identifier (1) | Length (2) | Type (1, Request and Response only) | Type-Data

Over RADIUS (RFC 3579 §3.1) the EAP-Message attributes of one packet, joined, carry exactly one EAP
packet; splitting and joining them (253 octets each) is the RADIUS glue's job, not this module's.

Octets past the Length. RFC 3748 §4.1: "Octets outside the range of the Length field should be
treated as Data Link Layer padding and MUST be ignored upon reception. A message with the Length
field set to a value larger than the number of received octets MUST be silently discarded." Who
receives from a link decides, so :func:`parse` has two readings:

* ``parse(data)``, exact: the outer EAP-Message over RADIUS. The access point received the
  packet from the link, dropped the link's padding there, and "MUST validate the EAP header
  fields (Code, Identifier, Length) prior to forwarding" (RFC 3579 §2.2); RADIUS has no padding
  of its own. Octets past the Length are then not padding but a malformed packet, refused as
  FreeRADIUS refuses them (``eap_vp2packet``: the Length must equal the attributes' octets).
* ``parse(data, padding=True)``: a packet carried whole inside a tunnel (EAP-TTLS EAP-Message
  AVPs, RFC 5281 §11.1; PEAPv0 Extensions, [MS-PEAP] §2.2.8). The tunnel is the inner packet's
  lower layer, so RFC 3748 §4.1 applies as written: octets past the Length are ignored, as
  hostapd ignores them (eap_server_peap.c, eap_server_ttls.c); a Length past the octets received
  is still refused.

:func:`parse` raises :class:`EapMalformed` (the peer's fault) and nothing else on any input.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

__all__ = [
    "HEADER_LENGTH",
    "MAX_LENGTH",
    "EapCode",
    "EapMalformed",
    "EapPacket",
    "EapType",
    "failure",
    "parse",
    "request",
    "success",
]

HEADER_LENGTH = 4
MAX_LENGTH = 0xFFFF  # the Length field's range


class EapCode(enum.IntEnum):
    REQUEST = 1
    RESPONSE = 2
    SUCCESS = 3
    FAILURE = 4


class EapType(enum.IntEnum):
    """The method types Sésame speaks or reads (IANA "EAP Method Types")."""

    IDENTITY = 1
    NOTIFICATION = 2
    NAK = 3  # Legacy Nak (RFC 3748 §5.3.1): Response only, Type-Data = the types the peer wants
    MD5 = 4
    TLS = 13
    TTLS = 21
    PEAP = 25
    MSCHAPV2 = 26
    TLV = 33  # PEAP's Extensions / Result TLV


class EapMalformed(Exception):
    """An EAP packet that cannot be read: the peer's fault."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class EapPacket:
    """One EAP packet. ``type`` is None for Success and Failure, which carry no Type (RFC 3748 §4.2);
    for Request and Response it is the octet as sent, an :class:`EapType` when we know it."""

    code: EapCode
    identifier: int
    type: int | None = None
    data: bytes = b""

    def encode(self) -> bytes:
        if self.type is None:
            if self.code in (EapCode.REQUEST, EapCode.RESPONSE) or self.data:
                raise ValueError("a Request or Response needs a Type; Success and Failure carry no data")
            return struct.pack("!BBH", self.code, self.identifier, HEADER_LENGTH)
        if self.code not in (EapCode.REQUEST, EapCode.RESPONSE):
            raise ValueError("only a Request or Response carries a Type")
        length = HEADER_LENGTH + 1 + len(self.data)
        if length > MAX_LENGTH:
            raise ValueError(f"an EAP packet of {length} octets does not fit its Length field")
        return struct.pack("!BBHB", self.code, self.identifier, length, self.type) + self.data


def parse(data: bytes, *, padding: bool = False) -> EapPacket:
    """The EAP packet in ``data``; :class:`EapMalformed` when ``data`` is not exactly one packet,
    or, with ``padding``, one packet followed by octets it ignores (see the module's docstring)."""
    if len(data) < HEADER_LENGTH:
        raise EapMalformed("too_short")
    code, identifier, length = struct.unpack_from("!BBH", data)
    if length < HEADER_LENGTH:
        raise EapMalformed("bad_length")
    if length > len(data) or (length < len(data) and not padding):
        raise EapMalformed("length_mismatch")
    data = data[:length]
    try:
        kind = EapCode(code)
    except ValueError:
        raise EapMalformed("unknown_code") from None
    if kind in (EapCode.SUCCESS, EapCode.FAILURE):
        if length != HEADER_LENGTH:  # RFC 3748 §4.2: no data
            raise EapMalformed("success_failure_with_data")
        return EapPacket(code=kind, identifier=identifier)
    if length < HEADER_LENGTH + 1:
        raise EapMalformed("no_type")
    type_ = data[HEADER_LENGTH]
    if type_ in _KNOWN_TYPES:
        type_ = EapType(type_)
    return EapPacket(code=kind, identifier=identifier, type=type_, data=data[HEADER_LENGTH + 1 :])


_KNOWN_TYPES = frozenset(member.value for member in EapType)


def request(identifier: int, type_: int, data: bytes = b"") -> bytes:
    """An encoded EAP-Request."""
    return EapPacket(code=EapCode.REQUEST, identifier=identifier, type=type_, data=data).encode()


def success(identifier: int) -> bytes:
    """An encoded EAP-Success; its Identifier is the Response's it answers (RFC 3748 §4.2)."""
    return EapPacket(code=EapCode.SUCCESS, identifier=identifier).encode()


def failure(identifier: int) -> bytes:
    """An encoded EAP-Failure; its Identifier is the Response's it answers (RFC 3748 §4.2)."""
    return EapPacket(code=EapCode.FAILURE, identifier=identifier).encode()
