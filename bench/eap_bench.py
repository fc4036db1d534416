"""Side-by-side EAP benchmark (issue 15): Sésame against FreeRADIUS 3.2's rlm_eap on the same
machine, in the same run, with the same certificate and accounts (see ``eap_targets.py``).

For each case — PEAP/EAP-MSCHAPv2 and EAP-TTLS/PAP over TLS 1.2 and 1.3, full handshakes, and
resumed PEAP handshakes — each server is driven by ``eapload.py`` at its peak (closed loop,
``--concurrency`` conversations in flight per generator process, ``--duration`` seconds), then at
half that rate (open loop) for the handshake time. CPU time is read from /proc at the window's
edges: the server's processes (and for Sésame the PostgreSQL backends of its database), the load
generator's, and the whole machine's ("other" = everything else, i.e. noise on a shared machine).

Before measuring, a check compares the load generator with wpa_supplicant's ``eapol_test`` on each
server, method and TLS version: right and wrong passwords, MS-MPPE keys, resumption.

Then PAP beside EAP: cached PAP (``radload.py``) at its peak alone, at a fixed rate alone, and at that
rate while EAP handshakes run at half their peak beside it; and both at their peak together.

Usage::

    eap_bench.py                                   # everything, ~30 min on 2 cores
    eap_bench.py --only sesame --cases peap-1.2 --duration 5 --repeat 1 --no-pap
    eap_bench.py --json-out eap.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import eapload
import freeradius as fr
from auth_bench import wait_for_quiet
from auth_targets import RADLOAD
from eap_report import ratio_lines, render_checks, render_generator_check, render_pap, render_table
from eap_targets import EapFreeRadius, EapSesame, eapol, make_pki

from radius.eap.trialpki import TrialFiles

CASES = ("ttls-1.2", "ttls-1.3", "peap-1.2", "peap-1.3", "peap-1.2-resumed", "peap-1.3-resumed")


class Target:
    """A running server as the runner sees it."""

    def __init__(
        self, name: str, host: str, port: int, secret: str, pids: Callable[[], dict[str, list[int]]]
    ) -> None:
        self.name, self.host, self.port, self.secret, self.pids = name, host, port, secret, pids
        self.before_case: Callable[[str], None] = lambda case: None
        self.before_pap: Callable[[], None] = lambda: None
        self.describe: Callable[[], str] = lambda: ""


class Bench:
    def __init__(self, a: argparse.Namespace, workdir: Path, pki: TrialFiles) -> None:
        self.a = a
        self.workdir = workdir
        self.pki = pki
        self.results: list[dict[str, Any]] = []

    def plan(self, target: Target, case: str, **overrides: Any) -> eapload.Plan:
        method, tls, *rest = case.split("-")
        resume = bool(rest)
        options: dict[str, Any] = {
            "host": target.host,
            "port": target.port,
            "secret": target.secret,
            "method": method,
            "tls": tls,
            "ca": str(self.pki.ca),
            "users": self.a.resume_users if resume else self.a.users,
            "password": fr.PASSWORD,
            "concurrency": self.a.concurrency,
            "processes": self.a.processes,
            "sockets": self.a.sockets,
            "duration": self.a.duration,
            "warmup": self.a.warmup,
            "resume": resume,
        }
        options.update(overrides)
        return eapload.Plan(**options)

    def measure(
        self, target: Target, case: str, phase: str, tags: dict[str, Any], **overrides: Any
    ) -> dict[str, Any]:
        wait_for_quiet(self.a.quiet_wait)
        result = eapload.run(self.plan(target, case, **overrides), target.pids(), frozenset({"server"}))
        result.update(target=target.name, case=case, phase=phase, setup=target.describe(), **tags)
        self.results.append(result)
        print(f"  {target.name:10} {case:17} {phase:5} {summary(result)}", file=sys.stderr, flush=True)
        return result

    def cases(self, target: Target, repeat: int) -> None:
        for case in self.a.cases.split(","):
            target.before_case(case)
            peak = self.measure(target, case, "peak", {"repeat": repeat})
            if self.a.half and peak["accepted_per_s"] > 0:
                self.measure(target, case, "half", {"repeat": repeat}, rate=peak["accepted_per_s"] / 2)

    def generator_check(self, target: Target) -> None:
        """The same peak with 1, 2 and 3 generator processes: a rate that does not grow with more
        of them was not held back by the generator."""
        case = self.a.pap_case
        target.before_case(case)
        for processes in (1, 2, 3):
            self.measure(target, case, f"gen-{processes}", {"repeat": 0}, processes=processes)

    # -- the check against eapol_test -----------------------------------------------------------

    def check(self, target: Target) -> list[dict[str, Any]]:
        rows = []
        user = "user7@bench.example"
        for case in ("peap-1.2", "peap-1.3", "ttls-1.2", "ttls-1.3"):
            method, tls = case.split("-")
            target.before_case(f"{case}-resumed" if method == "peap" else case)
            row: dict[str, Any] = {"target": target.name, "case": case}
            again = 1 if method == "peap" else 0
            ok, out = eapol(
                self.workdir,
                target.port,
                target.secret,
                self.pki,
                user=user,
                password=fr.PASSWORD,
                method=method,
                tls=tls,
                reauthentications=again,
            )
            row["eapol_ok"] = ok
            row["eapol_resumed"] = "Handshake finished - resumed=1" in out
            bad, said = eapol(
                self.workdir,
                target.port,
                target.secret,
                self.pki,
                user=user,
                password="not the password",
                method=method,
                tls=tls,
            )
            row["eapol_wrong_refused"] = not bad and said.rstrip().endswith("FAILURE")
            n = self.a.check_count
            one = {"processes": 1, "concurrency": 8}
            good = eapload.run(self.plan(target, case, count=n, **one))
            wrong = eapload.run(self.plan(target, case, count=5, password="wrong", **one))
            row.update(
                load_accepted=f"{good['accepted']}/{n}",
                load_keys_ok=good["keys_checked"] == n and good["keys_bad"] == 0,
                load_wrong_refused=f"{wrong['rejected']}/5",
                negotiated=good["negotiated"],
                errors=good["error_samples"] + wrong["error_samples"],
            )
            if method == "peap":
                resumed = eapload.run(self.plan(target, case, count=n, users=n, resume=True, **one))
                row["load_resumed"] = f"{resumed['resumed']}/{resumed['accepted']}"
            rows.append(row)
        return rows

    # -- PAP beside EAP ------------------------------------------------------------------------

    def radload(self, target: Target, extra: list[str]) -> subprocess.Popen[str]:
        cmd = [sys.executable, str(RADLOAD), f"{target.host}:{target.port}", "-s", target.secret, "--json"]
        cmd += ["--users", str(self.a.users), "--password", fr.PASSWORD, "-d", str(self.a.duration)]
        cmd += ["--warmup", "2", "--timeout", "5", *extra]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)

    def eap_beside(self, target: Target, rate: float) -> subprocess.Popen[str]:
        plan = self.plan(target, self.a.pap_case)
        cmd = [sys.executable, str(Path(__file__).parent / "eapload.py"), f"{target.host}:{target.port}"]
        cmd += ["-s", target.secret, "--ca", plan.ca, "--method", plan.method, "--tls", plan.tls, "--json"]
        cmd += ["--users", str(plan.users), "--password", plan.password, "--processes", str(plan.processes)]
        cmd += ["--concurrency", str(plan.concurrency), "-d", str(self.a.duration), "--warmup", "2"]
        cmd += ["--rate", f"{rate:.1f}"] if rate else []
        for name, pids in target.pids().items():
            cmd += ["--watch", f"{name}={'tree:' if name == 'server' else ''}{','.join(map(str, pids))}"]
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)

    def pap(self, target: Target, eap_peak: float) -> dict[str, Any]:
        """Cached PAP alone (peak, then at --pap-rate), beside EAP at half its peak, both at peak."""
        target.before_case(self.a.pap_case)
        target.before_pap()
        out: dict[str, Any] = {"target": target.name, "eap_case": self.a.pap_case}
        runs = {
            "alone_peak": ([], None),
            "alone_rate": (["--rate", str(self.a.pap_rate)], None),
            "beside_half": (["--rate", str(self.a.pap_rate)], eap_peak / 2),
            "both_peak": ([], 0.0),
        }
        for name, (extra, eap_rate) in runs.items():
            wait_for_quiet(self.a.quiet_wait)
            eap = self.eap_beside(target, eap_rate) if eap_rate is not None else None
            pap = self.radload(target, extra)
            pap_out, _ = pap.communicate(timeout=self.a.duration + 300)
            out[name] = {"pap": json.loads(pap_out)}
            if eap is not None:
                eap_out, _ = eap.communicate(timeout=self.a.duration + 300)
                out[name]["eap"] = json.loads(eap_out)
            print(f"  {target.name:10} PAP {name:12} {pap_summary(out[name])}", file=sys.stderr, flush=True)
        return out


def summary(r: dict[str, Any]) -> str:
    cpu = r["watched_cpu_s"]
    per = r["accepted"] or 1
    return (
        f"{r['accepted_per_s']:8.1f} hs/s  p50/p99 {r['latency_ms']['p50']}/{r['latency_ms']['p99']} ms  "
        f"server {cpu.get('server', 0) / per * 1e6:,.0f} µs/hs  db {cpu.get('db', 0) / per * 1e6:,.0f}  "
        f"loadgen {r['loadgen_cores']:.2f} cores  resumed {r['resumed']}  "
        f"errors {r['errors']}+{r['timeouts']}"
    )


def pap_summary(run: dict[str, Any]) -> str:
    pap = run["pap"]
    latency = pap["latency_ms"]
    text = f"PAP {pap['throughput_rps']:,.0f}/s p50/p99 {latency.get('p50')}/{latency.get('p99')} ms"
    if "eap" in run:
        eap = run["eap"]
        text += f"; EAP {eap['accepted_per_s']:.0f} hs/s p99 {eap['latency_ms']['p99']} ms"
    return text


Started = list[tuple[Target, Callable[[], None]]]


def start_targets(a: argparse.Namespace, workdir: Path, pki: TrialFiles) -> Started:
    """The servers asked for, started; each with its stop."""
    started: Started = []
    if a.only in ("", "freeradius"):
        server = EapFreeRadius(workdir / "raddb", pki, threads=a.fr_threads)
        server.load_users(fr.scenario_credentials("pap", a.users))
        host, port, secret = server.start(timeout=120)
        target = Target("FreeRADIUS", host, port, secret, lambda: {"server": [server.pid or 0]})
        target.before_case = lambda case: server.set_cache(case.endswith("resumed"))
        target.describe = lambda: f"{server.describe()}; {server.thread_count()} threads now"
        started.append((target, server.close))
    if a.only in ("", "sesame"):
        workers = a.sesame_workers or os.cpu_count() or 1
        sesame = EapSesame(workdir / "sesame", pki, workers=workers)
        sesame.workdir.mkdir(exist_ok=True)
        sesame.prepare_eap(a.users)
        host, port, secret = sesame.start()
        pids = lambda: {"server": sesame.pids(), "db": sesame.db_pids()}  # noqa: E731
        target = Target("Sésame", host, port, secret, pids)
        target.describe = sesame.describe
        # cached PAP is measured with the verification caches filled, as auth_bench.py does: cold,
        # the bounded argon2 queue drops the first requests and the generator waits out timeouts
        target.before_pap = lambda: sesame.warm_up(port)
        started.append((target, sesame.close))
    return started


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="EAP handshakes: Sésame against FreeRADIUS 3.2, side by side.")
    p.add_argument("--only", choices=("", "sesame", "freeradius"), default="")
    p.add_argument("--cases", default=",".join(CASES), help=f"of {', '.join(CASES)}")
    p.add_argument("--users", type=int, default=10_000)
    p.add_argument("--resume-users", type=int, default=1_000, help="devices that resume (each primed once)")
    p.add_argument("--duration", type=float, default=20.0)
    p.add_argument("--warmup", type=float, default=3.0)
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--concurrency", type=int, default=32, help="in flight, per generator process")
    p.add_argument("--processes", type=int, default=2, help="generator processes")
    p.add_argument("--sockets", type=int, default=4, help="per generator process")
    p.add_argument("--no-half", dest="half", action="store_false", help="skip the half-load latency runs")
    p.add_argument("--key", choices=("ec", "rsa"), default="ec", help="server key: ECDSA P-256 or RSA-2048")
    p.add_argument("--sesame-workers", type=int, default=0, help="default: one per core")
    p.add_argument("--fr-threads", type=int, default=0, help="default: FreeRADIUS's stock pool (5 to 32)")
    p.add_argument("--check-count", type=int, default=20)
    p.add_argument("--no-check", dest="check", action="store_false")
    p.add_argument("--no-pap", dest="pap", action="store_false")
    p.add_argument("--no-generator-check", dest="generator_check", action="store_false")
    p.add_argument("--pap-case", default="peap-1.2")
    p.add_argument("--pap-rate", type=int, default=1000, help="PAP requests/s offered beside EAP")
    p.add_argument("--quiet-wait", type=float, default=20.0)
    p.add_argument("--json-out", type=Path, default=Path("eap_bench.json"))
    a = p.parse_args(argv)
    fr.ensure_installed()
    with tempfile.TemporaryDirectory(prefix="sesame-eap-bench-") as tmp:
        workdir = Path(tmp)
        pki = make_pki(workdir / "pki", a.key)
        started = start_targets(a, workdir, pki)
        bench = Bench(a, workdir, pki)
        report: dict[str, Any] = {"args": {k: str(v) for k, v in vars(a).items()}, "cores": os.cpu_count()}
        try:
            if a.check:
                report["checks"] = [row for target, _ in started for row in bench.check(target)]
                print(render_checks(report["checks"]))
            if a.generator_check:
                for target, _ in started:
                    bench.generator_check(target)
                print(render_generator_check(bench.results))
            for repeat in range(a.repeat):
                order = started if repeat % 2 == 0 else started[::-1]
                for target, _ in order:
                    print(f"repeat {repeat + 1}: {target.name}", file=sys.stderr)
                    bench.cases(target, repeat)
            report["results"] = bench.results
            main_results = [r for r in bench.results if r["phase"] in ("peak", "half")]
            print(render_table(main_results))
            print("\n".join(ratio_lines(main_results)))
            if a.pap:
                report["pap"] = []
                for target, _ in started:
                    peaks = [
                        r["accepted_per_s"]
                        for r in bench.results
                        if (r["target"], r["case"], r["phase"]) == (target.name, a.pap_case, "peak")
                    ]
                    report["pap"].append(bench.pap(target, max(peaks, default=100.0)))
                print(render_pap(report["pap"]))
        finally:
            a.json_out.write_text(json.dumps(report, indent=1, default=str))
            for _, stop in started:
                stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
