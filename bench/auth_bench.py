"""Side-by-side RADIUS authentication benchmark: Sésame against FreeRADIUS 3.2 on the same machine.

For each scenario and each number of accounts, every target is prepared, started, warmed up, driven by
``radload.py`` at its maximum rate (closed loop) and then at half of that rate (open loop, for
latency), and stopped. The server's CPU time is read from /proc before and after each measurement,
and so is that of the PostgreSQL processes serving its database, so the cost per request can be
compared, not just the rate.

Scenarios:

* ``pap``: PAP with a password that the server verifies cheaply (FreeRADIUS: Cleartext-Password;
  Sésame: its cached verifier);
* ``mac``: MAC authentication as CoovaChilli sends it (User-Name = password = the MAC);
* ``token``: PAP with a single-use token as password (Sésame consumes each token; FreeRADIUS has no
  such thing, so it runs plain PAP against radcheck rows holding the tokens, its nearest equivalent).

Usage::

    auth_bench.py --only freeradius                 # 10k accounts, every scenario
    auth_bench.py --sizes 10k,1M --duration 20 --json-out results.json
    auth_bench.py --only freeradius-sql --scenarios mac --duration 5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from auth_targets import RADLOAD, Credentials, FreeRadiusTarget, SesameTarget, Target
from tables import Columns, heading, number, ratio, row

SCENARIO_TITLES = {
    "pap": "cached-password PAP",
    "mac": "MAC authentication (CoovaChilli style)",
    "token": "single-use-token PAP",
}


# --------------------------------------------------------------------------------------------------
# Measurements


def machine_busy_seconds() -> float:
    """CPU seconds spent by the whole machine (all cores, all processes) since boot."""
    values = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


@dataclass
class Measurement:
    phase: str  # "peak" or "half"
    report: dict[str, Any]
    server_cpu_s: float
    db_cpu_s: float
    machine_cpu_s: float

    @property
    def replies(self) -> int:
        return int(self.report["replies"])

    def per_request_us(self, cpu: float) -> float:
        return cpu / self.replies * 1e6 if self.replies else 0.0

    @property
    def other_cores(self) -> float:
        """Cores used by everything else on the machine during the run: noise in the figures."""
        loadgen, duration = float(self.report["loadgen_cpu_s"]), float(self.report["duration_s"])
        rest = self.machine_cpu_s - self.server_cpu_s - self.db_cpu_s - loadgen
        return max(0.0, rest / max(1e-9, duration))


@dataclass
class Result:
    scenario: str
    n_users: int
    target: str
    setup: str = ""
    error: str | None = None
    note: str = ""
    peak: Measurement | None = None
    half: Measurement | None = None
    # latency at FreeRADIUS-sql's half-load rate (the same offered load for both; Sésame only)
    same_rate: Measurement | None = None
    timings: dict[str, float] = field(default_factory=dict)


def radload(
    host: str, port: int, secret: str, creds: Credentials, extra: list[str], *, offset: int = 0
) -> dict[str, Any]:
    cmd = [sys.executable, str(RADLOAD), f"{host}:{port}", "-s", secret, "--json"]
    cmd += creds.radload_args(offset) + extra
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=900)
    if out.returncode:
        raise RuntimeError(f"radload failed ({out.returncode}): {out.stderr.strip()}")
    report: dict[str, Any] = json.loads(out.stdout)
    return report


def wait_for_quiet(max_wait: float, threshold: float = 0.25) -> float:
    """Wait (up to max_wait s) until the machine uses under ``threshold`` cores; return that load."""
    deadline = time.monotonic() + max_wait
    while True:
        b0 = machine_busy_seconds()
        time.sleep(1.0)
        load = machine_busy_seconds() - b0
        if load < threshold or time.monotonic() >= deadline:
            return load


@dataclass
class Session:
    """A started target and what radload needs to reach it."""

    target: Target
    host: str
    port: int
    secret: str
    creds: Credentials
    offset: int = 0  # single-use credentials: the first one not yet handed to radload

    def radload(self, extra: list[str]) -> dict[str, Any]:
        report = radload(self.host, self.port, self.secret, self.creds, extra, offset=self.offset)
        self.offset += report["encoded_total"]
        return report

    def measure(self, extra: list[str], phase: str) -> Measurement:
        t = self.target
        s0, d0, m0 = t.server_cpu_seconds(), t.database_cpu_seconds(), machine_busy_seconds()
        report = self.radload(extra)
        s1, d1, m1 = t.server_cpu_seconds(), t.database_cpu_seconds(), machine_busy_seconds()
        # the machine counter also covers radload's encoding before its clock starts: take it out
        return Measurement(phase, report, s1 - s0, d1 - d0, m1 - m0 - report["prebuild_cpu_s"])


@dataclass
class Flood:
    process: subprocess.Popen[str]
    rate: float
    report: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        r = self.report
        if not r:
            return f"guess flood {self.rate:g}/s: no report"
        return (
            f"during a guess flood of {self.rate:g}/s: {r.get('rejects', 0)} rejected, "
            f"{r.get('lost', 0)} unanswered (dropped by the verification bound), "
            f"its p99 {r.get('latency_ms', {}).get('p99', 0):.0f} ms"
        )


@contextlib.contextmanager
def guess_flood(session: Session, rate: float, duration: float) -> Iterator[Flood | None]:
    """Wrong passwords at ``rate`` per second beside the measurement, each a full argon2id check.

    The names are unknown (``guess{i}``), which costs the server the same argon2id verification
    as a real account's wrong password would at the production cost (the benchmark's accounts
    share a cheap hash, which a guess would not make the server work for). Each request comes
    from a new Calling-Station-Id, as a guesser cycling MACs would: per-device limits do not stop
    it. Keep ``rate × duration`` under the NAS's limit (600 in 5 min) to measure the verification
    pool rather than the limit."""
    if rate <= 0 or not isinstance(session.target, SesameTarget):
        yield None
        return
    cmd = [sys.executable, str(RADLOAD), f"{session.host}:{session.port}", "-s", session.secret, "--json"]
    cmd += ["--users", "1000000", "--pattern", "guess{i}@bench.example", "--password", "wrong guess"]
    cmd += ["--calling-station-id", "--rate", f"{rate:g}", "-d", f"{duration:g}", "--sockets", "4"]
    cmd += ["--timeout", "10", "--prebuild", str(int(rate * duration) + 100)]
    flood = Flood(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True), rate)
    try:
        yield flood
    finally:
        out, _ = flood.process.communicate(timeout=duration + 120)
        with contextlib.suppress(ValueError):
            flood.report = json.loads(out)


class Runner:
    def __init__(self, args: argparse.Namespace) -> None:
        self.a = args

    def run_one(
        self, target: Target, scenario: str, n_users: int, *, reference_rate: float | None = None
    ) -> Result:
        """``reference_rate``: FreeRADIUS-sql's half-load rate, at which the latency is measured again."""
        result = Result(scenario, n_users, target.name)
        try:
            t = time.monotonic()
            creds = target.prepare(scenario, n_users, tokens=int(self.a.token_budget))
            result.timings["prepare_s"] = round(time.monotonic() - t, 2)
            t = time.monotonic()
            host, port, secret = target.start()
            result.timings["start_s"] = round(time.monotonic() - t, 2)
        except NotImplementedError as e:
            result.error = str(e)
            return result
        try:
            result.setup = target.describe()
            self.measure(Session(target, host, port, secret, creds), result, reference_rate)
            memory = getattr(target, "memory", None)
            if memory is not None:
                result.note = "; ".join(x for x in (result.note, memory()) if x)
        except (RuntimeError, subprocess.TimeoutExpired, ValueError) as e:
            result.error = str(e)
        finally:
            target.stop()
        if scenario == "token" and target.name.startswith("FreeRADIUS"):
            where = "radcheck" if target.name.endswith("sql") else "the users file"
            result.note = result.note or f"plain PAP against {where} (FreeRADIUS has no single-use tokens)"
        return result

    def measure(self, session: Session, result: Result, reference_rate: float | None = None) -> None:
        """Warm up; peak (closed loop, best of --repeat); then half of that peak (open loop); then,
        if given, the reference rate (open loop)."""
        a = self.a
        load = ["--outstanding", str(a.outstanding), "--sockets", str(a.sockets), "--timeout", str(a.timeout)]
        duration = ["-d", str(a.duration)]
        warm = session.radload([*load, "-d", str(a.warmup), "--prebuild", "50000"])
        guess = max(warm["throughput_rps"], 1000.0)
        prebuild = min(3_000_000, int(guess * a.duration * 1.3) + 20_000)
        if session.creds.single_use:
            prebuild = min(prebuild, int(a.token_budget))
        for _ in range(a.repeat):
            wait_for_quiet(a.quiet_wait)
            peak = session.measure([*load, *duration, "--prebuild", str(prebuild)], "peak")
            if not result.peak or peak.report["throughput_rps"] > result.peak.report["throughput_rps"]:
                result.peak = peak
        assert result.peak
        rate = a.half_rate or max(1.0, result.peak.report["throughput_rps"] / 2)
        wait_for_quiet(a.quiet_wait)
        with guess_flood(session, a.guess_flood, a.duration) as flood:
            result.half = session.measure([*load, *duration, "--rate", f"{rate:.0f}"], "half")
        if flood:
            result.note = "; ".join(x for x in (result.note, flood.summary()) if x)
        if reference_rate:
            wait_for_quiet(a.quiet_wait)
            result.same_rate = session.measure(
                [*load, *duration, "--rate", f"{reference_rate:.0f}"], "same-rate"
            )
        if any(m.report["exhausted"] for m in (result.peak, result.half, result.same_rate) if m):
            result.note = f"ran out of single-use tokens ({int(a.token_budget)}): raise --token-budget"


