"""The EAP benchmark's CPU accounting counts each process once: a watched tree given as the list
of its processes (Sésame's supervisor and its workers) must not count the workers again under
their parent (the first EAP runs reported twice the CPU per handshake with two workers)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import eapload
from freeradius import pid_cpu_seconds, process_tree

BURN = """
import time
end = time.process_time() + 0.3
while time.process_time() < end:
    pass
"""
# a parent that burns some CPU, starts a child that does the same, and then both sleep
CHILD = BURN + "print('ready', flush=True)\ntime.sleep(60)\n"
FAMILY = (
    BURN
    + "import subprocess, sys\n"
    + f"child = subprocess.Popen([sys.executable, '-c', {CHILD!r}], stdout=subprocess.PIPE)\n"
    + "child.stdout.readline()\n"
    + "print('ready', flush=True)\n"
    + "time.sleep(60)\n"
)


@pytest.fixture
def family() -> Iterator[int]:
    proc = subprocess.Popen([sys.executable, "-c", FAMILY], stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == b"ready"
        yield proc.pid
    finally:
        for pid in reversed(process_tree(proc.pid)):
            subprocess.run(["kill", str(pid)], check=False)
        proc.wait(timeout=10)


def test_a_tree_listed_with_its_descendants_is_counted_once(family: int) -> None:
    tree = process_tree(family)
    assert len(tree) == 2
    time.sleep(0.1)  # both asleep: their CPU no longer moves
    each_once = sum(pid_cpu_seconds(p) for p in tree)
    assert each_once >= 0.5
    watched = eapload.watched_cpu({"server": tree, "one": [family]}, {"server"})
    assert watched["server"] == pytest.approx(each_once, abs=0.02)
    assert watched["one"] == pytest.approx(pid_cpu_seconds(family), abs=0.02)
