"""The parts of the federation proxy benchmark (``proxy_bench.py``): Liguria's home server, the two
proxies under test (FreeRADIUS 3.2 and Sésame) and the direct baseline, each started, checked and
stopped, with probes of the CPU they use; and ``check_target``, which makes sure a target proxies
(signed Access-Accepts, a rejected wrong password) before it is measured.
"""

from __future__ import annotations

import asyncio
import re
import socket
import subprocess
import time
from pathlib import Path
from typing import Protocol

import asyncpg  # type: ignore[import-untyped]
import freeradius as fr
import sesame_server
from auth_targets import database_cpu_seconds
from radpackets import Credential, Encoder, RequestOptions, check_reply
from sesame_seed import BENCH_SECRET, recreate_database, seed_sesame

REALM = "liguria.example"
PATTERN = "user{i}@" + REALM
# Addresses of their own, so the home server tells the proxies' requests from radload's (127.0.0.1),
# away from those of the interop tests (127.0.0.2-5), which may run at the same time
HOME_HOST = "127.0.0.12"
PARTNER_SECRET = "liguria-partner-secret"
SESAME_SOURCE = "127.0.0.15"  # SESAME_FEDERATION_SOURCE_ADDRESS
FR_SOURCE = "127.0.0.16"  # src_ipaddr of FreeRADIUS's home_server
OUR_REALM = "bench.example"
SESAME_DATABASE = "sesame_bench_proxy"
MESSAGE_AUTHENTICATOR = 80


# --------------------------------------------------------------------------------------------------
# The parts


class HomeServer:
    """Liguria's home server: FreeRADIUS ``files`` on 127.0.0.12, replies signed."""

    def __init__(self, workdir: Path, users: int, threads: int = 0) -> None:
        self.users = users
        self.server = fr.FreeRadius(
            "files",
            host=HOME_HOST,
            threads=threads,
            site="site-home",
            workdir=workdir / "fr-home",
            clients={SESAME_SOURCE: PARTNER_SECRET, FR_SOURCE: PARTNER_SECRET},
        )

    def start(self) -> tuple[str, int, str]:
        self.server.load_users(Credential(PATTERN.format(i=i), fr.PASSWORD) for i in range(self.users))
        return self.server.start(timeout=120)

    def cpu_seconds(self) -> float:
        return self.server.cpu_seconds()

    def close(self) -> None:
        self.server.close()


class Proxy(Protocol):
    name: str

    def start(self) -> tuple[str, int, str]: ...
    def stop(self) -> None: ...
    def cpu_seconds(self) -> float: ...
    def db_cpu_seconds(self) -> float: ...
    def describe(self) -> str: ...
    def problems(self) -> str: ...


class Direct:
    """No proxy: radload straight to the home server (the baseline)."""

    name = "direct (no proxy)"

    def __init__(self, home: HomeServer, address: tuple[str, int, str]) -> None:
        self.home, self.address = home, address

    def start(self) -> tuple[str, int, str]:
        return self.address

    def stop(self) -> None:
        pass

    def cpu_seconds(self) -> float:
        return 0.0

    def db_cpu_seconds(self) -> float:
        return 0.0

    def describe(self) -> str:
        return f"home server: FreeRADIUS files, {self.home.server.threads} threads"

    def problems(self) -> str:
        return ""


class FreeRadiusProxy:
    """FreeRADIUS 3.2 as a federation proxy to the home server (no user back-end)."""

    name = "FreeRADIUS"

    def __init__(self, workdir: Path, home_port: int, threads: int) -> None:
        self.server = fr.FreeRadius(
            "none",
            threads=threads,
            site="site-proxy",
            workdir=workdir / "fr-proxy",
            proxy={
                "HOME_HOST": HOME_HOST,
                "HOME_PORT": str(home_port),
                "HOME_SECRET": PARTNER_SECRET,
                "SRC": FR_SOURCE,
                "REALM": REALM,
                "OPERATOR": OUR_REALM,
            },
        )

    def start(self) -> tuple[str, int, str]:
        return self.server.start(timeout=60)

    def stop(self) -> None:
        self.server.stop()

    def cpu_seconds(self) -> float:
        return self.server.cpu_seconds()

    def db_cpu_seconds(self) -> float:
        return 0.0

    def describe(self) -> str:
        return f"{self.server.threads} worker threads"

    def problems(self) -> str:
        """Home-server health changes FreeRADIUS logged (a zombie means it missed answers)."""
        try:
            log = self.server.log.read_text(errors="replace")
        except OSError:
            return ""
        bad = re.findall(r"Marking home server \S+ port \d+ as (zombie|dead)", log)
        return f"home server marked {', '.join(sorted(set(bad)))} {len(bad)}×" if bad else ""

    def close(self) -> None:
        self.server.close()


