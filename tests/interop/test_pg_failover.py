"""A real ``sesame serve`` through a PostgreSQL fail-over and a database outage.

Fail-over: two clusters made on this machine with Debian's tools (:mod:`tests.support.pgcluster`),
a primary and its synchronous streaming standby; Sésame's URL names both, libpq style, with
``target_session_attrs=read-write``. Under a steady accounting load from simulated access points
(each retransmits a record until it is acknowledged, as a NAS does), the primary is killed, the
standby promoted: Sésame must serve again without a restart, every record it acknowledged must be
in the promoted database, and every record must end acknowledged (the retransmissions succeed).
While no primary is there, Access-Requests are answered from the caches where it is safe (an
account verified before) and left unanswered where it is not (an account never seen).

Outage: one cluster stopped then started again: accounting unanswered meanwhile and stored once it
is back, ``/readyz`` and ``sesame_database_up`` saying so, a log line each way.

The clusters need root and Debian's ``postgresql`` (installed by ``.ci/run``): skipped on a
workstation without them, failed in CI.
"""

from __future__ import annotations

import asyncio
import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from pyrad import packet as pp
from pyrad.dictionary import Dictionary
from sqlalchemy import select

from accounts.models import AccountingSession
from radius import DICTIONARY
from radius.accountcache import POLL_OVERLAP
from sesame import migrations
from sesame.db import create_engine
from sesame.dburl import normalize_database_url
from tests.conftest import IN_CI
from tests.interop.conftest import PASSWORD, SECRET, Server, add_valence, launch, need_tool, received
from tests.support import pgcluster
from tests.support.pgcluster import Cluster
from tests.support.ports import free_tcp_port
from tests.support.processes import stop

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

SENDERS = 4
#: whose sessions the load opens: not alice, whose Access-Requests would meet simultaneous-use
LOAD_USER = "meter"
#: how long a test waits for something that should happen in a couple of seconds
PATIENCE = 60.0


def need_clusters() -> None:
    reason = pgcluster.missing_tools()
    if reason is None:
        return
    message = f"PostgreSQL clusters of the test's own are needed: {reason}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _migrated(cluster: Cluster) -> None:
    cluster.psql("CREATE DATABASE sesame")
    migrations.upgrade(normalize_database_url(cluster.url("sesame")))


@pytest.fixture
def pair() -> Iterator[tuple[Cluster, Cluster]]:
    """A migrated primary and its synchronous streaming standby, dropped after the test."""
    need_clusters()
    need_tool("radclient")
    name = f"sesame_fo_{os.getpid()}"
    primary = pgcluster.create(f"{name}_a", free_tcp_port())
    standby: Cluster | None = None
    try:
        _migrated(primary)
        standby = pgcluster.create_standby(primary, f"{name}_b", free_tcp_port())
        pgcluster.make_synchronous(primary)
        yield primary, standby
    finally:
        primary.drop()
        if standby is not None:
            standby.drop()


@pytest.fixture
def single() -> Iterator[Cluster]:
    need_clusters()
    need_tool("radclient")
    cluster = pgcluster.create(f"sesame_out_{os.getpid()}", free_tcp_port())
    try:
        _migrated(cluster)
        yield cluster
    finally:
        cluster.drop()


@dataclass
class Load:
    """What the simulated access points share."""

    acked: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)  # finish the record in hand, then stop
    give_up: threading.Event = field(default_factory=threading.Event)  # stop at once

    def wait_for(self, count: int) -> None:
        deadline = time.monotonic() + PATIENCE
        while len(self.acked) < count:
            assert time.monotonic() < deadline, f"{len(self.acked)} records acknowledged, {count} awaited"
            time.sleep(0.05)


def access_point(port: int, prefix: str, load: Load) -> None:
    """Accounting Starts one after the other, each retransmitted (same packet) until answered."""
    dictionary = Dictionary(str(DICTIONARY))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        sock.connect(("127.0.0.1", port))
        n = 0
        while not load.stop.is_set():
            n += 1
            session_id = f"{prefix}-{n}"
            request = pp.AcctPacket(id=n % 256, secret=SECRET.encode(), dict=dictionary)
            request["User-Name"] = LOAD_USER
            request["Acct-Status-Type"] = "Start"
            request["Acct-Session-Id"] = session_id
            request["Calling-Station-Id"] = f"02-00-00-00-{n // 256 % 256:02X}-{n % 256:02X}"
            data = request.RequestPacket()
            while not load.give_up.is_set():
                sock.send(data)
                try:
                    reply = sock.recv(4096)
                except (TimeoutError, ConnectionRefusedError):
                    continue  # not acknowledged: send it again
                if reply[0] == pp.AccountingResponse and reply[1] == data[1]:
                    load.acked.append(session_id)
                    break


def start_load(server: Server) -> tuple[Load, list[threading.Thread]]:
    load = Load()
    threads = [
        threading.Thread(target=access_point, args=(server.acct_port, f"ap{i}", load), daemon=True)
        for i in range(SENDERS)
    ]
    for thread in threads:
        thread.start()
    return load, threads


def stop_load(load: Load, threads: list[threading.Thread]) -> None:
    """Each access point finishes the record in hand (acknowledged) and stops."""
    load.stop.set()
    for thread in threads:
        thread.join(timeout=PATIENCE)
    load.give_up.set()
    assert not any(thread.is_alive() for thread in threads), "a record was never acknowledged"


async def _stored(url: str) -> set[str]:
    engine = create_engine(normalize_database_url(url))
    try:
        async with engine.connect() as connection:
            return set((await connection.scalars(select(AccountingSession.acctsessionid))).all())
    finally:
        await engine.dispose()


