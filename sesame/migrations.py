"""Schema migrations: a thin wrapper over Alembic for the CLI and start-up.

The migration scripts live in the top-level ``alembic/`` folder of the source tree (not an
importable package: it would shadow the Alembic library). Their revisions are four-digit sequence
numbers (``0011`` follows ``0010``), so a version can tell a schema newer than itself (a revision it
does not know, with a higher number: the next release migrated the database during a rolling
upgrade) from one it does not know at all. Migrations only expand the schema, so the version before
keeps running against the new one (alembic/README.md, docs/operations.md "Upgrades"). A wheel
carries a copy of the scripts as ``sesame/_alembic`` (setup.py), which is what an installed
(non-editable) Sésame reads.
"""

from __future__ import annotations

import asyncio
import enum
from pathlib import Path

from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util.exc import CommandError
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


class Schema(enum.Enum):
    """A database's schema as this version of the code sees it."""

    CURRENT = "at this version's head"
    OLDER = "older than this version: run `sesame db upgrade`"
    NEWER = "newer than this version (a later release migrated it): this version runs against it"
    UNKNOWN = "at a revision this version does not know"


def compare(current: str | None) -> Schema:
    """Where the schema at revision ``current`` (None: an empty database) stands against this code."""
    head = head_revision()
    if current == head:
        return Schema.CURRENT
    if current is None:
        return Schema.OLDER
    try:
        known = ScriptDirectory.from_config(alembic_config("")).get_revision(current) is not None
    except CommandError:
        known = False
    if known:  # one line of history: a revision this code knows that is not its head came before it
        return Schema.OLDER
    if current.isdigit() and head is not None and head.isdigit() and int(current) > int(head):
        return Schema.NEWER
    return Schema.UNKNOWN


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
