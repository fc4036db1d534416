"""Packets signed with a real access point's secret but built to hurt, against a real ``sesame
serve`` on SQLite and PostgreSQL (issue 14, points 3 and 4): Proxy-State that makes every reply too
big, and text attributes holding NUL, control characters, invalid UTF-8 or 253 octets. The server
keeps answering, counts what it drops, and stores every record.
"""

from __future__ import annotations

import asyncio
import re
import socket
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from sqlalchemy.engine import make_url

from radius import codec
from radius.codec import Code
from tests.interop.conftest import PASSWORD, REALM, SECRET, Server, add_valence, launch, need_tool
from tests.support.ports import free_tcp_port

pytestmark = pytest.mark.slow

USER_PASSWORD, NAS_IDENTIFIER, ACCT_SESSION_ID, NAS_PORT_ID = 2, 32, 44, 87
START = (1).to_bytes(4, "big")


@pytest.fixture
def served(database_url: str, tmp_path: Path) -> Iterator[tuple[Server, str, int]]:
    need_tool("radclient")
    web = free_tcp_port()
    url = database_url
    if url.startswith("sqlite"):
        url = f"sqlite:///{make_url(url).database}"
    srv = launch(
        tmp_path,
        url,
        SESAME_WEB_ENABLED="true",
        SESAME_WEB_BIND="127.0.0.1",
        SESAME_WEB_PORT=str(web),
        SESAME_PORTAL_ENABLED="false",
    )
    try:
        add_valence(srv)
        yield srv, database_url, web
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=30)


def _query(database_url: str, sql: str) -> list[tuple[Any, ...]]:
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        with sqlite3.connect(str(url.database)) as db:
            return list(db.execute(sql))

    async def run() -> list[tuple[Any, ...]]:
        dsn = url.set(drivername="postgresql").render_as_string(False)
        connection = await asyncpg.connect(dsn)
        try:
            return [tuple(r) for r in await connection.fetch(sql)]
        finally:
            await connection.close()

    return asyncio.run(run())


def _wait_rows(database_url: str, sql: str, count: int) -> list[tuple[Any, ...]]:
    """Records are written every 0.1 s: the rows once there are ``count`` (or after 10 s)."""
    deadline = time.monotonic() + 10
    while len(rows := _query(database_url, sql)) < count and time.monotonic() < deadline:
        time.sleep(0.1)
    return rows


def _metric(srv: Server, name: str, **labels: str) -> float:
    """A counter from the server's metrics listener (not the public web port)."""
    text = httpx.get(f"http://127.0.0.1:{srv.env['SESAME_METRICS_PORT']}/metrics", timeout=5).text
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    found = re.search(rf"^{name}\{{{re.escape(wanted)}\}} (\S+)$", text, re.MULTILINE)
    return float(found.group(1)) if found else 0.0


def _access_request(identifier: int, user: bytes, *extra: tuple[int, bytes], password: bytes = b"") -> bytes:
    authenticator = bytes(range(16))
    attributes = codec.tlv(codec.USER_NAME, user)
    attributes += codec.tlv(
        USER_PASSWORD, codec.hide_user_password(password or b"wrong", SECRET.encode(), authenticator)
    )
    attributes += b"".join(codec.tlv(code, value) for code, value in extra)
    return codec.encode_request(
        code=Code.ACCESS_REQUEST,
        identifier=identifier,
        secret=SECRET.encode(),
        attributes=attributes,
        authenticator=authenticator,
    )


def _filled(identifier: int, user: bytes, *, password: bytes = b"") -> bytes:
    """An Access-Request of exactly 4,096 octets, filled up with Proxy-State."""
    room = codec.MAX_LENGTH - len(_access_request(identifier, user, password=password))
    states: list[tuple[int, bytes]] = []
    while room > 0:
        size = min(room, 255) if room - min(room, 255) != 1 else 200  # no 1-octet remainder
        states.append((codec.PROXY_STATE, bytes([len(states)]) * (size - 2)))
        room -= size
    return _access_request(identifier, user, *states, password=password)


