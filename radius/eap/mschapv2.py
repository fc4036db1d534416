"""EAP-MSCHAPv2, server side (draft-kamath-pppext-eap-mschapv2), as run inside PEAP and EAP-TTLS.

Theory of operation. The method works on the type-data of EAP packets of type 26 (what follows
the Type octet); the tunnel around it (``peap``: header-less packets; ``ttls``: whole packets
in EAP-Message AVPs) adds the framing. Every message starts with OpCode(1) MS-CHAPv2-ID(1)
MS-Length(2, from the OpCode to the end):

    state          the peer sends                     we answer
    CHALLENGE      Response (2): Value-Size 49,        NeedNtHashes(identity)
                   Peer-Challenge 16, Reserved 8,
                   NT-Response 24, Flags 1, Name
    NT_HASHES      (nothing: waiting for ``supply``)   Success-Request (3) "S=<40 hex> M=OK", or
                                                       Failure-Request (4) "E=691 R=0 C=… V=3 M=…"
    SUCCESS_SENT   Success-Response (3)                MethodEnded(success)
                   Failure-Response (4): it refused    MethodEnded("peer_rejected")
                   our authenticator response
    FAILURE_SENT   Failure-Response (4)                MethodEnded(the reason: bad_password,
                                                       unknown_user)

Our Challenge carries Value-Size 16, a fresh 16-octet challenge and our Name. The account is
the EAP identity the tunnel read first (``identity``); the NT-Response is computed by the peer
over the Name field it sends, so that name, without a Windows ``DOMAIN\\`` prefix, is what is
hashed (RFC 2759 §8.2; FreeRADIUS's MS-CHAP-User-Name, hostapd likewise). The account may have
several device credentials: each NT hash is tried. Retries (R=1) and password change (OpCode 7)
are not offered. The crypto is :mod:`radius.mschap`'s; nothing is re-implemented here.

Nothing the peer sends makes this raise: a message that does not fit ends the method with
``inner_malformed``.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass

from radius.eap.needs import NeedNtHashes
from radius.mschap import NT_HASH_LENGTH, strip_nt_domain, verify_mschapv2

__all__ = [
    "CHALLENGE_LENGTH",
    "SERVER_NAME",
    "EapMsChapV2",
    "MethodEnded",
    "MsChapV2State",
    "nt_hashes",
]

OP_CHALLENGE = 1
OP_RESPONSE = 2
OP_SUCCESS = 3
OP_FAILURE = 4

CHALLENGE_LENGTH = 16
RESPONSE_VALUE_SIZE = 49  # Peer-Challenge 16, Reserved 8, NT-Response 24, Flags 1
SERVER_NAME = b"sesame"

_HEADER = struct.Struct("!BBH")  # OpCode, MS-CHAPv2-ID, MS-Length
_RESPONSE_LENGTH = _HEADER.size + 1 + RESPONSE_VALUE_SIZE  # without the Name


class MsChapV2State(enum.Enum):
    CHALLENGE = "challenge"  # our Challenge is out, the peer's Response is awaited
    NT_HASHES = "nt_hashes"  # NeedNtHashes returned, ``supply`` is awaited
    SUCCESS_SENT = "success_sent"  # our Success-Request is out, the peer's ack is awaited
    FAILURE_SENT = "failure_sent"  # our Failure-Request is out, the peer's ack is awaited
    ENDED = "ended"


@dataclass(frozen=True, slots=True, kw_only=True)
class MethodEnded:
    """Fired when the peer acknowledged our Success- or Failure-Request (or broke the exchange)."""

    success: bool
    reason: str  # "" on success; else "bad_password", "unknown_user", "peer_rejected", "inner_malformed"


def nt_hashes(answer: object) -> list[bytes]:
    """The caller's answer to :class:`NeedNtHashes`, 16-octet values only (the rest never match).

    A list (or tuple) is what the caller owes; anything else is our bug, not the peer's."""
    if not isinstance(answer, list | tuple):
        raise TypeError("NeedNtHashes is answered with a list of NT hashes")
    return [value for value in answer if isinstance(value, bytes) and len(value) == NT_HASH_LENGTH]


def _message(opcode: int, mschapv2_id: int, body: bytes) -> bytes:
    return _HEADER.pack(opcode, mschapv2_id & 0xFF, _HEADER.size + len(body)) + body


