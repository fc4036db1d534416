"""Secrets on the command line (issue 16): ``-`` reads standard input on every option that takes
a password or a secret, and nothing — help texts, README, docs — suggests writing one in argv,
where every local user reads it (``ps``, /proc/*/cmdline) and the shell history keeps it."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
import typer

from accounts.admins import find_admin
from accounts.network import ensure_home_region
from accounts.passwords import PasswordHasher
from accounts.users import find_account
from sesame.cli import app
from sesame.db import create_engine, create_sessionmaker
from tests.cli import CLI_REALM, fails, ok

ROOT = Path(__file__).resolve().parent.parent
SECRET_OPTION = re.compile(r"^--(?:[a-z]+-)*(?:password|secret)$")
PASSWORD = "a password with spaces & 'quotes'"


def _secret_options(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, Any]]:
    """Every option of every command whose name says password or secret (typer vendors its own
    click: its classes are not ``click``'s, so options are told by their ``param_type_name``)."""
    found: list[tuple[str, Any]] = []
    for param in command.params:
        if param.param_type_name == "option" and any(SECRET_OPTION.match(opt) for opt in param.opts):
            found.append((" ".join(path), param))
    for name, sub in getattr(command, "commands", {}).items():
        found += _secret_options(sub, (*path, name))
    return found


def test_every_secret_option_reads_standard_input_and_says_so() -> None:
    options = _secret_options(typer.main.get_command(app))
    names = {(path, param.opts[0]) for path, param in options}
    assert {("admin create", "--password"), ("user add", "--password"), ("nas add", "--secret")} <= names
    assert {("partner add", "--secret"), ("partner server secret", "--secret")} <= names
    assert ("nas handoff", "--uam-secret") in names
    for path, param in options:
        assert "'-' reads it from standard input" in (param.help or ""), (path, param.opts)
        assert "show in the process list" in (param.help or ""), (path, param.opts)


def _verify(url: str, check: Any) -> Any:
    async def go() -> Any:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                return await check(session)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_passwords_are_read_from_standard_input(cli_env: str) -> None:
    hasher = PasswordHasher()
    ok("admin", "create", "ops@region.fr", "--role", "region_admin", "--password", "-", input=PASSWORD + "\n")
    ok("user", "add", "alice", "--email", "alice@example.fr", "--password", "-", input=PASSWORD + "\r\n")

    async def admin_hash(session: Any) -> str | None:
        return (await find_admin(session, "ops@region.fr")).password_hash

    async def account_hash(session: Any) -> str | None:
        region = await ensure_home_region(session, realm=CLI_REALM)
        return (await find_account(session, "alice", region=region)).password_hash

    for stored in (_verify(cli_env, admin_hash), _verify(cli_env, account_hash)):
        assert hasher.verify(PASSWORD, stored)
        assert not hasher.verify("-", stored)  # once taken as the password itself


def test_nothing_on_standard_input_and_no_terminal_say_how_to_give_one(
    cli_env: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("sys.stdin", open("/dev/null"))  # noqa: SIM115 - closed with the test's stdin
    empty = fails(capsys, "admin", "create", "a@region.fr", "--role", "auditor", "--password", "-")
    assert "--password -: no password on standard input" in empty
    missing = fails(capsys, "user", "add", "dave", "--email", "d@example.fr")
    assert (
        "no password given and no terminal to ask on: pass --password - and write it on standard input"
        in (missing)
    )
    assert "pass --secret -" in fails(capsys, "nas", "add", "ap", "--ip", "192.0.2.1", "--site", "x")


#: a secret option followed by something other than '-' (the stdin marker) or a placeholder in
#: prose, in a shell line of the docs; and curl given a password, a client secret or a token
ARGV_SECRET = re.compile(
    r"--(?:[a-z]+-)*(?:password|secret)[ =](?!-(?:\s|$))\S"
    r"|curl[^\n]*(?:-d password=|-u \"?\$|Bearer \$)"
)


def test_no_document_suggests_a_secret_in_argv() -> None:
    documents = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "deploy" / "README.md"]
    offending = [
        f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
        for path in documents
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ARGV_SECRET.search(line)
    ]
    assert not offending, "\n".join(offending)
