"""Whatever a peer (or a NAS) sends, the server answers with a step: never an exception, never an
internal error, never more conversations than its bounds, and every conversation ends within its
rounds or its deadline."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radius.eap.packet import EapCode, EapPacket, EapType, parse
from radius.eap.server import EapServer
from radius.eap.steps import Accepted, AnswerNeeded, Challenge, Discarded, Refused, Step
from radius.eap.tlsengine import TlsSettings
from tests.radius.eap.conftest import new_server
from tests.radius.eap.peer import Peer, client_context, default_answer, identity_response, response_to
from tests.radius.eap.pki import Pki

NOW = 1000.0
SLOW = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

types = st.sampled_from([EapType.IDENTITY, EapType.NAK, EapType.TLS, EapType.TTLS, EapType.PEAP, 0, 254, 255])
flags = st.sampled_from([0x00, 0x80, 0x40, 0xC0, 0x20, 0xE0, 0x01, 0x07])
tls_payloads = st.one_of(
    st.binary(max_size=64),
    st.builds(lambda f, d: bytes([f]) + d, flags, st.binary(max_size=300)),
    st.builds(
        lambda f, n, d: struct.pack("!BI", f, n) + d, flags, st.integers(0, 2**32 - 1), st.binary(max_size=64)
    ),
    # a TLS record header announcing more than it holds, or a huge record
    st.builds(
        lambda n, d: b"\x00\x16\x03\x03" + struct.pack("!H", n) + d,
        st.integers(0, 0xFFFF),
        st.binary(max_size=64),
    ),
)


def responses(identifier: st.SearchStrategy[int] = st.integers(0, 255)) -> st.SearchStrategy[bytes]:
    packets = st.builds(
        lambda i, t, d: EapPacket(code=EapCode.RESPONSE, identifier=i, type=t, data=d).encode(),
        identifier,
        types,
        tls_payloads,
    )
    return st.one_of(packets, st.binary(max_size=40), st.just(b""))


def _server(settings_: TlsSettings, **overrides: object) -> EapServer:
    return new_server(**{"tls": settings_, "max_conversations": 8, "max_per_client": 4, **overrides})


def _sane(step: Step) -> None:
    assert isinstance(step, Challenge | Accepted | Refused | Discarded | AnswerNeeded)
    if isinstance(step, Refused):
        assert step.reason != "eap_internal_error", step.detail
        assert step.error is None
        assert parse(step.eap_message).code is EapCode.FAILURE
    if isinstance(step, Challenge):
        assert parse(step.eap_message).code is EapCode.REQUEST


@SLOW
@given(messages=st.lists(st.tuples(responses(), st.sampled_from(["none", "random", "known"])), max_size=12))
def test_any_messages_on_any_state_get_a_sane_step(
    tls_settings: TlsSettings, messages: list[tuple[bytes, str]]
) -> None:
    server = _server(tls_settings)
    known: list[bytes] = []
    for message, which in messages:
        state = {"none": None, "random": b"S\x01\x00" + bytes(16), "known": known[-1] if known else None}[
            which
        ]
        step = server.receive(eap_message=message, state=state, client="ap-1", now=NOW)
        _sane(step)
        if isinstance(step, Challenge):
            known.append(step.state)
        assert server.conversations <= 4


@SLOW
@given(
    method=st.sampled_from([EapType.PEAP, EapType.TTLS, EapType.TLS]),
    version=st.sampled_from(["TLSv1.2", "TLSv1.3"]),
    at=st.integers(0, 12),
    corruption=st.one_of(
        responses(),
        st.sampled_from(["truncate", "flip", "oversize", "drop-type-data", "repeat"]),
    ),
    after=st.lists(responses(), max_size=6),
)
def test_a_conversation_corrupted_at_any_round_still_ends_sanely(
    pki: Pki,
    tls_settings: TlsSettings,
    method: EapType,
    version: str,
    at: int,
    corruption: bytes | str,
    after: list[bytes],
) -> None:
    server = _server(tls_settings, default_method=method, fragment_size=300)
    peer = Peer(
        method=method,
        context=client_context(str(pki.server_ca.file), version=version, certificate=pki.device.pair),
        fragment_size=400,
        replies={b"hello": b"ok"},
        eager=b"ok" if method is EapType.TTLS else b"",
    )
    step: Step = server.receive(eap_message=peer.identity_response(), state=None, client="ap-1", now=NOW)
    rounds = 0
    last_reply = peer.identity_response()
    while isinstance(step, Challenge | AnswerNeeded):
        _sane(step)
        if isinstance(step, AnswerNeeded):
            step = server.supply(step, default_answer(step.need), now=NOW)
            continue
        try:
            reply = peer.answer(step.eap_message)
        except Exception:  # the test peer lost track after a corruption: it just acknowledges
            reply = response_to(step.eap_message, method, b"\x00")
        if rounds == at:
            reply = _corrupt(reply, corruption, last_reply)
        elif rounds > at and after:
            reply = after.pop(0)
        last_reply = reply
        step = server.receive(eap_message=reply, state=step.state, client="ap-1", now=NOW)
        rounds += 1
        if isinstance(step, Discarded):
            break  # the NAS would resend; nothing is held for long: see the expiry below
        assert rounds <= 60
    _sane(step)
    server.expire(NOW + 30)
    assert server.conversations == 0


def _corrupt(reply: bytes, how: bytes | str, previous: bytes) -> bytes:
    if isinstance(how, bytes):
        return how
    if how == "truncate":
        return reply[: max(0, len(reply) // 2)]
    if how == "flip" and len(reply) > 8:
        return reply[:-3] + bytes([reply[-3] ^ 0x41]) + reply[-2:]
    if how == "oversize":
        eap = parse(reply)
        assert eap.type is not None
        data = struct.pack("!BI", 0xC0, 70000) + bytes(200)
        return EapPacket(code=EapCode.RESPONSE, identifier=eap.identifier, type=eap.type, data=data).encode()
    if how == "drop-type-data":
        eap = parse(reply)
        return EapPacket(code=EapCode.RESPONSE, identifier=eap.identifier, type=eap.type, data=b"").encode()
    return previous


def test_a_message_announcing_more_than_64_kib_is_refused(tls_settings: TlsSettings) -> None:
    server = _server(tls_settings)
    start = server.receive(eap_message=identity_response(), state=None, client="ap-1", now=NOW)
    assert isinstance(start, Challenge)
    huge = response_to(start.eap_message, EapType.PEAP, struct.pack("!BI", 0xC0, 64 * 1024 + 1) + bytes(1000))
    step = server.receive(eap_message=huge, state=start.state, client="ap-1", now=NOW)
    assert isinstance(step, Refused)
    assert (step.reason, step.detail) == ("eap_malformed", "message_too_long")


def test_fragments_past_the_announced_length_are_refused(tls_settings: TlsSettings) -> None:
    server = _server(tls_settings)
    step: Step = server.receive(eap_message=identity_response(), state=None, client="ap-1", now=NOW)
    payloads = [struct.pack("!BI", 0xC0, 2000) + bytes(800), b"\x40" + bytes(800), b"\x00" + bytes(800)]
    for payload in payloads:
        assert isinstance(step, Challenge)
        eap = response_to(step.eap_message, EapType.PEAP, payload)
        step = server.receive(eap_message=eap, state=step.state, client="ap-1", now=NOW)
    assert isinstance(step, Refused)
    assert (step.reason, step.detail) == ("eap_malformed", "fragments_exceed_length")


@pytest.mark.parametrize(
    "garbage", [b"\x00" + bytes(50), b"\x00\x16\x03\x01\x00\x02\x01\x00", b"\x00GET / HTTP/1.1\r\n"]
)
def test_garbage_for_a_client_hello_fails_tls(tls_settings: TlsSettings, garbage: bytes) -> None:
    server = _server(tls_settings)
    start = server.receive(eap_message=identity_response(), state=None, client="ap-1", now=NOW)
    assert isinstance(start, Challenge)
    eap = response_to(start.eap_message, EapType.PEAP, garbage)
    step = server.receive(eap_message=eap, state=start.state, client="ap-1", now=NOW)
    assert isinstance(step, Refused)
    assert step.reason == "tls_failed"
    assert server.conversations == 0


@SLOW
@given(data=st.data())
def test_interleaved_conversations_of_many_clients_stay_within_bounds(
    tls_settings: TlsSettings, data: st.DataObject
) -> None:
    server = _server(tls_settings)
    states: list[tuple[bytes, str]] = []
    now = NOW
    for _ in range(data.draw(st.integers(1, 30))):
        client = data.draw(st.sampled_from(["ap-1", "ap-2", "ap-3"]))
        action = data.draw(st.sampled_from(["open", "message", "expire", "tick"]))
        if action == "open" or not states:
            step = server.receive(eap_message=identity_response(), state=None, client=client, now=now)
        elif action == "message":
            state, owner = data.draw(st.sampled_from(states))
            step = server.receive(eap_message=data.draw(responses()), state=state, client=owner, now=now)
        elif action == "expire":
            server.expire(now)
            continue
        else:
            now += data.draw(st.floats(0, 20))
            continue
        _sane(step)
        if isinstance(step, Challenge):
            states.append((step.state, client))
        assert server.conversations <= 8
        assert all(sum(1 for _, c in states if c == owner) >= 0 for owner in ("ap-1",))
    server.expire(now + 31)
    assert server.conversations == 0