def _exchange(port: int, packets: list[bytes], *, timeout: float = 3.0) -> list[bytes | None]:
    """Send every packet from one socket, then collect the replies by identifier."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("127.0.0.1", port))
        for packet in packets:
            sock.send(packet)
        replies: dict[int, bytes] = {}
        sock.settimeout(timeout)
        try:
            while len(replies) < len(packets):
                data = sock.recv(4096)
                replies[data[1]] = data
        except TimeoutError:
            pass
    return [replies.get(packet[1]) for packet in packets]


def test_replies_made_too_big_by_proxy_state_are_dropped_and_counted_and_the_workers_survive(
    served: tuple[Server, str, int],
) -> None:
    srv, _, web = served
    # alice's password verified once, so the flood's Access-Accepts need no argon2id (verifications
    # beyond the bound would be dropped as overload, before any reply is built)
    assert "Received Access-Accept" in srv.radtest("alice", PASSWORD)
    before = _metric(srv, "sesame_radius_drops_total", reason="reply_too_big")
    sent = 0
    for round_ in range(3):  # more than there are worker tasks (64), several times over
        # Proxy-State up to the last octet the request holds: the Access-Accept (Class, policy)
        # and the Access-Reject (Reply-Message) that must echo it all cannot hold it
        packets = [
            _filled(i, b"alice", password=PASSWORD.encode())
            if i % 2
            else _filled(i, b"n@e.fr")  # short: the Reply-Message outgrows name and password
            for i in range(128)
        ]
        assert all(len(p) == codec.MAX_LENGTH for p in packets)
        assert _exchange(srv.auth_port, packets, timeout=1.0) == [None] * len(packets), round_
        sent += len(packets)
    deadline = time.monotonic() + 10
    while _metric(srv, "sesame_radius_drops_total", reason="reply_too_big") < before + sent:
        assert time.monotonic() < deadline, (
            "the drops were not counted",
            _metric(srv, "sesame_radius_drops_total", reason="reply_too_big") - before,
            _metric(srv, "sesame_radius_drops_total", reason="overload"),
        )
        time.sleep(0.2)
    # still answered: Access-Request (a normal one) and Status-Server, and ready
    assert "Received Access-Accept" in srv.radtest("alice", PASSWORD)
    (reply,) = _exchange(srv.auth_port, [_access_request(7, b"alice", password=PASSWORD.encode())])
    assert reply is not None and reply[0] == Code.ACCESS_ACCEPT
    ready = httpx.get(f"http://127.0.0.1:{web}/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["radius"] == "ok"
    log = srv.log.read_text()
    assert "Traceback" not in log and log.count("reply_too_big") == 1  # logged once, counted always


HOSTILE = [b"\x00", b"a\x00b", b"\xff\xfe", b"\x1b[2J", b"x" * 253, b"\x00" * 253, "é".encode() * 126]


def test_nul_invalid_utf8_and_long_text_in_access_requests_are_all_recorded(
    served: tuple[Server, str, int],
) -> None:
    srv, database_url, _ = served
    packets: list[bytes] = []
    for value in HOSTILE:
        for user in (value[:200] + b"@elsewhere.example", value[:200] + b"@" + REALM.encode(), value):
            packets.append(
                _access_request(
                    len(packets),
                    user,
                    (codec.CALLING_STATION_ID, value),
                    (codec.CALLED_STATION_ID, value),
                    (NAS_IDENTIFIER, value),
                )
            )
    replies = _exchange(srv.auth_port, packets)
    assert [r is not None and r[0] == Code.ACCESS_REJECT for r in replies] == [True] * len(packets)
    rows = _wait_rows(
        database_url, "SELECT username, callingstationid, reason FROM radpostauth", len(packets)
    )
    assert len(rows) == len(packets)
    assert all("\x00" not in name and len(name) <= 253 for name, _, _ in rows)
    assert ("a\\x00b@elsewhere.example", "a\\x00b", "bad_user_name") in rows  # before any lookup
    assert ("x" * 200 + "@elsewhere.example", "x" * 64, "foreign_realm") in rows
    # and the records after them are written too
    assert "Received Access-Accept" in srv.radtest("alice", PASSWORD)
    accepted = _wait_rows(database_url, "SELECT 1 FROM radpostauth WHERE reply = 'Access-Accept'", 1)
    assert len(accepted) == 1


def test_nul_and_invalid_utf8_in_accounting_are_answered_and_stored_with_their_batch(
    served: tuple[Server, str, int],
) -> None:
    srv, database_url, _ = served
    packets = []
    for i, value in enumerate([*HOSTILE, b"normal-1", b"normal-2"]):
        attributes = b"".join(
            codec.tlv(code, v)
            for code, v in (
                (codec.ACCT_STATUS_TYPE, START),
                (ACCT_SESSION_ID, value[:60] + b"%d" % i),
                (codec.USER_NAME, value),
                (codec.CALLING_STATION_ID, value),
                (codec.CALLED_STATION_ID, value),
                (NAS_PORT_ID, value),
                (NAS_IDENTIFIER, value),
            )
        )
        packets.append(
            codec.encode_request(
                code=Code.ACCOUNTING_REQUEST,
                identifier=i,
                secret=SECRET.encode(),
                attributes=attributes,
                sign=False,
            )
        )
    replies = _exchange(srv.acct_port, packets)  # sent together: they share batches
    assert [r is not None and r[0] == Code.ACCOUNTING_RESPONSE for r in replies] == [True] * len(packets)
    rows = _query(database_url, "SELECT acctsessionid, username FROM radacct")
    assert len(rows) == len(packets)
    assert ("a\\x00b1", "a\\x00b") in rows
