"""EapServer's table of conversations: States, who may use one, bounds, deadlines, rounds, and what
it does with Responses that do not fit the conversation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from radius.eap.needs import NeedPassword
from radius.eap.packet import EapCode, EapPacket, EapType, parse
from radius.eap.server import EapServer, fragment_size_for
from radius.eap.steps import Accepted, AnswerNeeded, Challenge, Discarded, Refused, Step
from radius.eap.tlsengine import TlsConfigError, TlsSettings
from radius.workerroute import make_state, state_owner
from tests.radius.eap.conftest import MakeServer
from tests.radius.eap.peer import Peer, client_context, converse, identity_response, peap_peer, response_to
from tests.radius.eap.pki import Pki

NOW = 1000.0


def _begin(server: EapServer, client: str = "ap-1", now: float = NOW) -> Challenge:
    step = server.receive(eap_message=identity_response(), state=None, client=client, now=now)
    assert isinstance(step, Challenge)
    return step


def test_a_state_names_the_version_and_the_worker_and_is_random_otherwise(make_server: MakeServer) -> None:
    server = make_server(worker=7, random=lambda n: bytes(range(n)))
    step = _begin(server)
    assert step.state == b"S\x01\x07" + bytes(range(16))
    assert state_owner(step.state) == 7
    assert state_owner(b"S\x01\x07") is None
    assert state_owner(b"X\x01\x07" + bytes(16)) is None
    assert state_owner(None) is None
    with pytest.raises(ValueError):
        make_state(256, bytes(16))


def test_the_first_request_proposes_the_default_method_with_start_and_the_next_identifier(
    make_server: MakeServer,
) -> None:
    server = make_server(default_method=EapType.TTLS)
    step = server.receive(eap_message=identity_response(identifier=41), state=None, client="ap-1", now=NOW)
    assert isinstance(step, Challenge)
    assert parse(step.eap_message) == EapPacket(
        code=EapCode.REQUEST, identifier=42, type=EapType.TTLS, data=b"\x20"
    )
    assert server.conversations == 1


def test_a_response_that_answers_no_outstanding_request_is_ignored(make_server: MakeServer, pki: Pki) -> None:
    """RFC 3748 §4.1: a Response whose Identifier differs is silently discarded (hostapd does so);
    so is a Response of another type (hostapd: RECEIVED -> DISCARD) and anything but a Response."""
    server = make_server()
    start = _begin(server)
    identifier = parse(start.eap_message).identifier
    for eap, reason in [
        (
            EapPacket(code=EapCode.RESPONSE, identifier=identifier + 1, type=EapType.PEAP, data=b"\x00"),
            "eap_wrong_identifier",
        ),
        (
            EapPacket(code=EapCode.RESPONSE, identifier=identifier, type=EapType.MD5, data=b"\x00"),
            "eap_wrong_type",
        ),
        (
            EapPacket(code=EapCode.REQUEST, identifier=identifier, type=EapType.PEAP, data=b"\x00"),
            "eap_not_response",
        ),
        (EapPacket(code=EapCode.SUCCESS, identifier=identifier), "eap_not_response"),
    ]:
        step = server.receive(eap_message=eap.encode(), state=start.state, client="ap-1", now=NOW)
        assert step == Discarded(reason=reason)
    assert server.conversations == 1
    # the conversation goes on with the right Response
    peer = peap_peer(pki, replies={b"hello": b"ok"})
    peer.answer(_identity_request_for(peer))
    step = server.receive(
        eap_message=peer.answer(start.eap_message), state=start.state, client="ap-1", now=NOW
    )
    assert isinstance(step, Challenge)


def _identity_request_for(peer: Peer) -> bytes:
    return EapPacket(code=EapCode.REQUEST, identifier=0, type=EapType.IDENTITY).encode()


def test_an_unknown_or_replayed_state_is_discarded(make_server: MakeServer, pki: Pki) -> None:
    server = make_server()
    peer = peap_peer(pki, replies={b"hello": b"ok"})
    run = converse(server, peer)
    assert isinstance(run.final, Accepted)
    last = [step for step in run.steps if isinstance(step, Challenge)][-1]
    replay = response_to(last.eap_message, EapType.PEAP, b"\x00")
    assert server.receive(eap_message=replay, state=last.state, client="ap-1", now=NOW) == Discarded(
        reason="eap_unknown_state"
    )
    assert server.receive(eap_message=replay, state=None, client="ap-1", now=NOW) == Discarded(
        reason="eap_unknown_state"
    )
    assert server.conversations == 0


def test_a_state_answers_only_the_client_that_got_it(make_server: MakeServer) -> None:
    server = make_server()
    start = _begin(server, client="ap-1")
    nak = response_to(start.eap_message, EapType.NAK, b"\x15")
    assert server.receive(eap_message=nak, state=start.state, client="ap-2", now=NOW) == Discarded(
        reason="eap_foreign_state"
    )
    assert isinstance(server.receive(eap_message=nak, state=start.state, client="ap-1", now=NOW), Challenge)


def test_an_identity_on_a_known_state_starts_over(make_server: MakeServer) -> None:
    server = make_server()
    start = _begin(server)
    again = server.receive(eap_message=identity_response(5), state=start.state, client="ap-1", now=NOW)
    assert isinstance(again, Challenge)
    assert again.state != start.state
    assert server.conversations == 1


def test_malformed_eap_ends_a_known_conversation_and_is_ignored_otherwise(make_server: MakeServer) -> None:
    server = make_server()
    start = _begin(server)
    step = server.receive(eap_message=b"\x02\x01\x00\x09", state=start.state, client="ap-1", now=NOW)
    assert isinstance(step, Refused)
    assert (step.reason, step.detail) == ("eap_malformed", "length_mismatch")
    assert step.method == "peap"  # as far as it got: the decision record names it
    assert parse(step.eap_message).code is EapCode.FAILURE
    assert server.conversations == 0
    assert server.receive(eap_message=b"\x02", state=None, client="ap-1", now=NOW) == Discarded(
        reason="eap_malformed"
    )


def test_data_where_a_fragment_ack_is_due_is_refused(make_server: MakeServer, pki: Pki) -> None:
    server = make_server(fragment_size=100)
    peer = peap_peer(pki, fragment_size=4000)
    start = _begin(server)
    flight = server.receive(
        eap_message=peer.answer(start.eap_message), state=start.state, client="ap-1", now=NOW
    )
    assert isinstance(flight, Challenge)
    assert parse(flight.eap_message).data[0] & 0x40  # more fragments to come
    wrong = response_to(flight.eap_message, EapType.PEAP, b"\x00\x16\x03")
    step = server.receive(eap_message=wrong, state=flight.state, client="ap-1", now=NOW)
    assert isinstance(step, Refused)
    assert step.reason == "eap_malformed"


def test_a_conversation_has_a_bounded_number_of_rounds(make_server: MakeServer, pki: Pki) -> None:
    """A TTLS peer that only ever acknowledges, with an inner method that waits for it: refused."""
    server = make_server(default_method=EapType.TTLS, max_rounds=20)
    peer = Peer(method=EapType.TTLS, context=client_context(str(pki.server_ca.file)))
    run = converse(server, peer)
    assert isinstance(run.final, Refused)
    assert run.final.reason == "eap_rounds"
    assert run.challenges == 20
    assert server.conversations == 0


def test_a_conversation_past_its_deadline_is_refused_and_expire_forgets_it(
    make_server: MakeServer, pki: Pki
) -> None:
    server = make_server(deadline=30.0)
    start = _begin(server, now=NOW)
    peer = peap_peer(pki)
    late = server.receive(
        eap_message=peer.answer(start.eap_message), state=start.state, client="ap-1", now=NOW + 30
    )
    assert isinstance(late, Refused)
    assert (late.reason, late.method) == ("eap_timeout", "peap")
    assert server.conversations == 0
    _begin(server, now=NOW)
    _begin(server, now=NOW + 10)
    assert server.expire(NOW + 29) == 0
    assert server.expire(NOW + 30) == 1
    assert server.conversations == 1
    assert server.expire(NOW + 40) == 1
    assert server.conversations == 0


def test_an_answer_after_the_deadline_or_twice_goes_nowhere(make_server: MakeServer, pki: Pki) -> None:
    server = make_server()
    peer = peap_peer(pki, replies={b"hello": b"password"})
    step: Step = _begin(server)
    while isinstance(step, Challenge):
        step = server.receive(
            eap_message=peer.answer(step.eap_message), state=step.state, client="ap-1", now=NOW
        )
    assert isinstance(step, AnswerNeeded)
    assert step.need == NeedPassword(identity="alice@example.org", password="secret")
    stale = dataclasses.replace(step, handle=dataclasses.replace(step.handle, serial=step.handle.serial + 1))
    assert server.supply(stale, True, now=NOW) == Discarded(reason="eap_stale_answer")
    late = server.supply(step, True, now=NOW + 31)
    assert isinstance(late, Refused)
    assert late.reason == "eap_timeout"
    assert server.supply(step, True, now=NOW) == Discarded(reason="eap_unknown_state")


def test_a_peer_message_while_the_caller_is_asked_is_not_taken(make_server: MakeServer, pki: Pki) -> None:
    server = make_server()
    peer = peap_peer(pki, replies={b"hello": b"password"})
    step: Step = _begin(server)
    last = _begin(server)
    while isinstance(step, Challenge):
        last = step
        step = server.receive(
            eap_message=peer.answer(step.eap_message), state=step.state, client="ap-1", now=NOW
        )
    assert isinstance(step, AnswerNeeded)
    ack = response_to(last.eap_message, EapType.PEAP, b"\x00")
    assert server.receive(eap_message=ack, state=last.state, client="ap-1", now=NOW) == Discarded(
        reason="eap_busy"
    )
    assert isinstance(server.supply(step, True, now=NOW), Accepted)


def test_the_table_is_bounded_in_all_and_per_client_and_expired_ones_make_room(
    make_server: MakeServer,
) -> None:
    server = make_server(max_conversations=4, max_per_client=2)
    _begin(server, client="ap-1")
    _begin(server, client="ap-1")
    assert server.receive(eap_message=identity_response(), state=None, client="ap-1", now=NOW) == Discarded(
        reason="eap_client_table_full"
    )
    _begin(server, client="ap-2")
    _begin(server, client="ap-3")
    # full, and ap-2 holds one: nobody holds two more than it, so it waits (nobody is evicted)
    assert server.receive(eap_message=identity_response(), state=None, client="ap-2", now=NOW) == Discarded(
        reason="eap_table_full"
    )
    assert server.conversations == 4 and server.evicted == 0
    _begin(server, client="ap-4", now=NOW + 31)  # the others' deadlines passed: they made room
    assert server.conversations == 1 and server.evicted == 0


def test_a_full_table_lets_a_newcomer_in_at_the_expense_of_the_client_holding_most(
    make_server: MakeServer, pki: Pki
) -> None:
    """Clients opening conversations and abandoning them fill the table within their own bounds;
    another client still gets in: the oldest conversation of the client holding the most (two more
    than the newcomer's client, or more) makes room. Clients holding about as many wait."""
    server = make_server(max_conversations=6, max_per_client=3)

    def ack(step: Challenge, client: str) -> Step:
        eap = response_to(step.eap_message, EapType.PEAP, b"\x00")
        return server.receive(eap_message=eap, state=step.state, client=client, now=NOW)

    first = [_begin(server, client="ap-1") for _ in range(3)]
    for _ in range(3):
        _begin(server, client="ap-2")
    newcomer = _begin(server, client="ap-3")  # ap-3 holds none; ap-1, the first of the heaviest, three
    assert (server.conversations, server.evicted) == (6, 1)
    assert ack(first[0], "ap-1") == Discarded(reason="eap_unknown_state")  # its oldest made room
    peer = peap_peer(pki, replies={b"hello": b"ok"})
    step: Step = newcomer
    while isinstance(step, Challenge):  # the newcomer's conversation runs to its end
        step = server.receive(
            eap_message=peer.answer(step.eap_message), state=step.state, client="ap-3", now=NOW
        )
    assert isinstance(step, Accepted)

    _begin(server, client="ap-3")  # a free place: nobody evicted
    _begin(server, client="ap-3")  # ap-3 holds one, ap-2 three: ap-2's oldest goes
    assert (server.conversations, server.evicted) == (6, 2)
    for client in ("ap-1", "ap-2", "ap-3"):  # two each: none takes another's place
        refused = server.receive(eap_message=identity_response(), state=None, client=client, now=NOW)
        assert refused == Discarded(reason="eap_table_full")
    for client in ("ap-4", "ap-5", "ap-6"):  # holding none, each takes the place of one holding two
        _begin(server, client=client)
    assert (server.conversations, server.evicted) == (6, 5)
    assert server.receive(eap_message=identity_response(), state=None, client="ap-7", now=NOW) == Discarded(
        reason="eap_table_full"  # one each: the table is shared out
    )
    assert ack(first[1], "ap-1") == Discarded(reason="eap_unknown_state")  # evicted for ap-4
    assert isinstance(ack(first[2], "ap-1"), Refused)  # still held (an ack is no ClientHello)


def test_interleaved_conversations_do_not_mix(make_server: MakeServer, pki: Pki) -> None:
    server = make_server(fragment_size=300)
    peers = [peap_peer(pki, replies={b"hello": b"ok"}) for _ in range(3)]
    steps: list[Step] = [_begin(server, client=f"ap-{i % 2}") for i in range(3)]
    done: dict[int, Step] = {}
    while len(done) < 3:
        for i, peer in enumerate(peers):
            step = steps[i]
            if i in done:
                continue
            if not isinstance(step, Challenge):
                done[i] = step
                continue
            steps[i] = server.receive(
                eap_message=peer.answer(step.eap_message), state=step.state, client=f"ap-{i % 2}", now=NOW
            )
    msks = []
    for i, peer in enumerate(peers):
        final = done[i]
        assert isinstance(final, Accepted)
        assert final.msk == peer.expected_msk()
        msks.append(final.msk)
    assert len(set(msks)) == 3
    assert server.conversations == 0


def test_fragment_size_for_the_framed_mtu() -> None:
    assert fragment_size_for(None, 1024) == 1024
    assert fragment_size_for(100, 1024) == 1024
    assert fragment_size_for(101, 1024) == 91
    assert fragment_size_for(1500, 1024) == 1024
    assert fragment_size_for(600, 1024) == 590


def test_what_cannot_work_is_refused_at_construction(tls_settings: TlsSettings, tmp_path: Path) -> None:
    def inner(**kwargs: object) -> object:
        raise AssertionError

    with pytest.raises(ValueError, match="default method"):
        EapServer(tls=tls_settings, inner=inner, realm="example.org", methods=(EapType.TTLS,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="device CA"):
        EapServer(
            tls=dataclasses.replace(tls_settings, device_ca=None),
            inner=inner,  # type: ignore[arg-type]
            realm="example.org",
            methods=(EapType.TLS,),
            default_method=EapType.TLS,
        )
    with pytest.raises(ValueError, match="PEAP, TTLS and TLS"):
        EapServer(tls=tls_settings, inner=inner, realm="example.org", methods=(EapType.MD5,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="positive"):
        EapServer(tls=tls_settings, inner=inner, realm="example.org", fragment_size=10)  # type: ignore[arg-type]
    with pytest.raises(TlsConfigError, match=r"missing\.pem"):
        EapServer(
            tls=dataclasses.replace(tls_settings, certificate=tmp_path / "missing.pem"),
            inner=inner,  # type: ignore[arg-type]
            realm="example.org",
        )


def test_a_nak_after_fragments_for_the_first_method_leaves_none_of_them_behind(
    make_server: MakeServer,
) -> None:
    server = make_server()
    start = _begin(server)
    fragment = response_to(start.eap_message, EapType.PEAP, b"\xc0\x00\x00\x00\x64" + bytes(50))
    ack = server.receive(eap_message=fragment, state=start.state, client="ap-1", now=NOW)
    assert isinstance(ack, Challenge)
    assert parse(ack.eap_message).data == b"\x00"
    nak = response_to(ack.eap_message, EapType.NAK, b"\x15")
    ttls = server.receive(eap_message=nak, state=start.state, client="ap-1", now=NOW)
    assert isinstance(ttls, Challenge)
    assert parse(ttls.eap_message).type == EapType.TTLS
    hello = response_to(ttls.eap_message, EapType.TTLS, b"\x00" + bytes(60))
    step = server.receive(eap_message=hello, state=start.state, client="ap-1", now=NOW)
    assert isinstance(step, Refused)
    assert step.reason == "tls_failed"  # a fresh (bad) message, not the tail of the PEAP fragments
