"""The region's staff for their managers (accounts/staff.py) on SQLite and PostgreSQL: the list
with the commune and the second factor, the lock-out rule of a change, a second factor reset."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from accounts import admins, network, staff, twofactor
from accounts.errors import Conflict, InvalidInput
from accounts.models import Admin, AdminRole, Region
from accounts.network import ensure_home_region
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from sesame.db import create_sessionmaker
from tests.conftest import TEST_REALM

NOW = datetime(2026, 12, 7, 22, 0, 15, tzinfo=UTC)
PASSWORD = "a long passphrase 2026"


async def _admin(
    session: AsyncSession, hasher: PasswordHasher, email: str, role: AdminRole, **kw: object
) -> Admin:
    return await admins.create_admin(session, hasher=hasher, email=email, role=role, password=PASSWORD, **kw)  # type: ignore[arg-type]


async def test_the_list_names_the_commune_and_the_second_factor_never_a_secret(
    session: AsyncSession, region: Region, hasher: PasswordHasher, box: SecretBox
) -> None:
    valence = await network.add_commune(session, region=region, name="Valence", insee_code="26362")
    boss = await _admin(session, hasher, "boss@test.example", AdminRole.REGION_ADMIN)
    await _admin(session, hasher, "mairie@test.example", AdminRole.COMMUNE_ADMIN, commune=valence)
    secret = await twofactor.start_enrolment(session, box=box, admin=boss)
    assert await twofactor.confirm_enrolment(
        session, box=box, admin=boss, code=twofactor.code_at(secret, NOW), now=NOW
    )
    listed = await staff.staff_list(session)
    assert [(m.email, m.commune_name, m.two_factor, m.active) for m in listed] == [
        ("boss@test.example", None, True, True),
        ("mairie@test.example", "Valence", False, True),
    ]
    assert not {"password_hash", "secret"} & set(type(listed[0]).__slots__)
    version = boss.token_version
    assert await staff.reset_two_factor(session, admin=boss) is True
    assert boss.token_version == version + 1
    assert [m.two_factor for m in await staff.staff_list(session)] == [False, False]
    assert await staff.reset_two_factor(session, admin=boss) is False


async def test_the_region_always_keeps_an_active_region_admin(
    session: AsyncSession, region: Region, hasher: PasswordHasher
) -> None:
    valence = await network.add_commune(session, region=region, name="Valence", insee_code="26362")
    first = await _admin(session, hasher, "first@test.example", AdminRole.REGION_ADMIN)
    for role, active in ((AdminRole.AUDITOR, True), (AdminRole.REGION_ADMIN, False)):
        with pytest.raises(Conflict, match="at least one active region admin"):  # by a client, by the CLI
            await staff.change_admin(session, admin=first, role=role, commune=None, active=active)
        with pytest.raises(Conflict, match="yourself"):
            await staff.change_admin(
                session, admin=first, role=role, commune=None, active=active, by=first.id
            )
    assert (first.role, first.active) == (AdminRole.REGION_ADMIN, True)
    second = await _admin(session, hasher, "second@test.example", AdminRole.REGION_ADMIN)
    with pytest.raises(Conflict, match="yourself"):
        await staff.change_admin(
            session, admin=first, role=AdminRole.SUPPORT, commune=None, active=True, by=first.id
        )
    await staff.change_admin(
        session, admin=first, role=AdminRole.SUPPORT, commune=None, active=True, by=second.id
    )
    assert first.role == AdminRole.SUPPORT
    with pytest.raises(Conflict):  # now the last one
        await staff.change_admin(
            session, admin=second, role=AdminRole.REGION_ADMIN, commune=None, active=False
        )
    # a disabled region admin does not count; re-enabling one is always allowed
    await staff.change_admin(session, admin=first, role=AdminRole.REGION_ADMIN, commune=None, active=False)
    await staff.change_admin(session, admin=first, role=AdminRole.REGION_ADMIN, commune=None, active=True)
    with pytest.raises(InvalidInput):
        await staff.change_admin(
            session, admin=first, role=AdminRole.COMMUNE_ADMIN, commune=None, active=True
        )
    with pytest.raises(InvalidInput):
        await staff.change_admin(session, admin=first, role=AdminRole.SUPPORT, commune=valence, active=True)


async def test_two_concurrent_demotions_of_the_last_two_region_admins_cannot_both_pass(
    engine: AsyncEngine, hasher: PasswordHasher
) -> None:
    """PostgreSQL, two connections: the first demotes one region admin and holds its transaction
    open; the second, demoting the other, waits on the rows the first counted (seen in
    ``pg_locks``), then counts one active region admin once the first commits, and is refused."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite runs one writing transaction at a time: no race to lose")
    sessions = create_sessionmaker(engine)
    async with sessions() as setup:
        region = await ensure_home_region(setup, realm=TEST_REALM)
        assert region.id
        a = (await _admin(setup, hasher, "a@test.example", AdminRole.REGION_ADMIN)).id
        b = (await _admin(setup, hasher, "b@test.example", AdminRole.REGION_ADMIN)).id
        await setup.commit()

    async def demote(session: AsyncSession, admin_id: int) -> None:
        admin = await session.get_one(Admin, admin_id)
        await staff.change_admin(session, admin=admin, role=AdminRole.SUPPORT, commune=None, active=True)

    async with sessions() as first, sessions() as second, sessions() as watcher:
        await demote(first, a)  # counted two, rows locked, not committed
        racing = asyncio.create_task(demote(second, b))
        waiting = text("SELECT count(*) FROM pg_locks WHERE NOT granted")
        for _ in range(200):  # until the second transaction waits on the lock (at most ~10 s)
            if await watcher.scalar(waiting):
                break
            await asyncio.sleep(0.05)
        await first.commit()
        with pytest.raises(Conflict, match="at least one active region admin"):
            await racing
        await second.rollback()
    async with sessions() as check:
        roles = {admin.email: admin.role for admin in (await check.scalars(select(Admin))).all()}
    assert roles == {"a@test.example": AdminRole.SUPPORT, "b@test.example": AdminRole.REGION_ADMIN}
