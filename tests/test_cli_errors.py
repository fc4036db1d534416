"""The command line tells a database it cannot reach from a file it cannot read and from the
network: each has its own one-line message and exit code (every ``OSError`` was "database")."""

from __future__ import annotations

import errno
import socket
from pathlib import Path

import pytest

from sesame.cli import EXIT_DATABASE, EXIT_FILE, EXIT_NETWORK, os_error_exit
from tests.cli import fails


@pytest.fixture
def development(settings_env: None, monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    monkeypatch.setenv("SESAME_ENVIRONMENT", "development")
    return monkeypatch


@pytest.mark.parametrize(
    ("url", "shown", "why"),
    [
        ("postgresql://sesame:hunter2@127.0.0.1:1/nowhere", "127.0.0.1:1", "Connection refused"),
        ("postgresql://sesame:hunter2@db.invalid:5432/x", "db.invalid", ""),  # the resolver's words
        ("sqlite+aiosqlite:////nonexistent-dir/sesame.db", "/nonexistent-dir/sesame.db", "unable to open"),
    ],
)
@pytest.mark.parametrize("command", [("nas", "list"), ("db", "current"), ("session", "disconnect", "1")])
def test_a_database_that_cannot_be_reached_is_a_database_error(
    development: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    url: str,
    shown: str,
    why: str,
    command: tuple[str, ...],
) -> None:
    development.setenv("SESAME_DATABASE_URL", url)
    err = fails(capsys, *command, code=EXIT_DATABASE)
    assert err.startswith("error: database ") and shown in err and why in err
    assert "hunter2" not in err


@pytest.mark.postgres
def test_a_database_that_refuses_us_is_a_database_error(
    development: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], empty_postgres: str
) -> None:
    development.setenv("SESAME_DATABASE_URL", empty_postgres.rsplit("/", 1)[0] + "/no_such_database")
    err = fails(capsys, "nas", "list", code=EXIT_DATABASE)
    assert "no_such_database" in err and "does not exist" in err


def test_a_file_that_cannot_be_read_is_a_file_error(
    development: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    unreadable = Path("/proc/self/mem")  # exists, is a file, passes the access check; reading fails (EIO)
    if not unreadable.exists():
        pytest.skip("needs Linux's /proc")
    err = fails(
        capsys, "brand", "set", "--commune", "Valence", "--terms-file", str(unreadable), code=EXIT_FILE
    )
    assert err == "error: /proc/self/mem: cannot read the terms of use: Input/output error\n"


@pytest.mark.parametrize(
    ("error", "line", "code"),
    [
        (FileNotFoundError(errno.ENOENT, "No such file or directory", "/etc/x.pem"),
         "/etc/x.pem: No such file or directory", EXIT_FILE),
        (PermissionError(errno.EACCES, "Permission denied", "/var/lib/sesame"),
         "/var/lib/sesame: Permission denied", EXIT_FILE),
        (ConnectionRefusedError(errno.ECONNREFUSED, "Connect call failed ('192.0.2.1', 3799)"),
         "network: Connection refused", EXIT_NETWORK),
        (socket.gaierror(socket.EAI_NONAME, "Name or service not known"),
         "network: Name or service not known", EXIT_NETWORK),
        (TimeoutError(), "network: timed out", EXIT_NETWORK),
        (OSError(errno.EHOSTUNREACH, "No route to host"), "network: No route to host", EXIT_NETWORK),
        (OSError(errno.ENOMEM, "Cannot allocate memory"), "Cannot allocate memory", 1),
    ],
)  # fmt: skip
def test_other_os_errors_say_whether_a_file_or_the_network_failed(
    error: OSError, line: str, code: int
) -> None:
    assert os_error_exit(error) == (line, code)
