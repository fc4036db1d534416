"""The engine's pooled PostgreSQL connections: pinged only after they sat idle."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text

from sesame import db

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
