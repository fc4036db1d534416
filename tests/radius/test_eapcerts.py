"""EAP's certificates in operation, with real files: checked before start-up (expiry, a key that is
not the certificate's, a chain devices would refuse, an encrypted key), and renewed while the
server runs — new conversations get the new certificate, those under way finish on the old one,
and files that cannot be used keep the old one with one error each."""

from __future__ import annotations

import logging
import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from prometheus_client import REGISTRY

from radius.eap.packet import EapType
from radius.eap.server import EapServer
from radius.eap.steps import Accepted, Challenge, Refused, Step
from radius.eap.tlsengine import TlsConfigError, TlsSettings
from radius.eapcerts import (
    CertificateUnreadable,
    CertificateWatch,
    ca_label,
    check_at_start,
    published_cas,
)
from tests.radius.eap.peer import InnerFactoryRecorder, Peer, client_context, converse
from tests.radius.eap.pki import SERVER_AUTH, Authority, Leaf, Pki

NOW = 1000.0


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def renewed(pki: Pki, tmp_path_factory: pytest.TempPathFactory) -> Leaf:
    """Another certificate for the server from the same CA (what a renewal brings)."""
    return pki.server_ca.issue(
        tmp_path_factory.mktemp("renewed"), "radius2.example.org", usage=SERVER_AUTH, chain=True
    )


@pytest.fixture
def files(pki: Pki, tmp_path: Path) -> TlsSettings:
    """The server's files where the server reads them, so that a test can replace them."""
    certificate, key = tmp_path / "server.pem", tmp_path / "server.key"
    shutil.copy(pki.server.certificate_file, certificate)
    shutil.copy(pki.server.key_file, key)
    return TlsSettings(certificate=certificate, private_key=key)


def _server(tls: TlsSettings) -> EapServer:
    return EapServer(tls=tls, inner=InnerFactoryRecorder(), realm="example.org", methods=(EapType.PEAP,))


def _peer(pki: Pki) -> Peer:
    return Peer(
        method=EapType.PEAP, context=client_context(str(pki.server_ca.file)), replies={b"hello": b"ok"}
    )


def _served_name(peer: Peer) -> str:
    """The common name of the certificate the server showed this peer."""
    assert peer.conn is not None
    certificate = peer.conn.get_peer_certificate()
    assert certificate is not None
    name = certificate.to_cryptography().subject.get_attributes_for_oid(x509.NameOID.COMMON_NAME)
    return str(name[0].value)


def _install(leaf: Leaf, tls: TlsSettings) -> None:
    """Renew as an operator does: the certificate, then the key, each written in place."""
    tls.certificate.write_bytes(leaf.certificate_file.read_bytes())
    tls.private_key.write_bytes(leaf.key_file.read_bytes())


def _settle(watch: CertificateWatch) -> bool:
    """Two looks, as the service's timer takes them: the change is seen, then acted on."""
    first = watch.check()
    return watch.check() or first


def _reloads(outcome: str) -> float:
    return REGISTRY.get_sample_value("sesame_eap_certificate_reloads_total", {"outcome": outcome}) or 0.0


def _expiry(which: str) -> float | None:
    return REGISTRY.get_sample_value(
        "sesame_eap_certificate_expiry_timestamp_seconds", {"certificate": which}
    )


def _half_way(server: EapServer, peer: Peer) -> Challenge:
    """A conversation whose TLS handshake has begun: the server's certificate is on its way."""
    step: Step = server.receive(eap_message=peer.identity_response(), state=None, client="ap-1", now=NOW)
    while not (isinstance(step, Challenge) and peer.conn is not None):
        assert isinstance(step, Challenge)
        step = server.receive(
            eap_message=peer.answer(step.eap_message), state=step.state, client="ap-1", now=NOW
        )
    assert isinstance(step, Challenge)
    return step


def _finish(server: EapServer, peer: Peer, step: Step) -> Step:
    while isinstance(step, Challenge):
        step = server.receive(
            eap_message=peer.answer(step.eap_message), state=step.state, client="ap-1", now=NOW
        )
    assert isinstance(step, Accepted | Refused)
    peer.answer(step.eap_message)
    return step


