"""The targets of the authentication benchmark (``auth_bench.py``): Debian's FreeRADIUS 3.2 with its
``sql`` or ``files`` back-end, and Sésame; each prepared for a scenario, started, measured and stopped.
The accounting and soak benchmarks run Sésame through :class:`SesameTarget` too."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import freeradius as fr
import sesame_server
from radpackets import write_credentials
from sesame_seed import BENCH_SECRET, REALM, recreate_database, seed_sesame

RADLOAD = Path(__file__).resolve().parent / "radload.py"


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
    """Sésame's RADIUS server (``sesame serve``, see :mod:`sesame_server`).

    prepare(scenario, n_users, tokens=…) gives Sésame's database exactly ``n_users`` accounts for
    the scenario and returns the credentials radload will send:

    * ``pap``: accounts ``user{i}@bench.example`` (``fr.bench_user(i)``) with password
      ``fr.PASSWORD``, with the verifier Sésame keeps for fast PAP already cached/derived, as in
      production → ``Credentials(users=n_users)``;
    * ``mac``: devices ``fr.bench_mac(i)`` (``02-00-…``, CoovaChilli's format) allowed to log in by
      MAC, password = MAC → ``Credentials(macs=n_users)``;
    * ``token``: ``n_users`` accounts, and at least ``tokens`` single-use RADIUS tokens minted for them,
      written as ``user,token`` CSV lines to a file under ``self.workdir`` →
      ``Credentials(file=path, single_use=True)`` (the runner then never sends a token twice).

    start() runs Sésame's RADIUS server as a child process (``self.proc``) on 127.0.0.1 with a
    free port, a NAS entry for 127.0.0.1 with ``require_message_authenticator``, the same PostgreSQL
    server (database ``self.database``), and returns (host, port, secret) once it answers
    Status-Server. stop(), the CPU probes and close() work from ``self.proc``.
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
        self.env = sesame_server.environment(self.database, REALM, self.extra_env)
        sesame_server.sesame(self.env, self.workdir, "db", "upgrade")
        asyncio.run(seed_sesame(self.database, scenario, n_users, tokens, token_file))

    def start(self) -> tuple[str, int, str]:
        # each process loads its working set before it answers: ~1 min per million accounts here
        self.proc, auth, self.acct_port = sesame_server.serve(
            self.env,
            workdir=self.workdir,
            log=self.workdir / "sesame.log",
            workers=self.workers,
            within=60 + self.n_users / 5_000,
        )
        self.auth_port = auth
        preloaded = self.env.get("SESAME_RADIUS_PRELOAD", "true").lower() not in ("0", "false", "no")
        if self.scenario == "pap" or (self.scenario == "mac" and not preloaded):
            self.warm_up(auth)
        return sesame_server.HOST, auth, BENCH_SECRET

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
        sesame_server.stop(proc)

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
