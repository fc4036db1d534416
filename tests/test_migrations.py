"""Migrations go up from an empty database and down again on both backends, and match the models."""

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from accounts.models import Base
from sesame import migrations
from sesame.db import create_engine

T = TypeVar("T")

TABLES = {
    "region",
    "commune",
    "site",
    "nas",
    "account",
    "device",
    "radius_token",
    "device_credential",
    "device_certificate",
    "radacct",
    "closed_account",
    "tombstone",
    "access_policy",
    "account_code",
    "portal_branding",
    "admin",
    "service_client",
    "revoked_token",
    "audit_log",
    "radpostauth",
    "partner",
    "partner_realm",
    "home_server",
    "identity_link",
    "onboarding_network",
    "admin_totp",
    "admin_recovery_code",
    "voucher_batch",
    "voucher_place",
    "voucher",
    "account_phone",  # 0017: sign-up by SMS
    "phone_code",
    "sms_spend",
    "sponsorship",
    "sponsor_request",
}


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


def _diff(connection: Connection) -> list[object]:
    return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


async def _inspect(url: str, fn: Callable[[Connection], T]) -> T:
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


Insert = tuple[str, dict[str, object]]  # a statement and its values


def _upgraded_over(url: str, revision: str, inserts: list[Insert], query: str) -> list[tuple[Any, ...]]:
    """Bring an empty database to ``revision``, write ``inserts`` in raw SQL, as code of that era did
    (``:t`` is a moment as each backend stored it: naive UTC text on SQLite, timestamptz on
    PostgreSQL), upgrade to the head and return what ``query`` reads."""
    migrations.upgrade(url, revision)
    moment: object = "2026-01-01 10:00:00.000000"
    if url.startswith("postgresql"):
        moment = datetime(2026, 1, 1, 10, tzinfo=UTC)

    async def seed_and_read() -> list[tuple[Any, ...]]:
        engine = create_engine(url)
        try:
            async with engine.begin() as connection:
                for statement, values in inserts:
                    await connection.execute(text(statement), {"t": moment, **values})
            await asyncio.to_thread(migrations.upgrade, url)
            async with engine.connect() as connection:
                return [tuple(row) for row in await connection.execute(text(query))]
        finally:
            await engine.dispose()

    return asyncio.run(seed_and_read())


REGION: Insert = ("INSERT INTO region (id, realm, name, created_at) VALUES (1, 'r.example', 'R', :t)", {})


def test_0002_backfills_updated_at_on_existing_rows(empty_database: str) -> None:
    account = (
        "INSERT INTO account (region_id, username, email, email_verified, status, created_at) "
        "VALUES (1, 'alice', 'a@example.fr', true, 'active', :t)"
    )
    rows = _upgraded_over(
        empty_database, "0001", [REGION, (account, {})], "SELECT created_at, updated_at FROM account"
    )
    assert len(rows) == 1
    assert rows[0][0] == rows[0][1]


def test_0007_keys_existing_names_and_keeps_colliding_ones_apart(empty_database: str) -> None:
    """Rows written before 0007 get their folded key; two sites of a commune whose names fold alike
    both survive (the later one's key carries its id), and lookups by name find the first."""
    commune = (
        "INSERT INTO commune (id, region_id, name, insee_code, created_at) "
        "VALUES (1, 1, 'Valence', '26362', :t)"
    )
    site = "INSERT INTO site (id, commune_id, name, created_at) VALUES (:id, 1, :n, :t)"
    sites = [
        (site, {"id": i, "n": name}) for i, name in ((1, "Médiathèque"), (2, "MEDIATHEQUE"), (3, "Gare"))
    ]
    rows = _upgraded_over(
        empty_database,
        "0006",
        [REGION, (commune, {}), *sites],
        "SELECT s.id, s.name_key, c.name_key FROM site s JOIN commune c ON c.id = s.commune_id ORDER BY s.id",
    )
    assert rows == [(1, "mediatheque", "valence"), (2, "mediatheque#2", "valence"), (3, "gare", "valence")]
    migrations.downgrade(empty_database, "0006")
