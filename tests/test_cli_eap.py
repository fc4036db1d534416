"""``sesame eap``: trial certificates that openssl accepts, and devices' certificates issued,
registered, listed and revoked (audited), on SQLite and PostgreSQL; refusals are one line."""

from __future__ import annotations

import asyncio
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from accounts.models import AuditEntry
from sesame.compose import device_issuer, eap_profile
from sesame.db import create_engine, create_sessionmaker
from sesame.settings import get_settings
from sesame.startup import StartupError, check_files
from tests.cli import CLI_REALM, fails, ok


def _audited(url: str) -> list[str]:
    async def go() -> list[str]:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                return list((await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all())
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _openssl_verifies(ca: Path, certificate: Path) -> str:
    done = subprocess.run(
        ["openssl", "verify", "-CAfile", str(ca), str(certificate)],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout + done.stderr


def test_trial_certificates_chain_and_devices_are_registered_then_revoked(
    cli_env: str, tmp_path: Path
) -> None:
    out = ok("eap", "make-certs", str(tmp_path / "pki"))
    assert f"SESAME_EAP_CERTIFICATE={tmp_path / 'pki' / 'server.pem'}" in out
    assert "OK" in _openssl_verifies(tmp_path / "pki" / "ca.pem", tmp_path / "pki" / "server.pem")
    text = subprocess.run(
        ["openssl", "x509", "-noout", "-ext", "subjectAltName", "-in", str(tmp_path / "pki" / "server.pem")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert f"DNS:radius.{CLI_REALM}" in text
    assert (tmp_path / "pki" / "server.key").stat().st_mode & 0o077 == 0  # the key is the owner's only

    ok("user", "add", "alice", "--email", "alice@example.fr", "--password", "correct horse battery")
    ok(
        "eap",
        "device-cert",
        "issue",
        "alice",
        "--ca-dir",
        str(tmp_path / "pki"),
        "--out",
        str(tmp_path / "phone"),
    )
    assert "OK" in _openssl_verifies(tmp_path / "pki" / "device-ca.pem", tmp_path / "phone.pem")
    listed = ok("eap", "device-cert", "list", "alice")
    assert listed.count("active") == 1
    number = listed.split()[0]
    ok("eap", "device-cert", "revoke", "alice", number)
    assert "revoked" in ok("eap", "device-cert", "list", "alice")
    assert [a for a in _audited(cli_env) if a.startswith("eap.")] == [
        "eap.device_cert.issue",
        "eap.device_cert.revoke",
    ]


def test_refusals_are_one_line(cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ok("eap", "make-certs", str(tmp_path / "pki"))
    ok("user", "add", "alice", "--email", "alice@example.fr", "--password", "correct horse battery")
    (tmp_path / "junk.pem").write_bytes(b"not a certificate")
    assert "not an X.509 certificate" in fails(
        capsys, "eap", "device-cert", "add", "alice", str(tmp_path / "junk.pem")
    )
    assert "cannot read" in fails(
        capsys, "eap", "device-cert", "add", "alice", str(tmp_path / "nothing.pem"), code=4
    )
    assert "no account" in fails(
        capsys,
        "eap",
        "device-cert",
        "issue",
        "bob",
        "--ca-dir",
        str(tmp_path / "pki"),
        "--out",
        str(tmp_path / "b"),
    )
    ok(
        "eap",
        "device-cert",
        "issue",
        "alice",
        "--ca-dir",
        str(tmp_path / "pki"),
        "--out",
        str(tmp_path / "phone"),
    )
    assert "already registered" in fails(
        capsys, "eap", "device-cert", "add", "alice", str(tmp_path / "phone.pem")
    )
    assert "no device certificate 99" in fails(capsys, "eap", "device-cert", "revoke", "alice", "99")


def test_the_trial_settings_make_certs_prints_let_the_portal_publish_the_ca_and_the_server_name(
    cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = ok("eap", "make-certs", str(tmp_path / "pki"))
    settings = dict(line.split("=", 1) for line in out.splitlines() if line.startswith("SESAME_EAP_"))
    assert settings["SESAME_EAP_CA"] == str(tmp_path / "pki" / "ca.pem")
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SESAME_EAP_TTLS_INNER", "pap,eap-mschapv2")
    get_settings.cache_clear()
    profile = eap_profile(get_settings())
    assert profile is not None
    assert profile.server_names == (f"radius.{CLI_REALM}",)
    ca = x509.load_pem_x509_certificate((tmp_path / "pki" / "ca.pem").read_bytes())
    assert profile.ca_der == ca.public_bytes(serialization.Encoding.DER)
    assert profile.methods == ("peap/mschapv2", "eap-ttls/pap", "eap-ttls/eap-mschapv2", "eap-tls")
    monkeypatch.setenv("SESAME_EAP_METHODS", "ttls")  # EAP-TLS and PEAP off: not offered
    get_settings.cache_clear()
    profile = eap_profile(get_settings())
    assert profile is not None and profile.methods == ("eap-ttls/pap", "eap-ttls/eap-mschapv2")
    monkeypatch.delenv("SESAME_EAP_CA")  # no CA: nothing published
    get_settings.cache_clear()
    assert eap_profile(get_settings()) is None


def test_the_trial_device_ca_issues_devices_certificates_for_the_portal(
    cli_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``make-certs`` names the device CA's key: the portal issues devices' certificates with it;
    a key that is not the device CA's stops start-up with one line."""
    out = ok("eap", "make-certs", str(tmp_path / "pki"))
    for line in out.splitlines():
        if line.startswith(("SESAME_EAP_", "SESAME_ONBOARDING_")):
            monkeypatch.setenv(*line.split("=", 1))
    get_settings.cache_clear()
    issuer = device_issuer(get_settings())
    assert issuer is not None
    device_ca = x509.load_pem_x509_certificate((tmp_path / "pki" / "device-ca.pem").read_bytes())
    assert issuer.certificate == device_ca
    check_files(get_settings())
    monkeypatch.setenv("SESAME_ONBOARDING_DEVICE_CA_KEY", str(tmp_path / "pki" / "server.key"))
    get_settings.cache_clear()
    with pytest.raises(StartupError, match="not the key of the device CA"):
        check_files(get_settings())
    monkeypatch.delenv("SESAME_ONBOARDING_DEVICE_CA_KEY")
    get_settings.cache_clear()
    assert device_issuer(get_settings()) is None
