"""The EAP packet codec (RFC 3748 §4): what it reads, what it refuses, and that it never raises
anything but :class:`EapMalformed` on peer input."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from radius.eap.packet import EapCode, EapMalformed, EapPacket, EapType, failure, parse, request, success


def test_a_response_identity_is_read_with_its_type_and_data() -> None:
    packet = parse(b"\x02\x07\x00\x0e\x01anonymous")
    assert packet == EapPacket(code=EapCode.RESPONSE, identifier=7, type=EapType.IDENTITY, data=b"anonymous")
    assert packet.encode() == b"\x02\x07\x00\x0e\x01anonymous"


def test_an_unknown_type_is_kept_as_its_number() -> None:
    packet = parse(b"\x02\x01\x00\x06\xfe\x00")
    assert packet.type == 254
    assert not isinstance(packet.type, EapType)


def test_success_and_failure_carry_the_identifier_and_nothing_else() -> None:
    assert success(9) == b"\x03\x09\x00\x04"
    assert failure(255) == b"\x04\xff\x00\x04"
    assert parse(success(9)) == EapPacket(code=EapCode.SUCCESS, identifier=9)
    assert request(3, EapType.PEAP, b"\x20") == b"\x01\x03\x00\x06\x19\x20"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "too_short"),
        (b"\x02\x01\x00", "too_short"),
        (b"\x02\x01\x00\x09\x01abc", "length_mismatch"),  # says 9, holds 8
        (b"\x02\x01\x00\x05\x01abc", "length_mismatch"),  # trailing octets: no padding over RADIUS
        (b"\x02\x01\x00\x03\x01abc", "bad_length"),  # shorter than the header
        (b"\x05\x01\x00\x04", "unknown_code"),
        (b"\x03\x01\x00\x05\x00", "success_failure_with_data"),
        (b"\x02\x01\x00\x04", "no_type"),
    ],
)
def test_malformed_packets_are_refused_with_a_reason(data: bytes, reason: str) -> None:
    with pytest.raises(EapMalformed) as caught:
        parse(data)
    assert caught.value.reason == reason


def test_inside_a_tunnel_octets_past_the_length_are_padding_and_ignored() -> None:
    # RFC 3748 §4.1: ignored upon reception; the exact reading (over RADIUS) refuses them above
    assert parse(b"\x02\x01\x00\x0a\x01alicepad", padding=True) == EapPacket(
        code=EapCode.RESPONSE, identifier=1, type=EapType.IDENTITY, data=b"alice"
    )
    assert parse(success(4) + bytes(3), padding=True) == EapPacket(code=EapCode.SUCCESS, identifier=4)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x02\x01\x00\x09\x01abc", "length_mismatch"),  # a Length past the octets: still refused
        (b"\x02\x01\x00\x02\x01abc", "bad_length"),
        (b"\x02\x01\x00\x04\x01abc", "no_type"),  # the Type octet is past the Length
        (b"\x03\x01\x00\x05\x00\x00", "success_failure_with_data"),
    ],
)
def test_padding_does_not_excuse_a_packet_that_does_not_hold(data: bytes, reason: str) -> None:
    with pytest.raises(EapMalformed) as caught:
        parse(data, padding=True)
    assert caught.value.reason == reason


def test_encoding_refuses_what_the_wire_cannot_carry() -> None:
    with pytest.raises(ValueError):
        EapPacket(code=EapCode.REQUEST, identifier=1, type=1, data=bytes(0xFFFF)).encode()
    with pytest.raises(ValueError):
        EapPacket(code=EapCode.SUCCESS, identifier=1, type=1).encode()
    with pytest.raises(ValueError):
        EapPacket(code=EapCode.RESPONSE, identifier=1).encode()


@given(st.binary(max_size=300))
def test_any_octets_parse_or_are_malformed(data: bytes) -> None:
    try:
        packet = parse(data)
    except EapMalformed:
        return
    assert packet.encode() == data


@given(st.binary(max_size=300))
def test_with_padding_any_octets_parse_as_their_first_length_octets_or_are_malformed(data: bytes) -> None:
    try:
        packet = parse(data, padding=True)
    except EapMalformed:
        return
    length = int.from_bytes(data[2:4], "big")
    assert packet == parse(data[:length])
    assert packet.encode() == data[:length]


@given(
    st.sampled_from([EapCode.REQUEST, EapCode.RESPONSE]),
    st.integers(0, 255),
    st.integers(0, 255),
    st.binary(max_size=2000),
)
def test_requests_and_responses_round_trip(code: EapCode, identifier: int, type_: int, data: bytes) -> None:
    packet = EapPacket(code=code, identifier=identifier, type=type_, data=data)
    assert parse(packet.encode()) == packet
