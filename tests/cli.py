"""Running ``sesame`` commands in tests: through typer's runner (output captured) or through
``main`` (which owns error reporting). The ``cli_env`` fixture (tests/conftest.py) points them at
the test's database."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner, Result

from sesame.cli import app, main

CLI_REALM = "wifi.sud.example"
runner = CliRunner()


def invoke(*args: str, input: str | None = None) -> Result:
    """Run a command that must succeed; its result (``stdout`` apart from ``output``)."""
    result = runner.invoke(app, list(args), input=input)
    assert result.exit_code == 0, (result.output, result.exception)
    return result


def ok(*args: str, input: str | None = None) -> str:
    """Run a command that must succeed; what it printed."""
    return invoke(*args, input=input).output


def fails(capsys: pytest.CaptureFixture[str], *args: str, code: int = 1) -> str:
    """Run a command that must fail with one ``error:`` line and ``code``; that line."""
    assert main(list(args)) == code
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "Traceback" not in err
    return err
