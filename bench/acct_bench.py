"""Side-by-side RADIUS accounting benchmark: Sésame against FreeRADIUS 3.2 on the same machine.

Both write every Accounting-Request into a ``radacct`` table of their own PostgreSQL database and
answer only once it is committed (synchronous_commit as the server has it, ``on`` by default):

* **FreeRADIUS-sql**: Debian's FreeRADIUS 3.2, ``preacct { acct_unique }``, ``accounting { sql }``
  with the stock PostgreSQL ``queries.conf`` (one autocommitted INSERT … ON CONFLICT or UPDATE per
  record, a second one when the first touches no row) on a database made from the stock
  ``schema.sql``; thread pool and rlm_sql pool of ``--fr-threads`` each, opened at start;
* **Sésame-wN**: ``sesame serve`` with N RADIUS worker processes on a migrated database with one
  NAS (127.0.0.1) and ``--users`` accounts; every record becomes a row upsert, group-committed (the
  records that arrive while a transaction commits go together in the next one).

Traffic (``radload.py --accounting``): sessions of a Start, ``--interims`` Interim-Updates and a
Stop, each with a unique Acct-Session-Id, ``--window`` sessions interleaved (two records of one
session are that many records apart); pre-encoded, fresh Request Authenticators, Identifiers in
rotation, a fixed number outstanding for the peak, then an open loop at half of it for latency.

After each target's last measurement its processes are killed (SIGKILL, no chance to flush
anything) and its ``radacct`` is checked against every record radload saw acknowledged: a row for
every acknowledged Start, counters at least those of every acknowledged Interim-Update, and, for
every acknowledged Stop, a closed row with exactly the Stop's final counters.

Usage::

    acct_bench.py                                       # FreeRADIUS-sql, Sésame with 1 and 2 workers
    acct_bench.py --only freeradius --fr-threads 16 --duration 5
    acct_bench.py --sesame-workers 2 --repeat 2 --json-out acct.json
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import auth_bench as ab
import freeradius as fr
from acct_checks import Durability, Wal, checkpoint, current_lsn, pg_value, verify, wal_of
from auth_targets import SesameTarget, database_cpu_seconds
from sesame_seed import BENCH_SECRET
from tables import Columns, heading, number, ratio, row

FR_DATABASE = "sesame_bench_fr_acct"
SESAME_DATABASE = "sesame_bench_acct"


# --------------------------------------------------------------------------------------------------
# Traffic


@dataclass
class Streams:
    """radload's accounting arguments: fresh sessions for every run, and where it lists what was answered."""

    workdir: Path
    users: int
    interims: int
    window: int
    single_use: bool = False
    runs: list[tuple[str, Path]] = field(default_factory=list)  # (Acct-Session-Id prefix, acked file)

    def radload_args(self, offset: int = 0) -> list[str]:
        prefix = f"{uuid.uuid4().hex[:6].upper()}-{len(self.runs)}-"
        acked = self.workdir / f"acked-{prefix}bin"
        self.runs.append((prefix, acked))
        return [
            "--accounting",
            "--users",
            str(self.users),
            "--interims",
            str(self.interims),
            "--window",
            str(self.window),
            "--session-prefix",
            prefix,
            "--acked-out",
            str(acked),
        ]


# --------------------------------------------------------------------------------------------------
# Targets


