"""``sesame serve`` as the benchmarks run it: its environment, started on free loopback ports and
waited for until it answers Status-Server, and stopped.

The authentication benchmark's target (``auth_targets.SesameTarget``, also the accounting and soak
benchmarks') and the proxy benchmark's (``proxy_targets.SesameProxy``) differ only in the database
and the settings they add.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import freeradius as fr
from sesame_seed import BENCH_SECRET, SESAME_KEY

from tests.support import processes
from tests.support.status_server import answers_status_server

HOST = "127.0.0.1"


def environment(database: str, realm: str, extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without its Sésame settings, plus the benchmark's and ``extra``:
    production mode on PostgreSQL database ``database``, RADIUS only, warnings only."""
    return (
        {k: v for k, v in os.environ.items() if not k.startswith(("SESAME_", "PROMETHEUS_"))}
        | {
            "SESAME_ENVIRONMENT": "production",
            "SESAME_SECRET_KEY": SESAME_KEY,
            "SESAME_DATABASE_URL": f"{fr.PG_URL}/{database}",
            "SESAME_REALM": realm,
            "SESAME_LOG_LEVEL": "WARNING",
            "SESAME_WEB_ENABLED": "false",
            "SESAME_METRICS_PORT": "0",  # nothing here scrapes it (and 9812 may be taken)
        }
        | dict(extra)
    )


def sesame(env: Mapping[str, str], workdir: Path, *args: str) -> None:
    """One ``sesame`` command (``db upgrade``, ``partner add``…), which must succeed."""
    subprocess.run(
        [sys.executable, "-m", "sesame", *args], env=env, check=True, capture_output=True, cwd=workdir
    )


def serve(
    env: Mapping[str, str], *, workdir: Path, log: Path, workers: int, within: float
) -> tuple[subprocess.Popen[bytes], int, int]:
    """Start ``sesame serve`` with ``workers`` RADIUS processes on two free ports of 127.0.0.1, its
    output appended to ``log``; return (process, authentication port, accounting port) once it
    answers Status-Server, or stop it and raise RuntimeError after ``within`` seconds."""
    auth, acct = fr.free_udp_port(), fr.free_udp_port()
    settings = {
        "SESAME_RADIUS_BIND": HOST,
        "SESAME_RADIUS_AUTH_PORT": str(auth),
        "SESAME_RADIUS_ACCT_PORT": str(acct),
        "SESAME_RADIUS_WORKERS": str(workers),
    }
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sesame", "serve"],
            env=dict(env) | settings,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + within
    while not answers_status_server(HOST, auth, BENCH_SECRET, timeout=0.5):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop(proc)
            raise RuntimeError(f"Sésame did not start; see {log}")
        time.sleep(0.2)
    return proc, auth, acct


def stop(proc: subprocess.Popen[bytes] | None) -> None:
    """Terminate the server (SIGTERM: it flushes what it holds), killing it after 15 s."""
    processes.stop(proc, 15)
