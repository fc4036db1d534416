"""RADIUS packets on a byte stream (RadSec, RFC 6614 §2.4; RADIUS over TCP, RFC 6613): framing only.

Theory of operation. A TLS connection carries RADIUS packets back to back, with nothing between
them: each packet's own Length field (octets 2-3, RFC 2865 §3) says where it ends. A
:class:`StreamFramer` is fed whatever bytes the transport delivers, in chunks of any size, and
returns every packet completed so far, in order; the bytes of an incomplete packet wait for the
next chunk.

On a datagram a bad packet is dropped and the next datagram starts afresh; on a stream there is no
way to find the start of the next packet once one Length is wrong. So RFC 6613 §2.6.4 turns
"silently discard" into "discard and close the connection": a Length below 20 or above 4096, and a
packet that fails the RADIUS framing check (:func:`radius.codec.parse`: an attribute shorter than
two octets or running past the end, a Message-Authenticator of the wrong size or given twice),
raise :class:`radius.codec.Malformed` and the caller closes the connection. The framer stays broken
afterwards: a later :meth:`StreamFramer.feed` raises the same error again.

Memory is bounded by design: at most one incomplete packet (< 4096 octets) is kept between calls.
No I/O, no clock.
"""

from __future__ import annotations

from radius.codec import MAX_LENGTH, MIN_LENGTH, Malformed, parse

_LENGTH_END = 4  # the Length field is octets 2-3 of the header


class StreamFramer:
    """Splits a byte stream into RADIUS packets by their Length field."""

    __slots__ = ("_buffer", "_error")

    def __init__(self) -> None:
        self._buffer = bytearray()
        self._error: Malformed | None = None

    @property
    def buffered(self) -> int:
        """Octets of an incomplete packet waiting for the rest of it."""
        return len(self._buffer)

    def feed(self, data: bytes) -> list[bytes]:
        """Complete packets, in order; keeps the remainder.

        Raises :class:`radius.codec.Malformed` (``bad_length``, or the reason :func:`parse` gives)
        when the stream cannot be trusted any more: the caller closes the connection. Packets that
        came before the bad one in the same chunk are not returned; their connection is lost anyway.
        """
        if self._error is not None:
            raise Malformed(self._error.reason)
        buffer = self._buffer
        buffer += data
        packets: list[bytes] = []
        offset = 0
        available = len(buffer)
        try:
            while available - offset >= _LENGTH_END:
                length = (buffer[offset + 2] << 8) | buffer[offset + 3]
                if length < MIN_LENGTH or length > MAX_LENGTH:
                    raise Malformed("bad_length")
                end = offset + length
                if end > available:
                    break
                packet = bytes(buffer[offset:end])
                parse(packet)  # attributes must fill the packet exactly (RFC 2865 §5)
                packets.append(packet)
                offset = end
        except Malformed as exc:
            self._error = exc
            buffer.clear()
            raise
        del buffer[:offset]
        return packets
