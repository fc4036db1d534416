"""Issue 16, rolling upgrade: two real ``sesame serve`` instances — host A on 127.0.0.1, host B on
127.0.0.2, the same ports — share one PostgreSQL database, behind access points that fail over as
real ones do: each request goes to the access point's primary server and, when no answer comes
within a short timeout, the same packet goes to its other server (radclient takes one server, so the
access points are simulated here with real RADIUS packets from pyrad). Half the access points have A
as primary, half B, so both carry load.

Under that load (PAP Access-Requests for a valid account, accounting Starts and Stops) the hosts are
upgraded one at a time: A is stopped (SIGTERM), the next release (:mod:`tests.support.nextrelease`:
this code plus an expand-only migration) migrates the database with ``sesame db upgrade`` while B,
still the old release, serves alone against the new schema; A starts again as the next release;
B — the old release — is restarted mid-roll (it must start against the newer schema); then B is
stopped, upgraded, started. Throughout: no Access-Reject, every request answered in the end, every
accounting record that got an Accounting-Response in the database, and the fail-overs counted
(there must have been some while each host was down, or the test did not test anything).
PostgreSQL only; in CI a missing PostgreSQL fails the test.
"""

from __future__ import annotations

import asyncio
import hashlib
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pyrad import packet as pp
from pyrad.dictionary import Dictionary
from sqlalchemy import select

from accounts.models import AccountingSession
from radius import DICTIONARY
from sesame.db import create_engine
from sesame.dburl import normalize_database_url
from tests.conftest import postgres_database
from tests.interop.conftest import PASSWORD, SECRET, Server, add_valence, launch
from tests.support import nextrelease
from tests.support.ports import free_udp_port
from tests.support.processes import stop
from tests.support.status_server import answers_status_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

A, B = "127.0.0.1", "127.0.0.2"
#: access points per primary server
PER_PRIMARY = 2
#: how long an access point waits for an answer before it asks its other server
TIMEOUT = 0.5
#: attempts before an access point gives a request up (counted: there must be none)
ATTEMPTS = 60
#: how long the test waits for something that should happen in a few seconds
PATIENCE = 60.0
#: accounting records: not alice's, whose Access-Requests would meet simultaneous use
LOAD_USER = "meter"


@dataclass
class Tally:
    """What the access points saw."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    accepts: int = 0
    rejects: list[str] = field(default_factory=list)  # what an Access-Reject was for
    given_up: list[str] = field(default_factory=list)  # requests no server ever answered
    acked_starts: list[str] = field(default_factory=list)
    acked_stops: list[str] = field(default_factory=list)
    #: fail-overs, by the server that did not answer in time
    failovers: Counter[str] = field(default_factory=Counter)
    #: answers, by the server that gave them
    answers: Counter[str] = field(default_factory=Counter)
    stop: threading.Event = field(default_factory=threading.Event)

    def records(self) -> int:
        with self.lock:
            return len(self.acked_starts) + len(self.acked_stops)

    def wait_for_more(self, what: str, count: int, *, server: str | None = None) -> None:
        """Wait until ``count`` more accounting records are acknowledged (by ``server`` if named)."""

        def seen() -> int:
            with self.lock:
                return self.answers[server] if server else len(self.acked_starts) + len(self.acked_stops)

        target = seen() + count
        deadline = time.monotonic() + PATIENCE
        while seen() < target:
            assert time.monotonic() < deadline, f"{what}: {seen()} of {target} answers"
            time.sleep(0.05)


def _reply_ok(data: bytes, request: bytes) -> bool:
    """``data`` answers ``request``: same identifier, a response authenticator made with the secret."""
    if len(data) < 20 or data[1] != request[1]:
        return False
    expected = hashlib.md5(data[:4] + request[4:20] + data[20:] + SECRET.encode()).digest()
    return data[4:20] == expected


def _exchange(
    sock: socket.socket, servers: tuple[str, str], port: int, request: bytes, tally: Tally
) -> int | None:
    """Send ``request`` to the primary, then to the other server each time no answer comes within
    :data:`TIMEOUT`, as an access point with two RADIUS servers does; the reply's code (None: none)."""
    for attempt in range(ATTEMPTS):
        server = servers[attempt % 2]
        sock.sendto(request, (server, port))
        deadline = time.monotonic() + TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            sock.settimeout(left)
            try:
                data, (source, _) = sock.recvfrom(4096)
            except (TimeoutError, ConnectionRefusedError):
                break
            if _reply_ok(data, request):  # a late answer from the other server counts too
                with tally.lock:
                    tally.answers[source] += 1
                return data[0]
        with tally.lock:
            tally.failovers[server] += 1
    return None


