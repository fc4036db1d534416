"""The engine's pooled PostgreSQL connections: pinged only after they sat idle; several hosts in
the URL tried in turn."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from radius.records import unavailable
from sesame import db
from sesame.dburl import normalize_database_url
from tests.support.ports import free_tcp_port

pytestmark = pytest.mark.postgres


async def _backend_pid(engine: Any) -> int:
    async with engine.connect() as connection:
        return int((await connection.execute(text("SELECT pg_backend_pid()"))).scalar_one())


async def test_a_busy_pool_is_not_pinged_and_an_idle_one_is(
    empty_postgres: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.create_engine(empty_postgres, pool_size=1)
    pings: list[int] = []
    real_ping = engine.sync_engine.dialect.do_ping

    def counted_ping(connection: Any) -> bool:
        pings.append(1)
        return real_ping(connection)

    monkeypatch.setattr(engine.sync_engine.dialect, "do_ping", counted_ping)
    try:
        first = await _backend_pid(engine)
        pings.clear()
        for _ in range(5):  # checked out again at once: used as it is
            assert await _backend_pid(engine) == first
        assert pings == []
        monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)
        assert await _backend_pid(engine) == first
        assert pings == [1]
    finally:
        await engine.dispose()


async def test_an_idle_connection_the_server_dropped_is_replaced(
    empty_postgres: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = db.create_engine(empty_postgres, pool_size=1)
    try:
        first = await _backend_pid(engine)
        admin = db.create_engine(empty_postgres)  # a server restart, as one backend sees it
        async with admin.connect() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        await admin.dispose()
        monkeypatch.setattr(db, "PING_AFTER_IDLE", 0.0)
        assert await _backend_pid(engine) != first  # the ping failed: a fresh connection, no error
    finally:
        await engine.dispose()


def _hosts(url: str, *ports: int, attrs: str) -> str:
    """``url`` naming several hosts (127.0.0.1 on ``ports``), as the settings write it."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    hosts = ",".join(f"127.0.0.1:{port}" for port in ports)
    return normalize_database_url(
        f"postgresql://{parsed.username}@{hosts}/{parsed.database}?target_session_attrs={attrs}"
    )


async def test_the_hosts_of_the_url_are_tried_in_turn_and_the_one_that_answered_first(
    empty_postgres: str,
) -> None:
    from sqlalchemy.engine import make_url

    port = make_url(empty_postgres).port or 5432
    dead = free_tcp_port()  # nothing listens there: refused at once
    engine = db.create_engine(_hosts(empty_postgres, dead, port, attrs="read-write"), pool_size=1)
    try:
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT inet_server_port()"))).scalar_one() == port
    finally:
        await engine.dispose()
    turn = db.HostsInTurn()
    connection = await turn(host=["127.0.0.1", "127.0.0.1"], port=[dead, port], user="postgres",
                            database=make_url(empty_postgres).database)  # fmt: skip
    await connection.close()
    assert turn.preferred == 1  # the next connection goes there first


async def test_no_host_matching_target_session_attrs_is_an_error(empty_postgres: str) -> None:
    """read-only asked, only a primary there: as with a standby when read-write is asked."""
    from sqlalchemy.engine import make_url

    port = make_url(empty_postgres).port or 5432
    engine = db.create_engine(_hosts(empty_postgres, free_tcp_port(), port, attrs="read-only"))
    try:
        with pytest.raises(DBAPIError) as caught:
            async with engine.connect():
                pass
        assert unavailable(caught.value)  # the records wait: never acknowledged as refused
    finally:
        await engine.dispose()
