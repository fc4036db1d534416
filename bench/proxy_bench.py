"""Side-by-side federation proxy benchmark: Sésame's proxy against FreeRADIUS 3.2 proxying the same
traffic to the same home server (issue 7).

Three parts, all on loopback:

* the **home server**: a private FreeRADIUS 3.2 on ``127.0.0.12`` with the ``files`` back-end holding
  ``user{i}@liguria.example`` (PAP, Cleartext-Password: the cheapest check it has, so the proxies are
  what is measured), signing every reply with Message-Authenticator (``bench/freeradius/site-home``);
* **FreeRADIUS** as a proxy (``site-proxy``, ``proxy.conf``, ``mod-realm``): ``suffix`` →
  realm ``liguria.example`` → a fail-over pool of that one home server, ``nostrip``, sending from
  ``127.0.0.16``; it adds what Sésame adds to a forwarded request (Message-Authenticator,
  Operator-Name, a Chargeable-User-Identity request) and signs its replies, Message-Authenticator
  first;
* **Sésame**: ``sesame serve`` with federation on, PostgreSQL (database ``sesame_bench_proxy``: one
  NAS for the load generator, partner ``liguria`` whose home server is the one above, sending from
  ``127.0.0.15``), 1 and then 2 RADIUS worker processes (SO_REUSEPORT).

Each target gets the same traffic from ``radload.py``: PAP ``user{i}@liguria.example``, a closed loop
of ``--outstanding`` requests for the peak, then an open loop at half that rate for latency, then the
home server alone at that same rate (the **direct** baseline), so that the latency a proxy adds is
its p50/p99 minus the direct p50/p99 at the same load. CPU per request is that of the proxy's
processes only (the home server's is shown apart, and so is PostgreSQL's for Sésame, which writes a
``radpostauth`` record per proxied decision). The parts themselves are in ``proxy_targets.py``.

Usage::

    proxy_bench.py                                   # direct, FreeRADIUS, Sésame ×1 and ×2 workers
    proxy_bench.py --only freeradius --duration 5
    proxy_bench.py --only sesame --sesame-workers 2 --repeat 2 --json-out proxy.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import auth_bench as ab
import freeradius as fr
from proxy_targets import (
    PATTERN,
    REALM,
    Direct,
    FreeRadiusProxy,
    HomeServer,
    Proxy,
    SesameProxy,
    check_target,
)
from tables import Columns, heading, number, ratio, row

HERE = Path(__file__).resolve().parent
RADLOAD = HERE / "radload.py"


# --------------------------------------------------------------------------------------------------
# Measurements


@dataclass
class Run:
    """One radload run and the CPU each party spent during it."""

    phase: str  # "peak", "half", or "direct" (the home server alone at the half rate)
    report: dict[str, Any]
    proxy_cpu_s: float
    db_cpu_s: float
    home_cpu_s: float
    machine_cpu_s: float

    @property
    def rps(self) -> float:
        return float(self.report["throughput_rps"])

    def latency(self, q: str) -> float | None:
        value = self.report["latency_ms"].get(q)
        return None if value is None else float(value)

    def us_per_request(self, cpu: float) -> float | None:
        replies = int(self.report["replies"])
        return cpu / replies * 1e6 if replies else None

    def cores(self, cpu: float) -> float:
        return cpu / max(1e-9, float(self.report["duration_s"]))

    @property
    def loadgen_cores(self) -> float:
        return float(self.report["loadgen_cpu_cores"])

    @property
    def other_cores(self) -> float:
        """Cores used by everything else on the machine during the run: noise in the figures."""
        mine = self.proxy_cpu_s + self.db_cpu_s + self.home_cpu_s + float(self.report["loadgen_cpu_s"])
        return max(0.0, self.cores(self.machine_cpu_s - mine))


@dataclass
class Result:
    target: str
    setup: str = ""
    error: str | None = None
    notes: list[str] = field(default_factory=list)
    peak: Run | None = None
    half: Run | None = None
    direct: Run | None = None  # the home server alone, at the rate of ``half``


class Bench:
    def __init__(self, a: argparse.Namespace, home: HomeServer, home_address: tuple[str, int, str]) -> None:
        self.a = a
        self.home = home
        self.home_address = home_address

    def radload(self, host: str, port: int, secret: str, extra: list[str]) -> dict[str, Any]:
        cmd = [sys.executable, str(RADLOAD), f"{host}:{port}", "-s", secret, "--json"]
        cmd += ["--users", str(self.a.users), "--pattern", PATTERN, "--password", fr.PASSWORD]
        out = subprocess.run(cmd + extra, capture_output=True, text=True, check=False, timeout=900)
        if out.returncode:
            raise RuntimeError(f"radload failed ({out.returncode}): {out.stderr.strip()}")
        report: dict[str, Any] = json.loads(out.stdout)
        return report

    def measure(self, proxy: Proxy, address: tuple[str, int, str], phase: str, extra: list[str]) -> Run:
        def cpu() -> list[float]:
            parts = (proxy.cpu_seconds, proxy.db_cpu_seconds, self.home.cpu_seconds, ab.machine_busy_seconds)
            return [f() for f in parts]

        ab.wait_for_quiet(self.a.quiet_wait)
        before = cpu()
        report = self.radload(*address, extra)
        spent = [x - y for x, y in zip(cpu(), before, strict=True)]
        # the machine counter also covers radload's encoding before its clock starts: take it out
        return Run(phase, report, spent[0], spent[1], spent[2], spent[3] - report["prebuild_cpu_s"])

    def run(self, proxy: Proxy) -> Result:
        result = Result(proxy.name)
        a = self.a
        try:
            address = proxy.start()
            result.setup = proxy.describe()
            check_target(*address)
            load = ["--outstanding", str(a.outstanding), "--sockets", str(a.sockets)]
            load += ["--timeout", str(a.timeout)]
            duration = ["-d", str(a.duration)]
            warm = self.radload(*address, [*load, "-d", str(a.warmup), "--prebuild", "50000"])
            guess = max(float(warm["throughput_rps"]), 1000.0)
            prebuild = min(3_000_000, int(guess * a.duration * 1.3) + 20_000)
            for _ in range(a.repeat):
                peak = self.measure(proxy, address, "peak", [*load, *duration, "--prebuild", str(prebuild)])
                if result.peak is None or peak.rps > result.peak.rps:
                    result.peak = peak
            assert result.peak is not None
            rate = ["--rate", f"{max(1.0, result.peak.rps / 2):.0f}"]
            result.half = self.measure(proxy, address, "half", [*load, *duration, *rate])
            if not isinstance(proxy, Direct):
                # the baseline at the same load: what the home server alone answers in
                baseline = Direct(self.home, self.home_address)
                result.direct = self.measure(baseline, self.home_address, "direct", [*load, *duration, *rate])
            problems = proxy.problems()
            if problems:
                result.notes.append(problems)
        except (RuntimeError, subprocess.TimeoutExpired, ValueError, OSError) as exc:
            result.error = str(exc)
        finally:
            proxy.stop()
        return result


# --------------------------------------------------------------------------------------------------
# Output


def _pair(x: float | None, y: float | None, digits: int = 2) -> str:
    return f"{number(x, digits)}/{number(y, digits)}"


def _added(run: Run | None, base: Run | None, q: str) -> float | None:
    if run is None or base is None:
        return None
    x, y = run.latency(q), base.latency(q)
    return None if x is None or y is None else x - y


LEGEND = """\
req/s: replies per second at peak (closed loop of --outstanding requests); p50/p99: latency at peak and in
an open loop at half that rate; added: p50/p99 at half rate minus those of the home server alone at the
same rate; proxy: CPU µs per request of the proxy's processes at peak (+db: PostgreSQL's for Sésame's
decision records); home: the home server's CPU µs per request and cores at peak; loadgen: radload's cores
at peak; other: cores used by anything else on the machine (noise), at peak / at half rate."""

COLUMNS: Columns = (  # header, unit, width
    ("target", "", 19),
    ("req/s", "peak", 8),
    ("p50/p99", "ms @peak", 13),
    ("p50/p99", "ms @½", 11),
    ("added", "ms @½", 12),
    ("proxy", "µs/req", 8),
    ("+db", "µs/req", 7),
    ("home", "µs/req", 7),
    ("home", "cores", 6),
    ("loadgen", "cores", 8),
    ("other", "pk/½", 10),
)


def table(results: list[Result], a: argparse.Namespace) -> str:
    lines = heading(
        f"Proxied PAP, {a.users:,} users of {REALM}, {a.outstanding} outstanding at peak", COLUMNS
    )
    for r in results:
        if r.error or r.peak is None or r.half is None:
            lines.append(row(COLUMNS, [r.target, "—"]) + f"  {r.error or 'no result'}")
            continue
        p, h = r.peak, r.half
        notes = [r.setup, *r.notes]
        lost = int(p.report["lost"]) + int(h.report["lost"])
        if lost:
            notes.append(f"lost {p.report['lost']} at peak, {h.report['lost']} at ½")
        dropped = int(p.report["udp_rcvbuf_errors"]) + int(h.report["udp_rcvbuf_errors"])
        if dropped:
            notes.append(f"kernel dropped {dropped} datagrams (full receive buffers)")
        not_accepted = int(p.report["replies"]) - int(p.report["accepts"])
        if not_accepted:
            notes.append(f"{not_accepted} replies at peak not Access-Accept")
        cells = [
            r.target,
            number(p.rps),
            _pair(p.latency("p50"), p.latency("p99"), 1),
            _pair(h.latency("p50"), h.latency("p99")),
            _pair(_added(h, r.direct, "p50"), _added(h, r.direct, "p99")) if r.direct else "",
            number(p.us_per_request(p.proxy_cpu_s)),
            number(p.us_per_request(p.db_cpu_s)),
            number(p.us_per_request(p.home_cpu_s)),
            number(p.cores(p.home_cpu_s), 2),
            number(p.loadgen_cores, 2),
            f"{p.other_cores:.2f}/{h.other_cores:.2f}",
        ]
        lines.append(row(COLUMNS, cells) + "  " + "; ".join(x for x in notes if x))
    lines += ratios(results)
    lines += bottlenecks(results)
    return "\n".join(lines)


def ratios(results: list[Result]) -> list[str]:
    ok = {r.target: r for r in results if r.peak and r.half and not r.error}
    ref = ok.get("FreeRADIUS")
    lines = []
    for name, r in ok.items():
        if not name.startswith("Sésame") or ref is None:
            continue
        assert r.peak and ref.peak and r.half and ref.half
        theirs = ref.peak.us_per_request(ref.peak.proxy_cpu_s)
        with_db = r.peak.proxy_cpu_s + r.peak.db_cpu_s
        lines.append(
            f"{name} / FreeRADIUS: req/s {ratio(r.peak.rps, ref.peak.rps)}, "
            f"proxy CPU/req {ratio(r.peak.us_per_request(r.peak.proxy_cpu_s), theirs)}, "
            f"proxy+db CPU/req {ratio(r.peak.us_per_request(with_db), theirs)}, "
            f"added p50 at ½ {ratio(_added(r.half, r.direct, 'p50'), _added(ref.half, ref.direct, 'p50'))}, "
            f"added p99 at ½ {ratio(_added(r.half, r.direct, 'p99'), _added(ref.half, ref.direct, 'p99'))}"
        )
    if not lines:
        lines.append("Sésame / FreeRADIUS: - (both must have run)")
    return lines


def bottlenecks(results: list[Result]) -> list[str]:
    """What limits each proxied peak? Not the home server if it answered much faster alone, not
    radload if it used less CPU than it did then; on a machine whose cores are all busy, the
    proxy's CPU per request is the figure to compare."""
    direct = next((r for r in results if r.target.startswith("direct") and r.peak), None)
    proxied = [r for r in results if not r.target.startswith("direct") and r.peak]
    if direct is None or direct.peak is None or not proxied:
        return []
    d, cores = direct.peak, os.cpu_count() or 1
    lines = [
        f"check: the home server alone answers {d.rps:,.0f} req/s "
        f"(home {d.cores(d.home_cpu_s):.2f} cores, radload {d.loadgen_cores:.2f} cores)."
    ]
    for r in proxied:
        assert r.peak is not None
        p = r.peak
        proxy, home = p.cores(p.proxy_cpu_s + p.db_cpu_s), p.cores(p.home_cpu_s)
        busy = proxy + home + p.loadgen_cores + p.other_cores
        free_home = p.rps < 0.8 * d.rps
        free_loadgen = p.loadgen_cores < d.loadgen_cores
        verdict = (
            "neither the home server nor radload limits it"
            if free_home and free_loadgen
            else "CAUTION: the home server or radload may limit it"
        )
        if busy > 0.9 * cores:
            verdict += f"; all {cores} cores busy: compare CPU per request"
        lines.append(
            f"  {r.target}: {p.rps / d.rps:.0%} of direct; cores: proxy {proxy:.2f}, home {home:.2f}, "
            f"radload {p.loadgen_cores:.2f}, other {p.other_cores:.2f}: {verdict}"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Sésame vs FreeRADIUS 3.2 as federation proxies (issue 7).")
    p.add_argument("--users", type=int, default=10_000, help="users of liguria.example on the home server")
    p.add_argument(
        "--only",
        action="append",
        choices=("freeradius", "sesame"),
        help="proxies to run (repeatable; default both); the direct baseline always runs",
    )
    p.add_argument("--fr-threads", type=int, default=0, help="FreeRADIUS proxy threads (default: cores)")
    p.add_argument("--home-threads", type=int, default=0, help="home server worker threads (default: cores)")
    ab.add_run_arguments(p, timeout=2.0)
    p.set_defaults(
        duration=8.0, warmup=2.0, quiet_wait=10.0, json_out=Path("proxy_bench.json"), sesame_workers="1,2"
    )
    a = p.parse_args(argv)
    only = set(a.only or ("freeradius", "sesame"))
    cores = os.cpu_count() or 1

    tmp = None if a.workdir else tempfile.TemporaryDirectory(prefix="sesame-proxy-bench-")
    workdir: Path = a.workdir or Path(tmp.name if tmp else ".")
    workdir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    print(f"{cores} cores; {a.duration:g} s per measurement after {a.warmup:g} s of warm-up", flush=True)
    print(LEGEND, flush=True)
    home = HomeServer(workdir, a.users, a.home_threads)
    results: list[Result] = []
    sesame: SesameProxy | None = None
    freeradius: FreeRadiusProxy | None = None
    try:
        home_address = home.start()
        bench = Bench(a, home, home_address)
        print(f"… direct to the home server {home_address[0]}:{home_address[1]}", file=sys.stderr, flush=True)
        results.append(bench.run(Direct(home, home_address)))
        if "freeradius" in only:
            print("… FreeRADIUS proxy", file=sys.stderr, flush=True)
            freeradius = FreeRadiusProxy(workdir, home_address[1], a.fr_threads or cores)
            results.append(bench.run(freeradius))
        if "sesame" in only:
            sesame = SesameProxy(workdir, home_address[1], ab.sesame_env(a))
            print("… Sésame: database", file=sys.stderr, flush=True)
            sesame.prepare()
            for n in ab.sesame_workers(a):
                print(f"… Sésame proxy, {n} worker(s)", file=sys.stderr, flush=True)
                sesame.use_workers(n)
                results.append(bench.run(sesame))
    finally:
        if sesame:
            sesame.close()
        if freeradius:
            freeradius.close()
        home.close()
        if tmp:
            tmp.cleanup()
    print(table(results, a), flush=True)
    print(f"(total {time.monotonic() - started:.0f} s)", flush=True)
    if a.json_out:
        settings = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(a).items()}
        document = {"cores": cores, "settings": settings, "results": [asdict(r) for r in results]}
        a.json_out.write_text(json.dumps(document, indent=1))
        print(f"results written to {a.json_out}", flush=True)
    return 0 if all(r.error is None for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