def test_a_renewed_certificate_serves_new_conversations_and_those_under_way_finish_on_the_old(
    pki: Pki, renewed: Leaf, files: TlsSettings
) -> None:
    server = _server(files)
    watch = CertificateWatch(server)
    assert _expiry("server") == pki.server.certificate.not_valid_after_utc.timestamp()
    before = _reloads("reloaded")
    under_way = _peer(pki)
    step = _half_way(server, under_way)

    _install(renewed, files)
    assert watch.check() is False  # seen changing: not acted on yet
    assert watch.check() is True  # the same one interval later: taken into use
    assert watch.check() is False
    assert _reloads("reloaded") == before + 1
    assert _expiry("server") == renewed.certificate.not_valid_after_utc.timestamp()

    newcomer = _peer(pki)
    assert isinstance(converse(server, newcomer).final, Accepted)
    assert _served_name(newcomer) == "radius2.example.org"
    assert isinstance(_finish(server, under_way, step), Accepted)
    assert _served_name(under_way) == "radius.example.org"


def test_a_change_is_taken_only_once_the_files_stay_still(
    pki: Pki, renewed: Leaf, files: TlsSettings
) -> None:
    """A renewal writes the certificate, then the key: in between they do not match, and that
    moment is not worth an error."""
    server = _server(files)
    watch = CertificateWatch(server)
    failed = _reloads("failed")
    files.certificate.write_bytes(renewed.certificate_file.read_bytes())
    assert watch.check() is False
    files.private_key.write_bytes(renewed.key_file.read_bytes())  # before the next look
    assert watch.check() is False  # changed again: wait once more
    assert watch.check() is True
    assert _reloads("failed") == failed
    peer = _peer(pki)
    converse(server, peer)
    assert _served_name(peer) == "radius2.example.org"


def test_the_same_contents_touched_or_rewritten_reload_nothing(files: TlsSettings) -> None:
    server = _server(files)
    watch = CertificateWatch(server)
    reloaded = _reloads("reloaded")
    os.utime(files.certificate, None)
    files.private_key.write_bytes(files.private_key.read_bytes())
    assert _settle(watch) is False
    assert _reloads("reloaded") == reloaded


@pytest.mark.parametrize(
    ("breakage", "said"),
    [
        ("a key that is not the certificate's", "is not the key of certificate"),
        ("no certificate in the file", "holds no PEM certificate"),
        ("the key file gone", "cannot read private key"),
        ("the certificate expired", "expired on"),
        ("a certificate of another CA", "does not chain to the CA devices trust"),
    ],
)
def test_files_that_cannot_be_used_keep_the_certificate_in_use_with_one_error(
    pki: Pki,
    renewed: Leaf,
    files: TlsSettings,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    breakage: str,
    said: str,
) -> None:
    server = _server(files)
    watch = CertificateWatch(server, trusted_cas=(pki.server_ca.certificate,))
    failed, reloaded = _reloads("failed"), _reloads("reloaded")
    if breakage == "a key that is not the certificate's":
        files.private_key.write_bytes(pki.device.key_file.read_bytes())
    elif breakage == "no certificate in the file":
        files.certificate.write_text("renewal in progress\n")
    elif breakage == "the key file gone":
        files.private_key.unlink()
    elif breakage == "the certificate expired":
        _install(
            pki.server_ca.issue(tmp_path, "old server", usage=SERVER_AUTH, chain=True, expired=True), files
        )
    else:
        _install(pki.stranger_ca.issue(tmp_path, "radius.example.org", usage=SERVER_AUTH, chain=True), files)

    with caplog.at_level(logging.INFO, logger="sesame.radius.eap"):
        assert _settle(watch) is False
        assert watch.check() is False  # the same bad files: said once
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == 1, errors
    assert said in errors[0] and "the certificates in use are kept" in errors[0]
    assert _reloads("failed") == failed + 1 and _reloads("reloaded") == reloaded

    peer = _peer(pki)
    assert isinstance(converse(server, peer).final, Accepted)
    assert _served_name(peer) == "radius.example.org"

    _install(renewed, files)  # mended: taken into use
    assert _settle(watch) is True
    peer = _peer(pki)
    converse(server, peer)
    assert _served_name(peer) == "radius2.example.org"


def test_a_renewed_device_ca_is_watched_too(pki: Pki, files: TlsSettings, tmp_path: Path) -> None:
    device_ca = tmp_path / "device-ca.pem"
    shutil.copy(pki.device_ca.file, device_ca)
    tls = TlsSettings(certificate=files.certificate, private_key=files.private_key, device_ca=device_ca)
    server = EapServer(
        tls=tls,
        inner=InnerFactoryRecorder(),
        realm="example.org",
        methods=(EapType.TLS,),
        default_method=EapType.TLS,
    )
    watch = CertificateWatch(server)
    assert _expiry("device_ca") == pki.device_ca.certificate.not_valid_after_utc.timestamp()
    device_ca.write_bytes(pki.stranger_ca.file.read_bytes())  # the region moved its devices to a new CA
    assert _settle(watch) is True
    assert _expiry("device_ca") == pki.stranger_ca.certificate.not_valid_after_utc.timestamp()
    old_device = Peer(
        method=EapType.TLS,
        context=client_context(
            str(pki.server_ca.file), certificate=(str(pki.device.certificate_file), str(pki.device.key_file))
        ),
    )
    refused = converse(server, old_device).final
    assert isinstance(refused, Refused) and refused.reason == "tls_failed"
    new_device = Peer(
        method=EapType.TLS,
        context=client_context(
            str(pki.server_ca.file),
            certificate=(str(pki.stranger.certificate_file), str(pki.stranger.key_file)),
        ),
    )
    assert isinstance(converse(server, new_device).final, Accepted)


