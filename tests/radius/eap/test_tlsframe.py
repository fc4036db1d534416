"""TLS fragments in EAP (RFC 5216 §2.1.5, §3.1): cutting ours, putting the peer's back together, and
refusing what would cost unbounded memory."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from radius.eap.tlsframe import (
    FLAG_LENGTH,
    FLAG_MORE,
    MAX_TLS_MESSAGE,
    Frame,
    FrameError,
    Reassembler,
    ack,
    fragments,
    read_frame,
    start,
)


def test_a_short_message_goes_whole_without_length() -> None:
    assert fragments(b"hello", 10) == [b"\x00hello"]
    assert fragments(b"", 10) == [b"\x00"]
    assert fragments(b"hi", 10, version=1) == [b"\x01hi"]


def test_a_long_message_is_cut_with_the_length_first_and_more_on_all_but_the_last() -> None:
    parts = fragments(bytes(range(25)), 10)
    assert parts == [
        struct.pack("!BI", FLAG_LENGTH | FLAG_MORE, 25) + bytes(range(10)),
        bytes([FLAG_MORE]) + bytes(range(10, 20)),
        b"\x00" + bytes(range(20, 25)),
    ]


def test_start_and_ack_are_flags_only() -> None:
    assert start() == b"\x20"
    assert ack() == b"\x00"
    assert read_frame(ack()).is_ack
    assert not read_frame(start()).is_ack
    assert not read_frame(b"\x00\x16").is_ack


@given(st.binary(max_size=5000), st.integers(1, 1500))
def test_what_is_cut_is_put_back_together(data: bytes, size: int) -> None:
    reassembler = Reassembler()
    parts = fragments(data, size)
    for part in parts[:-1]:
        assert reassembler.add(read_frame(part)) is None
        assert reassembler.in_progress
    assert reassembler.add(read_frame(parts[-1])) == data
    assert not reassembler.in_progress


def test_a_length_on_every_fragment_is_accepted_when_it_stays_the_same() -> None:
    """FreeRADIUS (include_length = yes) sends L on every fragment."""
    reassembler = Reassembler()
    assert reassembler.add(Frame(flags=FLAG_LENGTH | FLAG_MORE, length=6, data=b"abc")) is None
    assert reassembler.add(Frame(flags=FLAG_LENGTH, length=6, data=b"def")) == b"abcdef"


def _feed(reassembler: Reassembler, *payloads: bytes) -> bytes | None:
    result = None
    for payload in payloads:
        result = reassembler.add(read_frame(payload))
    return result


def _first(total: int, data: bytes) -> bytes:
    return struct.pack("!BI", FLAG_LENGTH | FLAG_MORE, total) + data


@pytest.mark.parametrize(
    ("payloads", "reason"),
    [
        ((b"",), "no_flags"),
        ((b"\x80\x00\x00",), "short_length_field"),
        ((struct.pack("!BI", FLAG_LENGTH, 2) + b"abc",), "fragment_longer_than_message"),
        ((struct.pack("!BI", FLAG_LENGTH, 4) + b"abc",), "length_mismatch"),
        ((b"\x40abc",), "first_fragment_without_length"),
        ((_first(MAX_TLS_MESSAGE + 1, b"abc"),), "message_too_long"),
        ((_first(3, b"abc"),), "more_after_complete"),
        ((_first(6, b"abc"), b"\x40def"), "more_after_complete"),
        ((_first(6, b"abc"), b"\x00defg"), "fragments_exceed_length"),
        ((_first(6, b"abc"), b"\x00de"), "fragments_short_of_length"),
        ((_first(6, b"abc"), struct.pack("!BI", FLAG_LENGTH, 7) + b"def"), "length_changed"),
        ((b"\x20",), "start_from_peer"),
    ],
)
def test_broken_framing_is_refused(payloads: tuple[bytes, ...], reason: str) -> None:
    with pytest.raises(FrameError) as caught:
        _feed(Reassembler(), *payloads)
    assert caught.value.reason == reason


def test_an_unfragmented_message_over_the_limit_is_refused() -> None:
    with pytest.raises(FrameError) as caught:
        Reassembler(limit=4).add(read_frame(b"\x00hello"))
    assert caught.value.reason == "message_too_long"


@given(st.lists(st.binary(max_size=40), max_size=8))
def test_any_payloads_are_read_or_refused_and_memory_stays_bounded(payloads: list[bytes]) -> None:
    reassembler = Reassembler(limit=64)
    for payload in payloads:
        try:
            message = reassembler.add(read_frame(payload))
        except FrameError:
            reassembler.reset()
            continue
        if message is not None:
            assert len(message) <= 64
