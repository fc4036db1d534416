"""The database engine and session factory (SQLAlchemy 2 async: asyncpg or aiosqlite)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine for ``url``; SQLite gets foreign keys, WAL and a busy timeout like a server would."""
    if not is_sqlite(url):
        kwargs.setdefault("pool_pre_ping", True)
        # A fixed pool: overflow connections are opened and closed per burst, and every new
        # PostgreSQL backend is a fork (measured: a third of a core lost under RADIUS load).
        kwargs.setdefault("pool_size", 20)
        kwargs.setdefault("max_overflow", 0)
        return create_async_engine(url, **kwargs)
    engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if make_url(url).database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    return engine


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the block ends normally, rolled back if it raises."""
    async with sessions() as session, session.begin():
        yield session
