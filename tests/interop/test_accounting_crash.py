"""Nothing acknowledged is ever lost: SIGKILL the server in the middle of an accounting stream.

Several simulated access points send Accounting Starts as fast as the server answers; the server
process is killed with SIGKILL while they are in flight; every session whose Start got an
Accounting-Response must then be in the database, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import signal
import socket
import threading
import time
from pathlib import Path

import pytest
from pyrad import packet as pp
from pyrad.dictionary import Dictionary
from sqlalchemy import select

from accounts.models import AccountingSession
from radius import DICTIONARY
from sesame.db import create_engine
from tests.interop.conftest import SECRET, launch, wait_until_served

SENDERS = 8


def sender(port: int, prefix: str, acked: list[str], sent: list[str], stop: threading.Event) -> None:
    dictionary = Dictionary(str(DICTIONARY))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        sock.connect(("127.0.0.1", port))
        n = 0
        while not stop.is_set():
            n += 1
            session_id = f"{prefix}-{n}"
            request = pp.AcctPacket(id=n % 256, secret=SECRET.encode(), dict=dictionary)
            request["User-Name"] = "alice"
            request["Acct-Status-Type"] = "Start"
            request["Acct-Session-Id"] = session_id
            request["Calling-Station-Id"] = f"02-00-00-00-{n // 256 % 256:02X}-{n % 256:02X}"
            data = request.RequestPacket()
            sent.append(session_id)
            try:
                sock.send(data)
                reply = sock.recv(4096)
            except (TimeoutError, ConnectionRefusedError):
                continue  # the server is gone (or slow): not acknowledged
            if reply[0] == pp.AccountingResponse and reply[1] == data[1]:
                acked.append(session_id)


async def stored_session_ids(database_url: str) -> set[str]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return set((await connection.scalars(select(AccountingSession.acctsessionid))).all())
    finally:
        await engine.dispose()


def test_every_acknowledged_record_survives_sigkill(database_url: str, tmp_path: Path) -> None:
    url = database_url.replace("+aiosqlite", "")
    server = launch(tmp_path, url)
    try:
        server.cli("commune", "add", "Valence", "--insee", "26362")
        server.cli("site", "add", "Gare", "--commune", "Valence")
        server.cli("nas", "add", "ap", "--ip", "127.0.0.1", "--secret", SECRET, "--site", "Gare")
        wait_until_served(server)

        acked: list[str] = []
        sent: list[str] = []
        stop = threading.Event()
        threads = [
            threading.Thread(target=sender, args=(server.acct_port, f"ap{i}", acked, sent, stop), daemon=True)
            for i in range(SENDERS)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(acked) < 500 and time.monotonic() < deadline:  # well into the stream
            time.sleep(0.05)
        server.proc.send_signal(signal.SIGKILL)
        server.proc.wait(timeout=10)
        killed_at = len(acked)
        time.sleep(0.6)  # the senders' last waits time out
        stop.set()
        for thread in threads:
            thread.join(timeout=5)
    finally:
        if server.proc.poll() is None:
            server.proc.kill()

    assert killed_at >= 500, "the stream had not started before the kill"
    assert len(sent) > len(acked), "the kill should interrupt requests in flight"
    stored = asyncio.run(stored_session_ids(database_url))
    lost = set(acked) - stored
    assert not lost, f"{len(lost)} acknowledged records lost, e.g. {sorted(lost)[:5]}"


@pytest.fixture(autouse=True)
def _radclient_needed() -> None:
    from tests.interop.conftest import need_tool

    need_tool("radclient")  # wait_until_served uses it
