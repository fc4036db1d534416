#!/usr/bin/env python3
"""Soak: does a RADIUS worker's memory level off under a long mixed load?

Seeds the benchmark database (accounts with a password and a remembered device each), starts
``sesame serve`` with its RADIUS workers, and sends for ``--minutes``, side by side at fixed rates:
cached PAP (right password), MAC authentication, wrong passwords for real accounts, unknown users,
a foreign realm, and accounting sessions (Start, Interims, Stop). Every ``--sample`` seconds it
writes the resident memory of each worker process; at the end, the growth per minute over the first
and the second half of the run (a leak grows in both; a cache filling up only in the first).

    .venv/bin/python bench/soak.py --minutes 30 --accounts 10000 --rate 200

Traffic goes to 127.0.0.1 only. Needs the PostgreSQL server at 127.0.0.1:5432 (see README.md).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import freeradius as fr
from auth_targets import SesameTarget
from sesame_seed import BENCH_SECRET

RADLOAD = Path(__file__).with_name("radload.py")


def worker_rss_mib(root: int) -> list[float]:
    """Resident memory of each RADIUS worker process (the spawned children of ``sesame serve``)."""
    sizes = []
    for pid in fr.process_tree(root)[1:]:
        with contextlib.suppress(OSError):
            if b"spawn_main" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                continue  # multiprocessing's resource tracker
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS"):
                    sizes.append(int(line.split()[1]) / 1024)
    return sizes


def loads(host: str, auth: int, acct: int, a: argparse.Namespace) -> list[list[str]]:
    seconds = str(a.minutes * 60)
    base = [sys.executable, str(RADLOAD), "-s", BENCH_SECRET, "-d", seconds, "--timeout", "5", "--json"]
    rate, n, to_auth = str(a.rate), str(a.accounts), f"{host}:{auth}"
    return [
        [*base, to_auth, "--users", n, "--password", fr.PASSWORD, "-r", rate, "--calling-station-id"],
        [*base, to_auth, "--macs", n, "-r", rate],
        [*base, to_auth, "--users", n, "--password", "wrong-guess", "-r", str(a.rate // 4)],
        [*base, to_auth, "--users", "1000000", "--pattern", "nobody{i}@bench.example",
         "--password", "x", "-r", str(a.rate // 4)],
        [*base, to_auth, "--users", "1000000", "--pattern", "visitor{i}@elsewhere.example",
         "--password", "x", "-r", str(a.rate // 4)],
        [*base, f"{host}:{acct}", "--accounting", "--users", n, "-r", rate],
    ]  # fmt: skip


def growth(samples: list[tuple[float, list[float]]]) -> list[float]:
    """MiB per minute of each worker between two samples."""
    (t0, r0), (t1, r1) = samples
    return [(b - a) / ((t1 - t0) / 60) for a, b in zip(r0, r1, strict=False)]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=float, default=30)
    p.add_argument("--accounts", type=int, default=10_000)
    p.add_argument("--rate", type=int, default=200, help="requests/s of each of PAP, MAC and accounting")
    p.add_argument("--workers", type=int, default=2, help="RADIUS worker processes")
    p.add_argument("--sample", type=float, default=30, help="seconds between memory samples")
    p.add_argument("--json-out", type=Path)
    a = p.parse_args(argv)

    fr.ensure_installed()
    with tempfile.TemporaryDirectory(prefix="sesame-soak-") as tmp:
        target = SesameTarget(Path(tmp), a.workers, database="sesame_soak")
        target.prepare("mac", a.accounts)  # accounts with a password and a device each
        host, auth, _ = target.start()
        assert target.proc is not None
        generators = [
            subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
            for cmd in loads(host, auth, target.acct_port, a)
        ]
        start = time.monotonic()
        samples: list[tuple[float, list[float]]] = []
        try:
            while any(g.poll() is None for g in generators):
                rss = worker_rss_mib(target.proc.pid)
                samples.append((time.monotonic() - start, rss))
                print(
                    f"{samples[-1][0] / 60:6.1f} min  " + "  ".join(f"{m:7.1f} MiB" for m in rss), flush=True
                )
                time.sleep(a.sample)
            reports = [json.loads(g.communicate()[0] or "{}") for g in generators]
        finally:
            for g in generators:
                if g.poll() is None:
                    g.kill()
            target.close()
    half = len(samples) // 2
    first, second = growth([samples[1], samples[half]]), growth([samples[half], samples[-1]])
    print("growth MiB/min per worker, first half: " + ", ".join(f"{g:.2f}" for g in first))
    print("growth MiB/min per worker, second half: " + ", ".join(f"{g:.2f}" for g in second))
    for cmd, report in zip(loads(host, auth, 0, a), reports, strict=True):
        kind = " ".join(cmd[cmd.index("--json") + 2 :])
        print(f"{kind}: sent {report.get('sent')}, answered {report.get('replies', report.get('accepts'))}")
    if a.json_out:
        a.json_out.write_text(json.dumps({"samples": samples, "reports": reports}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
