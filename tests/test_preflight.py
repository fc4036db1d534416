"""``sesame check`` and the same preflight at the start of ``sesame serve`` in production (issue 16):
each finding on its own, a ready configuration, the exit codes, and a real ``sesame serve``
refusing to start with the list."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

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
    }
    return {name: str(path) for name, path in files.items()}


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
