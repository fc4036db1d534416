"""Framing RADIUS packets on a byte stream (RFC 6614 §2.4, RFC 6613 §2.6.4), in memory."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from federation.stream import StreamFramer
from radius import codec
from radius.codec import Code, Malformed


def request(identifier: int, user: bytes = b"alice@liguria.example") -> bytes:
    return codec.encode_request(
        code=Code.ACCESS_REQUEST,
        identifier=identifier,
        secret=b"radsec",
        attributes=codec.tlv(codec.USER_NAME, user),
    )


def accounting(identifier: int) -> bytes:
    return codec.encode_request(
        code=Code.ACCOUNTING_REQUEST,
        identifier=identifier,
        secret=b"radsec",
        attributes=codec.tlv(codec.ACCT_STATUS_TYPE, (1).to_bytes(4, "big")),
    )


def with_length(packet: bytes, length: int) -> bytes:
    return packet[:2] + struct.pack("!H", length) + packet[4:]


def test_a_packet_fed_byte_by_byte_comes_out_once_complete() -> None:
    framer = StreamFramer()
    packet = request(7)
    for i, octet in enumerate(packet[:-1]):
        assert framer.feed(bytes([octet])) == []
        assert framer.buffered == i + 1
    assert framer.feed(packet[-1:]) == [packet]
    assert framer.buffered == 0


def test_several_packets_in_one_chunk_come_out_in_order_and_the_rest_waits() -> None:
    framer = StreamFramer()
    first, second, third = request(1), accounting(2), request(3, b"bob@sud.example")
    assert framer.feed(first + second + third[:5]) == [first, second]
    assert framer.buffered == 5
    assert framer.feed(third[5:]) == [third]


def test_a_largest_packet_is_accepted() -> None:
    big = request(9, b"x" * 253)
    body = big[20:] + codec.tlv(18, b"y" * 253) * 14
    packet = with_length(big[:20] + body, 20 + len(body))
    padding = codec.tlv(18, b"z" * (codec.MAX_LENGTH - len(packet) - 2))
    packet = with_length(packet + padding, codec.MAX_LENGTH)
    assert len(packet) == codec.MAX_LENGTH
    assert StreamFramer().feed(packet) == [packet]


@pytest.mark.parametrize("length", [0, 1, 19, 4097, 0xFFFF])
def test_a_bad_length_breaks_the_stream(length: int) -> None:
    framer = StreamFramer()
    good = request(1)
    bad = with_length(request(2), length)
    with pytest.raises(Malformed) as raised:
        framer.feed(good + bad)
    assert raised.value.reason == "bad_length"
    # there is no way back into step: the framer stays broken and holds nothing
    assert framer.buffered == 0
    with pytest.raises(Malformed):
        framer.feed(request(3))


def test_a_bad_length_is_seen_from_the_header_alone() -> None:
    """Four octets are enough to refuse a Length of 5000: nothing waits for octets never coming."""
    with pytest.raises(Malformed, match="bad_length"):
        StreamFramer().feed(bytes([1, 1, 0x13, 0x88]))


def test_a_packet_whose_attributes_overrun_it_breaks_the_stream() -> None:
    packet = request(4)
    broken = packet[:20] + bytes([codec.USER_NAME, 200]) + packet[22:]  # runs past the Length
    with pytest.raises(Malformed, match="truncated_attribute"):
        StreamFramer().feed(broken)


def test_an_attribute_of_length_one_breaks_the_stream() -> None:
    packet = request(5)
    broken = packet[:20] + bytes([codec.USER_NAME, 1]) + packet[22:]
    with pytest.raises(Malformed, match="truncated_attribute"):
        StreamFramer().feed(broken)


def test_two_message_authenticators_break_the_stream() -> None:
    packet = request(6)  # Message-Authenticator is its first attribute
    extra = codec.tlv(codec.MESSAGE_AUTHENTICATOR, bytes(16))
    broken = with_length(packet + extra, len(packet) + len(extra))
    with pytest.raises(Malformed, match="bad_message_authenticator_attribute"):
        StreamFramer().feed(broken)


packets = st.lists(
    st.tuples(st.integers(0, 255), st.binary(min_size=0, max_size=240), st.booleans()),
    min_size=1,
    max_size=12,
).map(
    lambda specs: [
        accounting(i) if is_accounting else request(i, user or b"-") for i, user, is_accounting in specs
    ]
)


@settings(max_examples=300, deadline=None)
@given(packets=packets, cuts=st.lists(st.integers(0, 1 << 16), max_size=20))
def test_any_split_of_the_stream_gives_the_same_packets(packets: list[bytes], cuts: list[int]) -> None:
    stream = b"".join(packets)
    points = sorted({cut % (len(stream) + 1) for cut in cuts} | {0, len(stream)})
    framer = StreamFramer()
    received: list[bytes] = []
    for start, end in itertools.pairwise(points):
        received += framer.feed(stream[start:end])
        assert framer.buffered < codec.MAX_LENGTH
    assert received == packets
    assert framer.buffered == 0


@settings(max_examples=300, deadline=None)
@given(noise=st.binary(min_size=4, max_size=6000), cut=st.integers(1, 6000))
def test_noise_either_frames_or_breaks_but_never_buffers_past_one_packet(noise: bytes, cut: int) -> None:
    framer = StreamFramer()
    reason = None
    try:
        for chunk in (noise[:cut], noise[cut:]):
            for packet in framer.feed(chunk):
                assert codec.MIN_LENGTH <= len(packet) <= codec.MAX_LENGTH
                codec.parse(packet)
            assert framer.buffered < codec.MAX_LENGTH
    except Malformed as exc:
        reason = exc.reason
    assert reason in {None, "bad_length", "truncated_attribute", "bad_message_authenticator_attribute"}