# -- before start-up -----------------------------------------------------------------------------


def test_a_certificate_expiring_soon_is_a_warning_and_an_expired_one_an_error_that_still_starts(
    pki: Pki, files: TlsSettings, caplog: pytest.LogCaptureFixture
) -> None:
    not_after = pki.server.certificate.not_valid_after_utc
    with caplog.at_level(logging.INFO, logger="sesame.radius.eap"):
        check_at_start(files, now=not_after - timedelta(days=40))
        assert not caplog.records
        check_at_start(files, now=not_after - timedelta(days=10, hours=1))
        check_at_start(files, now=not_after + timedelta(seconds=1))
    (soon, expired) = caplog.records
    assert (
        soon.levelno == logging.WARNING
        and "expires on" in soon.getMessage()
        and "in 10 days" in soon.getMessage()
    )
    assert expired.levelno == logging.ERROR and "expired on" in expired.getMessage()
    assert str(files.certificate) in expired.getMessage()


def test_what_devices_would_refuse_or_the_server_cannot_use_stops_start_up(
    pki: Pki, files: TlsSettings, tmp_path: Path
) -> None:
    check_at_start(files, ca=pki.server_ca.file)  # the CA that issued it: fine
    with pytest.raises(TlsConfigError, match="does not chain to the CA devices trust"):
        check_at_start(files, ca=pki.stranger_ca.file)
    # a bundle (a change of CA under way): the chain leads to one of them, in either order
    both = tmp_path / "two.pem"
    both.write_bytes(pki.stranger_ca.file.read_bytes() + pki.server_ca.file.read_bytes())
    check_at_start(files, ca=both)
    twice = tmp_path / "twice.pem"
    twice.write_bytes(pki.server_ca.file.read_bytes() * 2)
    with pytest.raises(TlsConfigError, match="holds the same CA twice"):
        check_at_start(files, ca=twice)
    with_leaf = tmp_path / "with-leaf.pem"
    with_leaf.write_bytes(pki.server_ca.file.read_bytes() + pki.server.certificate_file.read_bytes())
    with pytest.raises(TlsConfigError, match="which is no CA"):
        check_at_start(files, ca=with_leaf)
    with pytest.raises(TlsConfigError, match="is not the key of certificate"):
        check_at_start(TlsSettings(certificate=files.certificate, private_key=pki.device.key_file))
    with pytest.raises(CertificateUnreadable, match=r"cannot read private key .*missing\.key: No such file"):
        check_at_start(TlsSettings(certificate=files.certificate, private_key=tmp_path / "missing.key"))
    with pytest.raises(CertificateUnreadable, match="cannot read device CA"):
        check_at_start(
            TlsSettings(certificate=files.certificate, private_key=files.private_key, device_ca=tmp_path)
        )


def test_an_encrypted_key_needs_its_password_and_is_never_asked_for(pki: Pki, files: TlsSettings) -> None:
    """OpenSSL's own loader would prompt on the terminal for a password it was not given."""
    key = load_pem_private_key(files.private_key.read_bytes(), None)
    files.private_key.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(b"open sesame"),
        )
    )
    with pytest.raises(TlsConfigError, match="is encrypted: its password is needed"):
        check_at_start(files)
    with pytest.raises(TlsConfigError, match="or the wrong password"):
        check_at_start(
            TlsSettings(
                certificate=files.certificate, private_key=files.private_key, private_key_password=b"x"
            )
        )
    unlocked = TlsSettings(
        certificate=files.certificate, private_key=files.private_key, private_key_password=b"open sesame"
    )
    check_at_start(unlocked)
    assert "open sesame" not in repr(unlocked)
    peer = _peer(pki)
    assert isinstance(converse(_server(unlocked), peer).final, Accepted)


