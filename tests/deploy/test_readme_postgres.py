"""The README's "Point it at PostgreSQL" recipe, run as written (with a role and database of its
own, and ``sesame serve`` left out), against this machine's local cluster: it used to fail with
``role "sesame" does not exist``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import IN_CI
from tests.deploy.conftest import need_program

README = Path(__file__).resolve().parents[2] / "README.md"


def recipe() -> str:
    section = README.read_text().split("## Point it at PostgreSQL", 1)[1]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found, "no shell block under 'Point it at PostgreSQL'"
    return found.group(1)


def test_the_readme_postgresql_recipe_creates_what_it_connects_to(tmp_path: Path) -> None:
    if os.geteuid() != 0:
        message = "the README's recipe runs psql as the postgres system user: root is needed"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    need_program("psql", "postgresql-client")
    name = f"sesame_readme_{os.getpid()}"
    script = recipe()
    assert "sesame serve" in script and "CREATE ROLE sesame" in script
    script = script.replace(".venv/bin/sesame serve\n", "")  # the recipe's last line runs the server
    script = re.sub(r'\bsesame\b(?=[ ;:@/"\n])', name, script.replace(".venv/bin/sesame", "SESAME_BIN"))
    script = script.replace("SESAME_BIN", f"{Path(sys.executable).parent}/sesame")
    # sudo may be missing on a minimal machine: runuser is what it does here, as root
    script = script.replace("sudo -u postgres", "runuser -u postgres --")
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESAME_")}
    try:
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script + 'echo "URL=$SESAME_DATABASE_URL"\n'],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert done.returncode == 0, done.stdout + done.stderr
        url = done.stdout.rsplit("URL=", 1)[1].strip()
        assert url.startswith(f"postgresql://{name}:")
        tables = subprocess.run(
            ["psql", "-X", "-At", url, "-c", "SELECT count(*) FROM alembic_version"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert tables.stdout.strip() == "1", tables.stderr  # `sesame db upgrade` reached it
    finally:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", "psql", "-X", "-q"],
            input=f'DROP DATABASE IF EXISTS "{name}"; DROP ROLE IF EXISTS "{name}";',
            capture_output=True,
            text=True,
            check=False,
        )
