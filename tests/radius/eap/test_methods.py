"""PEAP, TTLS and EAP-TLS driven in memory between the server and a real TLS client, over TLS 1.2 and
1.3: the conversation ends as the methods say, and the MSK is the one the client derives."""

from __future__ import annotations

import pytest

from radius.eap.needs import NeedCertificate
from radius.eap.packet import EapType
from radius.eap.steps import Accepted, Refused
from tests.radius.eap.conftest import MakeServer
from tests.radius.eap.peer import InnerFactoryRecorder, Peer, client_context, converse
from tests.radius.eap.pki import Pki

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
    assert len(server) == 0


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
    device = (str(pki.device.certificate_file), str(pki.device.key_file))
    peer = Peer(
        method=EapType.TLS,
        context=client_context(str(pki.server_ca.file), version=version, certificate=device),
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
    device = (str(pki.device.certificate_file), str(pki.device.key_file))
    peer = Peer(
        method=EapType.TLS,
        context=client_context(str(pki.server_ca.file), version="TLSv1.2", certificate=device),
    )
    run = converse(server, peer, answer=lambda need: None)
    assert isinstance(run.final, Refused)
    assert run.final.reason == "certificate_refused"
    assert peer.outcome == "failure"
    assert not peer.handshake_finished  # the server's Finished never left
    assert len(server) == 0
