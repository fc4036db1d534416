"""Account and device services, run on SQLite and on PostgreSQL."""

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import users
from accounts.errors import Conflict, InvalidInput, NotFound
from accounts.models import Account, AccountStatus, Device, Region
from accounts.network import ensure_home_region
from accounts.passwords import PasswordHasher


async def _alice(session: AsyncSession, region: Region, hasher: PasswordHasher, **kw: object) -> Account:
    return await users.create_account(
        session,
        hasher=hasher,
        region=region,
        username="Alice",
        email="alice@Example.fr",
        password="correct horse",
        **kw,  # type: ignore[arg-type]
    )


async def test_create_and_find_an_account(
    session: AsyncSession, region: Region, hasher: PasswordHasher
) -> None:
    account = await _alice(session, region, hasher)
    assert (account.username, account.email, account.status) == (
        "alice",
        "alice@example.fr",
        AccountStatus.ACTIVE,
    )
    assert account.email_verified is False
    assert hasher.verify("correct horse", account.password_hash)
    found = await users.find_account(session, "ALICE@wifi.test.example", region=region)
    assert found.id == account.id and found.identity == "alice@wifi.test.example"
    assert (await users.find_account(session, "alice", region=region)).id == account.id
    with pytest.raises(NotFound, match="not an account of this region"):
        await users.find_account(session, "alice@liguria.example", region=region)
    with pytest.raises(NotFound):
        await users.find_account(session, "bob", region=region)


async def test_usernames_and_emails_are_unique_per_realm(
    session: AsyncSession, region: Region, hasher: PasswordHasher
) -> None:
    await _alice(session, region, hasher)
    with pytest.raises(Conflict, match="taken"):
        await users.create_account(
            session, hasher=hasher, region=region, username="alice", email="other@example.fr", password=None
        )
    with pytest.raises(Conflict, match="email"):
        await users.create_account(
            session, hasher=hasher, region=region, username="bob", email="alice@example.fr", password=None
        )
    liguria = await ensure_home_region(session, realm="wifi.liguria.example")
    twin = await _alice(session, liguria, hasher)
    assert twin.region_id != region.id


async def test_weak_password_and_bad_names_are_refused(
    session: AsyncSession, region: Region, hasher: PasswordHasher
) -> None:
    with pytest.raises(InvalidInput):
        await users.create_account(
            session, hasher=hasher, region=region, username="bob", email="bob@example.fr", password="short"
        )
    with pytest.raises(InvalidInput):
        await users.create_account(
            session, hasher=hasher, region=region, username="b", email="bob@example.fr", password=None
        )


async def test_status_changes_and_listing(
    session: AsyncSession, region: Region, hasher: PasswordHasher
) -> None:
    alice = await _alice(session, region, hasher, verified=True)
    await users.create_account(
        session, hasher=hasher, region=region, username="bob", email="bob@example.fr", password=None
    )
    await users.set_status(session, account=alice, status=AccountStatus.DISABLED)
    assert [a.username for a in await users.list_accounts(session, region=region)] == ["alice", "bob"]
    disabled = await users.list_accounts(session, region=region, status=AccountStatus.DISABLED)
    assert [a.username for a in disabled] == ["alice"]


async def test_devices_belong_to_one_account_and_go_with_it(
    session: AsyncSession, region: Region, hasher: PasswordHasher
) -> None:
    alice = await _alice(session, region, hasher)
    bob = await users.create_account(
        session, hasher=hasher, region=region, username="bob", email="bob@example.fr", password=None
    )
    until = datetime.now(UTC) + timedelta(days=30)
    device = await users.remember_device(
        session, account=alice, mac="AA-BB-CC-DD-EE-FF", label="phone", until=until
    )
    assert device.mac == "aa:bb:cc:dd:ee:ff"
    again = await users.remember_device(
        session, account=alice, mac="aabb.ccdd.eeff", label="my phone", until=None
    )
    assert again.id == device.id and again.label == "my phone"
    with pytest.raises(Conflict):
        await users.remember_device(session, account=bob, mac="aa:bb:cc:dd:ee:ff", label=None, until=None)
    await session.delete(alice)
    await session.flush()
    assert await session.scalar(select(func.count()).select_from(Device)) == 0
