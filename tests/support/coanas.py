"""An access point's CoA port (RFC 5176) played by the tests, on a UDP socket of 127.0.0.0/8.

It checks each request as a real NAS would — the Request Authenticator, a Message-Authenticator
first and right — writes down what it found wrong in ``problems`` (a test asserts it stays
empty), remembers each request, and answers ACK, or NAK with Error-Cause 503 (Session Context
Not Found) when told to. Serve it from a daemon thread; closing the socket ends :meth:`serve`.
"""

from __future__ import annotations

import hashlib
import hmac
import socket
import struct
from dataclasses import dataclass, field
from typing import Literal

MESSAGE_AUTHENTICATOR, ERROR_CAUSE = 80, 101
SESSION_CONTEXT_NOT_FOUND = 503


@dataclass(frozen=True)
class CoaRequest:
    source: str  # the sender's address: an access point takes CoA only from its RADIUS servers
    code: int  # 40 Disconnect-Request, 43 CoA-Request
    attributes: dict[int, list[bytes]]


@dataclass
class CoaNas:
    secret: bytes
    answer: Literal["ack", "nak"] = "ack"
    sock: socket.socket = field(default_factory=lambda: socket.socket(socket.AF_INET, socket.SOCK_DGRAM))
    received: list[CoaRequest] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def serve(self) -> None:
        while True:
            try:
                data, peer = self.sock.recvfrom(4096)
            except OSError:
                return
            code, ident, length = struct.unpack("!BBH", data[:4])
            attributes: dict[int, list[bytes]] = {}
            i = 20
            while i < length:
                attributes.setdefault(data[i], []).append(data[i + 2 : i + data[i + 1]])
                i += data[i + 1]
            if data[4:20] != hashlib.md5(data[:4] + bytes(16) + data[20:length] + self.secret).digest():
                self.problems.append("bad request authenticator")
            if data[20] != MESSAGE_AUTHENTICATOR:
                self.problems.append("Message-Authenticator is not first")
            zeroed = data[:4] + bytes(16) + data[20:22] + bytes(16) + data[38:length]
            if hmac.new(self.secret, zeroed, hashlib.md5).digest() != data[22:38]:
                self.problems.append("bad Message-Authenticator")
            self.received.append(CoaRequest(source=peer[0], code=code, attributes=attributes))
            if self.answer == "ack":
                reply_code, body = code + 1, b""
            else:
                reply_code, body = (
                    code + 2,
                    bytes([ERROR_CAUSE, 6]) + SESSION_CONTEXT_NOT_FOUND.to_bytes(4, "big"),
                )
            header = struct.pack("!BBH", reply_code, ident, 20 + len(body))
            self.sock.sendto(
                header + hashlib.md5(header + data[4:20] + body + self.secret).digest() + body, peer
            )