# --------------------------------------------------------------------------------------------------
# Output


LEGEND = """\
auth/s: replies per second at peak (closed loop); p50/p99: latency at half that rate (open loop);
server: CPU µs per request of the server process(es) at peak; +db: of the PostgreSQL processes serving
its database; loadgen: cores used by radload at peak; other: cores used by anything else on the machine
(noise) during the peak and the half-load runs."""

COLUMNS: Columns = (  # header, unit, width
    ("target", "", 18),
    ("auth/s", "peak", 9),
    ("p50 ms", "@½ peak", 9),
    ("p99 ms", "@½ peak", 9),
    ("server", "µs/req", 9),
    ("+db", "µs/req", 8),
    ("accept", "%", 8),
    ("loadgen", "cores", 9),  # at peak
    ("other", "cores pk/½", 11),
)


def table(results: list[Result]) -> str:
    r0 = results[0]
    lines = heading(f"{SCENARIO_TITLES[r0.scenario]}, {r0.n_users:,} accounts", COLUMNS)
    for r in results:
        if r.error or not r.peak or not r.half:
            lines.append(row(COLUMNS, [r.target, "—"]) + f"  {r.error or 'no result'}")
            continue
        p, h = r.peak, r.half
        notes = "; ".join(x for x in (r.setup, r.note) if x)
        if p.report["lost"] or h.report["lost"]:
            notes += f"; lost {p.report['lost']} at peak, {h.report['lost']} at ½"
        cells = [
            r.target,
            number(p.report["throughput_rps"]),
            number(h.report["latency_ms"].get("p50"), 2),
            number(h.report["latency_ms"].get("p99"), 2),
            number(p.per_request_us(p.server_cpu_s)),
            number(p.per_request_us(p.db_cpu_s)),
            number(100.0 * p.report["accepts"] / max(1, p.replies), 1),
            number(p.report["loadgen_cpu_cores"], 2),
            f"{p.other_cores:.2f}/{h.other_cores:.2f}",
        ]
        lines.append(row(COLUMNS, cells) + f"  {notes}")
    ref = next((r for r in results if r.target == "FreeRADIUS-sql"), None)
    for ses in (r for r in results if r.target.startswith("Sésame")):
        lines += _against_sql(ses, ref)
    return "\n".join(lines)


