"""The account and device cache on SQLite and PostgreSQL: lookups are kept, changed and deleted rows
are forgotten at the next poll, a flood of unknown names is remembered apart, the working set
is loaded at start, and device credentials' NT hashes follow their creation and revocation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncEngine

from accounts import credentials, users
from accounts.models import Account, AccountStatus
from accounts.network import ensure_home_region
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from radius.accountcache import AccountCache
from sesame.db import create_sessionmaker, unit_of_work
from tests.radius.conftest import HOME_REALM, Home, add_account


def _cache(engine: AsyncEngine, home: Home, *, cache_size: int = 500_000) -> AccountCache:
    return AccountCache(
        sessions=create_sessionmaker(engine), region_id=lambda: home.region_id, cache_size=cache_size
    )


async def _set_status(engine: AsyncEngine, account_id: int, status: AccountStatus) -> None:
    async with unit_of_work(create_sessionmaker(engine)) as session:
        await users.set_status(session, account=await session.get_one(Account, account_id), status=status)


async def test_cached_accounts_are_forgotten_when_they_change(
    engine: AsyncEngine, hasher: PasswordHasher, home: Home
) -> None:
    cache = _cache(engine, home)
    assert await cache.account("bob") is None  # a miss, remembered briefly
    await add_account(engine, hasher, "bob")
    await cache.refresh()
    cached = await cache.account("bob")
    assert cached is not None and cached.status == "active"
    await _set_status(engine, cached.id, AccountStatus.DISABLED)
    assert (await cache.account("bob")).status == "active"  # type: ignore[union-attr]  # still cached
    await cache.refresh()
    assert (await cache.account("bob")).status == "disabled"  # type: ignore[union-attr]


async def test_a_flood_of_unknown_names_does_not_push_known_accounts_out_of_the_cache(
    engine: AsyncEngine, hasher: PasswordHasher, home: Home
) -> None:
    """Made-up names (a guessing flood, the soak's unknown users) are remembered apart: alice stays
    cached (the stale status proves no query was made), and a name created meanwhile is found once
    the poll has seen it."""
    cache = _cache(engine, home, cache_size=1_000)
    assert (await cache.account("alice")) is not None
    await _set_status(engine, home.alice, AccountStatus.DISABLED)
    for i in range(3_000):  # three times the cache's size
        assert await cache.account(f"nobody{i}") is None
    assert (await cache.account("alice")).status == "active"  # type: ignore[union-attr]  # still cached
    await add_account(engine, hasher, "nobody2999")
    await cache.refresh()
    assert (await cache.account("nobody2999")) is not None


async def test_devices_are_found_at_once_after_being_remembered(engine: AsyncEngine, home: Home) -> None:
    cache = _cache(engine, home)
    assert await cache.device("02:00:5e:10:00:01") is None  # not remembered as unknown: no poll needed
    async with unit_of_work(create_sessionmaker(engine)) as session:
        await users.remember_device(
            session,
            account=await session.get_one(Account, home.alice),
            mac="02-00-5E-10-00-01",
            label=None,
            until=datetime.now(UTC) + timedelta(days=1),
        )
    device = await cache.device("02:00:5e:10:00:01")
    assert device is not None and device.account.username == "alice"


async def test_deleted_accounts_and_forgotten_devices_leave_the_cache(
    engine: AsyncEngine, box: SecretBox, home: Home
) -> None:
    cache = _cache(engine, home)
    sessions = create_sessionmaker(engine)
    far = datetime.now(UTC) + timedelta(days=30)
    async with unit_of_work(sessions) as session:
        owner = await session.get_one(Account, home.alice)
        await users.remember_device(session, account=owner, mac="02:00:00:00:00:0a", label=None, until=far)
        await users.remember_device(session, account=owner, mac="02:00:00:00:00:0b", label=None, until=far)
    assert await cache.device("02:00:00:00:00:0a") is not None
    assert await cache.device("02:00:00:00:00:0b") is not None
    async with unit_of_work(sessions) as session:
        owner = await session.get_one(Account, home.alice)
        await users.forget_device(session, account=owner, mac="02:00:00:00:00:0a")
    await cache.refresh()
    assert await cache.device("02:00:00:00:00:0a") is None  # "forget" means at once, not at eviction
    assert await cache.device("02:00:00:00:00:0b") is not None
    async with unit_of_work(sessions) as session:
        owner = await session.get_one(Account, home.alice)
        await users.delete_account(session, box=box, account=owner, now=datetime.now(UTC))
    await cache.refresh()
    assert await cache.account("alice") is None
    assert await cache.device("02:00:00:00:00:0b") is None


async def test_nt_hashes_are_kept_until_a_credential_is_added_or_revoked(
    engine: AsyncEngine, box: SecretBox, home: Home
) -> None:
    """Read once per account (the stale answer proves no query was made), forgotten at the poll
    after a credential is added or revoked, and all of them when an account is deleted; an account
    without any is not remembered as such, so its first credential works on the next attempt."""
    cache = _cache(engine, home)
    sessions = create_sessionmaker(engine)
    assert await cache.nt_hashes(home.alice, box) == []
    async with unit_of_work(sessions) as session:
        owner = await session.get_one(Account, home.alice)
        phone, phone_password = await credentials.create_device_credential(
            session, box=box, account=owner, label="phone"
        )
    assert await cache.nt_hashes(home.alice, box) == [(phone.id, credentials.nt_hash(phone_password))]
    async with unit_of_work(sessions) as session:
        owner = await session.get_one(Account, home.alice)
        laptop, _ = await credentials.create_device_credential(session, box=box, account=owner, label="pc")
    assert [cid for cid, _ in await cache.nt_hashes(home.alice, box)] == [phone.id]  # still cached
    await cache.refresh()
    assert sorted(cid for cid, _ in await cache.nt_hashes(home.alice, box)) == [phone.id, laptop.id]
    async with unit_of_work(sessions) as session:
        owner = await session.get_one(Account, home.alice)
        await credentials.revoke_device_credential(
            session, account=owner, credential_id=phone.id, now=datetime.now(UTC)
        )
    assert len(await cache.nt_hashes(home.alice, box)) == 2  # until the poll
    await cache.refresh()
    assert [cid for cid, _ in await cache.nt_hashes(home.alice, box)] == [laptop.id]
    async with unit_of_work(sessions) as session:
        await users.delete_account(
            session, box=box, account=await session.get_one(Account, home.alice), now=datetime.now(UTC)
        )
    await cache.refresh()
    assert await cache.nt_hashes(home.alice, box) == []


async def test_the_working_set_is_loaded_most_recent_first(
    engine: AsyncEngine, hasher: PasswordHasher, home: Home
) -> None:
    sessions = create_sessionmaker(engine)
    now = datetime.now(UTC)
    async with unit_of_work(sessions) as session:
        region = await ensure_home_region(session, realm=HOME_REALM)
        created = []
        for i in range(1_200):
            account = await users.create_account(
                session, hasher=hasher, region=region, username=f"user{i}", email=f"u{i}@example.fr",
                password=None, verified=True,
            )  # fmt: skip
            account.last_seen_at = now - timedelta(minutes=i)  # user0 seen last, user1199 first
            created.append(account)
        await session.flush()
        await users.remember_device(
            session, account=created[0], mac="02-00-5E-10-00-09", label=None, until=now + timedelta(days=1)
        )
        await users.remember_device(
            session, account=created[1], mac="02-00-5E-10-00-0A", label=None, until=now - timedelta(days=1)
        )
    cache = _cache(engine, home, cache_size=1_000)
    # the 1,000 most recently seen accounts (alice, never seen, is not among them) and the device
    # still remembered
    assert await cache.preload() == (1_000, 1)
    async with unit_of_work(sessions) as session:  # behind the cache's back: no tombstone, no refresh
        await session.execute(Account.__table__.delete())  # type: ignore[attr-defined]
    assert (await cache.account("user0")) is not None and (await cache.account("user999")) is not None
    assert await cache.account("user1000") is None  # not in the working set: looked up, and gone
    assert await cache.account("alice") is None
    device = await cache.device("02:00:5e:10:00:09")
    assert device is not None and device.account.username == "user0"
    assert await cache.device("02:00:5e:10:00:0a") is None
    assert await _cache(engine, home).account("user0") is None  # without preloading, the database says
