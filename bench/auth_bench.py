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
import asyncio
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
from typing import Any, Protocol

import freeradius as fr
from radpackets import write_credentials
from sesame_seed import BENCH_SECRET, SESAME_KEY, recreate_database, seed_sesame

from tests.support.status_server import answers_status_server

HERE = Path(__file__).resolve().parent
RADLOAD = HERE / "radload.py"
SCENARIO_TITLES = {
    "pap": "cached-password PAP",
    "mac": "MAC authentication (CoovaChilli style)",
    "token": "single-use-token PAP",
}


@dataclass(frozen=True)
class Credentials:
    """What the load generator presents: generated users or MACs, or a CSV file (tokens)."""

    users: int = 0  # user{i}@bench.example with ``password``
    macs: int = 0  # generated MACs, each its own password
    file: Path | None = None  # CSV of ``user,password`` lines
    password: str = fr.PASSWORD
    single_use: bool = False  # each sent once; the runner gives every phase fresh ones

    def radload_args(self, offset: int = 0) -> list[str]:
        if self.file:
            args = ["--credentials", str(self.file)]
        elif self.macs:
            args = ["--macs", str(self.macs)]
        else:
            args = ["--users", str(self.users), "--password", self.password]
        if self.single_use:
            args += ["--single-use", "--offset", str(offset)]
        return args


class Target(Protocol):
    name: str

    def prepare(self, scenario: str, n_users: int, *, tokens: int = 0) -> Credentials: ...
    def start(self) -> tuple[str, int, str]: ...
    def stop(self) -> None: ...
    def server_cpu_seconds(self) -> float: ...
    def database_cpu_seconds(self) -> float: ...
    def close(self) -> None: ...
    def describe(self) -> str: ...


def database_cpu_seconds(database: str) -> float:
    """CPU time of the PostgreSQL processes now serving connections to ``database``."""
    return float(sum(fr.pid_cpu_seconds(pid) for pid in asyncio.run(fr.backend_pids(database))))


class FreeRadiusTarget:
    """Debian's FreeRADIUS 3.2 with the ``sql`` (PostgreSQL) or ``files`` back-end."""

    def __init__(self, backend: str, workdir: Path, threads: int = 0) -> None:
        self.name = f"FreeRADIUS-{backend}"
        self.backend = backend
        self.workdir = workdir
        self.server = fr.FreeRadius(backend, threads=threads, workdir=workdir / f"fr-{backend}")

    def prepare(self, scenario: str, n_users: int, *, tokens: int = 0) -> Credentials:
        self.server.load_users(fr.scenario_credentials(scenario, n_users))
        if scenario == "pap":
            return Credentials(users=n_users)
        if scenario == "mac":
            return Credentials(macs=n_users)
        # FreeRADIUS cannot consume a token: each account keeps its token and radload cycles over them.
        path = self.workdir / f"fr-tokens-{n_users}.csv"
        write_credentials(path, list(fr.scenario_credentials(scenario, n_users)))
        return Credentials(file=path)

    def start(self) -> tuple[str, int, str]:
        return self.server.start(timeout=600)

    def stop(self) -> None:
        self.server.stop()

    def server_cpu_seconds(self) -> float:
        return self.server.cpu_seconds()

    def database_cpu_seconds(self) -> float:
        return database_cpu_seconds(self.server.database) if self.backend == "sql" else 0.0

    def close(self) -> None:
        self.server.close()

    def describe(self) -> str:
        return f"{self.server.threads} worker threads"