def test_new_contexts_are_taken_all_or_nothing(pki: Pki, renewed: Leaf, files: TlsSettings) -> None:
    """The core's side: :meth:`EapServer.replace_tls` builds every method's context before it
    swaps any; one it cannot build leaves the server as it was."""
    server = EapServer(
        tls=TlsSettings(
            certificate=files.certificate, private_key=files.private_key, device_ca=pki.device_ca.file
        ),
        inner=InnerFactoryRecorder(),
        realm="example.org",
        methods=(EapType.PEAP, EapType.TLS),
    )
    before = server.tls
    with pytest.raises(TlsConfigError, match="device CA"):
        server.replace_tls(TlsSettings(certificate=renewed.certificate_file, private_key=renewed.key_file))
    with pytest.raises(TlsConfigError, match="device CA"):  # the device CA is the last context built
        server.replace_tls(
            TlsSettings(
                certificate=renewed.certificate_file,
                private_key=renewed.key_file,
                device_ca=files.certificate.parent,
            )
        )
    assert server.tls is before
    peer = _peer(pki)
    converse(server, peer)
    assert _served_name(peer) == "radius.example.org"
    server.replace_tls(
        TlsSettings(
            certificate=renewed.certificate_file, private_key=renewed.key_file, device_ca=pki.device_ca.file
        )
    )
    peer = _peer(pki)
    converse(server, peer)
    assert _served_name(peer) == "radius2.example.org"


# -- a change of the server's CA (docs/onboarding.md, how to rotate) ------------------------------


def test_the_switch_to_a_certificate_of_the_next_ca_is_taken_and_one_of_a_third_ca_refused(
    pki: Pki, files: TlsSettings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """SESAME_EAP_CA holds today's CA and the next: the running server takes a certificate of the
    next CA (the switch) without a restart, and still refuses one devices pin no CA for."""
    next_ca = Authority.create(tmp_path, "Next CA")
    third_ca = Authority.create(tmp_path, "Third CA")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki.server_ca.file.read_bytes() + next_ca.file.read_bytes())
    trusted = published_cas(bundle)
    assert [c.subject for c in trusted] == [pki.server_ca.certificate.subject, next_ca.certificate.subject]
    check_at_start(files, ca=bundle)
    server = _server(files)
    watch = CertificateWatch(server, trusted_cas=trusted)
    assert _expiry(ca_label(next_ca.certificate)) == next_ca.certificate.not_valid_after_utc.timestamp()

    _install(third_ca.issue(tmp_path, "radius.example.org", usage=SERVER_AUTH), files)
    with caplog.at_level(logging.ERROR, logger="sesame.radius.eap"):
        assert not _settle(watch)
    assert "does not chain to the CA devices trust" in caplog.text

    switched = next_ca.issue(tmp_path, "radius.example.org", usage=SERVER_AUTH, chain=True)
    _install(switched, files)
    with caplog.at_level(logging.INFO, logger="sesame.radius.eap"):
        assert _settle(watch)
    assert f"chaining to the published CA {ca_label(next_ca.certificate)}" in caplog.text
    # a device pinning only the next CA now completes the handshake
    peer = Peer(method=EapType.PEAP, context=client_context(str(next_ca.file)), replies={b"hello": b"ok"})
    assert isinstance(converse(server, peer).final, Accepted)


def test_a_published_ca_that_expires_within_30_days_is_a_warning_at_start(
    pki: Pki, files: TlsSettings, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    next_ca = Authority.create(tmp_path, "Next CA")
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(pki.server_ca.file.read_bytes() + next_ca.file.read_bytes())
    not_after = pki.server_ca.certificate.not_valid_after_utc
    with caplog.at_level(logging.WARNING, logger="sesame.radius.eap"):
        check_at_start(files, ca=bundle, now=not_after - timedelta(days=40))
        assert "published CA" not in caplog.text
        check_at_start(files, ca=bundle, now=not_after - timedelta(days=10, hours=1))
    warned = [r for r in caplog.records if "published CA" in r.getMessage()]
    # the test PKI's CAs live as long as each other: each is named, by its fingerprint label
    for ca in (pki.server_ca.certificate, next_ca.certificate):
        assert any(ca_label(ca) in r.getMessage() for r in warned), caplog.text
    assert all(r.levelno == logging.WARNING and "in 10 days" in r.getMessage() for r in warned)


def test_more_cas_than_a_rotation_needs_are_refused(pki: Pki, files: TlsSettings, tmp_path: Path) -> None:
    many = tmp_path / "many.pem"
    many.write_bytes(b"".join(Authority.create(tmp_path, f"CA {n}").file.read_bytes() for n in range(5)))
    with pytest.raises(TlsConfigError, match="holds 5 certificates"):
        published_cas(many)
