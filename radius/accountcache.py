"""Accounts by username, devices by MAC and the NT hashes of device credentials, as the pipeline
reads them, cached in memory.

A returning citizen should cost no database round trip: the working set is loaded at start
(:meth:`AccountCache.preload`) and every lookup that reaches the database is kept, in LRUs as large
as ``cache_size``. Unknown usernames are remembered too, briefly and apart (``NEGATIVE_TTL``,
``UNKNOWN_NAMES``), so a flood of made-up names costs no queries; unknown MACs are not.

The cache stays correct because :meth:`AccountCache.refresh` (run every couple of seconds) reads
the rows whose ``updated_at`` moved since the last poll, and the tombstones of deleted ones, and
forgets them: the next lookup reads them again. "Since the last poll" is on the database's clock
where it has one (PostgreSQL), so that several hosts sharing the database agree on it; a row's
``updated_at`` is stamped by the clock of the host that changed it, so a host whose clock is more
than ``POLL_OVERLAP`` behind the database's would have its changes missed by the others: each host
measures its own offset at every poll (``sesame_database_clock_offset_seconds``) and warns past
``CLOCK_OFFSET_WARNING``. A new or revoked device credential moves its row's
``updated_at`` too, so the NT hashes of an account (read once per MS-CHAPv2 or PEAP conversation;
the ORM's session cost ~0.6 ms of CPU each time) are forgotten within a poll as well; a deleted
account forgets them all (an id may be given again, on SQLite).
"""

from __future__ import annotations

import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.credentials import active_nt_hashes
from accounts.models import Account, Device, DeviceCredential, Tombstone
from accounts.secretbox import SecretBox
from radius import metrics
from radius.store import AccountView, DeviceView

log = logging.getLogger(__name__)

#: rows changed this long before the last poll are read again (transactions commit late)
POLL_OVERLAP = timedelta(seconds=5)
#: a clock this far from the database's is logged as a warning (other hosts may miss changes
#: stamped by it once it passes POLL_OVERLAP; NTP keeps hosts within milliseconds)
CLOCK_OFFSET_WARNING = 1.0
#: an unknown username is remembered this long (a flood of made-up names costs no queries);
#: unknown MACs are not cached at all: "remember this device" must work on the next attempt
NEGATIVE_TTL = 2.0
#: unknown usernames remembered at most: in a cache of their own, so that a flood of made-up
#: names neither grows a worker's memory (they filled the 500,000 accounts' cache, ~1 MiB/min
#: per worker under the soak's mixed load) nor pushes the known accounts out of theirs
UNKNOWN_NAMES = 10_000
#: rows fetched at a time while preloading
PRELOAD_CHUNK = 10_000
#: accounts whose device credentials' NT hashes are kept (the devices connecting these hours)
NT_HASH_ACCOUNTS = 100_000

K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        if len(self.items) > self.limit:
            self.items.popitem(last=False)

    def forget(self, key: K) -> None:
        self.items.pop(key, None)


