"""The database engine and session factory (SQLAlchemy 2 async: asyncpg or aiosqlite)."""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


#: a pooled connection idle longer than this is pinged before use (see :func:`create_engine`)
PING_AFTER_IDLE = 10.0
#: how long one PostgreSQL host may take to accept a connection before the next one is tried
CONNECT_TIMEOUT = 5.0


class HostsInTurn:
    """Opens asyncpg connections to the hosts of the database URL one after the other, as libpq
    does: a host that refuses, does not answer within :data:`CONNECT_TIMEOUT` or does not match
    ``target_session_attrs`` (a standby, when ``read-write`` is asked) passes the turn to the
    next. asyncpg's own multi-host connect spends one time-out on all the hosts together (60 s
    unless told), so a primary that vanished without a reset would hide the promoted standby.
    The host that last gave a connection is tried first, so that after a fail-over each new
    connection does not wait on the dead primary first. Given as SQLAlchemy's
    ``async_creator_fn``: it gets the driver's arguments, hosts and ports as lists."""

    def __init__(self) -> None:
        self.preferred = 0

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        hosts, ports = kwargs.pop("host", None), kwargs.pop("port", None)
        kwargs.setdefault("timeout", CONNECT_TIMEOUT)
        if not isinstance(hosts, list | tuple) or not isinstance(ports, list | tuple):
            return await asyncpg.connect(*args, host=hosts, port=ports, **kwargs)
        order = [self.preferred, *(i for i in range(len(hosts)) if i != self.preferred)]
        failure: BaseException | None = None
        for index in order:
            try:
                connection = await asyncpg.connect(*args, host=hosts[index], port=ports[index], **kwargs)
            except (
                OSError,
                TimeoutError,
                asyncpg.PostgresError,
                asyncpg.InterfaceError,
                asyncpg.TargetServerAttributeNotMatched,
            ) as exc:
                failure = exc
                continue
            self.preferred = index
            return connection
        assert failure is not None
        raise failure


def create_engine(url: str, **kwargs: Any) -> AsyncEngine:
    """An engine for ``url``; SQLite gets foreign keys, WAL and a busy timeout like a server would.

    PostgreSQL connections are pinged before use only when they sat idle in the pool for more
    than :data:`PING_AFTER_IDLE` seconds (a restarted server, a dropped firewall state): the
    driver's ping is three round trips (BEGIN, an empty query, ROLLBACK), which ``pool_pre_ping``
    paid on every checkout — under RADIUS load a connection is never idle that long, and one
    broken mid-burst fails its statement and is replaced by the pool as a disconnect (the
    dialect sees the closed connection, and the pool then replaces all the connections it had
    opened before: after a fail-over none of them still points at the old primary).

    The URL may name several hosts (see :func:`sesame.dburl.normalize_database_url` and
    :class:`HostsInTurn`).
    """
    if not is_sqlite(url):
        # A fixed pool: overflow connections are opened and closed per burst, and every new
        # PostgreSQL backend is a fork (measured: a third of a core lost under RADIUS load).
        kwargs.setdefault("pool_size", 20)
        kwargs.setdefault("max_overflow", 0)
        kwargs["connect_args"] = {"async_creator_fn": HostsInTurn(), **kwargs.get("connect_args", {})}
        engine = create_async_engine(url, **kwargs)
        dialect = engine.sync_engine.dialect

        @event.listens_for(engine.sync_engine, "checkin")
        def _idle_since(_dbapi_connection: Any, record: Any) -> None:
            record.info["idle_since"] = time.monotonic()

        @event.listens_for(engine.sync_engine, "checkout")
        def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
            if time.monotonic() - record.info.get("idle_since", 0.0) < PING_AFTER_IDLE:
                return
            try:
                dialect.do_ping(dbapi_connection)
            except Exception as error:  # the pool then retries with a fresh connection
                raise exc.DisconnectionError(f"stale pooled connection: {error}") from error

        return engine
    engine = create_async_engine(url, connect_args={"timeout": 30}, **kwargs)

    @event.listens_for(engine.sync_engine, "connect")
    def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        if make_url(url).database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
        cursor.close()

    return engine


class DatabaseUnavailable(Exception):
    """The database cannot be reached or opened: refused, unknown host, refused credentials, a
    missing database, an SQLite file that cannot be opened. The message names the database
    (without its password) and why."""


def os_error_reason(error: OSError) -> str:
    """Why, in a few words: "Connection refused", "Name or service not known", "timed out"."""
    if error.errno and error.errno > 0:  # asyncio words a refused connection "Connect call failed (…)"
        return os.strerror(error.errno)
    if isinstance(error, TimeoutError) and not str(error):
        return "timed out"
    return error.strerror or str(error) or type(error).__name__


@contextmanager
def reaching(url: str) -> Iterator[None]:
    """Turn a failure to connect to the database at ``url`` into :class:`DatabaseUnavailable`.

    asyncpg raises plain ``OSError`` (``ConnectionRefusedError``, ``socket.gaierror``,
    ``TimeoutError``) when it cannot connect, the same classes as any other network or file
    error: only the place it happens says it is the database's. SQLAlchemy wraps the drivers' own
    errors (authentication, unknown database, SQLite's "unable to open") in ``DBAPIError``.
    """
    try:
        yield
    except exc.DBAPIError as error:
        raise DatabaseUnavailable(f"database {_safe(url)}: {error.orig}") from error
    except OSError as error:
        raise DatabaseUnavailable(f"database {_safe(url)}: {os_error_reason(error)}") from error


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


@asynccontextmanager
async def unit_of_work(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One transaction: committed when the block ends normally, rolled back if it raises."""
    async with sessions() as session, session.begin():
        yield session