def stored(cluster: Cluster) -> set[str]:
    return asyncio.run(_stored(cluster.url("sesame")))


def pap(server: Server, user: str) -> str | None:
    attributes = f'User-Name = "{user}"\nUser-Password = "{PASSWORD}"\nMessage-Authenticator = 0x00'
    return received(server.radclient(attributes))


def metric(server: Server, sample: str) -> float | None:
    """The value of ``sample`` (a name and its labels as /metrics writes them), None if absent."""
    text = httpx.get(f"http://127.0.0.1:{server.env['SESAME_METRICS_PORT']}/metrics", timeout=5).text
    match = re.search(rf"^{re.escape(sample)} (\S+)$", text, re.MULTILINE)
    return float(match.group(1)) if match else None


def database_up(server: Server) -> float | None:
    return metric(server, "sesame_database_up")


def wait_until(what: str, check: object) -> None:
    assert callable(check)
    deadline = time.monotonic() + PATIENCE
    while not check():
        assert time.monotonic() < deadline, f"still waiting for {what}"
        time.sleep(0.2)


def accounts(server: Server, *usernames: str) -> float:
    """alice and the others, with the load's account; when the last was made (monotonic)."""
    add_valence(server)  # alice (through the server's URL: the CLI reads the same settings)
    for username in (LOAD_USER, *usernames):
        server.cli("user", "add", username, "--email", f"{username}@example.fr", "--password", PASSWORD)
    return time.monotonic()


def cache_alice(server: Server, made: float) -> None:
    """alice's account into the caches for good: the poll forgets the rows changed since the
    previous poll less POLL_OVERLAP, so a row used once past that stays until it changes."""
    time.sleep(max(0.0, made + POLL_OVERLAP.total_seconds() + 3 - time.monotonic()))
    assert pap(server, "alice") == "Access-Accept"


def logged(server: Server, line: str) -> bool:
    return line in server.log.read_text()


def test_after_the_primary_dies_and_the_standby_is_promoted_sesame_serves_on_and_loses_nothing(
    pair: tuple[Cluster, Cluster], tmp_path: Path
) -> None:
    primary, standby = pair
    url = f"postgresql://postgres@127.0.0.1:{primary.port},127.0.0.1:{standby.port}/sesame"
    server = launch(tmp_path, f"{url}?target_session_attrs=read-write")
    try:
        made = accounts(server, "carol")
        load, threads = start_load(server)
        load.wait_for(200)
        cache_alice(server, made)  # carol is never looked up before the outage

        primary.stop(mode="immediate")  # a crash: no shutdown checkpoint, connections cut
        wait_until("the database to be seen down", lambda: database_up(server) == 0)
        assert logged(server, "radius: the database is unreachable")
        # no primary: an account verified before is still answered, one never seen is not
        # (no answer rather than a reject: the access point asks its other server)
        assert pap(server, "alice") == "Access-Accept"
        assert pap(server, "carol") is None
        assert (metric(server, 'sesame_radius_drops_total{reason="database_unavailable"}') or 0) >= 1
        assert (metric(server, 'sesame_radius_drops_total{reason="not_recorded"}') or 0) >= 1

        before_promotion = len(load.acked)
        standby.promote()
        load.wait_for(before_promotion + 200)  # serving again, without a restart
        wait_until("the database to be seen up", lambda: database_up(server) == 1)
        assert logged(server, "radius: the database answers again")
        assert pap(server, "carol") == "Access-Accept"
        stop_load(load, threads)
    finally:
        stop(server.proc, timeout=30)

    kept = stored(standby)
    lost = set(load.acked) - kept
    assert not lost, f"{len(lost)} acknowledged records lost, e.g. {sorted(lost)[:5]}"
    assert len(load.acked) >= before_promotion + 200


def test_a_database_outage_leaves_accounting_unanswered_until_it_is_back(
    single: Cluster, tmp_path: Path
) -> None:
    web_port = free_tcp_port()
    server = launch(
        tmp_path,
        single.url("sesame"),
        SESAME_WEB_ENABLED="true",
        SESAME_WEB_BIND="127.0.0.1",
        SESAME_WEB_PORT=str(web_port),
    )
    readyz = f"http://127.0.0.1:{web_port}/readyz"
    try:
        made = accounts(server)
        assert httpx.get(readyz, timeout=10).status_code == 200
        load, threads = start_load(server)
        load.wait_for(100)
        cache_alice(server, made)

        single.stop()
        wait_until("the database to be seen down", lambda: database_up(server) == 0)
        assert logged(server, "radius: the database is unreachable")
        answer = httpx.get(readyz, timeout=10)
        assert (answer.status_code, answer.json()["database"]) == (503, "unreachable")
        assert pap(server, "alice") == "Access-Accept"  # from the caches
        stopped_at = len(load.acked)
        time.sleep(2)  # the access points keep retransmitting meanwhile
        during = len(load.acked) - stopped_at
        assert during <= SENDERS  # at most the records already committed when it went down

        single.start()
        load.wait_for(stopped_at + 100)  # recovered by itself: the retransmissions are answered
        wait_until("the database to be seen up", lambda: database_up(server) == 1)
        assert logged(server, "radius: the database answers again")
        assert httpx.get(readyz, timeout=10).status_code == 200
        stop_load(load, threads)
    finally:
        stop(server.proc, timeout=30)

    lost = set(load.acked) - stored(single)
    assert not lost, f"{len(lost)} acknowledged records lost, e.g. {sorted(lost)[:5]}"