class AccountCache:
    """The account and device part of :class:`radius.sqlstore.SqlStore`; ``region_id`` is read at
    each query (the store learns it when it starts)."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        region_id: Callable[[], int],
        cache_size: int = 500_000,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.region_id = region_id
        self.clock = clock
        self.monotonic = monotonic
        self._accounts: _Lru[str, AccountView] = _Lru(cache_size)
        self._unknown: _Lru[str, float] = _Lru(min(cache_size, UNKNOWN_NAMES))  # until when
        self._devices: _Lru[str, tuple[str, datetime | None]] = _Lru(cache_size)
        self._nt_hashes: _Lru[int, tuple[tuple[int, bytes], ...]] = _Lru(min(cache_size, NT_HASH_ACCOUNTS))
        self._since = self.clock()
        self._offset_warned = False

    async def preload(self) -> tuple[int, int]:
        """Fill the caches with the working set before the first request: the accounts seen most
        recently (as many as the cache holds) and the devices still remembered, each in one
        streamed query. A returning citizen then costs no database round trip whatever the number
        of accounts (a lookup one by one costs ~1.4 ms of CPU, mostly the ORM's session)."""
        now = self.clock()
        region_id = self.region_id()
        async with self.sessions() as session:
            rows = await session.stream(
                select(
                    Account.username,
                    Account.id,
                    Account.status,
                    Account.email_verified,
                    Account.password_hash,
                    Account.grace_until,
                    Account.locale,
                )
                .where(Account.region_id == region_id)
                .order_by(Account.last_seen_at.desc().nulls_last(), Account.id.desc())
                .limit(self._accounts.limit)
                .execution_options(yield_per=PRELOAD_CHUNK)
            )
            accounts = [
                AccountView(
                    id=row[1],
                    username=row[0],
                    status=str(row[2]),
                    email_verified=row[3],
                    password_hash=row[4],
                    grace_until=row[5],
                    locale=_language(row[6]),
                )
                async for row in rows
            ]
            device_rows = await session.stream(
                select(Device.mac, Account.username, Device.remembered_until)
                .join(Account, Account.id == Device.account_id)
                .where(Account.region_id == region_id, Device.remembered_until > now)
                .order_by(Device.last_seen_at.desc().nulls_last(), Device.id.desc())
                .limit(self._devices.limit)
                .execution_options(yield_per=PRELOAD_CHUNK)
            )
            devices = [(row[0], (row[1], row[2])) async for row in device_rows]
        for view in reversed(accounts):  # the most recent last: the least likely to be evicted
            self._accounts.put(view.username, view)
        for mac, device in reversed(devices):
            self._devices.put(mac, device)
        log.info("radius: %d accounts and %d remembered devices loaded", len(accounts), len(devices))
        return len(accounts), len(devices)

    async def account(self, username: str) -> AccountView | None:
        cached = self._accounts.get(username)
        if cached is not None:
            return cached
        unknown_until = self._unknown.get(username)
        if unknown_until is not None and unknown_until > self.monotonic():
            return None
        async with self.sessions() as session:
            row = (
                await session.execute(
                    select(
                        Account.id,
                        Account.status,
                        Account.email_verified,
                        Account.password_hash,
                        Account.grace_until,
                        Account.locale,
                    ).where(Account.region_id == self.region_id(), Account.username == username)
                )
            ).first()
        view = (
            AccountView(
                id=row[0],
                username=username,
                status=str(row[1]),
                email_verified=row[2],
                password_hash=row[3],
                grace_until=row[4],
                locale=_language(row[5]),
            )
            if row is not None
            else None
        )
        if view is None:
            self._unknown.put(username, self.monotonic() + NEGATIVE_TTL)
        else:
            self._unknown.forget(username)
            self._accounts.put(username, view)
        return view

    async def device(self, mac: str) -> DeviceView | None:
        cached = self._devices.get(mac)
        if cached is None:
            async with self.sessions() as session:
                row = (
                    await session.execute(
                        select(Account.username, Device.remembered_until)
                        .join(Account, Account.id == Device.account_id)
                        .where(Device.mac == mac, Account.region_id == self.region_id())
                    )
                ).first()
            if row is None:
                return None  # not remembered: the device may be remembered a second from now
            cached = (row[0], row[1])
            self._devices.put(mac, cached)
        username, remembered_until = cached
        account = await self.account(username)
        if account is None:
            return None
        return DeviceView(mac=mac, account=account, remembered_until=remembered_until)

    async def nt_hashes(self, account_id: int, box: SecretBox) -> list[tuple[int, bytes]]:
        """(credential id, NT hash) of the account's live device credentials."""
        cached = self._nt_hashes.get(account_id)
        if cached is None:
            async with self.sessions() as session:
                cached = tuple(await active_nt_hashes(session, box=box, account_id=account_id))
            if cached:  # none yet: the one being created must work on the next attempt
                self._nt_hashes.put(account_id, cached)
        return list(cached)

    async def refresh(self) -> None:
        """Forget the accounts and devices changed or deleted since the last poll."""
        now = self.clock()
        since = self._since - POLL_OVERLAP
        async with self.sessions() as session:
            if session.get_bind().dialect.name == "postgresql":  # one clock for every host
                database_now = await session.scalar(select(func.now()))
                if database_now is not None:
                    self._check_offset(now, database_now)
                    now = database_now
            changed_accounts = (
                await session.execute(select(Account.username, Account.id).where(Account.updated_at >= since))
            ).all()
            changed_credentials = (
                await session.scalars(
                    select(DeviceCredential.account_id).where(DeviceCredential.updated_at >= since)
                )
            ).all()
            changed_devices = (
                await session.scalars(select(Device.mac).where(Device.updated_at >= since))
            ).all()
            deleted = (
                await session.execute(
                    select(Tombstone.kind, Tombstone.key).where(Tombstone.deleted_at >= since)
                )
            ).all()
        for username, account_id in changed_accounts:
            self._accounts.forget(username)
            self._unknown.forget(username)  # created meanwhile
            self._nt_hashes.forget(account_id)
        for account_id in changed_credentials:
            self._nt_hashes.forget(account_id)
        for mac in changed_devices:
            self._devices.forget(mac)
        for kind, key in deleted:  # deleted rows leave no updated_at behind: their tombstones say
            (self._accounts if kind == "account" else self._devices).forget(key)
            if kind == "account":
                self._nt_hashes.items.clear()
        self._since = now

    def _check_offset(self, local: datetime, database: datetime) -> None:
        offset = (local - database).total_seconds()
        metrics.DATABASE_CLOCK_OFFSET.set(offset)
        if abs(offset) > CLOCK_OFFSET_WARNING and not self._offset_warned:
            log.warning(
                "radius: this host's clock is %.1f s off the database's: keep hosts in time (NTP); "
                "past %d s, other hosts may miss the accounts and devices changed here",
                offset,
                POLL_OVERLAP.total_seconds(),
            )
        self._offset_warned = abs(offset) > CLOCK_OFFSET_WARNING


def _language(locale: str | None) -> str | None:
    """One shared string per language (``sys.intern``): a million cached accounts hold a pointer
    each, not a million copies of "fr"."""
    return sys.intern(locale) if locale else None