class SesameTarget:
    """Sésame's RADIUS server. ---- THE PLUGGABLE PIECE: fill in prepare() and start(). ----

    prepare(scenario, n_users, tokens=…) must give Sésame's database exactly ``n_users`` accounts for
    the scenario and return the credentials radload will send:

    * ``pap``: accounts ``user{i}@bench.example`` (``fr.bench_user(i)``) with password
      ``fr.PASSWORD``, with the verifier Sésame keeps for fast PAP already cached/derived, as in
      production → ``Credentials(users=n_users)``;
    * ``mac``: devices ``fr.bench_mac(i)`` (``02-00-…``, CoovaChilli's format) allowed to log in by
      MAC, password = MAC → ``Credentials(macs=n_users)``;
    * ``token``: ``n_users`` accounts, and at least ``tokens`` single-use RADIUS tokens minted for them,
      written as ``user,token`` CSV lines to a file under ``self.workdir`` →
      ``Credentials(file=path, single_use=True)`` (the runner then never sends a token twice).

    start() must run Sésame's RADIUS server as a child process (``self.proc``) on 127.0.0.1 with a
    free port, a NAS entry for 127.0.0.1 with ``require_message_authenticator``, the same PostgreSQL
    server (database ``self.database``), and return (host, port, secret) once it answers
    (``answers_status_server`` or one Access-Request). Size its workers for the machine as FreeRADIUS's
    are. stop(), the CPU probes and close() below already work from ``self.proc``.
    """

    def __init__(
        self,
        workdir: Path,
        workers: int = 2,
        *,
        database: str = "sesame_bench",
        env: dict[str, str] | None = None,
    ) -> None:
        self.name = f"Sésame-w{workers}"
        self.workdir = workdir
        self.database = database
        self.workers = workers
        self.extra_env = env or {}  # SESAME_* settings added to the benchmark's
        self.proc: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] = {}
        self.scenario = ""
        self.n_users = 0
        self.auth_port = self.acct_port = 0

    def prepare(self, scenario: str, n_users: int, *, tokens: int = 0) -> Credentials:
        token_file = self.workdir / "sesame-tokens.csv" if scenario == "token" else None
        self.make_database(scenario, n_users, tokens=tokens, token_file=token_file)
        if scenario == "pap":
            return Credentials(users=n_users)
        if scenario == "mac":
            return Credentials(macs=n_users)
        assert token_file is not None
        return Credentials(file=token_file, single_use=True)

    def make_database(
        self, scenario: str, n_users: int, *, tokens: int = 0, token_file: Path | None = None
    ) -> None:
        """A fresh database ``self.database`` at the schema head, filled by COPY: one NAS (127.0.0.1),
        ``n_users`` accounts, and what the scenario needs (devices, tokens)."""
        self.scenario, self.n_users = scenario, n_users
        asyncio.run(recreate_database(self.database))
        url = f"postgresql://postgres@127.0.0.1/{self.database}"
        self.env = (
            {k: v for k, v in os.environ.items() if not k.startswith(("SESAME_", "PROMETHEUS_"))}
            | {
                "SESAME_ENVIRONMENT": "production",
                "SESAME_SECRET_KEY": SESAME_KEY,
                "SESAME_DATABASE_URL": url,
                "SESAME_REALM": "bench.example",
                "SESAME_LOG_LEVEL": "WARNING",
                "SESAME_WEB_ENABLED": "false",
                "SESAME_METRICS_PORT": "0",  # nothing here scrapes it (and 9812 may be taken)
            }
            | self.extra_env
        )
        subprocess.run(
            [sys.executable, "-m", "sesame", "db", "upgrade"],
            env=self.env,
            check=True,
            capture_output=True,
            cwd=self.workdir,
        )
        asyncio.run(seed_sesame(self.database, scenario, n_users, tokens, token_file))

    def start(self) -> tuple[str, int, str]:
        auth, acct = fr.free_udp_port(), fr.free_udp_port()
        self.auth_port, self.acct_port = auth, acct
        env = self.env | {
            "SESAME_RADIUS_BIND": "127.0.0.1",
            "SESAME_RADIUS_AUTH_PORT": str(auth),
            "SESAME_RADIUS_ACCT_PORT": str(acct),
            "SESAME_RADIUS_WORKERS": str(self.workers),
        }
        log = (self.workdir / "sesame.log").open("ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "sesame", "serve"],
            env=env,
            cwd=self.workdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        # each process loads its working set before it answers: ~1 min per million accounts here
        deadline = time.monotonic() + 60 + self.n_users / 5_000
        while not answers_status_server("127.0.0.1", auth, BENCH_SECRET, timeout=0.5):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"Sésame did not start; see {self.workdir / 'sesame.log'}")
            time.sleep(0.2)
        preloaded = self.env.get("SESAME_RADIUS_PRELOAD", "true").lower() not in ("0", "false", "no")
        if self.scenario == "pap" or (self.scenario == "mac" and not preloaded):
            self.warm_up(auth)
        return "127.0.0.1", auth, BENCH_SECRET

    def warm_up(self, port: int) -> None:
        """As in production, people logged in before: every account (or device) authenticates once
        on every worker, filling each process's verification and device caches. The kernel sends a
        source port to one worker, so passes from one socket each, 4 per worker, reach them all
        (a worker missed by all its passes: 2**-8 for 2 workers). Tokens are single use: no warm-up.
        With the working set preloaded (``SESAME_RADIUS_PRELOAD``, the default) each process starts
        with every device and account in memory, so MAC needs none; PAP still fills the cache of
        verified passwords, which nothing can preload (it holds no password).

        The passes run side by side, paced so that they cannot overload a worker: however the
        kernel spreads them, one worker has at most ``max_pending_verifications_per_nas`` (8)
        requests in flight, none waits long enough to be given up (30 s), and a pass that still lost
        requests is run again, slower. (One after the other, at 1M accounts the passes took most
        of an hour; unpaced side by side, they were dropped by the verification queue.)"""
        kind = "--users" if self.scenario == "pap" else "--macs"
        passes = 4 * self.workers
        cmd = [sys.executable, str(RADLOAD), f"127.0.0.1:{port}", "-s", BENCH_SECRET]
        cmd += [kind, str(self.n_users), "--password", fr.PASSWORD, "--single-use", "--sockets", "1"]
        cmd += ["--timeout", "30", "-d", "3600", "--json"]
        outstanding = ["--outstanding", str(max(1, 8 // passes))]
        runs = [
            subprocess.Popen([*cmd, *outstanding], stdout=subprocess.PIPE, text=True) for _ in range(passes)
        ]
        for run in runs:
            out, _ = run.communicate(timeout=3600)
            if json.loads(out)["accepts"] < 0.99 * self.n_users:  # once more, alone and paced
                again = subprocess.run(
                    [*cmd, "--outstanding", "8", "--rate", "3000"],
                    capture_output=True,
                    text=True,
                    timeout=3600,
                )
                report = json.loads(again.stdout)
                if report["accepts"] < 0.99 * self.n_users:
                    raise RuntimeError(f"warm-up: {report['accepts']} of {self.n_users} accepted")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def server_cpu_seconds(self) -> float:
        """The server and all its worker processes (a pre-fork or SO_REUSEPORT design is covered)."""
        return fr.tree_cpu_seconds(self.proc.pid) if self.proc else 0.0

    def memory(self) -> str:
        """Resident memory of each worker process (caches are per process), for the notes."""
        if not self.proc:
            return ""
        sizes = []
        for pid in fr.process_tree(self.proc.pid)[1:]:  # the supervisor holds no cache
            with contextlib.suppress(OSError):
                if b"spawn_main" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                    continue  # multiprocessing's resource tracker
                status = Path(f"/proc/{pid}/status").read_text()
                sizes += [
                    int(line.split()[1]) // 1024 for line in status.splitlines() if line.startswith("VmRSS")
                ]
        return "RSS/worker " + "+".join(f"{mib:,} MiB" for mib in sizes) if sizes else ""

    def database_cpu_seconds(self) -> float:
        return database_cpu_seconds(self.database)

    def close(self) -> None:
        self.stop()

    def describe(self) -> str:
        return f"{self.workers} worker processes (SO_REUSEPORT), uvloop, PostgreSQL"


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


def _fmt(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


LEGEND = """\
auth/s: replies per second at peak (closed loop); p50/p99: latency at half that rate (open loop);
server: CPU µs per request of the server process(es) at peak; +db: of the PostgreSQL processes serving
its database; loadgen: cores used by radload at peak; other: cores used by anything else on the machine
(noise) during the peak and the half-load runs."""

COLUMNS = (  # header, unit, width
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


def _row(cells: list[str]) -> str:
    first, *rest = cells
    widths = [w for _, _, w in COLUMNS]
    return f"{first:<{widths[0]}}" + "".join(f"{c:>{w}}" for c, w in zip(rest, widths[1:], strict=False))


def table(results: list[Result]) -> str:
    r0 = results[0]
    head = f"{SCENARIO_TITLES[r0.scenario]}, {r0.n_users:,} accounts"
    lines = ["", head, "=" * len(head)]
    lines.append(_row([h for h, _, _ in COLUMNS]) + "  notes")
    lines.append(_row([u for _, u, _ in COLUMNS]))
    for r in results:
        if r.error or not r.peak or not r.half:
            lines.append(_row([r.target, "—"]) + f"  {r.error or 'no result'}")
            continue
        p, h = r.peak, r.half
        notes = "; ".join(x for x in (r.setup, r.note) if x)
        if p.report["lost"] or h.report["lost"]:
            notes += f"; lost {p.report['lost']} at peak, {h.report['lost']} at ½"
        cells = [
            r.target,
            _fmt(p.report["throughput_rps"]),
            _fmt(h.report["latency_ms"].get("p50"), 2),
            _fmt(h.report["latency_ms"].get("p99"), 2),
            _fmt(p.per_request_us(p.server_cpu_s)),
            _fmt(p.per_request_us(p.db_cpu_s)),
            _fmt(100.0 * p.report["accepts"] / max(1, p.replies), 1),
            _fmt(p.report["loadgen_cpu_cores"], 2),
            f"{p.other_cores:.2f}/{h.other_cores:.2f}",
        ]
        lines.append(_row(cells) + f"  {notes}")
    ref = next((r for r in results if r.target == "FreeRADIUS-sql"), None)
    for ses in (r for r in results if r.target.startswith("Sésame")):
        lines += _against_sql(ses, ref)
    return "\n".join(lines)


def _ratio(x: float, y: float) -> str:
    return f"{x / y:.2f}×" if y else "-"


def _against_sql(ses: Result, ref: Result | None) -> list[str]:
    """A Sésame target's ratio line to FreeRADIUS-sql, and its latency at FreeRADIUS-sql's ½ load."""
    if not (ses.peak and ses.half and ref and ref.peak and ref.half):
        return [f"{ses.target} / FreeRADIUS-sql: - (both must have run)"]
    lines = [
        f"{ses.target} / FreeRADIUS-sql: auth/s "
        + _ratio(ses.peak.report["throughput_rps"], ref.peak.report["throughput_rps"])
        + ", p50 "
        + _ratio(ses.half.report["latency_ms"]["p50"], ref.half.report["latency_ms"]["p50"])
        + ", p99 "
        + _ratio(ses.half.report["latency_ms"]["p99"], ref.half.report["latency_ms"]["p99"])
        + ", server CPU/req "
        + _ratio(
            ses.peak.per_request_us(ses.peak.server_cpu_s), ref.peak.per_request_us(ref.peak.server_cpu_s)
        )
        + ", server+db CPU/req "
        + _ratio(
            ses.peak.per_request_us(ses.peak.server_cpu_s + ses.peak.db_cpu_s),
            ref.peak.per_request_us(ref.peak.server_cpu_s + ref.peak.db_cpu_s),
        )
    ]
    if ses.same_rate:
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
