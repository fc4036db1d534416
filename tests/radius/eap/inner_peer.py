"""The peer's side of the inner methods, written from the specifications and apart from the
server's code (its own framing with ``struct``; whole EAP packets are :mod:`tests.radius.eap.peer`'s
``eap``/``unpack_eap``), so that a test fails when the two disagree.

The MS-CHAPv2 computations are RFC 2759's, from :mod:`radius.mschap` (itself checked against the
RFC's vectors in tests/radius/test_mschap.py): the NT-Response the peer sends, and the
authenticator response it expects back.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from radius.mschap import generate_authenticator_response, generate_nt_response, nt_password_hash

PEER_CHALLENGE = bytes(range(0x21, 0x31))


def avp(code: int, data: bytes, vendor: int = 0, mandatory: bool = True) -> bytes:
    """One Diameter AVP, padded (RFC 5281 §10.1)."""
    flags = (0x80 if vendor else 0) | (0x40 if mandatory else 0)
    length = 8 + (4 if vendor else 0) + len(data)
    head = struct.pack("!II", code, flags << 24 | length) + (struct.pack("!I", vendor) if vendor else b"")
    return head + data + bytes(-length % 4)


def unpack_avps(data: bytes) -> list[tuple[int, int, bytes]]:
    """(vendor, code, data) of each AVP; asserts the padding of every one."""
    out, offset = [], 0
    while offset < len(data):
        code, flags_length = struct.unpack_from("!II", data, offset)
        flags, length = flags_length >> 24, flags_length & 0xFFFFFF
        vendor = struct.unpack_from("!I", data, offset + 8)[0] if flags & 0x80 else 0
        start = offset + (12 if flags & 0x80 else 8)
        out.append((vendor, code, data[start : offset + length]))
        offset += length + (-length % 4)
    assert offset == len(data)
    return out


@dataclass
class MsChapV2Peer:
    """An MS-CHAPv2 peer: ``name`` is what it sends, ``hashed`` what it hashes (``name`` without
    a ``DOMAIN\\`` by default)."""

    name: bytes
    password: str
    peer_challenge: bytes = PEER_CHALLENGE
    hashed: bytes | None = None
    expected: str = field(default="", init=False)  # "S=<40 hex>" the server must send back

    def nt_response(self, authenticator_challenge: bytes) -> bytes:
        hashed = self.hashed if self.hashed is not None else self.name.rpartition(b"\\")[2]
        nt_hash = nt_password_hash(self.password)
        nt_response = generate_nt_response(authenticator_challenge, self.peer_challenge, hashed, nt_hash)
        self.expected = generate_authenticator_response(
            nt_hash, nt_response, self.peer_challenge, authenticator_challenge, hashed
        )
        return nt_response

    def eap_response(self, challenge: bytes) -> bytes:
        """The type-data of the EAP-MSCHAPv2 Response to a Challenge's type-data."""
        opcode, mschapv2_id, ms_length, value_size = struct.unpack_from("!BBHB", challenge)
        assert (opcode, ms_length, value_size) == (1, len(challenge), 16)
        nt_response = self.nt_response(challenge[5:21])
        body = bytes([49]) + self.peer_challenge + bytes(8) + nt_response + b"\x00" + self.name
        return struct.pack("!BBH", 2, mschapv2_id, 4 + len(body)) + body

    def accepts(self, success: bytes) -> bool:
        """Whether a Success-Request's type-data proves the server knew the password."""
        opcode, _id, ms_length = struct.unpack_from("!BBH", success)
        message = success[4:].decode("ascii")
        return opcode == 3 and ms_length == len(success) and message.split(" M=")[0] == self.expected
