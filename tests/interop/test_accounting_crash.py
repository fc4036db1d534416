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
from dataclasses import dataclass, field
from pathlib import Path

from pyrad import packet as pp
from pyrad.dictionary import Dictionary
from sqlalchemy import select

from accounts.models import AccountingSession
from radius import DICTIONARY
from sesame.db import create_engine
from tests.interop.conftest import SECRET, launch, wait_until_served

SENDERS = 8


@dataclass
class Stream:
    """What the senders share: a request counts as sent only if it went out before the kill."""

    acked: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


def sender(port: int, prefix: str, stream: Stream) -> None:
    dictionary = Dictionary(str(DICTIONARY))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        sock.connect(("127.0.0.1", port))
        n = 0
        while True:
            n += 1
            session_id = f"{prefix}-{n}"
            request = pp.AcctPacket(id=n % 256, secret=SECRET.encode(), dict=dictionary)
            request["User-Name"] = "alice"
            request["Acct-Status-Type"] = "Start"
            request["Acct-Session-Id"] = session_id
            request["Calling-Station-Id"] = f"02-00-00-00-{n // 256 % 256:02X}-{n % 256:02X}"
            data = request.RequestPacket()
            with stream.lock:  # the kill happens under the lock: nothing is sent after it
                if stream.stop.is_set():
                    return
                stream.sent.append(session_id)
                sock.send(data)
            try:
                reply = sock.recv(4096)
            except (TimeoutError, ConnectionRefusedError):
                continue  # the server is gone (or slow): not acknowledged
            if reply[0] == pp.AccountingResponse and reply[1] == data[1]:
                stream.acked.append(session_id)


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

        stream = Stream()
        threads = [
            threading.Thread(target=sender, args=(server.acct_port, f"ap{i}", stream), daemon=True)
            for i in range(SENDERS)
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 30
        while len(stream.acked) < 500 and time.monotonic() < deadline:  # well into the stream
            time.sleep(0.05)
        with stream.lock:
            server.proc.send_signal(signal.SIGKILL)
            stream.stop.set()
            sent_at_kill = len(stream.sent)
        server.proc.wait(timeout=10)
        killed_at = len(stream.acked)
        for thread in threads:  # each sender ends once its last request is answered or times out
            thread.join(timeout=10)
        assert not any(thread.is_alive() for thread in threads)
    finally:
        if server.proc.poll() is None:
            server.proc.kill()

    assert killed_at >= 500, "the stream had not started before the kill"
    assert len(stream.sent) == sent_at_kill
    assert sent_at_kill > len(stream.acked), "the kill should interrupt requests in flight"
    stored = asyncio.run(stored_session_ids(database_url))
    lost = set(stream.acked) - stored
    assert not lost, f"{len(lost)} acknowledged records lost, e.g. {sorted(lost)[:5]}"
