"""``sesame retention purge``, ``sesame user delete`` and ``sesame user pseudonym``, through typer's
runner and through ``main`` (which owns error reporting), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, update

from accounts import users
from accounts.models import Account, AccountingSession, AccountPhone, AuthRecord, ClosedAccount, utcnow
from accounts.network import ensure_home_region
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from sesame.cli import app
from sesame.db import create_engine, create_sessionmaker, unit_of_work
from sesame.settings import get_settings
from tests.cli import CLI_REALM as REALM
from tests.cli import fails, invoke, ok, runner
from tests.conftest import TEST_SECRET_KEY


def _seed_auth_records(url: str, *usernames_and_ages: tuple[str, timedelta]) -> None:
    async def go() -> None:
        engine = create_engine(url)
        try:
            async with unit_of_work(create_sessionmaker(engine)) as session:
                now = utcnow()
                session.add_all(
                    AuthRecord(
                        username=name, reply="Access-Accept", authdate=now - age, method="pap", reason="ok"
                    )
                    for name, age in usernames_and_ages
                )
        finally:
            await engine.dispose()

    asyncio.run(go())


def _count(url: str, column: Any, *where: Any) -> int:
    async def go() -> int:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                query = select(func.count(column)).where(*where)
                return int(await session.scalar(query) or 0)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_retention_purge_follows_the_settings(cli_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    day = timedelta(days=1)
    _seed_auth_records(cli_env, ("old-1", 400 * day), ("old-2", 366 * day), ("recent", day))

    counted = invoke("retention", "purge", "--dry-run").stdout.splitlines()
    assert [line.split(" (")[0] for line in counted] == [
        "accounts never verified: would delete 0",
        "accounts inactive after a warning: would delete 0",
        "accounts inactive: would warn 0",
        "accounts used again since their warning: would clear 0",
        "radacct: would delete 0",
        "radpostauth: would delete 2",
        "closed_account: would delete 0",
        "radius_token: would delete 0",
        "tombstone: would delete 0",
        "account_code: would delete 0",
        "phone_code: would delete 0",
        "revoked_token: would delete 0",
        "voucher: would delete 0",
        "voucher_batch: would delete 0",
        "sponsor_request: would delete 0",
    ]
    assert counted[5].startswith("radpostauth: would delete 2 (authentications before ")
    assert counted[5].endswith(" UTC)")
    assert _count(cli_env, AuthRecord.id) == 3

    monkeypatch.setenv("SESAME_RETENTION_CONNECTION_DAYS", "500")
    get_settings.cache_clear()
    assert "radpostauth: deleted 0 " in invoke("retention", "purge").stdout
    assert _count(cli_env, AuthRecord.id) == 3

    monkeypatch.setenv("SESAME_RETENTION_CONNECTION_DAYS", "365")
    monkeypatch.setenv("SESAME_RETENTION_BATCH_SIZE", "1")
    get_settings.cache_clear()
    assert "radpostauth: deleted 2 " in invoke("retention", "purge").stdout
    assert _count(cli_env, AuthRecord.id) == 1
    assert "radpostauth: deleted 0 " in invoke("retention", "purge").stdout


def _seed_account(url: str, name: str, *, age: timedelta, locale: str, verified: bool = True) -> None:
    async def go() -> None:
        engine = create_engine(url)
        try:
            async with unit_of_work(create_sessionmaker(engine)) as session:
                region = await ensure_home_region(session, realm=REALM)
                account = await users.create_account(
                    session, hasher=PasswordHasher(), region=region, username=name,
                    email=f"{name}@example.fr", password=None,
                )  # fmt: skip
                account.created_at = utcnow() - age
                account.email_verified, account.locale = verified, locale
                account.terms_version, account.terms_accepted_at = "v1", account.created_at
        finally:
            await engine.dispose()

    asyncio.run(go())


def _backdate_warnings(url: str, by: timedelta) -> None:
    async def go() -> None:
        engine = create_engine(url)
        try:
            async with unit_of_work(create_sessionmaker(engine)) as session:
                await session.execute(
                    update(Account)
                    .where(Account.inactivity_warned_at.is_not(None))
                    .values(inactivity_warned_at=utcnow() - by)
                )
        finally:
            await engine.dispose()

    asyncio.run(go())


def test_retention_purge_warns_unused_accounts_in_their_language_then_deletes_them(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    monkeypatch.setenv("SESAME_MAIL_OUTBOX", str(outbox))
    monkeypatch.setenv("SESAME_PORTAL_LANGUAGES", "fr,it,en")
    get_settings.cache_clear()
    _seed_account(cli_env, "dormiente", age=timedelta(days=400), locale="it")
    _seed_account(cli_env, "jamais", age=timedelta(days=8), locale="fr", verified=False)
    _seed_account(cli_env, "recente", age=timedelta(days=10), locale="it")

    dry = invoke("retention", "purge", "--dry-run").stdout
    assert "accounts never verified: would delete 1" in dry and "accounts inactive: would warn 1" in dry
    assert not outbox.exists()

    out = invoke("retention", "purge").stdout
    assert "accounts never verified: did delete 1" in out and "accounts inactive: did warn 1" in out
    letters = sorted(outbox.glob("*.eml"))
    assert len(letters) == 1
    message = message_from_bytes(letters[0].read_bytes(), policy=default)
    assert message["To"] == "dormiente@example.fr"
    body = message.get_content()
    assert f"dormiente@{REALM}" in body and "verrà eliminato" in body  # Italian, the account's language
    assert "accounts inactive: did warn 0" in invoke("retention", "purge").stdout  # warned once

    _backdate_warnings(cli_env, timedelta(days=31))
    metrics = tmp_path / "sesame_retention.prom"
    monkeypatch.setenv("SESAME_RETENTION_METRICS_FILE", str(metrics))
    get_settings.cache_clear()
    out = invoke("retention", "purge").stdout
    assert "accounts inactive after a warning: did delete 1" in out
    families = {family.name: family for family in text_string_to_metric_families(metrics.read_text())}
    deleted = {s.labels["action"]: s.value for s in families["sesame_retention_accounts"].samples}
    assert deleted["deleted_inactive"] == 1 and deleted["warned"] == 0
    assert families["sesame_retention_last_success_timestamp_seconds"].samples[0].value > 0
    listed = invoke("user", "list").stdout
    assert "recente" in listed and "dormiente" not in listed and "jamais" not in listed


def _give_number(url: str, name: str, number: str) -> None:
    async def go() -> None:
        engine = create_engine(url)
        try:
            async with unit_of_work(create_sessionmaker(engine)) as session:
                account = await session.scalar(select(Account).where(Account.username == name))
                assert account is not None
                account.email = f"{number[1:]}@phone.invalid"  # as accounts/phonesignup.py signs up
                session.add(
                    AccountPhone(
                        account_id=account.id,
                        region_id=account.region_id,
                        number=number,
                        verified_at=utcnow(),
                    )
                )
        finally:
            await engine.dispose()

    asyncio.run(go())


def test_an_unused_account_signed_up_by_sms_is_warned_by_sms_out_of_the_budget(
    cli_env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    outbox, mail = tmp_path / "sms", tmp_path / "mail"
    for name, value in {
        "SESAME_SMS_ENABLED": "true", "SESAME_SMS_OUTBOX": str(outbox), "SESAME_SMS_DAILY_BUDGET": "1",
        "SESAME_MAIL_OUTBOX": str(mail), "SESAME_PORTAL_LANGUAGES": "fr,it,en",
    }.items():  # fmt: skip
        monkeypatch.setenv(name, value)
    get_settings.cache_clear()
    for name, number in (("sms-one", "+33612345678"), ("sms-two", "+33612345679")):
        _seed_account(cli_env, name, age=timedelta(days=400), locale="it")
        _give_number(cli_env, name, number)

    out = invoke("retention", "purge").stdout
    # a budget of one SMS a day: one warned, the other tried again tomorrow (so not deleted)
    assert "accounts inactive: did warn 1" in out and "1 warnings could not be sent" in out, out
    [sent] = sorted(outbox.glob("*.sms"))
    text = sent.read_text(encoding="utf-8")
    assert text.startswith("To: +3361234567") and "verrà eliminato" in text and f"@{REALM}" in text
    assert not mail.exists()  # no mail to a placeholder address


def test_lifecycle_settings_are_checked(
    settings_env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESAME_ENVIRONMENT", "development")
    monkeypatch.setenv("SESAME_RETENTION_INACTIVE_DAYS", "20")
    assert "inactive_days must be longer than inactive_notice_days" in fails(
        capsys, "retention", "purge", code=2
    )


def test_retention_settings_are_checked(
    settings_env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESAME_ENVIRONMENT", "development")
    monkeypatch.setenv("SESAME_RETENTION_BATCH_SIZE", "0")
    assert "invalid setting SESAME_RETENTION_BATCH_SIZE" in fails(capsys, "retention", "purge", code=2)


def test_deleting_a_user_needs_yes_and_prints_the_pseudonym(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ok("user", "add", "alice", "--email", "alice@example.fr", "--password", "correct horse")
    _seed_auth_records(cli_env, ("alice", timedelta(hours=1)), (f"ALICE@{REALM}", timedelta(hours=2)))

    err = fails(capsys, "user", "delete", "alice")
    assert "cannot be undone" in err and "--yes" in err
    assert "alice@example.fr" in invoke("user", "list").stdout

    deleted = invoke("user", "delete", "alice@wifi.sud.example", "--yes")
    pseudonym = deleted.stdout.strip()
    assert f"account alice@{REALM} deleted" in deleted.output
    assert pseudonym == users.pseudonym_of(SecretBox(TEST_SECRET_KEY), f"alice@{REALM}")
    assert invoke("user", "pseudonym", "Alice").stdout.strip() == pseudonym
    assert invoke("user", "pseudonym", f"alice@{REALM}").stdout.strip() == pseudonym
    assert invoke("user", "pseudonym", "alice@wifi.nord.example").stdout.strip() != pseudonym

    assert "alice" not in invoke("user", "list").stdout
    assert _count(cli_env, AuthRecord.id, AuthRecord.username == pseudonym) == 2
    assert _count(cli_env, ClosedAccount.id, ClosedAccount.pseudonym == pseudonym) == 1
    assert _count(cli_env, AccountingSession.radacctid) == 0
    assert "no account" in fails(capsys, "user", "delete", "alice", "--yes")
    assert "username" in fails(capsys, "user", "pseudonym", "x")


def test_new_commands_have_help() -> None:
    for args in [["retention"], ["retention", "purge"], ["user", "delete"], ["user", "pseudonym"]]:
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output, args