def access_point(name: str, servers: tuple[str, str], auth_port: int, acct_port: int, tally: Tally) -> None:
    """Until told to stop: alice's PAP Access-Request, then an accounting Start and Stop."""
    dictionary = Dictionary(str(DICTIONARY))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind((A, 0))  # the access point's address, known to both servers
        n = 0
        while not tally.stop.is_set():
            n += 1
            auth = pp.AuthPacket(id=n % 256, secret=SECRET.encode(), dict=dictionary)
            auth["User-Name"] = "alice"
            auth["User-Password"] = auth.PwCrypt(PASSWORD)
            auth["Calling-Station-Id"] = "02-00-00-00-00-01"
            auth.add_message_authenticator()
            code = _exchange(sock, servers, auth_port, auth.RequestPacket(), tally)
            with tally.lock:
                if code == pp.AccessAccept:
                    tally.accepts += 1
                elif code is None:
                    tally.given_up.append(f"{name} Access-Request {n}")
                else:
                    tally.rejects.append(f"{name} Access-Request {n}: code {code}")
            session_id = f"{name}-{n}"
            for status in ("Start", "Stop"):
                acct = pp.AcctPacket(id=(n + 128) % 256, secret=SECRET.encode(), dict=dictionary)
                acct["User-Name"] = LOAD_USER
                acct["Acct-Status-Type"] = status
                acct["Acct-Session-Id"] = session_id
                acct["Calling-Station-Id"] = (
                    f"02-00-00-{n // 65536 % 256:02X}-{n // 256 % 256:02X}-{n % 256:02X}"
                )
                if status == "Stop":
                    acct["Acct-Session-Time"] = 1
                code = _exchange(sock, servers, acct_port, acct.RequestPacket(), tally)
                with tally.lock:
                    if code == pp.AccountingResponse:
                        (tally.acked_starts if status == "Start" else tally.acked_stops).append(session_id)
                    else:
                        tally.given_up.append(f"{session_id} {status}")


@dataclass
class Roll:
    database_url: str
    auth_port: int
    acct_port: int
    tmp: Path
    release: Path  # the next release, for PYTHONPATH
    started: list[Server] = field(default_factory=list)

    def start(self, address: str, *, upgraded: bool, known: bool = True) -> Server:
        """``sesame serve`` on ``address`` (the next release if ``upgraded``); with ``known`` (the
        access point is in the database), returns once it answers the access point."""
        workdir = self.tmp / f"{address}-{len(self.started)}"
        workdir.mkdir()
        extra = {"PYTHONPATH": str(self.release)} if upgraded else {}
        server = launch(
            workdir,
            self.database_url,
            SESAME_RADIUS_AUTH_PORT=str(self.auth_port),
            SESAME_RADIUS_ACCT_PORT=str(self.acct_port),
            SESAME_RADIUS_BIND=address,
            **extra,
        )
        self.started.append(server)
        if not known:
            return server
        deadline = time.monotonic() + PATIENCE
        while not answers_status_server(address, self.auth_port, SECRET, timeout=0.5):
            assert time.monotonic() < deadline, f"{address} does not answer the access point"
        return server

    def next_release_cli(self, server: Server, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "sesame", *args],
            env=server.env | {"PYTHONPATH": str(self.release)},
            cwd=self.tmp,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout


