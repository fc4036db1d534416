"""The command line, through typer's runner and through ``main`` (which owns error reporting).

Commands run against the per-test database (SQLite and PostgreSQL) and commit for real.
"""

from __future__ import annotations

from typing import Any

import pytest
import typer

from sesame import migrations
from sesame.cli import app
from tests.cli import fails, ok, runner


def test_inventory_round_trip(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert "commune Valence (26362) added" in ok("commune", "add", "Valence", "--insee", "26362")
    assert "site Médiathèque added to Valence" in ok("site", "add", "Médiathèque", "--commune", "26362")
    assert "ap-1 (10.1.0.0/24) added" in ok(
        "nas", "add", "ap-1", "--ip", "10.1.0.0/24", "--secret", "testing123", "--site", "médiathèque"
    )
    ok(
        "nas",
        "add",
        "ap-2",
        "--ip",
        "192.0.2.7",
        "--secret",
        "-",
        "--site",
        "Médiathèque",
        "--legacy-no-message-authenticator",
        input="another-secret\n",
    )
    listing = ok("nas", "list")
    assert "ap-1  10.1.0.0/24  Médiathèque (Valence)" in listing
    assert "ap-2  192.0.2.7" in listing and "legacy: no Message-Authenticator" in listing
    assert "testing123" not in listing and "another-secret" not in listing
    assert "removed" in ok("nas", "remove", "ap-1")
    assert "ap-1" not in ok("nas", "list")
    assert "Valence" in ok("commune", "list") and "Médiathèque" in ok("site", "list", "--commune", "Valence")
    assert "26362 already exists" in fails(capsys, "commune", "add", "Valence", "--insee", "26362")
    assert "no access point" in fails(capsys, "nas", "remove", "ap-1")
    assert "no commune" in fails(capsys, "site", "add", "Gare", "--commune", "Nowhere")
    assert "not an IP address" in fails(
        capsys, "nas", "add", "ap-3", "--ip", "10.1.0.5/24", "--secret", "testing123", "--site", "Médiathèque"
    )
    typo = fails(capsys, "nas", "add", "ap-4", "--ip", "10.1.9.1", "--secret", "testing123", "--site",
                 "Médiathèque", "--vendor", "meraky")  # fmt: skip
    assert "unknown vendor: choose one of other, aruba" in typo and "meraky" not in typo


def test_accounts_are_verified_and_active_unless_asked(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "alice@wifi.sud.example created (verified, active)" in ok(
        "user", "add", "Alice", "--email", "alice@example.fr", "--password", "correct horse"
    )
    assert "(unverified, active)" in ok(
        "user", "add", "bob", "--email", "bob@example.fr", "--password", "correct horse", "--unverified"
    )
    listing = ok("user", "list")
    assert "alice@wifi.sud.example  alice@example.fr  active\n" in listing
    assert "bob@wifi.sud.example  bob@example.fr  active  (unverified)" in listing
    assert "is disabled" in ok("user", "disable", "alice@wifi.sud.example")
    assert (
        ok("user", "list", "--status", "disabled").strip()
        == "alice@wifi.sud.example  alice@example.fr  disabled"
    )
    assert "is active" in ok("user", "enable", "alice")
    assert "taken" in fails(
        capsys, "user", "add", "alice", "--email", "a2@example.fr", "--password", "correct horse"
    )
    assert "at least 8" in fails(
        capsys, "user", "add", "carol", "--email", "c@example.fr", "--password", "short"
    )
    assert "no account" in fails(capsys, "user", "disable", "nobody")


def test_db_commands(cli_env: str) -> None:
    head = migrations.head_revision()
    assert f"revision {head} (up to date)" in ok("db", "current")
    assert f"is at revision {head}" in ok("db", "upgrade")


def test_usage_errors_are_one_line(settings_env: None, capsys: pytest.CaptureFixture[str]) -> None:
    err = fails(capsys, "nas", "add", "x", "--bogus", code=2)
    assert "No such option: --bogus" in err and "sesame nas add --help" in err
    assert "Invalid value for '--status'" in fails(capsys, "user", "list", "--status", "weird", code=2)
    assert "Missing argument" in fails(capsys, "commune", "add", code=2)


def test_configuration_errors_are_one_line(
    settings_env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert "SESAME_SECRET_KEY" in fails(capsys, "nas", "list", code=2)
    monkeypatch.setenv("SESAME_ENVIRONMENT", "development")
    monkeypatch.setenv("SESAME_RADIUS_AUTH_PORT", "x")
    assert "invalid setting SESAME_RADIUS_AUTH_PORT" in fails(capsys, "nas", "list", code=2)
    monkeypatch.delenv("SESAME_RADIUS_AUTH_PORT")
    assert "no configuration file" in fails(capsys, "--config", "/nonexistent.toml", "nas", "list", code=2)


def test_an_unreachable_database_is_one_line(
    settings_env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESAME_ENVIRONMENT", "development")
    monkeypatch.setenv("SESAME_DATABASE_URL", "postgresql://sesame:hunter2@127.0.0.1:1/nowhere")
    err = fails(capsys, "nas", "list", code=3)
    assert "127.0.0.1:1" in err and "hunter2" not in err


def test_a_missing_password_without_a_terminal_is_refused(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "no password given" in fails(capsys, "user", "add", "dave", "--email", "d@example.fr")


def _command_paths(command: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name, sub in getattr(command, "commands", {}).items():
        paths += _command_paths(sub, (*prefix, name))
    return paths


def test_every_command_has_help() -> None:
    paths = _command_paths(typer.main.get_command(app))
    assert ("partner", "server", "add") in paths and ("nas", "add") in paths  # the walk finds them all
    for args in paths:
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output, args
        assert result.output.count("\n") > 3, args  # some help text, not just a usage line


def test_access_point_ranges_may_not_overlap_unless_allowed(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 14, points 6 and 9: `--allow-overlap` is the operator's explicit override (audited with
    the command's parameters); too wide is refused regardless; names are looked up folded."""
    ok("commune", "add", "Valence", "--insee", "26362")
    ok("site", "add", "Médiathèque", "--commune", "26362")
    ok("nas", "add", "ap-1", "--ip", "10.1.0.0/24", "--secret", "testing123", "--site", "MEDIATHEQUE")
    args = ("--secret", "testing123", "--site", "Me\u200bdiathèque")
    assert "overlaps" in fails(capsys, "nas", "add", "ap-2", "--ip", "10.1.0.5", *args)
    assert "overlaps" in fails(capsys, "nas", "add", "ap-2", "--ip", "::ffff:10.1.0.5", *args)
    assert "too wide" in fails(capsys, "nas", "add", "ap-2", "--ip", "0.0.0.0/0", "--allow-overlap", *args)
    assert "added" in ok("nas", "add", "ap-2", "--ip", "10.1.0.5", "--allow-overlap", *args)
    assert "already exists" in fails(capsys, "nas", "add", "AP-2", "--ip", "192.0.2.9", *args)
    assert "already has a site" in fails(capsys, "site", "add", "médiathèque", "--commune", "valence")
    assert "removed" in ok("nas", "remove", "Ap-2")
