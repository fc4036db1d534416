"""``sesame check`` and the same preflight at the start of ``sesame serve`` in production (issue 16):
each finding on its own, a ready configuration, the exit codes, and a real ``sesame serve``
refusing to start with the list."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from radius.eap import trialpki
from sesame import preflight
from sesame.cli import main
from sesame.settings import Settings, get_settings, load_settings
from tests.conftest import TEST_SECRET_KEY
from tests.support.ports import free_tcp_port

#: a production configuration with nothing left to change
READY: dict[str, str] = {
    "SESAME_ENVIRONMENT": "production",
    "SESAME_SECRET_KEY": TEST_SECRET_KEY,
    "SESAME_REALM": "wifi.maregionsud.fr",
    "SESAME_REGION_NAME": "Région Sud",
    "SESAME_PORTAL_PUBLIC_URL": "https://wifi.maregionsud.fr",
    "SESAME_MAIL_SMTP_HOST": "smtp.maregionsud.fr",
    "SESAME_MAIL_SENDER": "Wi-Fi Région Sud <no-reply@wifi.maregionsud.fr>",
}


def _settings(monkeypatch: pytest.MonkeyPatch, **changes: str) -> Settings:
    for name, value in (READY | changes).items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()  # for the commands
    return load_settings()


def _found(monkeypatch: pytest.MonkeyPatch, **changes: str) -> list[tuple[str, bool]]:
    return [(f.setting, f.blocking) for f in preflight.check(_settings(monkeypatch, **changes))]


def _eap_files(directory: Path) -> dict[str, str]:
    directory.mkdir(exist_ok=True)
    ca = trialpki.make_ca("Sesame preflight test CA")
    server = trialpki.make_server(ca, "radius.preflight.example", days=365)
    files = {
        "SESAME_EAP_CERTIFICATE": trialpki.write(directory / "server.pem", server.certificate_pem()),
        "SESAME_EAP_PRIVATE_KEY": trialpki.write(directory / "server.key", server.key_pem(), secret=True),
        "SESAME_EAP_CA": trialpki.write(directory / "ca.pem", ca.certificate_pem()),
        **_signing_files(directory),
    }
    return {name: str(path) for name, path in files.items()}


def _signing_files(directory: Path) -> dict[str, Path]:
    """A profile-signing certificate and key: a portal offering the secure network signs profiles."""
    signer = trialpki.make_server(trialpki.make_ca("Sesame signing test CA"), "profiles.preflight.example")
    return {
        "SESAME_ONBOARDING_SIGNING_CERTIFICATE": trialpki.write(
            directory / "sign.pem", signer.certificate_pem()
        ),
        "SESAME_ONBOARDING_SIGNING_KEY": trialpki.write(
            directory / "sign.key", signer.key_pem(), secret=True
        ),
    }


def test_a_ready_configuration_has_no_finding(settings_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert preflight.check(_settings(monkeypatch)) == []


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"SESAME_ENVIRONMENT": "development"}, ("SESAME_ENVIRONMENT", True)),
        ({"SESAME_REALM": "wifi.example.org"}, ("SESAME_REALM", True)),
        ({"SESAME_REALM": "wifi.region.example"}, ("SESAME_REALM", False)),  # reserved: a warning
        ({"SESAME_REGION_NAME": "Région"}, ("SESAME_REGION_NAME", True)),
        ({"SESAME_REGION_NAME": " region "}, ("SESAME_REGION_NAME", True)),
        ({"SESAME_PORTAL_PUBLIC_URL": "http://wifi.maregionsud.fr"}, ("SESAME_PORTAL_PUBLIC_URL", True)),
        ({"SESAME_MAIL_SMTP_HOST": ""}, ("SESAME_MAIL_SMTP_HOST", True)),
        ({"SESAME_MAIL_SENDER": "Wi-Fi <no-reply@wifi.example.org>"}, ("SESAME_MAIL_SENDER", True)),
    ],
)
def test_each_finding_names_its_setting(
    settings_env: None, monkeypatch: pytest.MonkeyPatch, changes: dict[str, str], expected: tuple[str, bool]
) -> None:
    assert _found(monkeypatch, **changes) == [expected]


def test_a_radius_only_host_needs_no_region_name_public_url_nor_smtp(
    settings_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = {
        "SESAME_REGION_NAME": "Région",
        "SESAME_PORTAL_PUBLIC_URL": "http://127.0.0.1:8000",
        "SESAME_MAIL_SMTP_HOST": "",
    }
    assert _found(monkeypatch, SESAME_WEB_ENABLED="false", **bare) == []
    assert [s for s, _ in _found(monkeypatch, SESAME_WEB_ENABLED="true", **bare)] == [
        "SESAME_REGION_NAME",
        "SESAME_PORTAL_PUBLIC_URL",
        "SESAME_MAIL_SMTP_HOST",
    ]


def test_certificates_that_cannot_be_used(
    settings_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    eap = _eap_files(tmp_path / "eap")
    assert _found(monkeypatch, **eap) == []  # usable: nothing to say
    unreadable = eap | {"SESAME_EAP_PRIVATE_KEY": "/proc/self/mem"}  # a file; reading it fails (EIO)
    [finding] = preflight.check(_settings(monkeypatch, **unreadable))
    assert finding.setting == "SESAME_EAP_*" and "/proc/self/mem" in finding.problem
    monkeypatch.setenv("SESAME_EAP_PRIVATE_KEY", eap["SESAME_EAP_PRIVATE_KEY"])

    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    radsec = {
        "SESAME_FEDERATION_ENABLED": "true",
        "SESAME_FEDERATION_RADSEC_CERTIFICATE": str(junk),
        "SESAME_FEDERATION_RADSEC_PRIVATE_KEY": str(junk),
        "SESAME_FEDERATION_RADSEC_CA": str(junk),
    }
    [finding] = preflight.check(_settings(monkeypatch, **radsec))
    assert finding.setting == "SESAME_FEDERATION_RADSEC_*" and str(junk) in finding.problem


def test_sesame_check_exit_codes(
    settings_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _settings(monkeypatch)
    assert main(["check"]) == 0
    assert capsys.readouterr().out == "ready for production\n"

    _settings(monkeypatch, SESAME_REALM="wifi.region.example")
    assert main(["check"]) == 0  # a warning only
    out = capsys.readouterr()
    assert out.out.startswith("warning: SESAME_REALM: wifi.region.example is a name reserved")
    assert out.out.endswith("ready for production (with the warnings above)\n")

    _settings(monkeypatch, SESAME_REALM="wifi.example.org", SESAME_REGION_NAME="Région")
    assert main(["check"]) == 2
    errors = capsys.readouterr().err.splitlines()
    assert [line.split(":")[:2] for line in errors] == [
        ["error", " SESAME_REALM"],
        ["error", " SESAME_REGION_NAME"],
    ]
    assert "du réseau Région" in errors[1]


def test_serve_in_production_refuses_to_start_with_the_list(tmp_path: Path) -> None:
    """A real ``sesame serve`` in production: refused before it touches the database or a port."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("SESAME_")}
    env = base | {
        "SESAME_ENVIRONMENT": "production",
        "SESAME_SECRET_KEY": TEST_SECRET_KEY,
        "SESAME_DATABASE_URL": f"sqlite:///{tmp_path / 'never.db'}",
        "SESAME_WEB_PORT": str(free_tcp_port()),
        "SESAME_METRICS_PORT": "0",
    }
    done = subprocess.run(
        [sys.executable, "-m", "sesame", "serve"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    lines = done.stderr.splitlines()
    assert lines[0] == "error: not ready for production (SESAME_ENVIRONMENT=production); change:"
    named = [line.split(":")[0].strip(" -") for line in lines[1:-1]]
    assert named == [
        "SESAME_REALM",
        "SESAME_REGION_NAME",
        "SESAME_PORTAL_PUBLIC_URL",
        "SESAME_MAIL_SMTP_HOST",
    ]
    assert "Traceback" not in done.stderr and "listening" not in done.stderr
    assert not (tmp_path / "never.db").exists()


def test_profiles_that_would_go_unsigned_are_a_warning(
    settings_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    eap = _eap_files(tmp_path / "eap")
    unsigned = {k: v for k, v in eap.items() if not k.startswith("SESAME_ONBOARDING_")}
    for name in ("SESAME_ONBOARDING_SIGNING_CERTIFICATE", "SESAME_ONBOARDING_SIGNING_KEY"):
        monkeypatch.delenv(name, raising=False)
    assert _found(monkeypatch, **unsigned) == [("SESAME_ONBOARDING_SIGNING_CERTIFICATE", False)]
    # a host that shows no portal hands out no profile
    assert _found(monkeypatch, SESAME_WEB_ENABLED="false", **unsigned) == []
    # a portal without the secure network neither
    for name in unsigned:
        monkeypatch.delenv(name)
    assert _found(monkeypatch) == []


def _encrypted(issued: trialpki.Issued, password: bytes) -> bytes:
    return issued.key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(password),
    )


def test_signing_and_device_ca_files_that_cannot_be_used_block(
    settings_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    eap = _eap_files(tmp_path / "eap")
    other = trialpki.make_ca("another key")
    wrong = trialpki.write(tmp_path / "wrong.key", other.key_pem(), secret=True)
    found = preflight.check(_settings(monkeypatch, **eap | {"SESAME_ONBOARDING_SIGNING_KEY": str(wrong)}))
    assert [(f.setting, f.blocking) for f in found] == [("SESAME_ONBOARDING_SIGNING_*", True)]
    assert "not the key of" in found[0].problem

    # the device CA's key: encrypted (its password needed), matching the device CA, which must be a CA
    devices = trialpki.make_ca("Sesame device CA")
    device_ca = trialpki.write(tmp_path / "device-ca.pem", devices.certificate_pem())
    key = trialpki.write(tmp_path / "device-ca.key", _encrypted(devices, b"ca passphrase"), secret=True)
    monkeypatch.setenv("SESAME_ONBOARDING_SIGNING_KEY", eap["SESAME_ONBOARDING_SIGNING_KEY"])
    cases: list[tuple[dict[str, str], str | None]] = [
        ({"SESAME_ONBOARDING_DEVICE_CA_KEY": str(key)}, "SESAME_EAP_DEVICE_CA is not"),
        ({"SESAME_EAP_DEVICE_CA": str(device_ca), "SESAME_ONBOARDING_DEVICE_CA_KEY": str(key)}, "encrypted"),
        (
            {
                "SESAME_EAP_DEVICE_CA": str(device_ca),
                "SESAME_ONBOARDING_DEVICE_CA_KEY": str(key),
                "SESAME_ONBOARDING_DEVICE_CA_KEY_PASSWORD": "not it",
            },
            "password is wrong",
        ),
        (
            {
                "SESAME_EAP_DEVICE_CA": str(device_ca),
                "SESAME_ONBOARDING_DEVICE_CA_KEY": str(wrong),
            },
            "not the key of the device CA",
        ),
        (
            {
                "SESAME_EAP_DEVICE_CA": eap["SESAME_EAP_CERTIFICATE"],  # a server's, not a CA
                "SESAME_ONBOARDING_DEVICE_CA_KEY": eap["SESAME_EAP_PRIVATE_KEY"],
            },
            "not a CA certificate",
        ),
        (
            {
                "SESAME_EAP_DEVICE_CA": str(device_ca),
                "SESAME_ONBOARDING_DEVICE_CA_KEY": str(key),
                "SESAME_ONBOARDING_DEVICE_CA_KEY_PASSWORD": "ca passphrase",
            },
            None,
        ),
    ]
    for changes, problem in cases:
        for name in ("SESAME_EAP_DEVICE_CA", "SESAME_ONBOARDING_DEVICE_CA_KEY_PASSWORD"):
            monkeypatch.delenv(name, raising=False)
        found = preflight.check(_settings(monkeypatch, **eap | changes))
        if problem is None:
            assert found == [], changes
            continue
        assert [(f.setting, f.blocking) for f in found] == [("SESAME_ONBOARDING_DEVICE_CA_KEY", True)], (
            changes
        )
        assert problem in found[0].problem, (changes, found[0].problem)
        assert "ca passphrase" not in found[0].problem and "not it" not in found[0].problem
