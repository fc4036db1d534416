"""A private FreeRADIUS 3.2 (Debian) instance to benchmark against, with users in "files" or in SQL.

``FreeRadius`` copies /etc/freeradius/3.0 into a temporary directory, replaces radiusd.conf, the
clients, the modules and the virtual servers with the lean ones of ``bench/freeradius/``, loads the
users (an ``authorize`` file, or ``radcheck`` rows bulk-loaded with COPY into a PostgreSQL database
with the stock schema) and runs ``freeradius -f -d DIR -l LOGFILE`` until ``stop()``.

With ``proxy={…}`` (and ``backend="none"``, ``site="site-proxy"``) it is a proxy instead: realm
routing by ``suffix`` to a home server of ``bench/freeradius/proxy.conf`` (``proxy_bench.py``).

Users carry a ``Cleartext-Password``: rlm_pap then compares the password as is, the cheapest check
FreeRADIUS has, which stands for Sésame verifying PAP against a cached verifier (no slow hash per
request). A crypt()-hashed password would cap Debian's build near one core (global crypt lock).

Command line, for trying it by hand::

    freeradius.py run --backend sql --scenario pap --users 10000 --for 600
    radload.py 127.0.0.1:18120 -s testing123 --users 10000 --duration 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from types import TracebackType

import asyncpg  # type: ignore[import-untyped]

if (_ROOT := str(Path(__file__).resolve().parents[1])) not in sys.path:
    sys.path.insert(0, _ROOT)  # for tests.support, shared with the interop tests

from radpackets import Credential, bench_mac, bench_user

from tests.support.freeradius import FreeRadiusProcess, render
from tests.support.ports import free_udp_port as free_udp_port  # also for the other bench scripts
from tests.support.status_server import answers_status_server

HERE = Path(__file__).resolve().parent
TEMPLATES = HERE / "freeradius"
STOCK = Path("/etc/freeradius/3.0")
SCHEMA = STOCK / "mods-config/sql/main/postgresql/schema.sql"
PACKAGES = ("freeradius", "freeradius-postgresql", "freeradius-utils")
PG_URL = os.environ.get("SESAME_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
DEFAULT_DB = "sesame_bench_fr"
PASSWORD = "bench-password"
SCENARIOS = ("pap", "mac", "token")


def ensure_installed() -> None:
    """Install Debian's FreeRADIUS packages when they are missing (needs root and apt)."""
    if shutil.which("freeradius") and Path("/usr/lib/freeradius/rlm_sql_postgresql.so").exists():
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    print("installing", " ".join(PACKAGES), file=sys.stderr)
    subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(["apt-get", "install", "-y", "-qq", *PACKAGES], check=True, env=env)


def scenario_credentials(scenario: str, n: int, token_seed: int = 1) -> Iterator[Credential]:
    """The accounts of a scenario, as the load generator will present them.

    pap: ``user{i}@bench.example`` with one password; mac: MAC addresses, each its own password (as
    CoovaChilli sends MAC authentication); token: ``user{i}@bench.example`` each with a random
    32-hex-digit token (FreeRADIUS has no single-use passwords: plain PAP is its nearest equivalent).
    """
    if scenario == "pap":
        return (Credential(bench_user(i), PASSWORD) for i in range(n))
    if scenario == "mac":
        return (Credential(bench_mac(i), bench_mac(i), bench_mac(i)) for i in range(n))
    if scenario == "token":
        import random

        rng = random.Random(token_seed)
        return (Credential(bench_user(i), rng.randbytes(16).hex()) for i in range(n))
    raise ValueError(f"unknown scenario {scenario!r}")


def pid_cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads) and of its reaped children, from /proc/PID/stat."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    utime, stime, cutime, cstime = (int(x) for x in fields[11:15])
    return (utime + stime + cutime + cstime) / os.sysconf("SC_CLK_TCK")


