"""The CoA / Disconnect client (RFC 5176): packets checked by hand, then a NAS on loopback.

Every packet is checked here independently of ``radius.codec``: hashes computed with hashlib and
hmac, attributes walked by hand from the bytes.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from prometheus_client import REGISTRY

from accounts.disconnect import CoaKind, CoaOutcome, CoaResult, CoaTarget
from radius import codec
from radius.coa import CoaClient, IgnoreReason, ResponseIgnored, build_request, read_response

SECRET = b"coa-secret-for-tests"
REQUEST_AUTHENTICATOR = bytes(range(16))
SESSION = (
    ("User-Name", "alice@wifi.test"),
    ("Acct-Session-Id", "5F3A-0001"),
    ("Calling-Station-Id", "aa-bb-cc-dd-ee-ff"),
    ("Framed-IP-Address", "10.1.2.3"),
    ("NAS-IP-Address", "192.0.2.1"),
)
SESSION_WIRE = [
    (1, b"alice@wifi.test"),
    (44, b"5F3A-0001"),
    (31, b"aa-bb-cc-dd-ee-ff"),
    (8, bytes([10, 1, 2, 3])),
    (4, bytes([192, 0, 2, 1])),
]
CHANGES = (("Session-Timeout", 600), ("ChilliSpot-Bandwidth-Max-Down", 2_000_000))
CHANGES_WIRE = [
    (27, (600).to_bytes(4, "big")),
    (26, (14559).to_bytes(4, "big") + bytes([5, 6]) + (2_000_000).to_bytes(4, "big")),
]


# -- an independent implementation of the wire format ---------------------------------------------


def attributes_of(data: bytes) -> list[tuple[int, bytes]]:
    found = []
    i = 20
    while i < len(data):
        kind, length = data[i], data[i + 1]
        assert length >= 2 and i + length <= len(data)
        found.append((kind, data[i + 2 : i + length]))
        i += length
    return found


def check_request(data: bytes, secret: bytes = SECRET) -> list[tuple[int, bytes]]:
    """Assert what RFC 5176 §2.3 / §3.3 require of a request; return its attributes after the MA."""
    assert int.from_bytes(data[2:4], "big") == len(data)
    attributes = attributes_of(data)
    assert attributes[0][0] == 80 and len(attributes[0][1]) == 16, "Message-Authenticator comes first"
    assert [kind for kind, _ in attributes].count(80) == 1
    zeroed = data[:4] + bytes(16) + data[20:22] + bytes(16) + data[38:]
    assert hmac.new(secret, zeroed, hashlib.md5).digest() == attributes[0][1]
    assert hashlib.md5(data[:4] + bytes(16) + data[20:] + secret).digest() == data[4:20]
    return attributes[1:]


def response(
    code: int,
    identifier: int,
    request_authenticator: bytes,
    *,
    attributes: bytes = b"",
    secret: bytes = SECRET,
    sign: bool = True,
    message_authenticator: bytes | None = None,
) -> bytes:
    body = (bytes([80, 18]) + bytes(16) if sign else b"") + attributes
    header = bytes([code, identifier]) + (20 + len(body)).to_bytes(2, "big")
    if sign:
        mac = (
            message_authenticator
            or hmac.new(secret, header + request_authenticator + body, hashlib.md5).digest()
        )
        body = bytes([80, 18]) + mac + body[18:]
    return header + hashlib.md5(header + request_authenticator + body + secret).digest() + body


def error_cause(value: int) -> bytes:
    return bytes([101, 6]) + value.to_bytes(4, "big")


def reply_to(request: bytes, code: int, **kwargs: Any) -> bytes:
    return response(code, request[1], request[4:20], **kwargs)


# -- building requests ----------------------------------------------------------------------------


def test_a_disconnect_request_is_framed_and_signed_as_rfc_5176_says(radius_codec: codec.Codec) -> None:
    data = build_request(radius_codec, kind="disconnect", identifier=77, secret=SECRET, attributes=SESSION)
    assert data[0] == 40
    assert data[1] == 77
    assert check_request(data) == SESSION_WIRE


def test_a_coa_request_carries_the_changes_after_the_session(radius_codec: codec.Codec) -> None:
    data = build_request(
        radius_codec, kind="coa", identifier=3, secret=SECRET, attributes=(*SESSION, *CHANGES)
    )
    assert data[0] == 43
    assert data[1] == 3
    assert check_request(data) == SESSION_WIRE + CHANGES_WIRE


def test_the_same_request_is_the_same_bytes(radius_codec: codec.Codec) -> None:
    def build() -> bytes:
        return build_request(radius_codec, kind="coa", identifier=9, secret=SECRET, attributes=SESSION)

    assert build() == build()


def test_encrypted_attributes_are_refused(radius_codec: codec.Codec) -> None:
    with pytest.raises(ValueError, match="User-Password"):
        build_request(
            radius_codec,
            kind="coa",
            identifier=1,
            secret=SECRET,
            attributes=(("User-Password", "secret"),),
        )


def test_an_unknown_attribute_is_a_configuration_error(radius_codec: codec.Codec) -> None:
    with pytest.raises(codec.UnknownAttribute):
        build_request(radius_codec, kind="coa", identifier=1, secret=SECRET, attributes=(("No-Such", 1),))


# -- reading responses ----------------------------------------------------------------------------


def read(radius_codec: codec.Codec, data: bytes, kind: CoaKind = "disconnect") -> CoaResult | ResponseIgnored:
    return read_response(
        radius_codec,
        data,
        kind=kind,
        identifier=5,
        request_authenticator=REQUEST_AUTHENTICATOR,
        secret=SECRET,
    )


@pytest.mark.parametrize(("kind", "code"), [("disconnect", 41), ("coa", 44)])
def test_an_ack_is_read(radius_codec: codec.Codec, kind: CoaKind, code: int) -> None:
    data = response(code, 5, REQUEST_AUTHENTICATOR)
    assert read(radius_codec, data, kind) == CoaResult(outcome=CoaOutcome.ACK, detail="ACK")


def test_an_ack_without_message_authenticator_is_read(radius_codec: codec.Codec) -> None:
    data = response(41, 5, REQUEST_AUTHENTICATOR, sign=False)
    assert read(radius_codec, data) == CoaResult(outcome=CoaOutcome.ACK, detail="ACK")


def test_octets_past_the_length_are_padding(radius_codec: codec.Codec) -> None:
    data = response(41, 5, REQUEST_AUTHENTICATOR) + b"\x00\x01"  # RFC 2865 §3
    assert read(radius_codec, data) == CoaResult(outcome=CoaOutcome.ACK, detail="ACK")


def test_an_ack_may_carry_a_success_error_cause(radius_codec: codec.Codec) -> None:
    data = response(41, 5, REQUEST_AUTHENTICATOR, attributes=error_cause(201))
    assert read(radius_codec, data) == CoaResult(
        outcome=CoaOutcome.ACK, error_cause=201, detail="ACK: Residual-Context-Removed (201)"
    )


@pytest.mark.parametrize(("kind", "code"), [("disconnect", 42), ("coa", 45)])
def test_a_nak_names_its_error_cause(radius_codec: codec.Codec, kind: CoaKind, code: int) -> None:
    data = response(code, 5, REQUEST_AUTHENTICATOR, attributes=error_cause(503))
    assert read(radius_codec, data, kind) == CoaResult(
        outcome=CoaOutcome.NAK, error_cause=503, detail="NAK: Session-Context-Not-Found (503)"
    )


def test_a_nak_with_an_unknown_or_no_error_cause(radius_codec: codec.Codec) -> None:
    unknown = response(42, 5, REQUEST_AUTHENTICATOR, attributes=error_cause(599))
    assert read(radius_codec, unknown) == CoaResult(
        outcome=CoaOutcome.NAK, error_cause=599, detail="NAK: Error-Cause 599"
    )
    assert read(radius_codec, response(42, 5, REQUEST_AUTHENTICATOR)) == CoaResult(
        outcome=CoaOutcome.NAK, detail="NAK"
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (response(41, 5, REQUEST_AUTHENTICATOR, secret=b"another secret"), IgnoreReason.BAD_AUTHENTICATOR),
        (response(41, 5, bytes(16)), IgnoreReason.BAD_AUTHENTICATOR),  # not signed over our request
        (response(41, 6, REQUEST_AUTHENTICATOR), IgnoreReason.WRONG_IDENTIFIER),
        (response(44, 5, REQUEST_AUTHENTICATOR), IgnoreReason.WRONG_CODE),  # a CoA-ACK to a Disconnect
        (response(2, 5, REQUEST_AUTHENTICATOR), IgnoreReason.WRONG_CODE),
        (response(40, 5, REQUEST_AUTHENTICATOR), IgnoreReason.WRONG_CODE),
        (
            response(41, 5, REQUEST_AUTHENTICATOR, message_authenticator=b"\x01" * 16),
            IgnoreReason.BAD_MESSAGE_AUTHENTICATOR,
        ),
        (response(41, 5, REQUEST_AUTHENTICATOR)[:19], IgnoreReason.MALFORMED),
        (response(41, 5, REQUEST_AUTHENTICATOR)[:-1], IgnoreReason.MALFORMED),
    ],
    ids=["secret", "authenticator", "identifier", "kind", "access", "request", "ma", "short", "truncated"],
)
def test_a_datagram_that_is_not_the_answer_is_ignored(
    radius_codec: codec.Codec, data: bytes, reason: IgnoreReason
) -> None:
    assert read(radius_codec, data) == ResponseIgnored(reason=reason)


# -- a NAS on loopback ----------------------------------------------------------------------------

Behaviour = Callable[[bytes, tuple[Any, ...]], list[bytes]]


class Nas(asyncio.DatagramProtocol):
    """Records what it receives and answers with what ``behaviour`` returns."""

    def __init__(self) -> None:
        self.received: list[bytes] = []
        self.behaviour: Behaviour = lambda request, source: []
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.received.append(data)
        assert self.transport is not None
        for answer in self.behaviour(data, addr):
            self.transport.sendto(answer, addr)


@pytest.fixture(params=["127.0.0.1", "::1"])
async def nas(request: pytest.FixtureRequest) -> AsyncIterator[tuple[Nas, CoaTarget]]:
    host: str = request.param
    loop = asyncio.get_running_loop()
    try:
        transport, protocol = await loop.create_datagram_endpoint(Nas, local_addr=(host, 0))
    except OSError:
        pytest.skip(f"cannot bind {host}")
    port = transport.get_extra_info("sockname")[1]
    yield protocol, CoaTarget(address=host, port=port, secret=SECRET, attributes=SESSION)
    transport.close()


def counted(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_a_disconnect_is_acknowledged(
    radius_codec: codec.Codec, nas: tuple[Nas, CoaTarget], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="sesame")
    server, target = nas
    server.behaviour = lambda request, source: [reply_to(request, 41)]
    before = counted("sesame_coa_requests_total", kind="disconnect", outcome="ack")

    result = await CoaClient(radius_codec, timeout=1.0)(target, kind="disconnect")

    assert result == CoaResult(outcome=CoaOutcome.ACK, detail="ACK")
    assert server.received[0][0] == 40
    assert check_request(server.received[0]) == SESSION_WIRE
    assert counted("sesame_coa_requests_total", kind="disconnect", outcome="ack") == before + 1
    assert "ACK" in caplog.text
    assert SECRET.decode() not in caplog.text


async def test_a_coa_request_is_refused_with_its_error_cause(
    radius_codec: codec.Codec, nas: tuple[Nas, CoaTarget]
) -> None:
    server, target = nas
    server.behaviour = lambda request, source: [reply_to(request, 45, attributes=error_cause(503))]

    result = await CoaClient(radius_codec, timeout=1.0)(target, kind="coa", extra=CHANGES)

    assert result == CoaResult(
        outcome=CoaOutcome.NAK, error_cause=503, detail="NAK: Session-Context-Not-Found (503)"
    )
    assert server.received[0][0] == 43
    assert check_request(server.received[0]) == SESSION_WIRE + CHANGES_WIRE


async def test_a_silent_nas_gets_identical_retransmissions_then_a_timeout(
    radius_codec: codec.Codec, nas: tuple[Nas, CoaTarget]
) -> None:
    server, target = nas

    result = await CoaClient(radius_codec, timeout=0.05, retries=2)(target, kind="disconnect")

    where = (
        f"[{target.address}]:{target.port}" if ":" in target.address else f"{target.address}:{target.port}"
    )
    assert result == CoaResult(outcome=CoaOutcome.TIMEOUT, detail=f"no answer from {where} after 3 tries")
    assert len(server.received) == 3
    assert len(set(server.received)) == 1
    check_request(server.received[0])


async def test_answers_under_another_secret_are_ignored(
    radius_codec: codec.Codec, nas: tuple[Nas, CoaTarget]
) -> None:
    server, target = nas
    server.behaviour = lambda request, source: [reply_to(request, 41, secret=b"the NAS's other secret")]
    before = counted("sesame_coa_responses_ignored_total", reason="bad_authenticator")

    result = await CoaClient(radius_codec, timeout=0.05, retries=1)(target, kind="disconnect")

    assert result.outcome is CoaOutcome.TIMEOUT
    assert result.detail.endswith("after 2 tries; ignored 2 bad_authenticator")
    assert len(server.received) == 2
    assert counted("sesame_coa_responses_ignored_total", reason="bad_authenticator") == before + 2


async def test_wrong_answers_are_ignored_and_the_right_one_is_taken(
    radius_codec: codec.Codec, nas: tuple[Nas, CoaTarget]
) -> None:
    server, target = nas
    server.behaviour = lambda request, source: [
        response(41, (request[1] + 1) % 256, request[4:20]),
        reply_to(request, 41, secret=b"wrong"),
        reply_to(request, 44),  # a CoA-ACK to a Disconnect-Request
        reply_to(request, 42, attributes=error_cause(504)),
        reply_to(request, 41),  # too late: the NAK was the answer
    ]

    result = await CoaClient(radius_codec, timeout=1.0)(target, kind="disconnect")

    assert result == CoaResult(
        outcome=CoaOutcome.NAK, error_cause=504, detail="NAK: Session-Context-Not-Removable (504)"
    )


async def test_an_answer_from_another_port_is_not_taken(
    radius_codec: codec.Codec, nas: tuple[Nas, CoaTarget]
) -> None:
    server, target = nas
    family = socket.AF_INET6 if ":" in target.address else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as stray:
        stray.bind((target.address, 0))

        def behaviour(request: bytes, source: tuple[Any, ...]) -> list[bytes]:
            stray.sendto(reply_to(request, 41), source)  # valid, but not from the NAS's port
            return [reply_to(request, 42, attributes=error_cause(503))]

        server.behaviour = behaviour
        result = await CoaClient(radius_codec, timeout=1.0)(target, kind="disconnect")

    assert result.outcome is CoaOutcome.NAK


async def test_a_closed_port_times_out(radius_codec: codec.Codec) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    target = CoaTarget(address="127.0.0.1", port=port, secret=SECRET, attributes=SESSION)

    result = await CoaClient(radius_codec, timeout=0.05, retries=0)(target, kind="disconnect")

    assert result.outcome is CoaOutcome.TIMEOUT
    assert result.detail.startswith(f"no answer from 127.0.0.1:{port} after 1 try")


def test_the_client_refuses_a_useless_timeout(radius_codec: codec.Codec) -> None:
    with pytest.raises(ValueError):
        CoaClient(radius_codec, timeout=0)
    with pytest.raises(ValueError):
        CoaClient(radius_codec, retries=-1)


async def test_a_request_leaves_from_the_address_radius_listens_on(radius_codec: codec.Codec) -> None:
    """With several hosts, each sends from its own RADIUS address: the one the access point knows."""
    loop = asyncio.get_running_loop()
    transport, server = await loop.create_datagram_endpoint(Nas, local_addr=("127.0.0.1", 0))
    sources: list[str] = []

    def answer(request: bytes, source: tuple[Any, ...]) -> list[bytes]:
        sources.append(source[0])
        return [reply_to(request, 41)]

    server.behaviour = answer
    target = CoaTarget(
        address="127.0.0.1", port=transport.get_extra_info("sockname")[1], secret=SECRET, attributes=SESSION
    )
    try:
        for bind, expected in ((("::1", "127.0.0.2"), "127.0.0.2"), (("0.0.0.0", "::"), "127.0.0.1")):
            client = CoaClient(radius_codec, timeout=1.0, sources=bind)
            assert (await client(target, kind="disconnect")).outcome is CoaOutcome.ACK
            assert sources[-1] == expected  # a wildcard: the kernel's choice
    finally:
        transport.close()