def _against_sql(ses: Result, ref: Result | None) -> list[str]:
    """A Sésame target's ratio line to FreeRADIUS-sql, and its latency at FreeRADIUS-sql's ½ load."""
    if not (ses.peak and ses.half and ref and ref.peak and ref.half):
        return [f"{ses.target} / FreeRADIUS-sql: - (both must have run)"]
    lines = [
        f"{ses.target} / FreeRADIUS-sql: auth/s "
        + ratio(ses.peak.report["throughput_rps"], ref.peak.report["throughput_rps"])
        + ", p50 "
        + ratio(ses.half.report["latency_ms"].get("p50"), ref.half.report["latency_ms"].get("p50"))
        + ", p99 "
        + ratio(ses.half.report["latency_ms"].get("p99"), ref.half.report["latency_ms"].get("p99"))
        + ", server CPU/req "
        + ratio(
            ses.peak.per_request_us(ses.peak.server_cpu_s), ref.peak.per_request_us(ref.peak.server_cpu_s)
        )
        + ", server+db CPU/req "
        + ratio(
            ses.peak.per_request_us(ses.peak.server_cpu_s + ses.peak.db_cpu_s),
            ref.peak.per_request_us(ref.peak.server_cpu_s + ref.peak.db_cpu_s),
        )
    ]
    if ses.same_rate and ses.same_rate.report["latency_ms"] and ref.half.report["latency_ms"]:
        same, sql = ses.same_rate.report, ref.half.report
        lines.append(
            f"At FreeRADIUS-sql's ½ load ({sql['throughput_rps']:,.0f}/s) {ses.target}'s p50/p99: "
            f"{same['latency_ms']['p50']:.2f}/{same['latency_ms']['p99']:.2f} ms "
            f"(FreeRADIUS-sql {sql['latency_ms']['p50']:.2f}/{sql['latency_ms']['p99']:.2f})"
        )
    return lines


def parse_size(text: str) -> int:
    text = text.strip().lower()
    mult = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * mult)


TARGETS = ("freeradius-sql", "freeradius-files", "sesame")


