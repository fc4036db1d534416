"""PEAP, TTLS and EAP-TLS driven in memory between the server and a real TLS client, over TLS 1.2 and
1.3: the conversation ends as the methods say, and the MSK is the one the client derives."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from OpenSSL import SSL

from radius.eap.needs import NeedCertificate, NeedPassword
from radius.eap.packet import EapType, parse
from radius.eap.steps import Accepted, Challenge, Refused
from radius.eap.tlsengine import TlsSettings
from tests.radius.eap.conftest import MakeServer
from tests.radius.eap.peer import InnerFactoryRecorder, Peer, client_context, converse, peap_peer
from tests.radius.eap.pki import Leaf, Pki

VERSIONS = ["TLSv1.2", "TLSv1.3"]


@pytest.mark.parametrize("version", VERSIONS)
def test_peap_runs_its_inner_method_and_both_ends_derive_one_msk(
    make_server: MakeServer, pki: Pki, version: str
) -> None:
    inner = InnerFactoryRecorder()
    server = make_server(inner=inner)
    peer = Peer(
        method=EapType.PEAP,
        context=client_context(str(pki.server_ca.file), version=version),
        replies={b"hello": b"ok"},
    )
    run = converse(server, peer)
    assert isinstance(run.final, Accepted)
    assert run.final.identity == "alice@example.org"
    assert run.final.method == "fake/ok"
    assert peer.version == version
    assert run.final.msk == peer.expected_msk()
    assert len(run.final.msk) == 64
    assert peer.outcome == "success"
    assert peer.received == [b"hello"]
    assert inner.built == [
        {
            "method": EapType.PEAP,
            "outer_identity": "anonymous@example.org",
            "realm": "example.org",
            "challenge": b"",
        }
    ]
    assert server.conversations == 0


@pytest.mark.parametrize("version", VERSIONS)
def test_ttls_gets_the_peers_data_sent_with_its_finished_and_the_implicit_challenge(
    make_server: MakeServer, pki: Pki, version: str
) -> None:
    inner = InnerFactoryRecorder()
    server = make_server(inner=inner, default_method=EapType.TTLS)
    peer = Peer(
        method=EapType.TTLS, context=client_context(str(pki.server_ca.file), version=version), eager=b"ok"
    )
    run = converse(server, peer)
    assert isinstance(run.final, Accepted)
    assert run.final.msk == peer.expected_msk()
    [built] = inner.built
    assert built["challenge"] == peer.expected_ttls_challenge()
    assert len(peer.expected_ttls_challenge()) == 17
    assert inner.phases[0].calls == ["start", "receive:b'ok'"]


@pytest.mark.parametrize("version", VERSIONS)
def test_eap_tls_asks_who_the_certificate_belongs_to_and_commits_under_tls_1_3(
    make_server: MakeServer, pki: Pki, version: str
) -> None:
    server = make_server(default_method=EapType.TLS)
    peer = Peer(
        method=EapType.TLS,
        context=client_context(str(pki.server_ca.file), version=version, certificate=pki.device.pair),
    )
    run = converse(server, peer)
    assert isinstance(run.final, Accepted)
    assert (run.final.identity, run.final.method) == ("alice@example.org", "eap-tls")
    assert run.final.msk == peer.expected_msk()
    [question] = run.questions
    assert question == NeedCertificate(
        serial=pki.device.certificate.serial_number,
        issuer=pki.device_ca.certificate.subject.public_bytes(),
        subject=pki.device.certificate.subject.rfc4514_string(),
        san=["alice@example.org"],
    )
    assert peer.commitment is (version == "TLSv1.3")  # RFC 9190 §2.5
    assert peer.received == []


def test_eap_tls_sends_nothing_of_its_last_flight_before_the_certificate_is_accepted(
    make_server: MakeServer, pki: Pki
) -> None:
    server = make_server(default_method=EapType.TLS)
    peer = Peer(
        method=EapType.TLS,
        context=client_context(str(pki.server_ca.file), version="TLSv1.2", certificate=pki.device.pair),
    )
    run = converse(server, peer, answer=lambda need: None)
    assert isinstance(run.final, Refused)
    assert run.final.reason == "certificate_refused"
    assert peer.outcome == "failure"
    assert not peer.handshake_finished  # the server's Finished never left
    assert server.conversations == 0


def _device_context(pki: Pki, leaf: Leaf | None, version: str | None = None) -> SSL.Context:
    return client_context(
        str(pki.server_ca.file), version=version, certificate=None if leaf is None else leaf.pair
    )


def _device_peer(pki: Pki, leaf: Leaf | None, version: str | None = None, **kwargs: Any) -> Peer:
    return Peer(method=EapType.TLS, context=_device_context(pki, leaf, version), **kwargs)


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize("leaf", ["none", "stranger", "expired_device", "server_usage_device"])
def test_eap_tls_refuses_a_certificate_openssl_does_not_verify(
    make_server: MakeServer, pki: Pki, version: str, leaf: str
) -> None:
    server = make_server(default_method=EapType.TLS)
    peer = _device_peer(pki, None if leaf == "none" else getattr(pki, leaf), version)
    run = converse(server, peer)
    assert isinstance(run.final, Refused)
    assert run.final.reason == "tls_failed"
    assert run.final.error is None
    assert run.questions == []  # the caller is never asked about a certificate OpenSSL refused
    assert peer.outcome == "failure"
    assert server.conversations == 0


@pytest.mark.parametrize("method", [EapType.PEAP, EapType.TTLS, EapType.TLS])
def test_a_peer_that_does_not_trust_the_server_ends_with_its_alert(
    make_server: MakeServer, pki: Pki, method: EapType
) -> None:
    server = make_server(default_method=method)
    peer = Peer(method=method, context=client_context(str(pki.stranger_ca.file), certificate=pki.device.pair))
    run = converse(server, peer)
    assert peer.tls_error is not None
    assert isinstance(run.final, Refused)
    assert run.final.reason == "tls_failed"
    assert "alert" in run.final.detail


@pytest.mark.parametrize("method", [EapType.PEAP, EapType.TLS])
@pytest.mark.parametrize("version", VERSIONS)
def test_small_fragments_both_ways_are_acknowledged_and_put_back_together(
    make_server: MakeServer, pki: Pki, method: EapType, version: str
) -> None:
    server = make_server(default_method=method, fragment_size=100, max_rounds=200)
    peer = Peer(
        method=method,
        context=client_context(str(pki.server_ca.file), version=version, certificate=pki.device.pair),
        fragment_size=90,
        replies={b"hello": b"ok"},
    )
    run = converse(server, peer)
    assert isinstance(run.final, Accepted)
    assert run.final.msk == peer.expected_msk()
    sent = [parse(step.eap_message) for step in run.steps if isinstance(step, Challenge)]
    assert max(len(eap.data) for eap in sent) == 1 + 4 + 100  # flags, length, a full fragment
    assert sum(eap.data == b"\x00" for eap in sent) >= 2  # acks of the peer's fragments
    assert run.challenges > 10


def test_the_framed_mtu_makes_the_fragments_smaller_and_a_tiny_one_is_ignored(
    make_server: MakeServer, pki: Pki
) -> None:
    for framed_mtu, largest in ((300, 300), (100, 1024 + 10), (None, 1024 + 10)):
        server = make_server()
        peer = peap_peer(pki, replies={b"hello": b"ok"})
        run = converse(server, peer, framed_mtu=framed_mtu)
        assert isinstance(run.final, Accepted)
        sizes = [len(step.eap_message) for step in run.steps if isinstance(step, Challenge)]
        assert max(sizes) == largest, framed_mtu


def test_inner_data_longer_than_a_fragment_goes_in_fragments(make_server: MakeServer, pki: Pki) -> None:
    server = make_server(fragment_size=500)
    peer = Peer(
        method=EapType.PEAP,
        context=client_context(str(pki.server_ca.file)),
        replies={b"hello": b"big", bytes(range(256)) * 19 + bytes(136): b"ok"},
    )
    run = converse(server, peer)
    assert isinstance(run.final, Accepted)
    assert peer.received == [b"hello", bytes(range(256)) * 19 + bytes(136)]


@pytest.mark.parametrize("version", VERSIONS)
def test_a_resumed_peap_session_is_shorter_and_still_runs_the_inner_method(
    make_server: MakeServer, pki: Pki, version: str
) -> None:
    inner = InnerFactoryRecorder()
    server = make_server(inner=inner, fragment_size=200)
    context = client_context(str(pki.server_ca.file), version=version)
    first = Peer(method=EapType.PEAP, context=context, replies={b"hello": b"ok"})
    full = converse(server, first)
    assert isinstance(full.final, Accepted)
    again = first.resuming()
    resumed = converse(server, again)
    assert isinstance(resumed.final, Accepted)
    assert first.saw_server_certificate and not again.saw_server_certificate
    assert resumed.challenges < full.challenges
    assert resumed.final.msk == again.expected_msk() != full.final.msk
    assert [phase.calls[:2] for phase in inner.phases] == [["start", "receive:b'ok'"]] * 2


@pytest.mark.parametrize("version", VERSIONS)
def test_a_ttls_session_is_never_resumed(make_server: MakeServer, pki: Pki, version: str) -> None:
    """wpa_supplicant skips phase 2 when it resumes a TTLS session on re-authentication; Sésame
    cannot skip it, so it offers no resumption: a full handshake each time."""
    server = make_server(default_method=EapType.TTLS)
    context = client_context(str(pki.server_ca.file), version=version)
    first = Peer(method=EapType.TTLS, context=context, eager=b"ok")
    assert isinstance(converse(server, first).final, Accepted)
    again = first.resuming()
    run = converse(server, again)
    assert isinstance(run.final, Accepted)
    assert again.saw_server_certificate
    assert run.final.msk == again.expected_msk()


def test_no_session_is_resumed_with_a_lifetime_of_zero(
    make_server: MakeServer, pki: Pki, tls_settings: TlsSettings
) -> None:
    server = make_server(tls=dataclasses.replace(tls_settings, session_lifetime=0))
    context = client_context(str(pki.server_ca.file))
    first = Peer(method=EapType.PEAP, context=context, replies={b"hello": b"ok"})
    assert isinstance(converse(server, first).final, Accepted)
    again = first.resuming()
    assert isinstance(converse(server, again).final, Accepted)
    assert again.saw_server_certificate


@pytest.mark.parametrize("version", VERSIONS)
def test_a_resumed_eap_tls_session_asks_about_the_certificate_again(
    make_server: MakeServer, pki: Pki, version: str
) -> None:
    server = make_server(default_method=EapType.TLS)
    context = _device_context(pki, pki.device, version)
    first = Peer(method=EapType.TLS, context=context)
    assert isinstance(converse(server, first).final, Accepted)
    again = first.resuming()
    run = converse(server, again, answer=lambda need: None)  # revoked since
    assert not again.saw_server_certificate
    assert isinstance(run.final, Refused)
    assert run.final.reason == "certificate_refused"
    assert [type(need) for need in run.questions] == [NeedCertificate]


def test_a_tunnel_session_is_not_resumed_as_a_device_session(make_server: MakeServer, pki: Pki) -> None:
    """EAP-TLS has its own session context: a PEAP session offered there gets a full handshake, with
    the device certificate verified."""
    server = make_server()
    context = client_context(str(pki.server_ca.file), certificate=pki.device.pair)
    first = Peer(method=EapType.PEAP, context=context, replies={b"hello": b"ok"})
    assert isinstance(converse(server, first).final, Accepted)
    device = first.resuming(method=EapType.TLS, replies={})
    run = converse(server, device)
    assert isinstance(run.final, Accepted)
    assert device.saw_server_certificate


def test_a_nak_moves_to_the_first_enabled_method_the_peer_wants(make_server: MakeServer, pki: Pki) -> None:
    inner = InnerFactoryRecorder()
    server = make_server(inner=inner)
    peer = Peer(
        method=EapType.TTLS, context=client_context(str(pki.server_ca.file)), wants=(4, 21, 25), eager=b"ok"
    )
    run = converse(server, peer)
    assert isinstance(run.final, Accepted)
    assert [parse(step.eap_message).type for step in run.steps[:2] if isinstance(step, Challenge)] == [
        EapType.PEAP,
        EapType.TTLS,
    ]
    assert inner.built[0]["method"] is EapType.TTLS


@pytest.mark.parametrize("wants", [(4, 26), (0,), (25,), ()])
def test_a_nak_without_a_method_we_enable_and_have_not_proposed_is_refused(
    make_server: MakeServer, pki: Pki, wants: tuple[int, ...]
) -> None:
    server = make_server(methods=(EapType.PEAP, EapType.TTLS))
    peer = Peer(method=EapType.TLS, context=client_context(str(pki.server_ca.file)), wants=wants or (13,))
    run = converse(server, peer)
    assert isinstance(run.final, Refused)
    assert run.final.reason == "eap_no_common_method"


def test_an_eap_start_gets_an_identity_request_first(make_server: MakeServer, pki: Pki) -> None:
    inner = InnerFactoryRecorder()
    server = make_server(inner=inner)
    peer = Peer(
        method=EapType.PEAP,
        context=client_context(str(pki.server_ca.file)),
        identity=b"@example.org",
        replies={b"hello": b"ok"},
    )
    run = converse(server, peer, eap_start=True)
    assert isinstance(run.final, Accepted)
    first = run.steps[0]
    assert isinstance(first, Challenge)
    assert parse(first.eap_message).type == EapType.IDENTITY
    assert inner.built[0]["outer_identity"] == "@example.org"


@pytest.mark.parametrize(("answer", "expected"), [(True, Accepted), (False, Refused)])
def test_the_inner_method_asks_the_caller_and_goes_on_with_the_answer(
    make_server: MakeServer, pki: Pki, answer: bool, expected: type
) -> None:
    server = make_server()
    peer = peap_peer(pki, replies={b"hello": b"password"})
    run = converse(server, peer, answer=lambda need: answer)
    assert isinstance(run.final, expected)
    assert run.questions == [NeedPassword(identity="alice@example.org", password="secret")]
    assert run.final.identity == "alice@example.org"  # type: ignore[union-attr]
    if isinstance(run.final, Refused):
        assert run.final.reason == "bad_password"
        assert peer.outcome == "failure"


def test_an_inner_failure_refuses_with_its_reason_and_identity(make_server: MakeServer, pki: Pki) -> None:
    server = make_server()
    peer = peap_peer(pki, replies={b"hello": b"no"})
    run = converse(server, peer)
    assert isinstance(run.final, Refused)
    assert (run.final.reason, run.final.identity, run.final.error) == (
        "bad_password",
        "alice@example.org",
        None,
    )


def test_a_bug_in_an_inner_method_ends_only_its_conversation(make_server: MakeServer, pki: Pki) -> None:
    server = make_server()
    peer = peap_peer(pki, replies={b"hello": b"boom"})
    run = converse(server, peer)
    assert isinstance(run.final, Refused)
    assert run.final.reason == "eap_internal_error"
    assert isinstance(run.final.error, KeyError)
    assert peer.outcome == "failure"
    assert server.conversations == 0


@pytest.mark.parametrize("identity", [b"bob\x00@example.org", b"\xff\xfe", b"a" * 254])
def test_an_identity_no_account_can_have_is_refused(
    make_server: MakeServer, pki: Pki, identity: bytes
) -> None:
    server = make_server()
    peer = peap_peer(pki, identity=identity)
    run = converse(server, peer)
    assert isinstance(run.final, Refused)
    assert run.final.reason == "bad_user_name"


@pytest.mark.parametrize("version", VERSIONS)
def test_a_resumed_eap_tls_session_with_a_good_certificate_is_accepted(
    make_server: MakeServer, pki: Pki, version: str
) -> None:
    """TLS 1.2: the peer's Finished ends the abbreviated handshake, EAP-Success follows at once;
    TLS 1.3: tickets and the commitment message still go first."""
    server = make_server(default_method=EapType.TLS)
    context = _device_context(pki, pki.device, version)
    first = Peer(method=EapType.TLS, context=context)
    assert isinstance(converse(server, first).final, Accepted)
    again = first.resuming()
    run = converse(server, again)
    assert isinstance(run.final, Accepted)
    assert not again.saw_server_certificate
    assert run.final.msk == again.expected_msk()
    assert again.commitment is (version == "TLSv1.3")


def test_peap_data_sent_with_the_peers_finished_follows_the_inner_start(
    make_server: MakeServer, pki: Pki
) -> None:
    inner = InnerFactoryRecorder()
    server = make_server(inner=inner)
    peer = Peer(
        method=EapType.PEAP,
        context=client_context(str(pki.server_ca.file), version="TLSv1.3"),
        eager=b"anything",
        replies={b"echo:anything": b"ok"},
    )
    run = converse(server, peer)
    assert isinstance(run.final, Accepted)
    assert inner.phases[0].calls == ["start", "receive:b'anything'", "receive:b'ok'"]
    assert peer.received == [b"hello", b"echo:anything"]
