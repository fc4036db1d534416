"""A wheel install (a container image, a non-editable venv) can migrate its database: the wheel
carries the migration scripts as ``sesame/_alembic`` (setup.py). Before, ``sesame.migrations``
looked for ``alembic/`` beside the installed packages — in site-packages, the Alembic library's
own folder."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_carries_the_migrations_and_an_installed_sesame_upgrades_a_database(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        cwd=tmp_path,
        timeout=300,
    )
    (wheel,) = tmp_path.glob("sesame_wifi-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    shipped = sorted(
        n.removeprefix("sesame/_alembic/versions/")
        for n in names
        if n.startswith("sesame/_alembic/versions/")
    )
    assert shipped == sorted(p.name for p in (ROOT / "alembic" / "versions").glob("*.py"))
    assert "sesame/_alembic/env.py" in names
    zipfile.ZipFile(wheel).extractall(tmp_path / "site")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESAME_")}
    env |= {
        "PYTHONPATH": str(tmp_path / "site"),  # before the editable install of the source tree
        "SESAME_ENVIRONMENT": "development",
        "SESAME_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}",
    }
    where = subprocess.run(
        [sys.executable, "-c", "import sesame.migrations as m; print(m.SCRIPT_LOCATION)"],
        check=True, capture_output=True, text=True, cwd=tmp_path, env=env,
    ).stdout.strip()  # fmt: skip
    assert where == str(tmp_path / "site" / "sesame" / "_alembic")
    upgraded = subprocess.run(
        [sys.executable, "-m", "sesame", "db", "upgrade"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    head = sorted(p.name for p in (ROOT / "alembic" / "versions").glob("*.py"))[-1].split("_")[0]
    assert f"is at revision {head}" in upgraded.stdout