class SesameProxy:
    """``sesame serve`` with federation on, proxying realm liguria.example to the home server."""

    def __init__(self, workdir: Path, home_port: int, extra_env: dict[str, str]) -> None:
        self.workdir = workdir
        self.home_port = home_port
        self.workers = 1
        self.name = "Sésame"
        self.proc: subprocess.Popen[bytes] | None = None
        self.log = workdir / "sesame.log"
        self.env = sesame_server.environment(
            SESAME_DATABASE,
            OUR_REALM,
            {"SESAME_FEDERATION_ENABLED": "true", "SESAME_FEDERATION_SOURCE_ADDRESS": SESAME_SOURCE}
            | extra_env,
        )
        self._log_mark = 0
        self._unanswered: dict[str, int] = {}

    def prepare(self) -> None:
        """A fresh database at the schema head: the load generator's NAS (no accounts: nothing is
        authenticated locally), and the partner through the command line, as an operator would."""
        asyncio.run(recreate_database(SESAME_DATABASE))
        sesame_server.sesame(self.env, self.workdir, "db", "upgrade")
        asyncio.run(seed_sesame(SESAME_DATABASE, "pap", 0, 0, None))
        sesame_server.sesame(
            self.env, self.workdir, "partner", "add", "liguria", "--realm", REALM,
            "--server", f"{HOME_HOST}:{self.home_port}", "--secret", PARTNER_SECRET,
        )  # fmt: skip

    def use_workers(self, workers: int) -> None:
        self.workers = workers
        self.name = f"Sésame ×{workers}"

    def start(self) -> tuple[str, int, str]:
        self._log_mark = self.log.stat().st_size if self.log.exists() else 0
        self._unanswered = asyncio.run(unanswered(SESAME_DATABASE))
        self.proc, auth, _ = sesame_server.serve(
            self.env, workdir=self.workdir, log=self.log, workers=self.workers, within=60
        )
        return sesame_server.HOST, auth, BENCH_SECRET

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        sesame_server.stop(proc)

    def cpu_seconds(self) -> float:
        """The server and its worker processes."""
        return fr.tree_cpu_seconds(self.proc.pid) if self.proc else 0.0

    def db_cpu_seconds(self) -> float:
        return database_cpu_seconds(SESAME_DATABASE)

    def describe(self) -> str:
        n = self.workers
        return f"{n} RADIUS process{'es (SO_REUSEPORT)' if n > 1 else ''}, uvloop, PostgreSQL"

    def problems(self) -> str:
        """Requests Sésame left unanswered during this run, by reason (from its own decision
        records: ``proxy_no_home_server``, ``proxy_no_answer``…), and the warnings it logged."""
        before, notes = self._unanswered, []
        refused = {k: n - before.get(k, 0) for k, n in asyncio.run(unanswered(SESAME_DATABASE)).items()}
        if any(refused.values()):
            notes.append("left unanswered: " + ", ".join(f"{n} {k}" for k, n in sorted(refused.items()) if n))
        try:
            with self.log.open("rb") as f:
                f.seek(self._log_mark)
                text = f.read().decode(errors="replace")
        except OSError:
            text = ""
        lines = [
            x
            for x in text.splitlines()
            if ("WARNING" in x or "ERROR" in x or "Traceback" in x)
            and "is alive (was unknown)" not in x
            and "dropped a packet: proxy_failed" not in x  # counted above, by reason
        ]
        if lines:
            notes.append(f"{len(lines)} warnings in {self.log.name}: {lines[0][:120]}")
        return "; ".join(notes)

    def close(self) -> None:
        self.stop()


async def unanswered(database: str) -> dict[str, int]:
    """Sésame's decision records of requests it did not answer, by reason."""
    conn = await asyncpg.connect(f"{fr.PG_URL}/{database}")
    try:
        rows = await conn.fetch(
            "SELECT reason, count(*) AS n FROM radpostauth WHERE reply = 'No-Reply' GROUP BY 1"
        )
    finally:
        await conn.close()
    return {r["reason"]: int(r["n"]) for r in rows}


# --------------------------------------------------------------------------------------------------
# Checks


def ask(host: str, port: int, secret: str, user: str, password: str, timeout: float = 1.0) -> list[int]:
    """One PAP Access-Request; the reply's code then its attribute types, or [] without a valid
    reply (the Response Authenticator and a leading Message-Authenticator are checked)."""
    packet, authenticator = Encoder(secret.encode(), RequestOptions()).encode(7, Credential(user, password))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.connect((host, port))
            s.send(packet)
            data = s.recv(4096)
        except OSError:
            return []
    code = check_reply(data, authenticator, secret.encode())
    if code < 0:
        return []
    types, i = [], 20
    while i + 2 <= len(data) and data[i + 1] >= 2:
        types.append(data[i])
        i += data[i + 1]
    return [code, *types]


def check_target(host: str, port: int, secret: str, *, within: float = 30.0) -> None:
    """Wait until the target proxies: 8 Access-Accepts in a row, each signed with
    Message-Authenticator first (each from a new socket, so every SO_REUSEPORT worker is asked)."""
    deadline = time.monotonic() + within
    good = 0
    last: list[int] = []
    while good < 8:
        last = ask(host, port, secret, PATTERN.format(i=good), fr.PASSWORD)
        if last[:2] == [2, MESSAGE_AUTHENTICATOR]:
            good += 1
            continue
        good = 0
        if time.monotonic() > deadline:
            raise RuntimeError(f"no signed Access-Accept through {host}:{port} (last reply: {last})")
        time.sleep(0.3)
    wrong = ask(host, port, secret, PATTERN.format(i=0), "wrong password")
    if wrong[:1] != [3]:
        raise RuntimeError(f"a wrong password was not rejected through {host}:{port}: {wrong}")
