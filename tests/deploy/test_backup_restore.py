"""docs/operations.md, "Backups and restore", done as written: a database filled through a running
``sesame serve`` is backed up while it runs (``pg_dump --format=custom``; SQLite's online backup,
``sqlite3 … .backup``), restored into a fresh database, and the restored service answers — the
access point's sealed secret, a device credential's MS-CHAP, a portal token. Restored without its
``SESAME_SECRET_KEY``, the service refuses to start with one clear line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import postgres_database
from tests.deploy.conftest import need_program
from tests.interop.conftest import PASSWORD, REALM, Server, add_valence, launch, need_tool, received
from tests.support.processes import stop

pytestmark = pytest.mark.slow

KEY = "the-key-backed-up-with-the-database-0123456789"
OTHER_KEY = "a-fresh-key-someone-generated-by-mistake-98765"


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """(kind, the live database's URL, the fresh database's URL to restore into)."""
    if request.param == "sqlite":
        yield "sqlite", f"sqlite:///{tmp_path / 'live.db'}", f"sqlite:///{tmp_path / 'restored.db'}"
        return
    with postgres_database("sesame_live") as live, postgres_database("sesame_restored") as fresh:
        yield "postgresql", live, fresh


def _backup(kind: str, url: str, target: Path) -> None:
    """The documented command, run while the service writes."""
    if kind == "sqlite":
        database = str(make_url(url).database)
        subprocess.run(
            [need_program("sqlite3", "sqlite3"), database, f".backup '{target}'"], check=True, timeout=60
        )
    else:
        dump = need_program("pg_dump", "postgresql-client")
        subprocess.run([dump, "--format=custom", f"--file={target}", _libpq(url)], check=True, timeout=120)


def _restore(kind: str, backup: Path, url: str) -> None:
    if kind == "sqlite":
        shutil.copyfile(backup, str(make_url(url).database))
    else:
        restore = need_program("pg_restore", "postgresql-client")
        subprocess.run(
            [restore, "--no-owner", "--exit-on-error", f"--dbname={_libpq(url)}", str(backup)],
            check=True,
            timeout=120,
        )


def _sesame(url: str, key: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESAME_")} | {
        "SESAME_ENVIRONMENT": "development",
        "SESAME_DATABASE_URL": url,
        "SESAME_REALM": REALM,
        "SESAME_SECRET_KEY": key,
    }
    return subprocess.run(
        [sys.executable, "-m", "sesame", *args], env=env, capture_output=True, text=True, timeout=60
    )


def _serve(workdir: Path, url: str) -> Server:
    need_tool("radclient")
    if not url.startswith("sqlite"):  # a server database is migrated by the operator, not at start
        upgraded = _sesame(url, KEY, "db", "upgrade")
        assert upgraded.returncode == 0, upgraded.stderr
    return launch(workdir, url, SESAME_SECRET_KEY=KEY)


def _answers(srv: Server, *, device: str, token: str) -> dict[str, str | None]:
    return {
        "pap": received(srv.radtest("alice", PASSWORD)),
        "mschap": received(srv.radtest("alice", device, method="mschap")),
        "token": received(srv.radtest("alice", token)),
        "wrong password": received(srv.radtest("alice", "not the password")),
    }


def test_a_backup_taken_while_serving_restores_into_a_working_service(
    backend: tuple[str, str, str], tmp_path: Path
) -> None:
    kind, live_url, fresh_url = backend
    (tmp_path / "live").mkdir()
    live = _serve(tmp_path / "live", live_url)
    try:
        add_valence(live)
        device = live.cli("credential", "add", "alice", "--label", "laptop").strip().splitlines()[-1]
        token = (
            live.cli("token", "issue", "alice", "--nas", "local-ap", "--lifetime", "3600")
            .strip()
            .splitlines()[-1]
        )
        assert received(live.radtest("alice", PASSWORD)) == "Access-Accept"
        backup = tmp_path / ("sesame.dump" if kind == "postgresql" else "sesame-backup.db")
        _backup(kind, live_url, backup)  # online: the service is running
    finally:
        stop(live.proc, 30)

    _restore(kind, backup, fresh_url)
    (tmp_path / "restored").mkdir()
    restored = launch(tmp_path / "restored", fresh_url, SESAME_SECRET_KEY=KEY)
    try:
        assert _answers(restored, device=device, token=token) == {
            "pap": "Access-Accept",
            "mschap": "Access-Accept",
            "token": "Access-Accept",  # issued before the backup, never used: it still works once
            "wrong password": "Access-Reject",
        }
    finally:
        stop(restored.proc, 30)

    checked = _sesame(fresh_url, KEY, "secrets", "check")
    assert checked.returncode == 0, checked.stderr
    assert "every stored secret opens under SESAME_SECRET_KEY alone" in checked.stdout


def test_a_restore_without_its_secret_key_refuses_to_start_with_one_clear_line(
    backend: tuple[str, str, str], tmp_path: Path
) -> None:
    kind, live_url, fresh_url = backend
    (tmp_path / "live").mkdir()
    live = _serve(tmp_path / "live", live_url)
    try:
        add_valence(live)
        live.cli("credential", "add", "alice", "--label", "laptop")
    finally:
        stop(live.proc, 30)
    backup = tmp_path / "backup"
    _backup(kind, live_url, backup)
    _restore(kind, backup, fresh_url)

    served = subprocess.run(
        [sys.executable, "-m", "sesame", "serve"],
        env=live.env | {"SESAME_DATABASE_URL": fresh_url, "SESAME_SECRET_KEY": OTHER_KEY},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert served.returncode != 0
    assert "Traceback" not in served.stderr
    (line,) = [x for x in served.stderr.splitlines() if x.startswith("error: ")]
    assert "do not open under SESAME_SECRET_KEY" in line and "backed up with this database" in line

    checked = _sesame(fresh_url, OTHER_KEY, "secrets", "check")
    assert checked.returncode == 3
    assert "Traceback" not in checked.stderr
    assert "access point secrets: 0 under the current key, 0 to re-seal, 1 UNREADABLE" in checked.stdout
