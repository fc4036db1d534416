"""Schema migrations: a thin wrapper over Alembic for the CLI and start-up.

The migration scripts live in the top-level ``alembic/`` folder of the source tree (not an
importable package: it would shadow the Alembic library); a wheel carries a copy of them as
``sesame/_alembic`` (setup.py), which is what an installed (non-editable) Sésame reads.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import Connection

from alembic import command
from sesame.db import create_engine

_PACKAGED = Path(__file__).resolve().parent / "_alembic"
SCRIPT_LOCATION = (
    _PACKAGED if (_PACKAGED / "env.py").is_file() else Path(__file__).resolve().parent.parent / "alembic"
)


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """Bring the schema up to ``revision``; synchronous (Alembic runs its own event loop)."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str) -> None:
    command.downgrade(alembic_config(database_url), revision)


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config("")).get_current_head()


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def current_revision(database_url: str) -> str | None:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current)
    finally:
        await engine.dispose()


def current_revision_sync(database_url: str) -> str | None:
    return asyncio.run(current_revision(database_url))
