"""``sesame requisition make-signer``: a trial records-signing certificate that the settings load
(``[requisition]``), whose signatures ``openssl cms -verify`` accepts against the CA it wrote; a
key that is not the certificate's is refused at start and by ``sesame check``; existing files are
never overwritten."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from accounts.recordsexport import sign
from radius.eap.tlsengine import TlsConfigError
from radius.eap.trialpki import new_key
from sesame import preflight
from sesame.compose import records_signer
from sesame.settings import get_settings, load_settings
from tests.cli import fails, ok


def test_a_trial_records_signer_signs_what_openssl_verifies(
    settings_env: None, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESAME_ENVIRONMENT", "development")
    pki = tmp_path / "pki"
    out = ok("requisition", "make-signer", str(pki))
    settings = dict(line.split("=", 1) for line in out.splitlines() if line.startswith("SESAME_"))
    assert settings == {
        "SESAME_REQUISITION_SIGNING_CERTIFICATE": str((pki / "records-signer.pem").resolve()),
        "SESAME_REQUISITION_SIGNING_KEY": str((pki / "records-signer.key").resolve()),
    }
    assert (pki / "records-signer.key").stat().st_mode & 0o077 == 0
    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    signer = records_signer(load_settings())
    assert signer is not None

    content = tmp_path / "records.csv"
    content.write_bytes(b"record,start\r\nsession,2026-11-21T12:00:00Z\r\n")
    (tmp_path / "records.csv.p7s").write_bytes(sign(content.read_bytes(), signer))
    verified = subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", str(tmp_path / "records.csv.p7s"),
         "-content", str(content), "-CAfile", str(pki / "records-ca.pem"), "-out", "/dev/null"],
        capture_output=True, text=True, check=False, timeout=60,
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr

    # a key that is not the certificate's stops start-up with one line naming it
    other = tmp_path / "other.key"
    pem, pkcs8 = serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8
    other.write_bytes(new_key().private_bytes(pem, pkcs8, serialization.NoEncryption()))
    monkeypatch.setenv("SESAME_REQUISITION_SIGNING_KEY", str(other))
    get_settings.cache_clear()
    with pytest.raises(TlsConfigError, match="not the key of"):
        records_signer(load_settings())
    [finding] = [f for f in preflight.check(load_settings()) if f.setting.startswith("SESAME_REQUISITION")]
    assert finding.blocking and "not the key of" in finding.problem

    before = (pki / "records-signer.key").read_bytes()
    assert "already holds a records signer" in fails(capsys, "requisition", "make-signer", str(pki))
    assert (pki / "records-signer.key").read_bytes() == before
