"""Alembic environment: runs migrations over Sésame's async engine (asyncpg or aiosqlite).

Migrations only expand the schema, so that the release before keeps running against it during a
rolling upgrade; removals come one release later in a ``CONTRACT`` migration. The rule, and the test
that checks it on every migration from 0010 on, are in alembic/README.md.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from logging.config import fileConfig
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.models import Base, UTCDateTime
from alembic import context
from sesame.db import create_engine, is_sqlite

config = context.config
if config.config_file_name is not None:
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = Base.metadata


def _database_url() -> str:
    url = config.attributes.get("database_url")
    if url:
        return str(url)
    from sesame.settings import get_settings

    return get_settings().database_url


def _render_item(type_: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Migrations stay frozen: model-side types are written as the plain column type they wrap."""
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _run(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
        render_item=_render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


#: a PostgreSQL advisory lock key of Sésame's own: one ``sesame db upgrade`` at a time
MIGRATION_LOCK = 0x5E5A3E0001


@contextlib.asynccontextmanager
async def _one_at_a_time(engine: AsyncEngine) -> AsyncIterator[None]:
    """Hosts started together (each unit runs ``sesame db upgrade`` first) migrate one after the
    other on a shared PostgreSQL database: the second finds the schema at head and does nothing.
    A session-level lock on a connection of its own, so migrations may commit as they need
    (``autocommit_block`` for ``CREATE INDEX CONCURRENTLY``)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    async with engine.connect() as lock:
        await lock.execute(text("SELECT pg_advisory_lock(:key)"), {"key": MIGRATION_LOCK})
        await lock.commit()
        try:
            yield
        finally:
            await lock.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": MIGRATION_LOCK})
            await lock.commit()


async def _run_async(url: str) -> None:
    engine = create_engine(url)
    try:
        async with _one_at_a_time(engine), engine.connect() as connection:
            await connection.run_sync(_run)
            await connection.commit()
    finally:
        await engine.dispose()


def run_migrations_offline() -> None:
    url = _database_url()
    context.configure(
        url=url,
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=is_sqlite(url),
        dialect_opts={"paramstyle": "named"},
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    asyncio.run(_run_async(_database_url()))
