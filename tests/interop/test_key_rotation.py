"""Rotating ``SESAME_SECRET_KEY`` as docs/operations.md says, against a real ``sesame serve`` and
radclient: restarted with the new key and the old one as ``SESAME_SECRET_KEY_PREVIOUS``, it keeps
answering while ``sesame secrets rotate`` re-seals the stored secrets; afterwards it runs on the
new key alone, and the old key alone no longer opens anything. On SQLite and PostgreSQL."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import postgres_database
from tests.interop.conftest import PASSWORD, Server, add_valence, launch, need_tool, received
from tests.support.processes import stop

pytestmark = pytest.mark.slow

OLD = "the-old-secret-key-being-retired-0123456789abc"
NEW = "the-new-secret-key-from-the-vault-9876543210zy"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'rotation.db'}"
        return
    with postgres_database("sesame_rot") as url:
        yield url


def _start(workdir: Path, url: str, *keys: str) -> Server:
    settings = {"SESAME_SECRET_KEY": keys[0]} | (
        {"SESAME_SECRET_KEY_PREVIOUS": keys[1]} if len(keys) > 1 else {}
    )
    return launch(workdir, url, **settings)


def _cli(srv: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sesame", *args],
        env=srv.env,
        cwd=srv.workdir,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_service_keeps_answering_while_the_secrets_are_re_sealed(database: str, tmp_path: Path) -> None:
    need_tool("radclient")
    first = tmp_path / "first"
    first.mkdir()
    srv = _bootstrap(first, database)
    try:
        add_valence(srv)
        device = srv.cli("credential", "add", "alice", "--label", "laptop").strip().splitlines()[-1]
        for n in range(7):  # rows for several batches
            srv.cli("credential", "add", "alice", "--label", f"device {n}")
    finally:
        stop(srv.proc, 30)

    window = tmp_path / "window"
    window.mkdir()
    srv = _start(window, database, NEW, OLD)  # the new key first, the old one still accepted
    answers: Counter[str | None] = Counter()
    done = threading.Event()

    def keep_asking() -> None:
        while not done.is_set():
            answers[received(srv.radtest("alice", PASSWORD))] += 1
            answers[received(srv.radtest("alice", device, method="mschap"))] += 1

    asker = threading.Thread(target=keep_asking)
    try:
        asker.start()
        while sum(answers.values()) < 2:  # asking before the rotation starts
            done.wait(0.05)
        rotated = _cli(srv, "secrets", "rotate", "--batch-size", "2")
        asked_by_then = sum(answers.values())
        while sum(answers.values()) < asked_by_then + 2:  # and after it ended
            done.wait(0.05)
        done.set()
        asker.join()
        assert rotated.returncode == 0, rotated.stderr
        assert "device credentials (NT hashes): 0 under the current key, 8 re-sealed" in rotated.stdout
        assert "access point secrets: 0 under the current key, 1 re-sealed" in rotated.stdout
        assert set(answers) == {"Access-Accept"}, answers
    finally:
        done.set()
        stop(srv.proc, 30)

    after = tmp_path / "after"
    after.mkdir()
    srv = _start(after, database, NEW)  # the previous key removed
    try:
        checked = _cli(srv, "secrets", "check")
        assert checked.returncode == 0, checked.stdout + checked.stderr
        assert "every stored secret opens under SESAME_SECRET_KEY alone" in checked.stdout
        assert received(srv.radtest("alice", PASSWORD)) == "Access-Accept"
        assert received(srv.radtest("alice", device, method="mschap")) == "Access-Accept"
        old_only = subprocess.run(
            [sys.executable, "-m", "sesame", "serve"],
            env=srv.env | {"SESAME_SECRET_KEY": OLD},
            cwd=after,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert old_only.returncode != 0 and "do not open under SESAME_SECRET_KEY" in old_only.stderr
    finally:
        stop(srv.proc, 30)


def _bootstrap(workdir: Path, url: str) -> Server:
    """The service before the rotation, on the old key; a PostgreSQL database migrated first."""
    if not url.startswith("sqlite"):
        env = {k: v for k, v in os.environ.items() if not k.startswith("SESAME_")} | {
            "SESAME_ENVIRONMENT": "development",
            "SESAME_DATABASE_URL": url,
            "SESAME_SECRET_KEY": OLD,
        }
        subprocess.run([sys.executable, "-m", "sesame", "db", "upgrade"], env=env, check=True, timeout=120)
    return _start(workdir, url, OLD)