async def _stored(url: str) -> tuple[set[str], set[str]]:
    engine = create_engine(normalize_database_url(url))
    try:
        async with engine.connect() as connection:
            rows = (
                await connection.execute(
                    select(AccountingSession.acctsessionid, AccountingSession.acctstoptime)
                )
            ).all()
    finally:
        await engine.dispose()
    return {row[0] for row in rows}, {row[0] for row in rows if row[1] is not None}


def test_a_rolling_upgrade_under_load_rejects_nothing_and_loses_no_acknowledged_record(
    request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    template = request.getfixturevalue("postgres_template")
    release = nextrelease.make(tmp_path / "next-release")
    with postgres_database("sesame_roll", template=template) as url:
        roll = Roll(url, free_udp_port(B), free_udp_port(B), tmp_path, release)
        tally = Tally()
        threads: list[threading.Thread] = []
        try:
            servers = {
                A: roll.start(A, upgraded=False, known=False),
                B: roll.start(B, upgraded=False, known=False),
            }
            add_valence(servers[A])
            servers[A].cli("user", "add", LOAD_USER, "--email", "meter@example.fr", "--password", PASSWORD)
            deadline = time.monotonic() + PATIENCE
            while not answers_status_server(B, roll.auth_port, SECRET, timeout=0.5):
                assert time.monotonic() < deadline, "B does not know the access point"
            for i, primary in enumerate([A] * PER_PRIMARY + [B] * PER_PRIMARY):
                pair = (primary, B if primary == A else A)
                args = (f"ap{i}", pair, roll.auth_port, roll.acct_port, tally)
                threads.append(threading.Thread(target=access_point, args=args, daemon=True))
            for thread in threads:
                thread.start()
            tally.wait_for_more("both old hosts serving", 100)

            # A: stopped, the database migrated by the next release while B (old) serves alone
            stop(servers[A].proc, timeout=30)
            assert servers[A].proc.returncode == 0, servers[A].log.read_text()
            migrated = roll.next_release_cli(servers[B], "db", "upgrade")
            assert f"is at revision {nextrelease.revision()}" in migrated
            tally.wait_for_more("the old B alone on the new schema", 100, server=B)
            servers[A] = roll.start(A, upgraded=True)
            assert "newer than this version's" not in servers[A].log.read_text()  # the next release runs
            tally.wait_for_more("the upgraded A", 100, server=A)

            # an old instance restarted mid-roll starts against the newer schema
            stop(servers[B].proc, timeout=30)
            servers[B] = roll.start(B, upgraded=False)
            assert "newer than this version's" in servers[B].log.read_text()
            tally.wait_for_more("the restarted old B", 100, server=B)

            # B: stopped, upgraded, started
            stop(servers[B].proc, timeout=30)
            assert servers[B].proc.returncode == 0, servers[B].log.read_text()
            tally.wait_for_more("the upgraded A alone", 100, server=A)
            servers[B] = roll.start(B, upgraded=True)
            tally.wait_for_more("the upgraded B", 100, server=B)
            assert "(up to date)" in roll.next_release_cli(servers[B], "db", "current")
        finally:
            tally.stop.set()
            for thread in threads:
                thread.join(timeout=PATIENCE)
            for server in roll.started:
                stop(server.proc, timeout=30)
        assert not any(thread.is_alive() for thread in threads)
        starts, stops = asyncio.run(_stored(url))

    for server in roll.started:
        assert "Traceback" not in server.log.read_text(), server.log.read_text()
    assert tally.rejects == []
    assert tally.given_up == []
    assert tally.accepts > 0
    assert tally.failovers[A] > 0 and tally.failovers[B] > 0, tally.failovers  # each was down under load
    lost = (set(tally.acked_starts) - starts) | (set(tally.acked_stops) - stops)
    assert not lost, f"{len(lost)} acknowledged records lost, e.g. {sorted(lost)[:5]}"
