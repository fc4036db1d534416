"""``sesame serve --radius-workers 2``: worker processes share the ports; a second instance is refused."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.interop.conftest import SECRET, need_tool
from tests.support.ports import free_tcp_port, free_udp_port

pytestmark = pytest.mark.slow


def _children(pid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_two_workers_answer_and_stop_cleanly(tmp_path: Path) -> None:
    radtest = need_tool("radtest")
    auth, acct, web, metrics_port = free_udp_port(), free_udp_port(), free_tcp_port(), free_tcp_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SESAME_", "PROMETHEUS_"))} | {
        "SESAME_ENVIRONMENT": "development",
        "SESAME_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
        "SESAME_REALM": "wifi.workers.example",
        "SESAME_RADIUS_BIND": "127.0.0.1",
        "SESAME_RADIUS_AUTH_PORT": str(auth),
        "SESAME_RADIUS_ACCT_PORT": str(acct),
        "SESAME_WEB_BIND": "127.0.0.1",
        "SESAME_WEB_PORT": str(web),
        "SESAME_METRICS_PORT": str(metrics_port),
    }

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "sesame", *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )

    for args in (
        ("commune", "add", "Die", "--insee", "26113"),
        ("site", "add", "Gare", "--commune", "Die"),
        ("nas", "add", "ap", "--ip", "127.0.0.1", "--secret", SECRET, "--site", "Gare"),
        ("user", "add", "alice", "--email", "a@example.fr", "--password", "correct horse"),
    ):
        assert cli(*args).returncode == 0
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sesame", "serve", "--radius-workers", "2"],
            env=env,
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while log.read_text().count("ready (pid") < 2:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        workers = _children(proc.pid)
        assert len(workers) >= 2
        for _ in range(4):
            reply = subprocess.run(
                [radtest, "alice", "correct horse", f"127.0.0.1:{auth}", "0", SECRET],
                capture_output=True,
                text=True,
                timeout=30,
            ).stdout
            assert "Received Access-Accept" in reply, reply

        second = cli("serve")
        assert second.returncode == 2
        assert (
            f"error: radius: udp port {min(auth, acct)} is already served by another sesame process"
            in second.stderr
        )

        # readiness follows the workers' heartbeats: a worker that stops answering (here: stopped
        # by a signal, as a blocked event loop would be) makes the server not ready, until it answers
        assert _ready(web) == (200, "ok")
        first = int(re.findall(r"radius worker \d ready \(pid (\d+)\)", log.read_text())[0])
        os.kill(first, signal.SIGSTOP)
        try:
            assert _ready(web, until=503) == (503, f"radius worker {_index(log, first)} does not answer")
        finally:
            os.kill(first, signal.SIGCONT)
        assert _ready(web) == (200, "ok")

        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text
        accepted = re.search(r'sesame_radius_decisions_total\{method="pap",result="accept"\} (\S+)', metrics)
        assert accepted and float(accepted.group(1)) == 4.0
    finally:
        proc.terminate()
        assert proc.wait(timeout=30) == 0

    def alive(pid: int) -> str | None:
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except FileNotFoundError:
            return None
        return None if "\nState:\tZ" in status else Path(f"/proc/{pid}/cmdline").read_text()

    deadline = time.monotonic() + 5
    while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert [alive(pid) for pid in workers if alive(pid)] == [], "a worker outlived the server"


def _ready(web: int, *, until: int = 200) -> tuple[int, str]:
    """/readyz's status and what it says of RADIUS, once it is ``until`` (or after 15 s)."""
    deadline = time.monotonic() + 15
    while True:
        answer = httpx.get(f"http://127.0.0.1:{web}/readyz", timeout=5)
        if answer.status_code == until or time.monotonic() > deadline:
            return answer.status_code, answer.json().get("radius", "")
        time.sleep(0.2)


def _index(log: Path, pid: int) -> str:
    found: list[str] = re.findall(rf"radius worker (\d) ready \(pid {pid}\)", log.read_text())
    return found[0]
