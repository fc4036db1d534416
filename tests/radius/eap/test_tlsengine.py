"""TLS over memory BIOs: contexts from files (and what is refused at start-up), a server end driven
by a pyOpenSSL client, resumption, the exporter, errors as TlsFailure."""

from __future__ import annotations

import contextlib
import dataclasses
from pathlib import Path

import pytest
from OpenSSL import SSL

from radius.eap.eaptls import certificate_need
from radius.eap.tlsengine import TlsConfigError, TlsFailure, TlsServer, TlsSettings, make_context
from tests.radius.eap.peer import client_context
from tests.radius.eap.pki import Pki


def _drain(conn: SSL.Connection) -> bytes:
    out = b""
    while True:
        try:
            out += conn.bio_read(65536)
        except SSL.WantReadError:
            return out


def _handshake(server: TlsServer, client: SSL.Connection) -> None:
    for _ in range(10):
        with contextlib.suppress(SSL.WantReadError):
            client.do_handshake()
        server.feed(_drain(client))
        reply = server.pending_out()
        if reply:
            client.bio_write(reply)
        if server.handshake_done:
            with contextlib.suppress(SSL.WantReadError):
                client.do_handshake()
            return
    raise AssertionError("no handshake")


def _client(context: SSL.Context, session: SSL.Session | None = None) -> SSL.Connection:
    conn = SSL.Connection(context, None)
    conn.set_connect_state()
    if session is not None:
        conn.set_session(session)
    return conn


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_a_handshake_application_data_and_the_exporter(
    pki: Pki, tls_settings: TlsSettings, version: str
) -> None:
    server = TlsServer(make_context(tls_settings))
    client = _client(client_context(str(pki.server_ca.file), version=version))
    assert server.version == ""
    _handshake(server, client)
    assert server.handshake_done and server.version == version and not server.resumed
    assert server.peer_certificate is None
    client.sendall(b"inner data")
    server.feed(_drain(client))
    assert server.read_application() == b"inner data"
    assert server.read_application() == b""
    server.write_application(b"x" * 40000)
    client.bio_write(server.pending_out())
    received = b""
    while len(received) < 40000:
        received += client.recv(65536)
    assert received == b"x" * 40000
    assert server.export("some label", 32, None) == client.export_keying_material(b"some label", 32)
    assert server.export("some label", 32, b"\x19") == client.export_keying_material(
        b"some label", 32, b"\x19"
    )


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_a_session_resumes_in_its_context_and_not_in_another(
    pki: Pki, tls_settings: TlsSettings, version: str
) -> None:
    tunnel, other = make_context(tls_settings), make_context(tls_settings)
    context = client_context(str(pki.server_ca.file), version=version)
    client = _client(context)
    _handshake(server := TlsServer(tunnel), client)
    server.write_application(b"tickets go first")
    client.bio_write(server.pending_out())
    assert client.recv(100) == b"tickets go first"
    session = client.get_session()
    assert session is not None
    again = TlsServer(tunnel)
    _handshake(again, _client(context, session))
    assert again.resumed
    elsewhere = TlsServer(other)  # another process's context: its own cache and ticket keys
    _handshake(elsewhere, _client(context, session))
    assert not elsewhere.resumed


def test_the_device_context_verifies_the_client_certificate(pki: Pki, tls_settings: TlsSettings) -> None:
    context = make_context(tls_settings, client_ca=pki.device_ca.file)
    server = TlsServer(context)
    _handshake(server, _client(client_context(str(pki.server_ca.file), certificate=pki.device.pair)))
    assert server.peer_certificate == pki.device.certificate
    with pytest.raises(TlsFailure) as caught:
        _handshake(TlsServer(context), _client(client_context(str(pki.server_ca.file))))
    assert caught.value.reason == "handshake"
    assert "certificate" in caught.value.detail


def test_garbage_is_a_tls_failure_and_a_closed_tunnel_too(pki: Pki, tls_settings: TlsSettings) -> None:
    with pytest.raises(TlsFailure):
        TlsServer(make_context(tls_settings)).feed(b"\x16\x03\x01\x00\x05hello")
    server = TlsServer(make_context(tls_settings))
    client = _client(client_context(str(pki.server_ca.file)))
    _handshake(server, client)
    client.shutdown()
    server.feed(_drain(client))
    with pytest.raises(TlsFailure) as caught:
        server.read_application()
    assert caught.value.reason == "closed"


def test_a_closed_server_end_is_freed_and_refuses_use(tls_settings: TlsSettings) -> None:
    server = TlsServer(make_context(tls_settings))
    server.close()
    server.close()
    with pytest.raises(RuntimeError):
        server.feed(b"")
    with pytest.raises(RuntimeError):
        server.write_application(b"x")


def test_what_cannot_be_used_is_refused_at_start_up(
    pki: Pki, tls_settings: TlsSettings, tmp_path: Path
) -> None:
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    cases = [
        dataclasses.replace(tls_settings, certificate=tmp_path / "missing.pem"),
        dataclasses.replace(tls_settings, private_key=pki.device.key_file),  # not the certificate's key
        dataclasses.replace(tls_settings, min_version="TLSv1.1"),
        dataclasses.replace(tls_settings, min_version="TLSv1.3", max_version="TLSv1.2"),
        dataclasses.replace(tls_settings, ciphers="NO-SUCH-CIPHER"),
        dataclasses.replace(tls_settings, session_lifetime=-1),
    ]
    for settings in cases:
        with pytest.raises(TlsConfigError):
            make_context(settings)
    with pytest.raises(TlsConfigError, match="device CA"):
        make_context(tls_settings, client_ca=garbage)


def test_the_minimum_version_is_enforced(pki: Pki, tls_settings: TlsSettings) -> None:
    server = TlsServer(make_context(dataclasses.replace(tls_settings, min_version="TLSv1.3")))
    with pytest.raises(TlsFailure):
        _handshake(server, _client(client_context(str(pki.server_ca.file), version="TLSv1.2")))


def test_a_tampered_record_is_a_tls_failure(pki: Pki, tls_settings: TlsSettings) -> None:
    server = TlsServer(make_context(tls_settings))
    client = _client(client_context(str(pki.server_ca.file)))
    _handshake(server, client)
    client.sendall(b"inner data")
    record = bytearray(_drain(client))
    record[-1] ^= 0x01
    server.feed(bytes(record))
    with pytest.raises(TlsFailure) as caught:
        server.read_application()
    assert caught.value.reason == "record"


def test_a_certificate_without_alternative_names_is_asked_about_with_none(pki: Pki) -> None:
    need = certificate_need(pki.stranger.certificate)
    assert need.san == []
    assert need.serial == pki.stranger.certificate.serial_number
    assert need.subject == "CN=stranger,O=Sesame EAP tests"
