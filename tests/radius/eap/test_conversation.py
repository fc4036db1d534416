"""The conversation's state machine is :data:`TABLE`: its shape, and the phases real conversations
walk through, each step one the table lists."""

from __future__ import annotations

import pytest

from radius.eap.conversation import TABLE, Conversation, Phase, Policy, Speaker
from radius.eap.packet import EapType, parse
from radius.eap.steps import Accepted, AnswerNeeded, Challenge, Refused, Step
from radius.eap.tlsengine import TlsSettings, make_context
from tests.radius.eap.peer import InnerFactoryRecorder, Peer, client_context, default_answer
from tests.radius.eap.pki import Pki


def test_every_phase_has_a_row_and_only_the_ends_wait_for_nobody() -> None:
    assert set(TABLE) == set(Phase)
    ends = {phase for phase, row in TABLE.items() if row.waits_for is None}
    assert ends == {Phase.DONE, Phase.FAILED}
    assert all(not TABLE[phase].next for phase in ends)
    assert all(Phase.FAILED in row.next for phase, row in TABLE.items() if phase not in ends)


def test_the_caller_is_asked_only_about_certificates_and_inner_methods() -> None:
    asked = {phase for phase, row in TABLE.items() if row.waits_for is Speaker.CALLER}
    assert asked == {Phase.CERTIFICATE, Phase.INNER_ANSWER}


def test_every_phase_is_reachable_and_every_one_can_end() -> None:
    reached, frontier = {Phase.IDENTITY}, [Phase.IDENTITY]
    while frontier:
        for following in TABLE[frontier.pop()].next:
            if following not in reached:
                reached.add(following)
                frontier.append(following)
    assert reached == set(Phase)


def _walk(
    settings: TlsSettings, peer: Peer, method: EapType, *, refuse: bool = False
) -> tuple[list[Phase], Step]:
    """The phases a conversation shows between steps (a step may pass through several: each
    transition is checked against the table as it happens, by the conversation itself)."""
    contexts = {EapType.PEAP: make_context(settings), EapType.TTLS: make_context(settings)}
    contexts[EapType.TLS] = make_context(settings, client_ca=settings.device_ca)
    policy = Policy(
        methods=(EapType.PEAP, EapType.TTLS, EapType.TLS),
        default=method,
        contexts=contexts,
        inner=InnerFactoryRecorder(),
        realm="example.org",
        max_rounds=50,
    )
    conversation = Conversation(
        policy=policy, state=b"S", client="ap", identifier=0, fragment_size=1024, deadline=1e9
    )
    phases = [conversation.phase]
    step: Step = conversation.receive(parse(peer.identity_response()))
    while True:
        phases.append(conversation.phase)
        if isinstance(step, AnswerNeeded):
            step = conversation.supply(step.handle, None if refuse else default_answer(step.need))
        elif isinstance(step, Challenge):
            step = conversation.receive(parse(peer.answer(step.eap_message)))
        else:
            break
    return [phase for i, phase in enumerate(phases) if i == 0 or phase != phases[i - 1]], step


# TLS 1.2: the server's Finished goes last, the peer acknowledges it, then the inner method starts;
# TLS 1.3: tickets follow the peer's Finished, the same way
@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_peap_walks_through_the_tunnel_phases(pki: Pki, tls_settings: TlsSettings, version: str) -> None:
    peer = Peer(
        method=EapType.PEAP,
        context=client_context(str(pki.server_ca.file), version=version),
        replies={b"hello": b"password"},
    )
    phases, step = _walk(tls_settings, peer, EapType.PEAP)
    assert isinstance(step, Accepted)
    assert phases == [
        Phase.IDENTITY,
        Phase.METHOD_START,
        Phase.TLS_HANDSHAKE,
        Phase.TUNNEL_OPENING,
        Phase.INNER,
        Phase.INNER_ANSWER,
        Phase.DONE,
    ]


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        # the peer's data comes in its answer to the server's Finished
        (
            "TLSv1.2",
            [Phase.IDENTITY, Phase.METHOD_START, Phase.TLS_HANDSHAKE, Phase.TUNNEL_OPENING, Phase.DONE],
        ),
        # the peer's data comes with its own Finished: the tunnel opens and the inner method ends in one step
        ("TLSv1.3", [Phase.IDENTITY, Phase.METHOD_START, Phase.TLS_HANDSHAKE, Phase.DONE]),
    ],
)
def test_ttls_data_sent_with_a_finished_goes_straight_to_the_inner_method(
    pki: Pki, tls_settings: TlsSettings, version: str, expected: list[Phase]
) -> None:
    context = client_context(str(pki.server_ca.file), version=version)
    peer = Peer(method=EapType.TTLS, context=context, eager=b"ok")
    phases, step = _walk(tls_settings, peer, EapType.TTLS)
    assert isinstance(step, Accepted)
    assert phases == expected


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_eap_tls_walks_through_the_certificate_and_its_commitment(
    pki: Pki, tls_settings: TlsSettings, version: str
) -> None:
    peer = Peer(
        method=EapType.TLS,
        context=client_context(str(pki.server_ca.file), version=version, certificate=pki.device.pair),
    )
    phases, step = _walk(tls_settings, peer, EapType.TLS)
    assert isinstance(step, Accepted)
    assert phases == [
        Phase.IDENTITY,
        Phase.METHOD_START,
        Phase.TLS_HANDSHAKE,
        Phase.CERTIFICATE,
        Phase.COMMITMENT,
        Phase.DONE,
    ]


def test_a_refusal_ends_in_failed(pki: Pki, tls_settings: TlsSettings) -> None:
    peer = Peer(
        method=EapType.TLS, context=client_context(str(pki.server_ca.file), certificate=pki.device.pair)
    )
    phases, step = _walk(tls_settings, peer, EapType.TLS, refuse=True)
    assert isinstance(step, Refused)
    assert phases[-2:] == [Phase.CERTIFICATE, Phase.FAILED]
