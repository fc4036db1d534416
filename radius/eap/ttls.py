"""EAP-TTLS inside the tunnel (RFC 5281): the Diameter AVP codec (§10) and the inner phase.

Theory of operation. Once the TLS tunnel is up the peer speaks first: its first message of
AVPs picks the inner method (RFC 5281 §11), and :class:`TtlsInner` follows one of three paths:

    first AVPs                                   then
    User-Name, User-Password (PAP, §11.2.5)      NeedPassword → result at once
    User-Name, MS-CHAP-Challenge,                NeedNtHashes → MS-CHAP2-Success (or
      MS-CHAP2-Response (MS-CHAPv2, §11.2.4)       MS-CHAP-Error) → the peer's empty ack → result
    EAP-Message: EAP-Response/Identity (§11.1)   EAP-Request/MSCHAPv2 Challenge → … (see
                                                   :mod:`radius.eap.mschapv2`) → the peer's
                                                   Success-Response → result

The state table is :data:`RECEIVE` / :data:`SUPPLY`: which handler a message or an answer goes
to in each :class:`TtlsState`; anything else ends the phase with ``inner_malformed``.

Inner MS-CHAPv2 has no challenge from us on the wire: both sides derive 17 octets from the TLS
keys (§11.1, ``keys.ttls_challenge``); the MS-CHAP-Challenge must be the first 16 and the
MS-CHAP2-Response's Ident the 17th, or the peer is refused (§11.2.4 "MUST reject"). The hashed
name is the User-Name as sent, without a Windows ``DOMAIN\\`` prefix (RFC 2759 §8.2).

AVPs (§10.1): Code(4) Flags(1: V 0x80, M 0x40) Length(3, header included, padding not)
[Vendor-ID(4) when V] Data, each padded to a multiple of 4 octets. :func:`parse_avps` raises
:class:`AvpMalformed` on anything that does not hold — the one exception of this module, which
the phase turns into ``InnerFailure("inner_malformed")``. An AVP we do not support with the M
bit set fails the phase (§10.1 "MUST fail"), without M it is ignored.
"""

from __future__ import annotations

import enum
import secrets
import struct
from collections.abc import Callable
from dataclasses import dataclass, field

from radius.eap.inner import (
    TTLS_EAP_MSCHAPV2,
    TTLS_MSCHAPV2,
    TTLS_PAP,
    InnerFailure,
    InnerOutput,
    InnerSuccess,
    inner_identity,
    tunnelled_response,
)
from radius.eap.mschapv2 import EapMsChapV2, MethodEnded, nt_hashes
from radius.eap.needs import Need, NeedNtHashes, NeedPassword
from radius.eap.packet import EapType, request
from radius.mschap import strip_nt_domain, verify_mschapv2

__all__ = [
    "MAX_AVPS",
    "Avp",
    "AvpMalformed",
    "TtlsInner",
    "TtlsState",
    "encode_avps",
    "parse_avps",
]

# AVP codes: RADIUS attribute numbers (RFC 2865, 3579) and Microsoft's (RFC 2548), vendor 311
USER_NAME = 1
USER_PASSWORD = 2
CHAP_PASSWORD = 3
EAP_MESSAGE = 79
MICROSOFT = 311
MS_CHAP_RESPONSE = 1
MS_CHAP_ERROR = 2
MS_CHAP_CHALLENGE = 11
MS_CHAP2_RESPONSE = 25
MS_CHAP2_SUCCESS = 26

FLAG_VENDOR = 0x80
FLAG_MANDATORY = 0x40
MAX_AVPS = 64  # a peer sends two or three; a message of thousands of tiny AVPs is refused
MAX_PASSWORD = 512  # octets: 128 characters (accounts.passwords) of up to 4 octets each
IMPLICIT_CHALLENGE_LENGTH = 17  # 16 for MS-CHAP-Challenge, 1 for the Ident

_HEADER = struct.Struct("!II")  # Code, Flags << 24 | Length
_VENDOR = struct.Struct("!I")
_KNOWN = frozenset(
    {
        (0, USER_NAME),
        (0, USER_PASSWORD),
        (0, EAP_MESSAGE),
        (MICROSOFT, MS_CHAP_CHALLENGE),
        (MICROSOFT, MS_CHAP2_RESPONSE),
    }
)
_OTHER_METHODS = frozenset({(0, CHAP_PASSWORD), (MICROSOFT, MS_CHAP_RESPONSE)})  # CHAP, MS-CHAPv1


