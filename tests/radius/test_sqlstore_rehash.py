"""The store replaces an imported hash by argon2id in the background, once, only if it is still the
one proved right (compare-and-swap), on SQLite and PostgreSQL; the cache forgets the account."""

from __future__ import annotations

import asyncio

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.legacyhash import read_password
from accounts.models import Account
from accounts.passwords import PasswordHasher
from sesame.db import create_sessionmaker, unit_of_work
from tests.radius.conftest import Home, StoreFactory

LEGACY = read_password("Crypt-Password", "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/").legacy_hash


async def _hash_of(engine: AsyncEngine, account_id: int) -> str | None:
    async with create_sessionmaker(engine)() as session:
        return await session.scalar(select(Account.password_hash).where(Account.id == account_id))


async def _set_hash(engine: AsyncEngine, account_id: int, value: str | None) -> None:
    async with unit_of_work(create_sessionmaker(engine)) as session:
        (await session.get_one(Account, account_id)).password_hash = value


async def test_an_imported_hash_becomes_argon2id_and_the_cache_forgets_it(
    engine: AsyncEngine, home: Home, make_store: StoreFactory, hasher: PasswordHasher
) -> None:
    assert LEGACY is not None
    await _set_hash(engine, home.alice, LEGACY)

    async def rehash(password: str) -> str:
        return await asyncio.to_thread(hasher.hash, password)

    store = await make_store(rehash=rehash)
    store.upgrade_password(account_id=home.alice, old_hash=LEGACY, password="password")
    store.upgrade_password(account_id=home.alice, old_hash=LEGACY, password="password")  # one task
    assert len(store._upgrading) == 1
    await asyncio.wait(list(store._upgrading.values()))
    stored = await _hash_of(engine, home.alice)
    assert stored is not None and stored.startswith("$argon2id$") and hasher.verify("password", stored)
    await store.refresh()
    view = await store.account("alice")
    assert view is not None and view.password_hash == stored


async def test_a_hash_changed_meanwhile_is_not_overwritten(
    engine: AsyncEngine, home: Home, make_store: StoreFactory, hasher: PasswordHasher
) -> None:
    assert LEGACY is not None
    await _set_hash(engine, home.alice, hasher.hash("reset-meanwhile"))

    async def rehash(password: str) -> str:
        return hasher.hash(password)

    store = await make_store(rehash=rehash)
    store.upgrade_password(account_id=home.alice, old_hash=LEGACY, password="password")
    await asyncio.wait(list(store._upgrading.values()))
    stored = await _hash_of(engine, home.alice)
    assert stored is not None and hasher.verify("reset-meanwhile", stored)


async def test_without_a_rehash_nothing_is_scheduled(home: Home, make_store: StoreFactory) -> None:
    store = await make_store()
    store.upgrade_password(account_id=home.alice, old_hash="x", password="y")
    assert store._upgrading == {}
