"""``sesame import csv`` and ``sesame export accounts`` on both backends: the dry run, the report,
hostile rows, idempotence, the re-hash at the next log-in, the export without secrets."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from accounts import selfservice
from accounts.credentials import NT_HASH_PURPOSE, nt_hash
from accounts.models import Account, AuditEntry, DeviceCredential, Region
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from sesame.db import create_engine, create_sessionmaker
from tests.cli import CLI_REALM, fails, ok
from tests.conftest import TEST_SECRET_KEY

SSHA = "{SSHA}33N2spjMfX4NgPbQ4sR8xO7z5UNwZW5kCg=="  # not checked here: only its form


def _ssha(password: str) -> str:
    import base64
    import hashlib

    salt = b"saltsalt"
    return "{SSHA}" + base64.b64encode(hashlib.sha1(password.encode() + salt).digest() + salt).decode()


def _query(url: str, statement: Any) -> list[Any]:
    async def go() -> list[Any]:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                return list((await session.execute(statement)).all())
        finally:
            await engine.dispose()

    return asyncio.run(go())


def _write(path: Path, text: str | bytes) -> Path:
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return path


GOOD = (
    "username,email,password_hash\r\n"
    f"alice,alice@example.org,{_ssha('alice-secret-1')}\r\n"
    "bob,,{clear}bob-secret-22\r\n"
    "carol,carol@example.org,\r\n"
    f"dave@{CLI_REALM},dave@example.org,{{nthash}}{nt_hash('dave-secret-3').hex()}\r\n"
)


def test_a_dry_run_reports_and_writes_nothing_then_apply_then_a_rerun_skips(
    cli_env: str, tmp_path: Path
) -> None:
    path = _write(tmp_path / "people.csv", GOOD)
    out = ok("import", "csv", str(path))
    assert "dry run" in out and "would create: 4, skipped: 0, refused: 0" in out
    assert "clear passwords to hash, estimated" in out
    assert _query(cli_env, select(func.count()).select_from(Account)) == [(0,)]

    report = tmp_path / "report.json"
    out = ok("import", "csv", str(path), "--apply", "--json", str(report), "--batch", "2")
    assert "created: 4, skipped: 0, refused: 0" in out
    data = json.loads(report.read_text())
    assert data["applied"] and data["created"] == 4 and data["clear_passwords_hashed"] == 1
    rows = dict(_query(cli_env, select(Account.username, Account.password_hash)))
    assert rows["alice"].startswith("{SSHA}")
    assert rows["bob"].startswith("$argon2id$")  # hashed at import, never stored clear
    assert rows["carol"] is None  # no password: a reset sets one
    assert rows["dave"] == "$3$$" + nt_hash("dave-secret-3").hex()
    emails = dict(_query(cli_env, select(Account.username, Account.email)))
    assert emails["bob"] == "bob@no-email.invalid"
    sealed = _query(cli_env, select(DeviceCredential.nt_hash_ciphertext, DeviceCredential.label))
    assert len(sealed) == 1 and sealed[0][1] == "imported NT-Password"
    assert SecretBox(TEST_SECRET_KEY).open(sealed[0][0], purpose=NT_HASH_PURPOSE) == nt_hash("dave-secret-3")
    audited = _query(
        cli_env, select(AuditEntry.action, AuditEntry.after).where(AuditEntry.action == "accounts.import")
    )
    assert len(audited) == 1 and json.loads(audited[0][1])["created"] == 4

    out = ok("import", "csv", str(path), "--apply")  # idempotent
    assert "created: 0, skipped: 4, refused: 0" in out and "skip exists: 4" in out
    assert _query(cli_env, select(func.count()).select_from(Account)) == [(4,)]
    assert _query(cli_env, select(func.count()).select_from(DeviceCredential)) == [(1,)]


def test_hostile_rows_are_refused_with_their_reason_and_the_rest_imported(
    cli_env: str, tmp_path: Path
) -> None:
    lines = [
        b"username,email,phone,password_hash",
        b"erin,erin@example.org,,",
        b"Frank,frank@example.org,,",
        b"frank,frank2@example.org,,",  # the same name as Frank once normalised
        "\uff47\uff52\uff41\uff43\uff45,grace@example.org,,".encode(),  # full-width "grace"
        b"grace,grace2@example.org,,",
        b"nul\x00name,n@example.org,,",
        b"bad\xff\xfeutf8,b@example.org,,",
        b"huge," + b"h" * 5000 + b"@example.org,,",
        b"heidi,not-an-email,,",
        b"ivan@elsewhere.example,ivan@example.org,,",
        b"judy,,+33612345678,",
        b"ken,ken@example.org,,{SSHA}%%%",
        b"=cmd,formula@example.org,,",
        b"liam,liam@example.org",  # a cell short
        b"erin2,erin@example.org,,",  # erin's email again
        b'mallory,mallory@example.org,,"$argon2id$v=19$m=1,t=1,p=1$broken"',
        b'"unterminated,x@example.org,,',  # a quote left open: the file ends inside it
    ]
    path = _write(tmp_path / "hostile.csv", b"\n".join(lines) + b"\n")
    report = tmp_path / "r.json"
    out = ok("import", "csv", str(path), "--apply", "--json", str(report))
    reasons = {(row["username"], row["reason"]) for row in json.loads(report.read_text())["rows"]}
    assert ("frank", "duplicate_username") in reasons
    assert ("grace", "duplicate_username") in reasons
    assert any(reason == "nul" for _, reason in reasons)
    assert any(reason == "invalid_utf8" for _, reason in reasons)
    assert any(reason == "too_long" for _, reason in reasons)
    assert ("heidi", "bad_email") in reasons
    assert ("ivan@elsewhere.example", "foreign_realm") in reasons
    assert ("judy", "phone_unsupported") in reasons
    assert ("ken", "bad_encoding") in reasons
    assert ("=cmd", "bad_username") in reasons
    assert ("erin", "duplicate_email") in reasons and ("erin2", "duplicate_email") in reasons
    assert ("mallory", "bad_encoding") in reasons
    assert any(reason == "malformed" for _, reason in reasons)
    assert "Traceback" not in out and "\x00" not in out
    assert _query(cli_env, select(Account.username)) == []  # every row had something wrong


def test_a_row_against_an_existing_account_with_another_email_is_refused(
    cli_env: str, tmp_path: Path
) -> None:
    ok(
        "user",
        "add",
        "olivia",
        "--email",
        "olivia@example.org",
        "--password",
        "-",
        input="correct horse battery\n",
    )
    path = _write(tmp_path / "p.csv", "username,email\nolivia,other@example.org\npaul,olivia@example.org\n")
    out = ok("import", "csv", str(path))
    assert "refuse username_taken: 1" in out and "refuse email_taken: 1" in out


def test_a_file_that_is_no_import_is_one_error_line(
    cli_env: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "username required" in fails(
        capsys, "import", "csv", str(_write(tmp_path / "a.csv", "name,mail\n"))
    )
    assert "empty" in fails(capsys, "import", "csv", str(_write(tmp_path / "b.csv", "")))
    assert "cannot read" in fails(capsys, "import", "csv", str(tmp_path / "missing.csv"), code=4)
    assert "unsupported source database" in fails(capsys, "import", "radius", "oracle://x/y")
    empty = tmp_path / "empty.db"
    sqlite3.connect(empty).close()
    assert "cannot read radcheck" in fails(capsys, "import", "radius", f"sqlite:///{empty}")
    assert "***" in fails(capsys, "import", "radius", "postgresql://u:hunter2@127.0.0.1:1/x", code=3)


@pytest.mark.asyncio
async def test_an_imported_hash_is_replaced_by_argon2id_at_the_next_log_in(
    cli_env: str, tmp_path: Path, hasher: PasswordHasher
) -> None:
    path = _write(
        tmp_path / "p.csv",
        f"username,email,password_hash\nquinn,quinn@example.org,{_ssha('quinn-pass-77')}\n",
    )
    await asyncio.to_thread(ok, "import", "csv", str(path), "--apply")
    engine = create_engine(cli_env)
    try:
        sessions = create_sessionmaker(engine)
        async with sessions() as session:
            region = await session.scalar(select(Region).where(Region.realm == CLI_REALM))
            assert region is not None
            assert (
                await selfservice.log_in(
                    session, hasher=hasher, region=region, identity="quinn", password="wrong-pass"
                )
                is None
            )
            account = await selfservice.log_in(
                session, hasher=hasher, region=region, identity="quinn", password="quinn-pass-77"
            )
            assert account is not None and account.password_hash is not None
            assert account.password_hash.startswith("$argon2id$")
            await session.commit()
            account = await selfservice.log_in(
                session, hasher=hasher, region=region, identity="quinn@example.org", password="quinn-pass-77"
            )
            assert account is not None
    finally:
        await engine.dispose()


def test_the_export_has_no_secret_neutralises_formulas_and_is_audited(cli_env: str, tmp_path: Path) -> None:
    path = _write(
        tmp_path / "p.csv",
        "username,email,password_hash\n"
        f"rose,=cmd@example.org,{_ssha('rose-pass-99')}\n"
        f"sam,,{{nthash}}{nt_hash('sam-pass-55').hex()}\n",
    )
    ok("import", "csv", str(path), "--apply")
    out = tmp_path / "accounts.csv"
    assert "2 accounts written" in ok("export", "accounts", "--output", str(out))
    text = out.read_text()
    rows = list(csv.DictReader(io.StringIO(text)))
    by_name = {row["username"]: row for row in rows}
    assert by_name["rose"]["email"] == "'=cmd@example.org"
    assert by_name["rose"]["legacy_password"] == "1" and by_name["rose"]["has_password"] == "1"
    assert by_name["sam"]["email"] == "" and by_name["sam"]["identity"] == f"sam@{CLI_REALM}"
    assert "SSHA" not in text and nt_hash("sam-pass-55").hex() not in text and "$3$$" not in text
    audited = _query(cli_env, select(AuditEntry.after).where(AuditEntry.action == "accounts.export"))
    assert [json.loads(after) for (after,) in audited] == [{"rows": 2}]
