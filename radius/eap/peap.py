"""PEAPv0 inside the tunnel ([MS-PEAP]; draft-kamath-pppext-peapv0): identity, EAP-MSCHAPv2, Result TLV.

Theory of operation. In PEAPv0 the inner EAP packets travel without their 4-octet header — the
Type octet and its data only, the peer and we putting back the outer packet's Code and
Identifier — except the Extensions packets (EAP type 33, [MS-PEAP] §2.2.8), which keep it.
hostapd (eap_server_peap.c) tells them apart by state, not by content, and so do we:

    state       we sent                             the peer answers         then
    IDENTITY    01 id 00 05 01 (Request/Identity)    01 <identity>            Challenge, or Result failure
    METHOD      1a <EAP-MSCHAPv2 type-data>          1a <Response>            NeedNtHashes
                                                     03 <types> (NAK)         Result failure
    NT_HASHES   (waiting for ``supply``)                                     Success- or Failure-Request
    METHOD      1a 03/04 (Success/Failure-Request)   1a 03 / 1a 04 (ack)      Result TLV success / failure
    RESULT      whole EAP-Request type 33 with       whole EAP-Response 33,   InnerSuccess / InnerFailure
                Result TLV (0x8003, 1 or 2)          Result TLV

The Request/Identity goes as a whole 5-octet packet, as FreeRADIUS (rlm_eap_peap) sends it, not
header-less as hostapd does: when it rides in the same EAP-Request as the server's TLS Finished,
wpa_supplicant (2.10, eap_peap.c "pending Phase 2 request") does not put a header back, reads a
lone 01 as a truncated packet and stops; it takes the whole packet in either case (it
special-cases exactly this one) and answers header-less. A peer answering with a whole packet is
read too.

As FreeRADIUS's rlm_eap_peap does, a refusal the peer can be told about (an identity we refuse,
no method in common, a wrong password) goes through a Result TLV of failure, and the phase ends
when the peer answers it; a message that does not parse ends the phase at once
(``inner_malformed``: the outer EAP-Failure follows). The peer must see the MS-CHAPv2
Success-Request (and acknowledge it) before our Result TLV of success, and only its Result TLV
of success (status 1) ends the phase with success.

No Crypto-Binding TLV ([MS-PEAP] §2.2.8.1.1) is sent: it is optional in PEAPv0. FreeRADIUS 3's
rlm_eap_peap never sends one; Windows peers insist on it only when their profile says so
(RequireCryptoBinding); wpa_supplicant's default (``crypto_binding=1``, optional) accepts a
Result TLV without one (eap_peer/eap_peap.c: only ``crypto_binding=2`` requires it) and answers
without one. The MSK then comes from the TLS exporter alone, as the peer computes it too.
"""

from __future__ import annotations

import enum
import secrets
import struct
from collections.abc import Callable

from radius.eap.inner import (
    PEAP_MSCHAPV2,
    InnerFailure,
    InnerOutput,
    InnerSuccess,
    inner_identity,
    tunnelled_response,
)
from radius.eap.mschapv2 import EapMsChapV2, MethodEnded, nt_hashes
from radius.eap.needs import Need, NeedNtHashes
from radius.eap.packet import EapCode, EapType, request

__all__ = ["RECEIVE", "SUPPLY", "PeapInner", "PeapState", "result_status"]

RESULT_TLV = 3  # [MS-PEAP] §2.2.8.1, sent with the M bit (0x8000)
RESULT_SUCCESS = 1
RESULT_FAILURE = 2
_TLV = struct.Struct("!HH")  # M(1) R(1) TLV Type(14), Length
_TLV_MANDATORY = 0x8000
_TLV_TYPE = 0x3FFF


class PeapState(enum.Enum):
    IDENTITY = "identity"  # our Request/Identity is out
    METHOD = "method"  # EAP-MSCHAPv2 under way
    NT_HASHES = "nt_hashes"  # its NeedNtHashes returned, ``supply`` awaited
    RESULT = "result"  # our Result TLV is out, the peer's is awaited
    DONE = "done"


def result_status(packet: bytes) -> int | None:
    """The status of the Result TLV in a whole EAP-Response of type 33, or None when the packet
    or its TLVs do not hold, the Result TLV is missing, or a mandatory TLV is one we do not know
    (hostapd: the same)."""
    parsed = tunnelled_response(packet)
    if parsed is None or parsed.type != EapType.TLV:
        return None
    data, offset, status = parsed.data, 0, None
    while offset < len(data):
        if len(data) - offset < _TLV.size:
            return None
        kind, length = _TLV.unpack_from(data, offset)
        value = data[offset + _TLV.size : offset + _TLV.size + length]
        if len(value) != length:
            return None
        if kind & _TLV_TYPE == RESULT_TLV:
            if length < 2:
                return None
            status = int.from_bytes(value[:2], "big")
        elif kind & _TLV_MANDATORY:
            return None
        offset += _TLV.size + length
    return status