def add_run_arguments(p: argparse.ArgumentParser, *, timeout: float) -> None:
    """The options every side-by-side benchmark takes (load, repetition, Sésame settings, output)."""
    p.add_argument(
        "--duration", type=float, default=10.0, help="seconds per measurement (default %(default)s)"
    )
    p.add_argument("--warmup", type=float, default=3.0, help="seconds of warm-up load (default %(default)s)")
    p.add_argument("--outstanding", type=int, default=512, help="requests in flight at peak")
    p.add_argument("--sockets", type=int, default=16)
    p.add_argument("--timeout", type=float, default=timeout)
    p.add_argument("--repeat", type=int, default=1, help="peak runs per target, the best is kept")
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=20.0,
        help="before each measurement, wait up to this long for other load on the machine to stop",
    )
    p.add_argument(
        "--sesame-env",
        action="append",
        default=[],
        metavar="SESAME_X=V",
        help="extra setting for Sésame (repeatable), e.g. SESAME_RADIUS_CONCURRENCY=64",
    )
    p.add_argument(
        "--sesame-workers",
        default="2",
        help="Sésame RADIUS worker processes, comma-separated: one run each, e.g. 1,2 (default %(default)s)",
    )
    p.add_argument("--workdir", type=Path, help="keep configurations, logs and credentials here")
    p.add_argument("--json-out", type=Path, help="write every measurement as JSON")


def sesame_env(a: argparse.Namespace) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in a.sesame_env)


def sesame_workers(a: argparse.Namespace) -> list[int]:
    return [int(n) for n in a.sesame_workers.split(",") if n.strip()]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Sésame vs FreeRADIUS 3.2 authentication benchmark.")
    p.add_argument("--scenarios", default="pap,mac,token", help="comma-separated: pap, mac, token")
    p.add_argument("--sizes", default="10k", help="numbers of accounts, e.g. 10k,1M (default %(default)s)")
    p.add_argument(
        "--only",
        action="append",
        choices=("freeradius", *TARGETS),
        help="targets to run (repeatable; 'freeradius' = both FreeRADIUS back-ends); default all",
    )
    p.add_argument("--threads", type=int, default=0, help="FreeRADIUS workers (default: tuned per back-end)")
    p.add_argument("--token-budget", type=float, default=600_000, help="single-use tokens minted per run")
    p.add_argument(
        "--guess-flood",
        type=float,
        default=0.0,
        metavar="RATE",
        help="Sésame: wrong passwords per second (each an argon2id check) during the latency measurement",
    )
    p.add_argument(
        "--half-rate", type=float, default=0.0, help="rate of the latency measurement (default: ½ the peak)"
    )
    add_run_arguments(p, timeout=2.0)
    a = p.parse_args(argv)

    only = set(a.only or TARGETS)
    if "freeradius" in only:
        only |= {"freeradius-sql", "freeradius-files"}
    scenarios = [s.strip() for s in a.scenarios.split(",") if s.strip()]
    for s in scenarios:
        if s not in SCENARIO_TITLES:
            p.error(f"unknown scenario {s}")
    sizes = [parse_size(s) for s in a.sizes.split(",")]

    tmp = None if a.workdir else tempfile.TemporaryDirectory(prefix="sesame-bench-")
    workdir = a.workdir or Path(tmp.name if tmp else ".")
    workdir.mkdir(parents=True, exist_ok=True)
    targets: list[Target] = []
    if "freeradius-sql" in only:
        targets.append(FreeRadiusTarget("sql", workdir, a.threads))
    if "freeradius-files" in only:
        targets.append(FreeRadiusTarget("files", workdir, a.threads))
    if "sesame" in only:
        targets += [SesameTarget(workdir, n, env=sesame_env(a)) for n in sesame_workers(a)]

    runner = Runner(a)
    print(
        f"{os.cpu_count()} cores; {a.duration:g} s per measurement after {a.warmup:g} s of warm-up",
        flush=True,
    )
    print(LEGEND, flush=True)
    results: list[Result] = []
    try:
        for n in sizes:
            for scenario in scenarios:
                batch: list[Result] = []
                for target in targets:
                    print(f"… {scenario} / {n:,} / {target.name}", file=sys.stderr, flush=True)
                    sql = next((r for r in batch if r.target == "FreeRADIUS-sql" and r.half), None)
                    reference = None
                    if isinstance(target, SesameTarget) and sql and sql.half:
                        reference = float(sql.half.report["throughput_rps"])
                    batch.append(runner.run_one(target, scenario, n, reference_rate=reference))
                    if a.json_out:  # as it goes: a long run stopped halfway keeps what it measured
                        done = [asdict(r) for r in results + batch]
                        a.json_out.write_text(json.dumps(done, indent=1, default=str))
                print(table(batch), flush=True)
                results += batch
    finally:
        for target in targets:
            target.close()
        if tmp:
            tmp.cleanup()
    if a.json_out:
        a.json_out.write_text(json.dumps([asdict(r) for r in results], indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