def process_tree(pid: int) -> list[int]:
    """pid and all its live descendants."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    tree, todo = [], [pid]
    while todo:
        p = todo.pop()
        tree.append(p)
        todo.extend(children.get(p, []))
    return tree


def tree_cpu_seconds(pid: int) -> float:
    return sum(pid_cpu_seconds(p) for p in process_tree(pid))


# --------------------------------------------------------------------------------------------------
# PostgreSQL


async def _admin() -> asyncpg.Connection:
    return await asyncpg.connect(PG_URL + "/postgres")


async def create_database(db: str) -> None:
    """(Re)create the database with FreeRADIUS's stock PostgreSQL schema."""
    conn = await _admin()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{db}"')
    finally:
        await conn.close()
    conn = await asyncpg.connect(f"{PG_URL}/{db}")
    try:
        await conn.execute(SCHEMA.read_text())
    finally:
        await conn.close()


async def load_radcheck(db: str, creds: Iterable[Credential], chunk: int = 100_000) -> int:
    """Replace every radcheck row with one ``Cleartext-Password :=`` row per credential (COPY)."""
    conn = await asyncpg.connect(f"{PG_URL}/{db}")
    n = 0
    try:
        async with conn.transaction():
            await conn.execute("TRUNCATE radcheck RESTART IDENTITY")
            await conn.execute("DROP INDEX IF EXISTS radcheck_username")
            batch: list[tuple[str, str, str, str]] = []
            for c in creds:
                batch.append((c.user, "Cleartext-Password", ":=", c.password))
                if len(batch) == chunk:
                    await conn.copy_records_to_table(
                        "radcheck", records=batch, columns=["username", "attribute", "op", "value"]
                    )
                    n += len(batch)
                    batch = []
            if batch:
                await conn.copy_records_to_table(
                    "radcheck", records=batch, columns=["username", "attribute", "op", "value"]
                )
                n += len(batch)
            await conn.execute("CREATE INDEX radcheck_UserName ON radcheck (UserName, Attribute)")
        await conn.execute("VACUUM ANALYZE radcheck")
    finally:
        await conn.close()
    return n


async def backend_pids(db: str) -> list[int]:
    """PostgreSQL server processes serving client connections to db (the server's share of the work)."""
    conn = await _admin()
    try:
        rows = await conn.fetch(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND backend_type = 'client backend'", db
        )
    finally:
        await conn.close()
    return [r["pid"] for r in rows]


# --------------------------------------------------------------------------------------------------
# The instance


