"""The pipeline's :class:`~radius.store.Store` over the ``accounts`` services and SQL: what a
request reads (accounts, devices, tokens, hashes, policies, limits) and the access points.

Hot lookups are cached in memory: accounts by username and devices by MAC, misses included.
The cache stays correct because :meth:`SqlStore.refresh` (run every couple of seconds) reads
the rows whose ``updated_at`` moved and forgets them; tokens are never cached (single use must
hold across worker processes, so it is decided by the database, in batches:
:class:`radius.tokenbatch.TokenBatches`). The records a request leaves (decisions, accounting) are
handed on to :class:`radius.records.RecordWriter`, which writes them off the request path.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Generic, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts import certificates, credentials, policies, sessions
from accounts.authlog import Decision as RecordedDecision
from accounts.models import AccessPolicy, Account, Device, Tombstone
from accounts.network import ensure_home_region
from accounts.policies import Policy
from accounts.secretbox import SecretBox
from radius.clients import ClientTable
from radius.nasclients import NasClients
from radius.records import RecordWriter
from radius.store import AccountView, DeviceView
from radius.tokenbatch import TokenBatches

log = logging.getLogger(__name__)

#: rows changed this long before the last poll are read again (transactions commit late)
POLL_OVERLAP = timedelta(seconds=5)
#: an unknown username is remembered this long (a flood of made-up names costs no queries);
#: unknown MACs are not cached at all: "remember this device" must work on the next attempt
NEGATIVE_TTL = 2.0
#: unknown usernames remembered at most: in a cache of their own, so that a flood of made-up
#: names neither grows a worker's memory (they filled the 500,000 accounts' cache, ~1 MiB/min
#: per worker under the soak's mixed load) nor pushes the known accounts out of theirs
UNKNOWN_NAMES = 10_000


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


PRELOAD_CHUNK = 10_000


class SqlStore:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        box: SecretBox,
        realm: str,
        region_name: str,
        defaults: Policy,
        cache_size: int = 500_000,
        max_buffered_records: int = 100_000,
        accounting_batch: int = 1000,
        timezone: str = "Europe/Paris",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        preload: bool = True,
    ) -> None:
        self.monotonic = monotonic
        self.preload_at_start = preload
        self.sessions = sessions
        self.box = box
        self.realm = realm
        self.region_name = region_name
        self.defaults = defaults
        self.clock = clock
        self.region_id = 0
        self._accounts: _Lru[str, AccountView] = _Lru(cache_size)
        self._unknown: _Lru[str, float] = _Lru(min(cache_size, UNKNOWN_NAMES))  # until when
        self._devices: _Lru[str, tuple[str, datetime | None]] = _Lru(cache_size)
        self._by_commune: dict[int, AccessPolicy] = {}
        self._by_site: dict[int, AccessPolicy] = {}
        self._resolved: dict[tuple[int | None, int | None], Policy] = {}
        self._writer = RecordWriter(
            sessions=sessions,
            max_buffered_records=max_buffered_records,
            accounting_batch=accounting_batch,
            monotonic=monotonic,
        )
        self._since = self.clock()
        self._clients = NasClients(sessions=sessions, box=box)
        self._tokens = TokenBatches(sessions=sessions, box=box, region_id=lambda: self.region_id)
        self._open_sessions: dict[int, list[str | None]] = {}
        self.timezone = ZoneInfo(timezone)

    async def start(self) -> None:
        async with self.sessions() as session, session.begin():
            region = await ensure_home_region(session, realm=self.realm, name=self.region_name)
            self.region_id = region.id
            self._by_commune, self._by_site = await policies.load_policies(session)
            self._open_sessions = await sessions.open_devices(session)
        self._resolved = {}
        if self.preload_at_start:
            await self.preload()

    async def preload(self) -> tuple[int, int]:
        """Fill the caches with the working set before the first request: the accounts seen most
        recently (as many as the cache holds) and the devices still remembered, each in one
        streamed query. A returning citizen then costs no database round trip whatever the number
        of accounts (a lookup one by one costs ~1.4 ms of CPU, mostly the ORM's session)."""
        now = self.clock()
        async with self.sessions() as session:
            rows = await session.stream(
                select(
                    Account.username,
                    Account.id,
                    Account.status,
                    Account.email_verified,
                    Account.password_hash,
                    Account.grace_until,
                )
                .where(Account.region_id == self.region_id)
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
                )
                async for row in rows
            ]
            device_rows = await session.stream(
                select(Device.mac, Account.username, Device.remembered_until)
                .join(Account, Account.id == Device.account_id)
                .where(Account.region_id == self.region_id, Device.remembered_until > now)
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

    # -- lookups ------------------------------------------------------------------------------

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
                    ).where(Account.region_id == self.region_id, Account.username == username)
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
                        .where(Device.mac == mac, Account.region_id == self.region_id)
                    )
                ).first()
            if row is None:
                return None
            cached = (row[0], row[1])
            self._devices.put(mac, cached)
        username, remembered_until = cached
        account = await self.account(username)
        if account is None:
            return None
        return DeviceView(mac=mac, account=account, remembered_until=remembered_until)

    async def consume_token(
        self, *, username: str, token: str, nas_id: int | None, now: datetime
    ) -> AccountView | None:
        """Group commit (see :class:`radius.tokenbatch.TokenBatches`)."""
        return await self._tokens.consume(username=username, token=token, nas_id=nas_id, now=now)

    async def consume_token_matching(
        self, *, account_id: int, nas_id: int | None, matches: Callable[[bytes], bool], now: datetime
    ) -> bool:
        return await self._tokens.consume_matching(
            account_id=account_id, nas_id=nas_id, matches=matches, now=now
        )

    async def nt_hashes(self, *, account_id: int) -> list[tuple[int, bytes]]:
        async with self.sessions() as session:
            return await credentials.active_nt_hashes(session, box=self.box, account_id=account_id)

    async def certificate_owner(self, *, issuer: bytes, serial: int, now: datetime) -> str | None:
        async with self.sessions() as session:
            owner = await certificates.certificate_owner(
                session, region_id=self.region_id, issuer_der=issuer, serial=serial, now=now
            )
        return None if owner is None else owner.username

    def policy(self, *, commune_id: int | None, site_id: int | None) -> Policy:
        """The site's policy, resolved once per (commune, site) until policies are reloaded."""
        key = (commune_id, site_id)
        policy = self._resolved.get(key)
        if policy is None:
            policy = self._resolved[key] = self._resolve(commune_id=commune_id, site_id=site_id)
        return policy

    def _resolve(self, *, commune_id: int | None, site_id: int | None) -> Policy:
        return policies.resolve(
            self.defaults,
            commune_id=commune_id,
            site_id=site_id,
            by_commune=self._by_commune,
            by_site=self._by_site,
        )

    # -- records (written by radius.records) ----------------------------------------------------

    def record(self, decision: RecordedDecision) -> None:
        self._writer.record(decision)

    async def flush_records(self) -> int:
        """Write the buffered decision records (see :meth:`RecordWriter.flush_records`)."""
        return await self._writer.flush_records()

    @property
    def records_dropped(self) -> int:
        """Decision records lost since this was last reset (the buffer was full)."""
        return self._writer.records_dropped

    @records_dropped.setter
    def records_dropped(self, value: int) -> None:
        self._writer.records_dropped = value

    async def close(self) -> None:
        """Give the kept connections back (after the last flush)."""
        await self._writer.close()
        await self._tokens.close()

    # -- accounting and limits ------------------------------------------------------------------

    async def record_usage(self, usage: sessions.Usage) -> None:
        """Return once the record is committed or refused (see :meth:`RecordWriter.record_usage`)."""
        await self._writer.record_usage(usage)

    async def open_devices(self, account_id: int) -> list[str | None]:
        """The device MACs of the account's open sessions, as of the last poll.

        Read from memory: every open session is re-read by :meth:`refresh` (every couple of
        seconds), so an accept costs no query. The few seconds of lag are in the protocol anyway:
        a session exists only once the NAS's Accounting Start arrived, seconds after its accept.
        """
        return self._open_sessions.get(account_id, [])

    def day_start(self, now: datetime) -> datetime:
        """Midnight of ``now``'s day where the region is (daily limits count from it)."""
        local = now.astimezone(self.timezone)
        return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)

    async def usage_today(
        self, *, account_id: int, commune_id: int | None, now: datetime
    ) -> sessions.DailyUsage:
        async with self.sessions() as session:
            return await sessions.usage_since(
                session, account_id=account_id, commune_id=commune_id, since=self.day_start(now)
            )

    async def close_stale_sessions(self, *, now: datetime, silent_for: timedelta) -> int:
        async with self.sessions() as session, session.begin():
            return await sessions.close_stale_sessions(session, silent_since=now - silent_for)

    async def sessions_over_limits(self, *, now: datetime) -> list[int]:
        """Open sessions past the daily limit of their site's policy, not yet asked to end."""
        async with self.sessions() as session:
            limits: dict[tuple[int | None, int | None], tuple[int | None, int | None]] = {}
            for commune_id, site_id in await sessions.open_places(session):
                policy = self.policy(commune_id=commune_id, site_id=site_id)
                if policy.daily_time_limit or policy.daily_octets_limit:
                    limits[(commune_id, site_id)] = (policy.daily_time_limit, policy.daily_octets_limit)
            if not limits:
                return []
            return await sessions.sessions_over_limits(session, since=self.day_start(now), limits=limits)

    # -- change polling -------------------------------------------------------------------------

    async def refresh(self) -> None:
        """Forget cached accounts and devices changed since the last poll; reload policies."""
        now = self.clock()
        since = self._since - POLL_OVERLAP
        async with self.sessions() as session:
            changed_accounts = (
                await session.scalars(select(Account.username).where(Account.updated_at >= since))
            ).all()
            changed_devices = (
                await session.scalars(select(Device.mac).where(Device.updated_at >= since))
            ).all()
            deleted = (
                await session.execute(
                    select(Tombstone.kind, Tombstone.key).where(Tombstone.deleted_at >= since)
                )
            ).all()
            self._by_commune, self._by_site = await policies.load_policies(session)
            open_sessions = await sessions.open_devices(session)
        self._resolved = {}
        self._open_sessions = open_sessions
        for username in changed_accounts:
            self._accounts.forget(username)
            self._unknown.forget(username)  # created meanwhile
        for mac in changed_devices:
            self._devices.forget(mac)
        for kind, key in deleted:  # deleted rows leave no updated_at behind: their tombstones say
            (self._accounts if kind == "account" else self._devices).forget(key)
        self._since = now

    async def clients_changed(self) -> bool:
        return await self._clients.changed()

    async def load_clients(self) -> ClientTable:
        return await self._clients.load()
