"""PostgreSQL clusters of a test's own, made with Debian's tools (``pg_createcluster``,
``pg_basebackup -R``, ``pg_ctlcluster … promote``, ``pg_dropcluster``): a primary, a streaming
standby, stopped, started and promoted as an operator would.

They live beside the machine's default cluster (5432, never touched) on free ports, trust
127.0.0.1 only, start only when asked (``--start-conf manual``) and are dropped at the end. The
tools need root (they run the servers as ``postgres``): ``.ci/run`` runs the tests as root with
Debian's ``postgresql`` installed; elsewhere the tests that need them are skipped, and fail in CI.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

#: trust on the loopback only, replication included (the standby's basebackup and stream)
HBA = """\
local all all trust
host all all 127.0.0.1/32 trust
host replication all 127.0.0.1/32 trust
"""
#: small and fast: test data, not a server to keep (fsync off: the machine does not crash, the
#: servers are stopped or killed, and what they wrote stays in the OS)
SETTINGS = """\
listen_addresses = '127.0.0.1'
fsync = off
shared_buffers = 16MB
max_wal_senders = 4
"""


def missing_tools() -> str | None:
    """Why clusters cannot be made here, or None."""
    for tool in ("pg_createcluster", "pg_ctlcluster", "pg_dropcluster", "runuser"):
        if shutil.which(tool) is None:
            return f"{tool} is missing (Debian postgresql-common, util-linux)"
    if os.geteuid() != 0:
        return "pg_createcluster needs root"
    if not versions():
        return "no PostgreSQL server is installed (Debian postgresql)"
    return None


def versions() -> list[str]:
    root = Path("/usr/lib/postgresql")
    found = [p.name for p in root.iterdir() if (p / "bin" / "postgres").exists()] if root.is_dir() else []
    return sorted(found, key=int)


def _run(*command: str) -> str:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({done.returncode}): {done.stdout}{done.stderr}")
    return done.stdout


@dataclass
class Cluster:
    version: str
    name: str
    port: int

    @property
    def data(self) -> Path:
        return Path(f"/var/lib/postgresql/{self.version}/{self.name}")

    @property
    def config(self) -> Path:
        return Path(f"/etc/postgresql/{self.version}/{self.name}")

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def ctl(self, action: str, *options: str) -> None:
        _run("pg_ctlcluster", "--skip-systemctl-redirect", *options, self.version, self.name, action)

    def start(self) -> None:
        self.ctl("start")
        self.wait_ready()

    def stop(self, mode: str = "fast") -> None:
        self.ctl("stop", "--mode", mode)

    def promote(self) -> None:
        self.ctl("promote")

    def psql(self, sql: str, database: str = "postgres") -> str:
        return _run(
            "psql", "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", "-d", database, "-tAXc", sql
        ).strip()

    def wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            probe = ["pg_isready", "-q", "-h", "127.0.0.1", "-p", str(self.port)]
            if subprocess.run(probe, timeout=10).returncode == 0:
                return
            time.sleep(0.2)
        raise AssertionError(f"cluster {self.name} on {self.port} did not start")

    def drop(self) -> None:
        subprocess.run(
            ["pg_dropcluster", "--stop", self.version, self.name], capture_output=True, timeout=120
        )


def create(name: str, port: int, *, start: bool = True) -> Cluster:
    """A new cluster ``name`` on 127.0.0.1:``port`` (an old one of that name is dropped first)."""
    version = versions()[-1]
    cluster = Cluster(version=version, name=name, port=port)
    cluster.drop()
    _run("pg_createcluster", version, name, "--port", str(port), "--start-conf", "manual")
    (cluster.config / "pg_hba.conf").write_text(HBA)
    (cluster.config / "conf.d" / "sesame-test.conf").write_text(SETTINGS)  # Debian's include_dir
    if start:
        cluster.start()
    return cluster


def create_standby(primary: Cluster, name: str, port: int) -> Cluster:
    """A streaming standby of ``primary``: its own configuration (port), the primary's data by
    ``pg_basebackup -R`` (which writes ``primary_conninfo`` and ``standby.signal``). Returns once
    the primary sees it streaming."""
    standby = create(name, port, start=False)
    for entry in standby.data.iterdir():  # pg_basebackup fills an empty directory of postgres's
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry)
        else:
            entry.unlink()
    _run(
        "runuser", "-u", "postgres", "--",
        "pg_basebackup", "-h", "127.0.0.1", "-p", str(primary.port), "-U", "postgres",
        "-D", str(standby.data), "-R", "-X", "stream", "-c", "fast",
    )  # fmt: skip
    standby.start()
    deadline = time.monotonic() + 60
    while primary.psql("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'") != "1":
        if time.monotonic() > deadline:
            raise AssertionError("the standby does not stream from the primary")
        time.sleep(0.2)
    return standby


def make_synchronous(primary: Cluster) -> None:
    """A commit on ``primary`` returns only once its standby has it: an acknowledged record
    survives the primary's crash (with asynchronous replication the last ones may not)."""
    primary.psql("ALTER SYSTEM SET synchronous_standby_names = '*'")
    primary.psql("SELECT pg_reload_conf()")
