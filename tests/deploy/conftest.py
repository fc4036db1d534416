"""What the tests of deploy/ share: the Debian programs they drive (installed by ``.ci/run``), and
the deploy folder itself."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.conftest import IN_CI

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"


def need_program(name: str, package: str) -> str:
    """The path of ``name``; without it the test is skipped on a workstation and fails in CI."""
    path = shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/sbin") / name) if p.exists()), None
    )
    if path is None:
        message = f"{name} (Debian {package}) is needed to test deploy/"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


def substitute(text: str, replacements: dict[str, str]) -> str:
    """``text`` with each key replaced, every key required to be there: a test must not go on
    testing a configuration it silently failed to adapt."""
    for old, new in replacements.items():
        assert old in text, f"{old!r} is no longer in the file: update the test"
        text = text.replace(old, new)
    return text
