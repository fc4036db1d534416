"""Migrations go up from an empty database and down again on both backends, and match the models."""

import asyncio

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from accounts.models import Base
from sesame import migrations
from sesame.db import create_engine

TABLES = {"region", "commune", "site", "nas", "account", "device"}


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


def _diff(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


async def _inspect(url: str, fn):
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(fn)
    finally:
        await engine.dispose()


def test_upgrade_from_empty_then_downgrade_to_base(empty_database: str) -> None:
    assert migrations.current_revision_sync(empty_database) is None
    migrations.upgrade(empty_database)
    assert migrations.current_revision_sync(empty_database) == migrations.head_revision()
    assert asyncio.run(_inspect(empty_database, _tables)) == TABLES
    migrations.upgrade(empty_database)  # idempotent
    migrations.downgrade(empty_database, "base")
    assert asyncio.run(_inspect(empty_database, _tables)) == set()
    assert migrations.current_revision_sync(empty_database) is None


def test_migrations_match_the_models(empty_database: str) -> None:
    migrations.upgrade(empty_database)
    assert asyncio.run(_inspect(empty_database, _diff)) == []


def test_nas_table_keeps_freeradius_column_names(empty_database: str) -> None:
    migrations.upgrade(empty_database)

    def columns(connection: Connection) -> set[str]:
        return {c["name"] for c in inspect(connection).get_columns("nas")}

    assert {"id", "nasname", "shortname", "type", "description"} <= asyncio.run(
        _inspect(empty_database, columns)
    )