class EapMsChapV2:
    """One EAP-MSCHAPv2 exchange for ``identity`` (the inner ``user@realm``).

    ``start()`` → the Challenge's type-data; ``receive(type_data)`` → the next request's
    type-data, a :class:`NeedNtHashes`, or :class:`MethodEnded`; ``supply(nt_hashes)`` → the
    Success- or Failure-Request's type-data.
    """

    def __init__(
        self, *, identity: str, challenge: bytes, mschapv2_id: int, server_name: bytes = SERVER_NAME
    ) -> None:
        if len(challenge) != CHALLENGE_LENGTH:
            raise ValueError(f"the challenge must be {CHALLENGE_LENGTH} octets")
        self.identity = identity
        self.challenge = challenge
        self.mschapv2_id = mschapv2_id & 0xFF
        self.server_name = server_name
        self.state = MsChapV2State.CHALLENGE
        self.reason = ""
        self._response = b""  # the Response as verify_mschapv2 reads it (MS-CHAP2-Response layout)
        self._name = b""

    def start(self) -> bytes:
        """The Challenge (OpCode 1): Value-Size 16, the challenge, our Name."""
        body = bytes([CHALLENGE_LENGTH]) + self.challenge + self.server_name
        return _message(OP_CHALLENGE, self.mschapv2_id, body)

    def receive(self, data: bytes) -> bytes | NeedNtHashes | MethodEnded:
        """The type-data of the peer's EAP-Response of type 26."""
        if self.state is MsChapV2State.CHALLENGE:
            return self._on_response(data)
        if self.state is MsChapV2State.SUCCESS_SENT:
            if data[:1] == bytes([OP_SUCCESS]):
                return self._end(success=True, reason="")
            if data[:1] == bytes([OP_FAILURE]):
                return self._end(success=False, reason="peer_rejected")
            return self._end(success=False, reason="inner_malformed")
        if self.state is MsChapV2State.FAILURE_SENT:
            # whatever the peer answers, the exchange failed for the reason we told it
            return self._end(success=False, reason=self.reason)
        # NT_HASHES (a message before ``supply``) or ENDED: not a message the exchange expects
        return self._end(success=False, reason="inner_malformed")

    def _on_response(self, data: bytes) -> NeedNtHashes | MethodEnded:
        if len(data) < _RESPONSE_LENGTH or data[0] != OP_RESPONSE or data[4] != RESPONSE_VALUE_SIZE:
            return self._end(success=False, reason="inner_malformed")
        # MS-Length is not checked, as neither hostapd nor FreeRADIUS do: the EAP Length bounds it
        mschapv2_id = data[1]
        value = data[5 : 5 + RESPONSE_VALUE_SIZE]
        peer_challenge, reserved, nt_response, flags = value[:16], value[16:24], value[24:48], value[48]
        # RFC 2548 §2.3.2 MS-CHAP2-Response layout: Ident, Flags, Peer-Challenge, Reserved, NT-Response
        self._response = bytes([mschapv2_id, flags]) + peer_challenge + reserved + nt_response
        self._name = data[_RESPONSE_LENGTH:]
        self.mschapv2_id = mschapv2_id  # Success/Failure-Requests carry the Response's ID
        self.state = MsChapV2State.NT_HASHES
        return NeedNtHashes(identity=self.identity)

    def supply(self, nt_hashes: list[bytes]) -> bytes:
        """Check the Response against each of the account's NT hashes (``[]``: unknown user)."""
        if self.state is not MsChapV2State.NT_HASHES:
            raise ValueError(f"no NT hashes were asked for (state {self.state.value})")
        username = strip_nt_domain(self._name)
        for nt_hash in nt_hashes:
            if len(nt_hash) != NT_HASH_LENGTH:
                continue  # not an NT hash: never matches, never raises
            result = verify_mschapv2(
                nt_hash=nt_hash,
                username=username,
                authenticator_challenge=self.challenge,
                response=self._response,
            )
            if result is not None:
                self.state = MsChapV2State.SUCCESS_SENT
                body = result.authenticator_response.encode("ascii") + b" M=OK"
                return _message(OP_SUCCESS, self.mschapv2_id, body)
        self.state = MsChapV2State.FAILURE_SENT
        self.reason = "bad_password" if nt_hashes else "unknown_user"
        # RFC 2759 §6: E=691 authentication failure, R=0 no retry; the peer sees the same
        # message for an unknown user and a wrong password
        body = b"E=691 R=0 C=" + self.challenge.hex().upper().encode() + b" V=3 M=Authentication failed"
        return _message(OP_FAILURE, self.mschapv2_id, body)

    def _end(self, *, success: bool, reason: str) -> MethodEnded:
        self.state = MsChapV2State.ENDED
        return MethodEnded(success=success, reason=reason)