class PeapInner:
    """The PEAPv0 inner phase (an :class:`~radius.eap.inner.InnerPhase`): EAP-MSCHAPv2 only,
    when ``allowed`` holds ``"peap/mschapv2"``."""

    def __init__(self, *, outer_identity: str, realm: str, allowed: frozenset[str]) -> None:
        self.outer_identity = outer_identity
        self.realm = realm
        self.allowed = allowed
        self.state = PeapState.IDENTITY
        self.identity: str | None = None
        self._identifier = 0  # for the header-ful Extensions requests (and MS-CHAPv2-IDs)
        self._method: EapMsChapV2 | None = None
        self._need: Need | None = None
        self._pending: InnerSuccess | InnerFailure | None = None  # what our Result TLV told the peer

    # -- the InnerPhase protocol --------------------------------------------------------------

    def start(self) -> InnerOutput:
        if PEAP_MSCHAPV2 not in self.allowed:
            return self._end(InnerFailure(reason="inner_method_not_allowed", identity=None))
        self.state = PeapState.IDENTITY
        # a whole packet, as FreeRADIUS sends it: see the module's docstring
        return InnerOutput(send=request(self._next_identifier(), EapType.IDENTITY))

    def receive(self, data: bytes) -> InnerOutput | Need:
        handler = RECEIVE.get(self.state)
        if handler is None:
            return self._end(InnerFailure(reason="inner_malformed", identity=self.identity))
        return handler(self, data)

    def supply(self, need: Need, answer: object) -> InnerOutput:
        handler = SUPPLY.get(self.state)
        if handler is None or need != self._need:
            raise ValueError(f"{type(need).__name__} was not asked for (state {self.state.value})")
        self._need = None
        return handler(self, answer)

    # -- handlers ---------------------------------------------------------------------------

    def _on_identity(self, data: bytes) -> InnerOutput | Need:
        whole = tunnelled_response(data) if data[:1] == bytes([EapCode.RESPONSE]) else None
        if whole is not None and whole.type == EapType.IDENTITY:
            name = whole.data  # a peer that answered our whole packet with a whole packet
        elif data[:1] == bytes([EapType.IDENTITY]):
            name = data[1:]  # header-less, as wpa_supplicant and Windows answer
        else:
            return self._end(InnerFailure(reason="inner_malformed", identity=None))
        identity = inner_identity(
            name, outer_identity=self.outer_identity, realm=self.realm, strip_domain=True
        )
        if isinstance(identity, InnerFailure):
            return self._result(identity)
        self.identity = identity
        self._method = EapMsChapV2(
            identity=identity, challenge=secrets.token_bytes(16), mschapv2_id=self._next_identifier()
        )
        self.state = PeapState.METHOD
        return InnerOutput(send=bytes([EapType.MSCHAPV2]) + self._method.start())

    def _on_method(self, data: bytes) -> InnerOutput | Need:
        assert self._method is not None and self.identity is not None
        if data[:1] == bytes([EapType.NAK]):
            # MS-CHAPv2 is all we offer inside: nothing else to propose
            return self._result(InnerFailure(reason="inner_no_common_method", identity=self.identity))
        if data[:1] != bytes([EapType.MSCHAPV2]):
            return self._end(InnerFailure(reason="inner_malformed", identity=self.identity))
        step = self._method.receive(data[1:])
        if isinstance(step, NeedNtHashes):
            self.state = PeapState.NT_HASHES
            self._need = step
            return step
        if isinstance(step, MethodEnded):
            if step.success:
                return self._result(InnerSuccess(identity=self.identity, method=PEAP_MSCHAPV2))
            if step.reason == "inner_malformed":
                return self._end(InnerFailure(reason=step.reason, identity=self.identity))
            return self._result(InnerFailure(reason=step.reason, identity=self.identity))
        return InnerOutput(send=bytes([EapType.MSCHAPV2]) + step)

    def _on_nt_hashes(self, answer: object) -> InnerOutput:
        assert self._method is not None
        self.state = PeapState.METHOD
        return InnerOutput(send=bytes([EapType.MSCHAPV2]) + self._method.supply(nt_hashes(answer)))

    def _on_result(self, data: bytes) -> InnerOutput | Need:
        pending = self._pending
        assert pending is not None
        if isinstance(pending, InnerFailure):
            return self._end(pending)  # whatever the peer says, it was told of the failure
        status = result_status(data)
        if status == RESULT_SUCCESS:
            return self._end(pending)
        reason = "peer_rejected" if status == RESULT_FAILURE else "inner_malformed"
        return self._end(InnerFailure(reason=reason, identity=self.identity))

    # -- helpers ----------------------------------------------------------------------------

    def _result(self, result: InnerSuccess | InnerFailure) -> InnerOutput:
        """Tell the peer with a Result TLV, in a whole EAP-Request of type 33, and wait for its own."""
        self._pending = result
        self.state = PeapState.RESULT
        status = RESULT_SUCCESS if isinstance(result, InnerSuccess) else RESULT_FAILURE
        tlv = _TLV.pack(_TLV_MANDATORY | RESULT_TLV, 2) + status.to_bytes(2, "big")
        return InnerOutput(send=request(self._next_identifier(), EapType.TLV, tlv))

    def _next_identifier(self) -> int:
        self._identifier = (self._identifier + 1) & 0xFF
        return self._identifier

    def _end(self, result: InnerSuccess | InnerFailure) -> InnerOutput:
        self.state = PeapState.DONE
        return InnerOutput(result=result)


#: state -> what a message of the peer goes to; a state not here ends the phase (inner_malformed)
RECEIVE: dict[PeapState, Callable[[PeapInner, bytes], InnerOutput | Need]] = {
    PeapState.IDENTITY: PeapInner._on_identity,
    PeapState.METHOD: PeapInner._on_method,
    PeapState.RESULT: PeapInner._on_result,
}

#: state -> what the caller's answer to the pending need goes to
SUPPLY: dict[PeapState, Callable[[PeapInner, object], InnerOutput]] = {
    PeapState.NT_HASHES: PeapInner._on_nt_hashes,
}
