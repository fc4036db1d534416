"""The operator's Status-Server probe, sans-I/O (RFC 5997): the request, and the verdict on an answer."""

from __future__ import annotations

import pytest

from federation.status import UNSIGNED, check_status_reply, status_server
from federation.tls import failure, sni_name
from radius import codec

SECRET = b"s3cret"


def answer(request: bytes, *, code: codec.Code = codec.Code.ACCESS_ACCEPT, secret: bytes = SECRET,
           sign: bool = True, identifier: int | None = None) -> bytes:  # fmt: skip
    packet = codec.parse(request)
    return codec.encode_reply(
        code=code, identifier=packet.identifier if identifier is None else identifier,
        request_authenticator=packet.authenticator, secret=secret, sign=sign,
    )  # fmt: skip


def test_the_request_is_a_signed_status_server() -> None:
    request = codec.parse(status_server(SECRET))
    assert request.code == codec.Code.STATUS_SERVER
    assert codec.message_authenticator_valid(request, SECRET, request_authenticator=request.authenticator)


def test_verdicts_on_answers() -> None:
    request = status_server(SECRET)
    assert check_status_reply(answer(request), request=request, secret=SECRET) is None
    assert check_status_reply(answer(request, sign=False), request=request, secret=SECRET) == UNSIGNED
    assert check_status_reply(answer(request, secret=b"other"), request=request, secret=SECRET) == (
        "wrong Response Authenticator: is the shared secret right?"
    )
    rejected = answer(request, code=codec.Code.ACCESS_REJECT)
    assert (
        check_status_reply(rejected, request=request, secret=SECRET)
        == "ACCESS_REJECT instead of Access-Accept"
    )
    other = answer(request, identifier=(request[1] + 1) % 256)
    assert check_status_reply(other, request=request, secret=SECRET) == "another request's identifier"
    assert check_status_reply(b"\x02", request=request, secret=SECRET) == "malformed (short_packet)"


@pytest.mark.parametrize(
    ("expected", "sni"),
    [("radsec.liguria.example", "radsec.liguria.example"), ("192.0.2.1", None), ("2001:db8::1", None),
     ("*.liguria.example", None), ("", None)],
)  # fmt: skip
def test_sni_names_dns_names_only(expected: str, sni: str | None) -> None:
    assert sni_name(expected) == sni


def test_failures_in_words() -> None:
    assert (
        failure(ConnectionRefusedError(111, "Connect call failed ('127.0.0.1', 9)")) == "Connection refused"
    )
    assert failure(TimeoutError()) == "timed out"