class AvpMalformed(Exception):
    """A message of AVPs does not hold together: the peer's fault (``reason`` says how)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class Avp:
    """One Diameter AVP as carried in EAP-TTLS (vendor 0: no Vendor-ID, V clear)."""

    code: int
    data: bytes = field(repr=False)  # may hold a password
    vendor: int = 0
    mandatory: bool = True


def encode_avps(avps: list[Avp]) -> bytes:
    """AVPs on the wire, each padded to 4 octets (RFC 5281 §10.1)."""
    out = bytearray()
    for avp in avps:
        flags = (FLAG_VENDOR if avp.vendor else 0) | (FLAG_MANDATORY if avp.mandatory else 0)
        length = _HEADER.size + (_VENDOR.size if avp.vendor else 0) + len(avp.data)
        if length > 0xFFFFFF:
            raise ValueError("an AVP holds at most 16 MiB")
        out += _HEADER.pack(avp.code, flags << 24 | length)
        if avp.vendor:
            out += _VENDOR.pack(avp.vendor)
        out += avp.data + bytes(-length % 4)
    return bytes(out)


def parse_avps(data: bytes) -> list[Avp]:
    """The AVPs of one decrypted message; raises :class:`AvpMalformed`, nothing else.

    Bounded: at most :data:`MAX_AVPS`, each within ``data``. A last AVP without its padding is
    accepted, as hostapd does; padding octets are not checked.
    """
    avps: list[Avp] = []
    offset = 0
    while offset < len(data):
        if len(avps) == MAX_AVPS:
            raise AvpMalformed("too_many_avps")
        if len(data) - offset < _HEADER.size:
            raise AvpMalformed("short_header")
        code, flags_length = _HEADER.unpack_from(data, offset)
        flags, length = flags_length >> 24, flags_length & 0xFFFFFF
        header = _HEADER.size + (_VENDOR.size if flags & FLAG_VENDOR else 0)
        if length < header:
            raise AvpMalformed("bad_length")
        if length > len(data) - offset:
            raise AvpMalformed("truncated")
        vendor = _VENDOR.unpack_from(data, offset + _HEADER.size)[0] if flags & FLAG_VENDOR else 0
        avps.append(
            Avp(
                code=code,
                vendor=vendor,
                mandatory=bool(flags & FLAG_MANDATORY),
                data=data[offset + header : offset + length],
            )
        )
        offset += length + (-length % 4)
    return avps


def _first(avps: list[Avp], vendor: int, code: int) -> bytes | None:
    return next((avp.data for avp in avps if avp.vendor == vendor and avp.code == code), None)


class TtlsState(enum.Enum):
    FIRST = "first"  # the peer's first AVPs are awaited: they pick the method
    PASSWORD = "password"  # noqa: S105 - a state: NeedPassword returned (inner PAP)
    NT_HASHES = "nt_hashes"  # NeedNtHashes returned (inner MS-CHAPv2)
    MSCHAP_ACK = "mschap_ack"  # MS-CHAP2-Success or MS-CHAP-Error sent: the peer's empty ack is awaited
    EAP_METHOD = "eap_method"  # inner EAP-MSCHAPv2 under way
    EAP_NT_HASHES = "eap_nt_hashes"  # its NeedNtHashes returned
    DONE = "done"


class TtlsInner:
    """The EAP-TTLS inner phase (an :class:`~radius.eap.inner.InnerPhase`).

    ``challenge``: the 17-octet implicit challenge (``keys.ttls_challenge``). ``allowed``: the
    inner method names enabled (:data:`~radius.eap.inner.INNER_METHODS`).
    """

    def __init__(self, *, outer_identity: str, realm: str, allowed: frozenset[str], challenge: bytes) -> None:
        if len(challenge) != IMPLICIT_CHALLENGE_LENGTH:
            raise ValueError(f"the implicit challenge is {IMPLICIT_CHALLENGE_LENGTH} octets")
        self.outer_identity = outer_identity
        self.realm = realm
        self.allowed = allowed
        self.challenge = challenge
        self.state = TtlsState.FIRST
        self.identity: str | None = None
        self.method = ""
        self._need: Need | None = None
        self._user_name = b""  # inner MS-CHAPv2: the User-Name as sent, for the hash
        self._response = b""  # inner MS-CHAPv2: MS-CHAP2-Response
        self._pending: InnerSuccess | InnerFailure | None = None  # told the peer, awaiting its ack
        self._eap: EapMsChapV2 | None = None
        self._eap_identifier = 0

    # -- the InnerPhase protocol --------------------------------------------------------------

    def start(self) -> InnerOutput:
        return InnerOutput()  # the peer speaks first (RFC 5281 §11)

    def receive(self, data: bytes) -> InnerOutput | Need:
        handler = RECEIVE.get(self.state)
        if handler is None:
            return self._fail("inner_malformed")
        return handler(self, data)

    def supply(self, need: Need, answer: object) -> InnerOutput:
        handler = SUPPLY.get(self.state)
        if handler is None or need != self._need:
            raise ValueError(f"{type(need).__name__} was not asked for (state {self.state.value})")
        self._need = None
        return handler(self, answer)

    # -- handlers ---------------------------------------------------------------------------

    def _on_first(self, data: bytes) -> InnerOutput | Need:
        try:
            avps = parse_avps(data)
        except AvpMalformed:
            return self._fail("inner_malformed")
        if not avps:
            return InnerOutput()  # nothing yet: an empty request asks again (rounds are bounded outside)
        unsupported = [(a.vendor, a.code) for a in avps if a.mandatory and (a.vendor, a.code) not in _KNOWN]
        if unsupported:
            return self._fail(
                "inner_no_common_method" if set(unsupported) <= _OTHER_METHODS else "inner_unsupported_avp"
            )
        eap = b"".join(avp.data for avp in avps if avp.vendor == 0 and avp.code == EAP_MESSAGE)
        if eap:
            return self._eap_identity(eap)
        password = _first(avps, 0, USER_PASSWORD)
        if password is not None:
            return self._pap(_first(avps, 0, USER_NAME) or b"", password)
        response = _first(avps, MICROSOFT, MS_CHAP2_RESPONSE)
        if response is not None:
            mschap_challenge = _first(avps, MICROSOFT, MS_CHAP_CHALLENGE) or b""
            return self._mschapv2(_first(avps, 0, USER_NAME) or b"", mschap_challenge, response)
        return self._fail("inner_malformed")  # a User-Name alone, or a challenge without a response

    def _pap(self, user_name: bytes, password: bytes) -> InnerOutput | Need:
        self.method = TTLS_PAP
        if TTLS_PAP not in self.allowed:
            return self._fail("inner_method_not_allowed")
        identity = self._identity(user_name, strip_domain=False)
        if isinstance(identity, InnerFailure):
            return self._end(identity)
        password = password.rstrip(b"\x00")  # NUL-padded to a multiple of 16 (RFC 5281 §11.2.5)
        if len(password) > MAX_PASSWORD:
            return self._fail("bad_password")  # no account has such a password
        self.state = TtlsState.PASSWORD
        return self._ask(NeedPassword(identity=identity, password=password.decode("utf-8", "replace")))

    def _on_password(self, answer: object) -> InnerOutput:
        assert self.identity is not None
        if answer is True:
            return self._end(InnerSuccess(identity=self.identity, method=TTLS_PAP))
        return self._fail("bad_password")

    def _mschapv2(self, user_name: bytes, mschap_challenge: bytes, response: bytes) -> InnerOutput | Need:
        self.method = TTLS_MSCHAPV2
        if TTLS_MSCHAPV2 not in self.allowed:
            return self._fail("inner_method_not_allowed")
        identity = self._identity(user_name, strip_domain=True)
        if isinstance(identity, InnerFailure):
            return self._end(identity)
        if len(response) != 50:
            return self._fail("inner_malformed")
        if mschap_challenge != self.challenge[:16] or response[0] != self.challenge[16]:
            return self._fail("inner_challenge_mismatch")  # RFC 5281 §11.2.4: MUST reject
        self._user_name, self._response = user_name, response
        self.state = TtlsState.NT_HASHES
        return self._ask(NeedNtHashes(identity=identity))

    def _on_mschapv2_hashes(self, answer: object) -> InnerOutput:
        assert self.identity is not None
        username = strip_nt_domain(self._user_name)
        hashes = nt_hashes(answer)
        for nt_hash in hashes:
            result = verify_mschapv2(
                nt_hash=nt_hash,
                username=username,
                authenticator_challenge=self.challenge[:16],
                response=self._response,
            )
            if result is not None:
                self._pending = InnerSuccess(identity=self.identity, method=TTLS_MSCHAPV2)
                self.state = TtlsState.MSCHAP_ACK
                success = Avp(code=MS_CHAP2_SUCCESS, vendor=MICROSOFT, data=result.success)
                return InnerOutput(send=encode_avps([success]))
        self._pending = InnerFailure(
            reason="bad_password" if hashes else "unknown_user", identity=self.identity
        )
        self.state = TtlsState.MSCHAP_ACK
        # RFC 2548 §2.1.5 MS-CHAP-Error: Ident, then RFC 2759 §6's E=691 (failed) R=0 (no retry)
        text = b"E=691 R=0 C=" + self.challenge[:16].hex().upper().encode() + b" V=3 M=Authentication failed"
        error = Avp(code=MS_CHAP_ERROR, vendor=MICROSOFT, data=self._response[:1] + text)
        return InnerOutput(send=encode_avps([error]))

    def _on_mschapv2_ack(self, data: bytes) -> InnerOutput | Need:
        pending = self._pending
        assert pending is not None
        if isinstance(pending, InnerSuccess) and data:
            return self._fail("inner_malformed")  # the ack is an empty message (hostapd: the same)
        return self._end(pending)

    def _eap_identity(self, eap: bytes) -> InnerOutput | Need:
        self.method = TTLS_EAP_MSCHAPV2
        if TTLS_EAP_MSCHAPV2 not in self.allowed:
            return self._fail("inner_method_not_allowed")
        packet = tunnelled_response(eap)
        if packet is None or packet.type != EapType.IDENTITY:
            return self._fail("inner_malformed")
        identity = self._identity(packet.data, strip_domain=True)
        if isinstance(identity, InnerFailure):
            return self._end(identity)
        self._eap_identifier = packet.identifier  # the next request takes the next one
        self._eap = EapMsChapV2(
            identity=identity, challenge=secrets.token_bytes(16), mschapv2_id=packet.identifier + 1
        )
        self.state = TtlsState.EAP_METHOD
        return self._eap_request(self._eap.start())

    def _on_eap(self, data: bytes) -> InnerOutput | Need:
        assert self._eap is not None
        try:
            avps = parse_avps(data)
        except AvpMalformed:
            return self._fail("inner_malformed")
        packet = tunnelled_response(
            b"".join(avp.data for avp in avps if avp.vendor == 0 and avp.code == EAP_MESSAGE)
        )
        if packet is None:
            return self._fail("inner_malformed")
        if packet.type == EapType.NAK:
            return self._fail("inner_no_common_method")  # MS-CHAPv2 is all we offer inside
        if packet.type != EapType.MSCHAPV2:
            return self._fail("inner_malformed")
        step = self._eap.receive(packet.data)
        if isinstance(step, NeedNtHashes):
            self.state = TtlsState.EAP_NT_HASHES
            return self._ask(step)
        if isinstance(step, MethodEnded):
            return self._eap_ended(step)
        return self._eap_request(step)

    def _on_eap_hashes(self, answer: object) -> InnerOutput:
        assert self._eap is not None
        self.state = TtlsState.EAP_METHOD
        return self._eap_request(self._eap.supply(nt_hashes(answer)))

    def _eap_ended(self, ended: MethodEnded) -> InnerOutput:
        # RFC 5281 §11.1: no inner EAP-Success; the outer EAP-Success or -Failure ends it
        assert self.identity is not None
        if ended.success:
            return self._end(InnerSuccess(identity=self.identity, method=TTLS_EAP_MSCHAPV2))
        return self._fail(ended.reason)

    # -- helpers ----------------------------------------------------------------------------

    def _identity(self, raw: bytes, *, strip_domain: bool) -> str | InnerFailure:
        identity = inner_identity(
            raw, outer_identity=self.outer_identity, realm=self.realm, strip_domain=strip_domain
        )
        if isinstance(identity, str):
            self.identity = identity
        return identity

    def _eap_request(self, type_data: bytes) -> InnerOutput:
        self._eap_identifier = (self._eap_identifier + 1) & 0xFF
        packet = request(self._eap_identifier, EapType.MSCHAPV2, type_data)
        return InnerOutput(send=encode_avps([Avp(code=EAP_MESSAGE, data=packet)]))

    def _ask(self, need: Need) -> Need:
        self._need = need
        return need

    def _fail(self, reason: str) -> InnerOutput:
        return self._end(InnerFailure(reason=reason, identity=self.identity))

    def _end(self, result: InnerSuccess | InnerFailure) -> InnerOutput:
        self.state = TtlsState.DONE
        return InnerOutput(result=result)


#: state -> what a message of the peer goes to; a state not here ends the phase (inner_malformed)
RECEIVE: dict[TtlsState, Callable[[TtlsInner, bytes], InnerOutput | Need]] = {
    TtlsState.FIRST: TtlsInner._on_first,
    TtlsState.MSCHAP_ACK: TtlsInner._on_mschapv2_ack,
    TtlsState.EAP_METHOD: TtlsInner._on_eap,
}

#: state -> what the caller's answer to the pending need goes to
SUPPLY: dict[TtlsState, Callable[[TtlsInner, object], InnerOutput]] = {
    TtlsState.PASSWORD: TtlsInner._on_password,
    TtlsState.NT_HASHES: TtlsInner._on_mschapv2_hashes,
    TtlsState.EAP_NT_HASHES: TtlsInner._on_eap_hashes,
}