class FreeRadius(FreeRadiusProcess):
    """A private FreeRADIUS: ``load_users()``, then ``start()`` … ``stop()`` (or use ``with``)."""

    def __init__(
        self,
        backend: str = "sql",
        *,
        host: str = "127.0.0.1",
        auth_port: int = 0,
        secret: str = "testing123",
        threads: int = 0,
        database: str = DEFAULT_DB,
        max_requests: int = 1 << 20,
        workdir: Path | None = None,
        site: str = "site-bench",
        policies: tuple[str, ...] = (),
        clients: Mapping[str, str] | None = None,
        proxy: Mapping[str, str] | None = None,
    ) -> None:
        """``site``: the virtual server template in bench/freeradius/; ``policies``: files of the stock
        policy.d/ to load (the accounting site needs ``accounting``, for ``acct_unique``);
        ``clients``: more RADIUS clients, address or CIDR → secret (each must sign its requests with
        Message-Authenticator, as the load generator's);
        ``proxy``: makes this a proxy: more template values (``@@KEY@@``) for ``proxy.conf`` and the
        site, which are loaded with the ``suffix`` realm module (``mod-realm``). ``backend="none"``: no users
        module and no ``pap`` (a pure proxy)."""
        if backend not in ("files", "sql", "none"):
            raise ValueError("backend is 'files', 'sql' or 'none'")
        ensure_installed()
        self.backend = backend
        self.host = host
        self.auth_port = auth_port or free_udp_port(host)
        self.acct_port = free_udp_port(host)
        self._ports_chosen = not auth_port  # ours to choose again if taken before FreeRADIUS binds
        self.secret = secret
        # FreeRADIUS 3 reads the socket in one thread and hands requests to a pool of workers. With
        # files every request is pure CPU, so a worker per core; with SQL a worker mostly waits on
        # PostgreSQL round trips, so a few per core keep both the CPU and the database busy.
        # Measured on 2 cores (PAP, 10k users): files peaked with 1-2 workers (47k/s) and fell to 28k/s
        # with 4 or 8 (lock contention); sql peaked near 4 workers (more only add latency).
        cores = os.cpu_count() or 1
        self.threads = threads or (cores * 2 if backend == "sql" else cores)
        self.database = database
        self.max_requests = max_requests
        self.site = site
        self.policies = policies
        self.clients = dict(clients or {})
        self.proxy = dict(proxy) if proxy is not None else None
        self._tmp = None if workdir else tempfile.TemporaryDirectory(prefix="sesame-bench-fr-")
        super().__init__(workdir or Path(self._tmp.name if self._tmp else ".") / "raddb", stop_timeout=15.0)
        self._configure()

    # -- configuration

    def _render(self, template: str, **extra: str) -> str:
        values = {
            "DIR": str(self.dir),
            "HOST": self.host,
            "AUTH_PORT": str(self.auth_port),
            "ACCT_PORT": str(self.acct_port),
            "SECRET": self.secret,
            "THREADS": str(self.threads),
            "MAX_REQUESTS": str(self.max_requests),
            "BACKEND": self.backend,
            "PG_HOST": "127.0.0.1",
            "PG_PORT": "5432",
            "PG_USER": "postgres",
            "PG_DB": self.database,
            "POLICIES": "\n".join(f"\t$INCLUDE ${{confdir}}/policy.d/{name}" for name in self.policies),
            "PROXY_REQUESTS": "yes" if self.proxy is not None else "no",
            "PROXY_CONF": "$INCLUDE proxy.conf" if self.proxy is not None else "",
            **(self.proxy or {}),
            **extra,
        }
        return render(TEMPLATES / template, values, complete=False)

    def _configure(self) -> None:
        if self.dir.exists():
            shutil.rmtree(self.dir)
        shutil.copytree(STOCK, self.dir, symlinks=True)
        for sub in ("sites-enabled", "mods-enabled"):
            shutil.rmtree(self.dir / sub)
            (self.dir / sub).mkdir()
        for sub in ("log", "run"):
            (self.dir / sub).mkdir(exist_ok=True)
        (self.dir / "radiusd.conf").write_text(self._render("radiusd.conf"))
        clients = self._render("clients.conf") + "".join(
            f"\nclient extra{i} {{\n\tipaddr = {address}\n\tsecret = {secret}\n"
            "\trequire_message_authenticator = yes\n\tnas_type = other\n}\n"
            for i, (address, secret) in enumerate(self.clients.items())
        )
        (self.dir / "clients.conf").write_text(clients)
        self._write_site()
        if self.proxy is not None:
            (self.dir / "proxy.conf").write_text(self._render("proxy.conf"))
            (self.dir / "mods-enabled" / "realm").write_text(self._render("mod-realm"))
        if self.backend != "none":
            (self.dir / "mods-enabled" / "pap").write_text(self._render("mod-pap"))
        # "ok", "reject"… are instances of rlm_always, not keywords: without it "ok" fails to parse;
        # rlm_expr provides %{tolower:…}, which the stock SQL queries.conf needs to load
        for module in ("always", "expr"):
            shutil.copy(STOCK / "mods-available" / module, self.dir / "mods-enabled" / module)
        if self.backend != "none":
            (self.dir / "mods-enabled" / self.backend).write_text(self._render(f"mod-{self.backend}"))
        self.users_file.write_text("")

    def _write_site(self) -> None:
        """The virtual server, which holds the ports."""
        (self.dir / "sites-enabled" / "bench").write_text(self._render(self.site))

    @property
    def users_file(self) -> Path:
        return self.dir / "mods-config" / "files" / "authorize"

    # -- users

    def load_users(self, creds: Iterable[Credential]) -> int:
        """Give the back-end exactly these accounts (replacing earlier ones). Restart to apply to files."""
        if self.backend == "sql":
            return asyncio.run(self._load_sql(creds))
        if self.backend == "none":
            raise ValueError("a FreeRADIUS without a users back-end has no users to load")
        n = 0
        with self.users_file.open("w", encoding="utf-8") as f:
            for c in creds:
                f.write(f'"{c.user}" Cleartext-Password := "{c.password}"\n')
                n += 1
        return n

    async def _load_sql(self, creds: Iterable[Credential]) -> int:
        conn = await _admin()
        try:
            exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", self.database)
        finally:
            await conn.close()
        if not exists:
            await create_database(self.database)
        return await load_radcheck(self.database, creds)

    # -- process

    def start(self, timeout: float = 120.0, *, attempts: int = 3) -> tuple[str, int, str]:  # type: ignore[override]
        """Start and wait until it answers Status-Server; return (host, auth port, secret).

        Ports it chose itself (no ``auth_port`` given) are chosen again if one was taken before
        FreeRADIUS could bind it, up to ``attempts`` tries in all."""
        super().start(timeout, attempts=attempts)
        return self.host, self.auth_port, self.secret

    def ready(self) -> bool:
        return answers_status_server(self.host, self.auth_port, self.secret, timeout=0.5)

    def choose_new_ports(self) -> bool:
        if not self._ports_chosen:
            return False
        self.auth_port, self.acct_port = free_udp_port(self.host), free_udp_port(self.host)
        self._write_site()
        return True

    def close(self) -> None:
        self.stop()
        if self._tmp:
            self._tmp.cleanup()

    def __enter__(self) -> FreeRadius:
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def cpu_seconds(self) -> float:
        """CPU time of the FreeRADIUS process (every thread); 0 when not running."""
        return tree_cpu_seconds(self.proc.pid) if self.proc else 0.0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Run a private FreeRADIUS 3.2 for benchmarks.")
    sub = p.add_subparsers(dest="cmd", required=True)
    run = sub.add_parser("run", help="load users, start, wait, stop")
    run.add_argument("--backend", choices=("files", "sql"), default="sql")
    run.add_argument("--scenario", choices=SCENARIOS, default="pap")
    run.add_argument("--users", type=int, default=10_000)
    run.add_argument("--port", type=int, default=18120)
    run.add_argument("--secret", default="testing123")
    run.add_argument("--threads", type=int, default=0, help="worker threads (default: per back-end)")
    run.add_argument("--database", default=DEFAULT_DB)
    run.add_argument("--for", dest="seconds", type=float, default=600.0, help="stop after this long")
    run.add_argument("--credentials-out", type=Path, help="also write the credentials as CSV")
    a = p.parse_args(argv)

    with FreeRadius(
        a.backend, auth_port=a.port, secret=a.secret, threads=a.threads, database=a.database
    ) as fr:
        t = time.monotonic()
        n = fr.load_users(scenario_credentials(a.scenario, a.users))
        print(f"loaded {n} {a.scenario} accounts into {a.backend} in {time.monotonic() - t:.1f} s")
        if a.credentials_out:
            from radpackets import write_credentials

            write_credentials(a.credentials_out, list(scenario_credentials(a.scenario, a.users)))
        host, port, secret = fr.start()
        print(
            f"FreeRADIUS ({a.backend}, {fr.threads} threads) on {host}:{port} secret {secret}, pid {fr.pid}"
        )
        print(f"config {fr.dir}  log {fr.log}")
        with contextlib.suppress(KeyboardInterrupt):
            time.sleep(a.seconds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
