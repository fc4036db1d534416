"""TLS records carried in EAP-TLS, EAP-TTLS and PEAP packets: flags, fragments, acknowledgements.

The Type-Data of these methods (RFC 5216 §3.1-3.2, RFC 5281 §9.1, [MS-PEAP] §2.2.2) is

    Flags (1) | TLS Message Length (4, only when L is set) | TLS Data

with the flags L 0x80 (length included), M 0x40 (more fragments), S 0x20 (start, server to peer
only) and, for TTLS and PEAP, the method's version in the low three bits (always 0 here: TTLSv0,
PEAPv0).

A TLS flight longer than the link allows travels in fragments (RFC 5216 §2.1.5): every fragment
but the last has M set, the first has L set with the length of the whole message, and each
fragment is acknowledged by the other side with an empty message (flags only, no data) before
the next one goes. This module cuts our messages (:func:`fragments`) and puts the peer's back
together (:class:`Reassembler`), refusing what would cost unbounded memory: a message longer than
:data:`MAX_TLS_MESSAGE` (64 KiB, hostapd's limit too), a first fragment without its length,
fragments adding up to something else than the length announced.

Every error is a :class:`FrameError`: the peer's fault.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

__all__ = [
    "FLAG_LENGTH",
    "FLAG_MORE",
    "FLAG_START",
    "MAX_TLS_MESSAGE",
    "VERSION_MASK",
    "Frame",
    "FrameError",
    "Reassembler",
    "ack",
    "fragments",
    "read_frame",
    "start",
]

FLAG_LENGTH = 0x80
FLAG_MORE = 0x40
FLAG_START = 0x20
VERSION_MASK = 0x07
MAX_TLS_MESSAGE = 64 * 1024


class FrameError(Exception):
    """Type-Data that breaks the framing rules: the peer's fault."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class Frame:
    """One EAP-TLS/TTLS/PEAP Type-Data, read."""

    flags: int
    length: int | None  # the TLS Message Length field, when L is set
    data: bytes

    @property
    def more(self) -> bool:
        return bool(self.flags & FLAG_MORE)

    @property
    def start(self) -> bool:
        return bool(self.flags & FLAG_START)

    @property
    def is_ack(self) -> bool:
        """An acknowledgement: no data, no L, M or S (the version bits do not matter)."""
        return not self.data and not self.flags & (FLAG_LENGTH | FLAG_MORE | FLAG_START)


def read_frame(payload: bytes) -> Frame:
    """The Type-Data of one packet, read; :class:`FrameError` when it cannot be."""
    if not payload:
        raise FrameError("no_flags")
    flags = payload[0]
    if not flags & FLAG_LENGTH:
        return Frame(flags=flags, length=None, data=payload[1:])
    if len(payload) < 5:
        raise FrameError("short_length_field")
    (length,) = struct.unpack_from("!I", payload, 1)
    data = payload[5:]
    if len(data) > length:
        raise FrameError("fragment_longer_than_message")
    return Frame(flags=flags, length=length, data=data)


class Reassembler:
    """Puts one peer message together from its fragments, at most ``limit`` octets."""

    def __init__(self, limit: int = MAX_TLS_MESSAGE) -> None:
        self.limit = limit
        self._parts: list[bytes] = []
        self._received = 0
        self._total: int | None = None

    @property
    def in_progress(self) -> bool:
        """Whether fragments of a message arrived and its last one has not."""
        return self._total is not None

    def add(self, frame: Frame) -> bytes | None:
        """The whole message when ``frame`` completes one, None when more fragments must follow (the
        caller acknowledges this one)."""
        if frame.start:
            raise FrameError("start_from_peer")
        if self._total is None:
            return self._first(frame)
        if frame.length is not None and frame.length != self._total:
            raise FrameError("length_changed")
        self._received += len(frame.data)
        if self._received > self._total:
            raise FrameError("fragments_exceed_length")
        self._parts.append(frame.data)
        if frame.more:
            if self._received == self._total:
                raise FrameError("more_after_complete")
            return None
        if self._received != self._total:
            raise FrameError("fragments_short_of_length")
        message = b"".join(self._parts)
        self.reset()
        return message

    def _first(self, frame: Frame) -> bytes | None:
        if not frame.more:
            if frame.length is not None and frame.length != len(frame.data):
                raise FrameError("length_mismatch")
            if len(frame.data) > self.limit:
                raise FrameError("message_too_long")
            return frame.data
        if frame.length is None:  # RFC 5216 §3.1: L MUST be set on the first fragment
            raise FrameError("first_fragment_without_length")
        if frame.length > self.limit:
            raise FrameError("message_too_long")
        if len(frame.data) >= frame.length:
            raise FrameError("more_after_complete")
        self._total = frame.length
        self._received = len(frame.data)
        self._parts = [frame.data]
        return None

    def reset(self) -> None:
        """Forget a message in progress."""
        self._parts = []
        self._received = 0
        self._total = None


def fragments(data: bytes, size: int, version: int = 0) -> list[bytes]:
    """``data`` as the Type-Data of one or more Requests, at most ``size`` octets of TLS data each.

    One fragment carries no length (hostapd does the same; RFC 5216 §3.1 makes L mandatory only on
    the first fragment of several); of several, the first carries L and the length of the whole.
    Empty ``data`` gives one flags-only Type-Data (a Request with nothing to say: an ack's shape)."""
    if size < 1:
        raise ValueError("a fragment carries at least one octet")
    if len(data) <= size:
        return [bytes([version]) + data]
    chunks = [data[offset : offset + size] for offset in range(0, len(data), size)]
    out = [struct.pack("!BI", version | FLAG_LENGTH | FLAG_MORE, len(data)) + chunks[0]]
    out += [bytes([version | FLAG_MORE]) + chunk for chunk in chunks[1:-1]]
    out.append(bytes([version]) + chunks[-1])
    return out


def start(version: int = 0) -> bytes:
    """The Type-Data of a method's Start request: S set, no data (RFC 5216 §2.1.1)."""
    return bytes([FLAG_START | version])


def ack(version: int = 0) -> bytes:
    """The Type-Data of an acknowledgement: flags only, no data (RFC 5216 §2.1.5)."""
    return bytes([version])
