"""Stopping a server process that tests or benchmarks started."""

from __future__ import annotations

import subprocess


def stop(proc: subprocess.Popen[bytes] | None, timeout: float) -> None:
    """SIGTERM (a server flushes what it holds), then SIGKILL if it lingers past ``timeout`` seconds;
    nothing for a process already gone."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