def kill_tree(pid: int) -> None:
    """SIGKILL a process and all its descendants (they have no chance to write anything more)."""
    for p in reversed(fr.process_tree(pid)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(p, signal.SIGKILL)


class FreeRadiusAcct:
    """Debian's FreeRADIUS 3.2: rlm_sql accounting into PostgreSQL with the stock queries and schema."""

    def __init__(self, workdir: Path, threads: int) -> None:
        self.name = "FreeRADIUS-sql"
        self.database = FR_DATABASE
        self.server = fr.FreeRadius(
            "sql",
            threads=threads,
            database=self.database,
            workdir=workdir / "fr-acct",
            site="site-acct",
            policies=("accounting",),
        )

    def prepare(self, n_users: int) -> None:
        asyncio.run(fr.create_database(self.database))  # a fresh radacct from the stock schema.sql

    def start(self) -> tuple[str, int, str]:
        self.server.start(timeout=120)
        return self.server.host, self.server.acct_port, self.server.secret

    def crash(self) -> None:
        proc, self.server.proc = self.server.proc, None
        if proc is not None:
            kill_tree(proc.pid)
            proc.wait()

    def stop(self) -> None:
        self.server.stop()

    def server_cpu_seconds(self) -> float:
        return self.server.cpu_seconds()

    def database_cpu_seconds(self) -> float:
        return database_cpu_seconds(self.database)

    def close(self) -> None:
        self.server.close()

    def describe(self) -> str:
        n = self.server.threads
        return f"{n} worker threads, {n} SQL connections, stock queries.conf"


class SesameAcct(SesameTarget):
    """``sesame serve`` (RADIUS only) with ``workers`` processes, accounting on its own database."""

    def __init__(self, workdir: Path, workers: int, env: dict[str, str]) -> None:
        super().__init__(workdir, workers, database=SESAME_DATABASE, env=env)

    def prepare(self, n_users: int) -> None:  # type: ignore[override]
        self.make_database("acct", n_users)  # one NAS for 127.0.0.1 and n_users accounts

    def start(self) -> tuple[str, int, str]:
        super().start()
        return "127.0.0.1", self.acct_port, BENCH_SECRET

    def crash(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            kill_tree(proc.pid)
            proc.wait()

    def describe(self) -> str:
        extra = " ".join(f"{k}={v}" for k, v in self.extra_env.items())
        return f"{self.workers} worker process{'es' if self.workers > 1 else ''}" + (
            f", {extra}" if extra else ""
        )


Target = FreeRadiusAcct | SesameAcct


# --------------------------------------------------------------------------------------------------
# Measurements


@dataclass
class AcctMeasurement(ab.Measurement):
    wal: Wal | None = None

    def per_record(self, x: float) -> float:
        return x / self.replies if self.replies else 0.0


@dataclass
class Result:
    target: str
    setup: str = ""
    error: str | None = None
    peak: AcctMeasurement | None = None
    half: AcctMeasurement | None = None
    peaks: list[float] = field(default_factory=list)
    durability: Durability | None = None
    timings: dict[str, float] = field(default_factory=dict)


class Runner:
    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.a = args
        self.workdir = workdir

    def load(self) -> list[str]:
        a = self.a
        return ["--outstanding", str(a.outstanding), "--sockets", str(a.sockets), "--timeout", str(a.timeout)]

    def measure(self, session: ab.Session, extra: list[str], phase: str, database: str) -> AcctMeasurement:
        ab.wait_for_quiet(self.a.quiet_wait)
        checkpoint()
        time.sleep(0.5)
        oid = int(pg_value("SELECT oid FROM pg_database WHERE datname = $1", database))
        lsn0 = current_lsn()
        m = session.measure(extra, phase)
        lsn1 = current_lsn()
        wal = wal_of(oid, lsn0, lsn1) if self.a.wal else None
        return AcctMeasurement(m.phase, m.report, m.server_cpu_s, m.db_cpu_s, m.machine_cpu_s, wal)

    def run_one(self, target: Target) -> Result:
        a = self.a
        result = Result(target.name)
        streams = Streams(self.workdir, a.users, a.interims, a.window)
        database = target.database
        try:
            t = time.monotonic()
            target.prepare(a.users)
            result.timings["prepare_s"] = round(time.monotonic() - t, 2)
            host, port, secret = target.start()
            result.setup = target.describe()
        except (RuntimeError, subprocess.CalledProcessError) as e:
            result.error = f"start: {e}"
            target.stop()
            return result
        try:
            session = ab.Session(target, host, port, secret, streams)  # type: ignore[arg-type]
            duration = ["-d", str(a.duration)]
            warm = session.radload([*self.load(), "-d", str(a.warmup), "--prebuild", "50000"])
            guess = max(float(warm["throughput_rps"]), 500.0)
            prebuild = min(3_000_000, int(guess * a.duration * 1.3) + 20_000)
            for _ in range(a.repeat):
                peak = self.measure(
                    session, [*self.load(), *duration, "--prebuild", str(prebuild)], "peak", database
                )
                result.peaks.append(float(peak.report["throughput_rps"]))
                if not result.peak or peak.report["throughput_rps"] > result.peak.report["throughput_rps"]:
                    result.peak = peak
            assert result.peak
            rate = max(1.0, float(result.peak.report["throughput_rps"]) / 2)
            result.half = self.measure(
                session, [*self.load(), *duration, "--rate", f"{rate:.0f}"], "half", database
            )
        except (RuntimeError, subprocess.TimeoutExpired, ValueError, json.JSONDecodeError) as e:
            result.error = str(e)
        finally:
            target.crash()  # nothing acknowledged may depend on a graceful shutdown
        t = time.monotonic()
        result.durability = verify(database, streams.runs, streams.interims)
        result.timings["verify_s"] = round(time.monotonic() - t, 2)
        for _, path in streams.runs:
            path.unlink(missing_ok=True)
        return result


# --------------------------------------------------------------------------------------------------
# Output

LEGEND = """\
rec/s: Accounting-Responses per second at peak (closed loop), i.e. durable records/s; p50/p99 ms at peak
(closed loop, queueing included) and at half that rate (open loop); server: CPU µs per record of the server
process(es) at peak; +db: of the PostgreSQL backends serving its database; commits/rec, WAL B/rec: from
pg_waldump, the database's own records and its transactions' commits; loadgen: cores used by radload
at peak (µs per reply); other: cores used by anything else (noise) at peak / at half."""

COLUMNS: Columns = (  # header, unit, width
    ("target", "", 15),
    ("rec/s", "peak", 9),
    ("p50/p99 ms", "@peak", 15),
    ("p50/p99 ms", "@½ peak", 14),
    ("server", "µs/rec", 8),
    ("+db", "µs/rec", 8),
    ("commits", "/rec", 8),
    ("WAL", "B/rec", 7),
    ("loadgen", "cores (µs)", 13),
    ("other", "cores pk/½", 11),
)


def _lat(m: AcctMeasurement) -> str:
    lat = m.report["latency_ms"]
    return f"{lat.get('p50', 0):.2f}/{lat.get('p99', 0):.2f}"


def table(results: list[Result], a: argparse.Namespace) -> str:
    title = (
        f"Accounting: sessions of Start + {a.interims} Interim-Update + Stop, {a.users:,} users, "
        f"{a.outstanding} outstanding at peak, {a.duration:g} s per measurement"
    )
    lines = heading(title, COLUMNS)
    for r in results:
        if not r.peak or not r.half:
            lines.append(row(COLUMNS, [r.target, "—"]) + f"  {r.error or 'no result'}")
            continue
        p, h = r.peak, r.half
        notes = [r.setup]
        if len(r.peaks) > 1:
            notes.append("peaks " + ", ".join(f"{x:,.0f}" for x in r.peaks))
        lost = p.report["lost"] + h.report["lost"]
        if lost:
            notes.append(f"lost {p.report['lost']} at peak, {h.report['lost']} at ½")
        if r.error:
            notes.append(r.error)
        wal = p.wal
        lines.append(
            row(
                COLUMNS,
                [
                    r.target,
                    number(p.report["throughput_rps"]),
                    _lat(p),
                    _lat(h),
                    number(p.per_request_us(p.server_cpu_s)),
                    number(p.per_request_us(p.db_cpu_s)),
                    f"{p.per_record(wal.commits):.3f}" if wal else "-",
                    number(p.per_record(wal.bytes)) if wal else "-",
                    f"{p.report['loadgen_cpu_cores']:.2f} ({p.report['loadgen_cpu_us_per_reply']:.0f})",
                    f"{p.other_cores:.2f}/{h.other_cores:.2f}",
                ],
            )
            + "  "
            + "; ".join(x for x in notes if x)
        )
    ref = next((r for r in results if r.target.startswith("FreeRADIUS") and r.peak and r.half), None)
    for r in results:
        if r is ref or not (r.peak and r.half and ref and ref.peak and ref.half):
            continue
        p, h, rp, rh = r.peak, r.half, ref.peak, ref.half
        lines.append(
            f"{r.target} / {ref.target}: rec/s "
            + ratio(p.report["throughput_rps"], rp.report["throughput_rps"])
            + ", p50 @½ "
            + ratio(h.report["latency_ms"]["p50"], rh.report["latency_ms"]["p50"])
            + ", p99 @½ "
            + ratio(h.report["latency_ms"]["p99"], rh.report["latency_ms"]["p99"])
            + ", server CPU/rec "
            + ratio(p.per_request_us(p.server_cpu_s), rp.per_request_us(rp.server_cpu_s))
            + ", server+db CPU/rec "
            + ratio(
                p.per_request_us(p.server_cpu_s + p.db_cpu_s),
                rp.per_request_us(rp.server_cpu_s + rp.db_cpu_s),
            )
        )
    lines.append("")
    lines.append(
        "Durability (server killed with SIGKILL, then its radacct checked against every acknowledged record):"
    )
    for r in results:
        d = r.durability
        if d is None:
            continue
        ack, ok = d.acked, d.ok
        lines.append(
            f"  {r.target}: {'OK' if d.passed else 'FAILED'}: acknowledged Start {ack.get('start', 0):,} → "
            f"{ok.get('start', 0):,} rows; Interim {ack.get('interim', 0):,} → {ok.get('interim', 0):,} with "
            f"counters ≥; Stop {ack.get('stop', 0):,} → {ok.get('stop', 0):,} closed with the exact final "
            f"counters; {ack.get('complete sessions', 0):,} complete sessions; radacct rows {d.rows:,}, "
            f"closed {d.closed_rows:,}"
        )
    walled = [r for r in results if r.peak and r.peak.wal]
    if walled:
        lines.append("")
        lines.append("WAL records at peak per acknowledged record (the database's own, commits included):")
        for r in walled:
            assert r.peak and r.peak.wal
            wal, n = r.peak.wal, max(1, r.peak.replies)
            kinds = [f"{k} {v / n:.2f}" for k, v in wal.kinds.items()]
            lines.append(
                f"  {r.target}: {wal.records / n:.2f} records ({wal.fpi_records / n:.3f} with a full-page "
                "image): " + ", ".join(kinds)
            )
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------------
# Command line


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description="Sésame vs FreeRADIUS 3.2 accounting benchmark (radacct in PostgreSQL)."
    )
    p.add_argument("--only", action="append", choices=("freeradius", "sesame"), help="targets (repeatable)")
    p.add_argument(
        "--fr-threads",
        type=int,
        default=8,
        help="FreeRADIUS worker threads = rlm_sql connections (default %(default)s: best measured, 2 cores)",
    )
    p.add_argument(
        "--users", type=int, default=10_000, help="User-Names cycled over (Sésame has the accounts)"
    )
    p.add_argument(
        "--interims", type=int, default=3, help="Interim-Updates per session (default %(default)s)"
    )
    p.add_argument(
        "--window",
        type=int,
        default=1024,
        help="sessions interleaved: a session's records are this many apart (default %(default)s)",
    )
    p.add_argument("--no-wal", dest="wal", action="store_false", help="skip the pg_waldump analysis")
    ab.add_run_arguments(p, timeout=3.0)
    p.set_defaults(sesame_workers="1,2")
    a = p.parse_args(argv)

    only = set(a.only or ("freeradius", "sesame"))
    env = ab.sesame_env(a)
    tmp = None if a.workdir else tempfile.TemporaryDirectory(prefix="sesame-acct-bench-")
    workdir = a.workdir or Path(tmp.name if tmp else ".")
    workdir.mkdir(parents=True, exist_ok=True)
    targets: list[Target] = []
    if "freeradius" in only:
        targets.append(FreeRadiusAcct(workdir, a.fr_threads))
    if "sesame" in only:
        targets += [SesameAcct(workdir, n, env) for n in ab.sesame_workers(a)]

    print(
        f"{os.cpu_count()} cores; {a.duration:g} s per measurement after {a.warmup:g} s of warm-up; "
        f"PostgreSQL synchronous_commit={pg_value('SHOW synchronous_commit')}",
        flush=True,
    )
    print(LEGEND, flush=True)
    runner = Runner(a, workdir)
    results: list[Result] = []
    try:
        for target in targets:
            print(f"… {target.name}", file=sys.stderr, flush=True)
            results.append(runner.run_one(target))
    finally:
        for target in targets:
            target.close()
        if tmp:
            tmp.cleanup()
    print(table(results, a), flush=True)
    if a.json_out:
        a.json_out.write_text(json.dumps([asdict(r) for r in results], indent=1, default=str))
    return 0 if all(r.durability and r.durability.passed for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
