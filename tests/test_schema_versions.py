"""What a version of Sésame does at start with a database schema that is not its own: an older one
is refused on PostgreSQL (an operator runs ``sesame db upgrade``) and upgraded on SQLite; a newer
one — the next release migrated the database during a rolling upgrade — is run against, with a
warning, and left alone; one it cannot place is refused. On both backends; the newer schema is the
one :mod:`tests.support.nextrelease` makes (this checkout's migrations plus an expand-only one).
"""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text

from sesame import migrations
from sesame.db import create_engine
from sesame.settings import get_settings
from sesame.startup import StartupError, prepare_schema
from tests.cli import ok
from tests.support import nextrelease


def _set_revision(url: str, revision: str) -> None:
    """Pretend the schema is at ``revision`` (the tables stay as they are)."""

    async def go() -> None:
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                await connection.execute(text("UPDATE alembic_version SET version_num = :v"), {"v": revision})
        finally:
            await engine.dispose()

    asyncio.run(go())


def test_a_newer_schema_is_run_against_with_a_warning_and_left_alone(
    cli_env: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    nextrelease.migrate(cli_env, tmp_path / "next")
    newer = nextrelease.revision()
    assert migrations.current_revision_sync(cli_env) == newer
    assert migrations.compare(newer) is migrations.Schema.NEWER

    with caplog.at_level(logging.WARNING, logger="sesame"):
        prepare_schema(get_settings())
    assert f"the schema is at revision {newer}, newer than this version's" in caplog.text
    assert migrations.current_revision_sync(cli_env) == newer  # not touched, on SQLite either
    # the old code's commands work on it (they run prepare_schema too)
    ok("user", "add", "zoe", "--email", "zoe@example.fr", "--password", "a long enough password")
    assert "zoe" in ok("user", "list")
    assert f"revision {newer} (newer than this version's" in ok("db", "current")
    assert "nothing to do" in ok("db", "upgrade")
    assert migrations.current_revision_sync(cli_env) == newer


def test_an_older_schema_is_refused_on_postgresql_and_upgraded_on_sqlite(cli_env: str) -> None:
    script = ScriptDirectory.from_config(migrations.alembic_config(""))
    previous = str(script.get_revision(migrations.head_revision() or "").down_revision)  # numbers may skip
    migrations.downgrade(cli_env, previous)
    assert migrations.compare(previous) is migrations.Schema.OLDER
    if cli_env.startswith("sqlite"):
        prepare_schema(get_settings())
        assert migrations.current_revision_sync(cli_env) == migrations.head_revision()
        return
    with pytest.raises(StartupError, match=r"run `sesame db upgrade` first"):
        prepare_schema(get_settings())
    assert migrations.current_revision_sync(cli_env) == previous


@pytest.mark.parametrize("revision", ["0003a", "ffffffffffff", "0000"])
def test_a_schema_this_version_cannot_place_is_refused(cli_env: str, revision: str) -> None:
    _set_revision(cli_env, revision)
    assert migrations.compare(revision) is migrations.Schema.UNKNOWN
    with pytest.raises(StartupError, match=rf"revision {revision}, which this version .* does not know"):
        prepare_schema(get_settings())
    assert migrations.current_revision_sync(cli_env) == revision


@pytest.mark.postgres
def test_hosts_that_upgrade_at_once_migrate_one_after_the_other(empty_postgres: str, tmp_path: Path) -> None:
    """Each host's unit runs ``sesame db upgrade`` before it serves; started together, they must
    not both create the tables (alembic/env.py holds an advisory lock while it migrates)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESAME_")} | {
        "SESAME_ENVIRONMENT": "development",
        "SESAME_DATABASE_URL": empty_postgres,
    }
    command = [sys.executable, "-m", "sesame", "db", "upgrade"]
    hosts = [
        subprocess.Popen(
            command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(3)
    ]
    for host in hosts:
        out, err = host.communicate(timeout=120)
        assert host.returncode == 0, err
        assert f"is at revision {migrations.head_revision()}" in out
    assert migrations.current_revision_sync(empty_postgres) == migrations.head_revision()
