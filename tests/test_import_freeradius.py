"""``sesame import radius`` against a real FreeRADIUS ``radcheck``: Debian's PostgreSQL schema of the
``sql`` module, filled as FreeRADIUS's docs show (tests/support/radcheck.py); Sésame's own database
on SQLite and PostgreSQL. Each imported password verifies as it did in FreeRADIUS, an NT-Password
becomes the MS-CHAP credential, Auth-Type Reject and daloRADIUS's disabled group import disabled
accounts, what cannot be imported is reported, the source is only read, and a second run skips."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from accounts.credentials import NT_HASH_PURPOSE, nt_hash
from accounts.models import Account, DeviceCredential
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from sesame.db import create_engine, create_sessionmaker
from tests.cli import ok
from tests.conftest import TEST_SECRET_KEY, postgres_database
from tests.support import radcheck

pytestmark = pytest.mark.postgres


@pytest.fixture
def freeradius_db() -> Iterator[str]:
    if not radcheck.SCHEMA.exists():
        pytest.fail(f"{radcheck.SCHEMA} is needed: Debian's freeradius package ships it", pytrace=False)
    with postgres_database("radius_src") as url:
        asyncio.run(radcheck.fill(url))
        yield url


def _accounts(url: str) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                rows = (await session.scalars(select(Account))).all()
                creds = (
                    await session.execute(
                        select(DeviceCredential.account_id, DeviceCredential.nt_hash_ciphertext)
                    )
                ).all()
                by_id = {a.id: a for a in rows}
                return {
                    "accounts": {a.username: a for a in rows},
                    "nt": {by_id[i].username: sealed for i, sealed in creds},
                }
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_the_radcheck_of_freeradius_imports_with_its_passwords(
    cli_env: str, freeradius_db: str, tmp_path: Path
) -> None:
    source = freeradius_db.replace("postgresql+asyncpg://", "postgresql://", 1)
    before = asyncio.run(radcheck.count(freeradius_db, "radcheck"))
    dry = ok("import", "radius", source)
    assert "dry run" in dry and "would create: 10" in dry
    report_path = tmp_path / "report.json"
    out = ok("import", "radius", source, "--apply", "--json", str(report_path))
    assert "created: 10, skipped: 0, refused: 5" in out, out
    assert "note: radcheck attribute 'Simultaneous-Use' ignored: 2" in out
    assert "note: radusergroup group 'staff': membership not imported: 2" in out
    reasons = {row["username"]: row["reason"] for row in json.loads(report_path.read_text())["rows"]}
    assert reasons["twin"] == "duplicate_username"
    assert reasons["nopass"] == "no_password"
    assert reasons["bad name!"] == "bad_username"
    assert reasons["badhash"] == "bad_encoding"
    assert asyncio.run(radcheck.count(freeradius_db, "radcheck")) == before  # only read

    hasher = PasswordHasher()
    found = _accounts(cli_env)
    accounts = found["accounts"]
    for username, password in radcheck.PASSWORDS.items():
        stored = accounts[username].password_hash
        assert hasher.verify(password, stored), username
        assert not hasher.verify(password + "!", stored), username
    assert accounts["clara"].password_hash.startswith("$argon2id$")  # never kept clear
    assert not hasher.is_legacy(accounts["clara"].password_hash)
    assert hasher.is_legacy(accounts["sasha"].password_hash)
    assert accounts["sasha"].email_verified and accounts["sasha"].status == "active"
    assert accounts["dalo"].status == "disabled" and accounts["rejected"].status == "disabled"
    assert set(found["nt"]) == {"ntuser"}
    assert SecretBox(TEST_SECRET_KEY).open(found["nt"]["ntuser"], purpose=NT_HASH_PURPOSE) == nt_hash(
        radcheck.PASSWORDS["ntuser"]
    )

    again = ok("import", "radius", source, "--apply")
    assert "created: 0, skipped: 10, refused: 5" in again


def test_a_sqlite_radcheck_with_invalid_utf8_is_one_refused_row(cli_env: str, tmp_path: Path) -> None:
    import sqlite3

    schema = Path("/etc/freeradius/3.0/mods-config/sql/main/sqlite/schema.sql")
    path = tmp_path / "radius.db"
    with sqlite3.connect(path) as db:
        db.executescript(schema.read_text())
        insert = "INSERT INTO radcheck (username, attribute, op, value) VALUES ({}, 'Cleartext-Password', ':=', {})"  # noqa: E501
        db.execute(insert.format("'ok1'", "'pass-ok-1'"))
        db.execute(insert.format("CAST(X'6261DCFF' AS TEXT)", "'x1234567'"))  # invalid UTF-8
        db.execute(insert.format("'nul'", "CAST(X'610062' AS TEXT)"))  # a NUL in the password
        db.execute(insert.format("'ok2'", "'pass-ok-2'"))
        # daloRADIUS's userinfo (a few of its columns): the emails come from there
        db.execute(
            "CREATE TABLE userinfo (id INTEGER PRIMARY KEY, username TEXT, firstname TEXT, email TEXT)"
        )
        db.execute(
            "INSERT INTO userinfo (username, firstname, email) VALUES ('ok1', 'Ada', 'Ada@Example.ORG')"
        )
        db.execute("INSERT INTO userinfo (username, firstname, email) VALUES ('ok2', 'Bo', 'not an email')")
        db.execute(insert.format("'ok3'", "'pass-ok-3'"))
        db.execute(insert.format("'ok4'", "'pass-ok-4'"))
        for name in ("ok3", "ok4"):  # one family address: neither gets it, both are imported
            db.execute(f"INSERT INTO userinfo (username, email) VALUES ('{name}', 'family@example.org')")
    out = ok("import", "radius", f"sqlite:///{path}", "--apply")
    assert "created: 4, skipped: 0, refused: 2" in out and "create email_left_out: 2" in out
    assert "refuse invalid_utf8: 1" in out and "refuse nul: 1" in out
    assert "note: daloRADIUS userinfo email that is no address: not imported: 1" in out
    emails = {a.username: a.email for a in _accounts(cli_env)["accounts"].values()}
    assert emails == {
        "ok1": "Ada@example.org",
        "ok2": "ok2@no-email.invalid",
        "ok3": "ok3@no-email.invalid",
        "ok4": "ok4@no-email.invalid",
    }
