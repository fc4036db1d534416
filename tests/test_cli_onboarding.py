"""``sesame onboarding``, on SQLite and PostgreSQL: the region's SSIDs and Passpoint set and shown,
a commune's own SSIDs, every change audited, refusals in one line; and a trial device CA that
openssl reads as a CA, whose key is its own and the owner's only, that issues devices'
certificates openssl verifies, and that the preflight accepts with the settings printed."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path

import pytest
from sqlalchemy import select

from accounts.models import AuditEntry
from sesame import preflight
from sesame.db import create_engine, create_sessionmaker
from sesame.settings import get_settings, load_settings
from tests.cli import fails, ok


def _audited(url: str) -> list[tuple[str, str, str | None]]:
    async def go() -> list[tuple[str, str, str | None]]:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                rows = await session.scalars(
                    select(AuditEntry).where(AuditEntry.action.like("onboarding.%")).order_by(AuditEntry.id)
                )
                return [(e.actor, e.action, e.after) for e in rows]
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _openssl(*args: str) -> str:
    return subprocess.run(["openssl", *args], capture_output=True, text=True, check=True).stdout


def test_the_region_and_a_commune_are_described_and_audited(cli_env: str) -> None:
    assert "ssids: none" in ok("onboarding", "show")
    ok(
        "onboarding", "set", "--ssid", "Wi-Fi Sud Sécurisé", "--ssid", "Sud-1X",
        "--passpoint-fqdn", "wifi.sud.example", "--friendly-name", "Wi-Fi Région Sud",
        "--rcoi", "abcdef", "--eduroam",
    )  # fmt: skip
    shown = ok("onboarding", "show")
    assert "ssids: 'Wi-Fi Sud Sécurisé', 'Sud-1X'" in shown
    assert "passpoint-fqdn: wifi.sud.example" in shown
    assert "friendly-name: Wi-Fi Région Sud" in shown
    assert "nai-realm: (the home realm) wifi.sud.example" in shown
    assert "rcoi: 'ABCDEF'" in shown and "eduroam: yes" in shown and "openroaming: no" in shown

    ok("commune", "add", "Valence", "--insee", "26362")
    assert "Valence-Sûr" in ok("onboarding", "set", "--commune", "26362", "--ssid", "Valence-Sûr")
    assert "commune Valence (26362): 'Valence-Sûr'" in ok("onboarding", "show")
    assert "commune Valence: 'Valence-Sûr'" in ok("onboarding", "show", "--commune", "Valence")
    assert "the region SSIDs" in ok("onboarding", "set", "--commune", "Valence", "--clear-ssids")

    ok("onboarding", "set", "--no-passpoint")
    shown = ok("onboarding", "show")
    assert (
        "passpoint-fqdn: none (Passpoint off)" in shown and "eduroam: no" in shown and "rcoi: none" in shown
    )
    assert "ssids: 'Wi-Fi Sud Sécurisé', 'Sud-1X'" in shown  # untouched

    audited = _audited(cli_env)
    assert [action for _, action, _ in audited] == [
        "onboarding.region.update",
        "onboarding.commune.update",
        "onboarding.commune.update",
        "onboarding.region.update",
    ]
    assert all(actor.startswith("cli:") for actor, _, _ in audited)
    assert json.loads(audited[0][2] or "")["roaming_consortium_ois"] == ["ABCDEF"]


@pytest.mark.parametrize(
    ("args", "reason"),
    [
        (("--ssid", "x" * 33), "1 to 32 octets"),
        (("--ssid", "a\x1bb"), "control"),
        (("--passpoint-fqdn", "not a host"), "DNS name"),
        (("--passpoint-fqdn", "a.example", "--rcoi", "001BC50460"), "eduroam"),
        (("--rcoi", "ABCDEF"), "FQDN"),
        (("--commune", "Valence", "--passpoint-fqdn", "a.example"), "SSIDs of its own only"),
        (("--commune", "Nowhere", "--ssid", "x"), "Nowhere"),
        (("--no-passpoint", "--eduroam"), "give none"),
        (("--ssid", "a", "--clear-ssids"), "contradictory"),
        ((), "nothing to change"),
    ],
)
def test_refusals_are_one_line_and_change_nothing(
    cli_env: str, capsys: pytest.CaptureFixture[str], args: tuple[str, ...], reason: str
) -> None:
    assert reason in fails(capsys, "onboarding", "set", *args)
    assert _audited(cli_env) == []


def test_a_trial_device_ca_issues_certificates_that_chain_and_the_preflight_accepts(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    pki = tmp_path / "pki"
    out = ok("onboarding", "make-device-ca", str(pki))
    settings = dict(line.split("=", 1) for line in out.splitlines() if line.startswith("SESAME_"))
    assert settings == {
        "SESAME_EAP_DEVICE_CA": str((pki / "device-ca.pem").resolve()),
        "SESAME_ONBOARDING_DEVICE_CA_KEY": str((pki / "device-ca.key").resolve()),
    }
    assert (pki / "device-ca.key").stat().st_mode & 0o077 == 0
    text = _openssl("x509", "-noout", "-text", "-in", str(pki / "device-ca.pem"))
    assert "CA:TRUE" in text and "Certificate Sign" in text
    assert _openssl("x509", "-noout", "-pubkey", "-in", str(pki / "device-ca.pem")) == _openssl(
        "pkey", "-pubout", "-in", str(pki / "device-ca.key")
    )

    # the device CA issues what `sesame eap device-cert` issues, and openssl verifies the chain
    ok("user", "add", "alice", "--email", "alice@example.fr", "--password", "correct horse battery")
    ok("eap", "device-cert", "issue", "alice", "--ca-dir", str(pki), "--out", str(tmp_path / "phone"))
    verified = subprocess.run(
        ["openssl", "verify", "-CAfile", str(pki / "device-ca.pem"), str(tmp_path / "phone.pem")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert verified.returncode == 0 and "OK" in verified.stdout, verified.stderr

    for name, value in settings.items():
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    loaded = load_settings()
    assert not [f for f in preflight.check(loaded) if f.setting.startswith("SESAME_ONBOARDING_DEVICE")]

    # never over a device CA in use
    before = (pki / "device-ca.key").read_bytes()
    assert "already holds a device CA" in fails(capsys, "onboarding", "make-device-ca", str(pki))
    assert (pki / "device-ca.key").read_bytes() == before
