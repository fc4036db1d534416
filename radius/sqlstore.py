"""The pipeline's :class:`~radius.store.Store` over the ``accounts`` services and SQL.

Hot lookups are cached in memory: accounts by username and devices by MAC, misses included.
The cache stays correct because :meth:`SqlStore.refresh` (run every couple of seconds) reads
the rows whose ``updated_at`` moved and forgets them; tokens are never cached (single use must
hold across worker processes, so it is decided by the database). Decisions are buffered and
written in one transaction per flush, off the request path.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import func, select
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from accounts import authlog, credentials, policies, sessions, tokens
from accounts.authlog import Decision as RecordedDecision
from accounts.errors import SecretUnreadable
from accounts.models import AccessPolicy, Account, Device, Nas, Site, Tombstone
from accounts.network import ensure_home_region, nas_secret
from accounts.policies import Policy
from accounts.secretbox import SecretBox
from radius import metrics
from radius.batching import Batcher
from radius.clients import Client, ClientTable
from radius.methods import Method, canonical_mac
from radius.store import AccountView, DeviceView

log = logging.getLogger(__name__)

#: rows changed this long before the last poll are read again (transactions commit late)
POLL_OVERLAP = timedelta(seconds=5)
#: an unknown username is remembered this long (a flood of made-up names costs no queries);
#: unknown MACs are not cached at all: "remember this device" must work on the next attempt
NEGATIVE_TTL = 2.0
#: deadlock detected, serialization failure: the transaction can simply run again
RETRYABLE = {"40P01", "40001"}
#: most token uses in one UPDATE
TOKEN_BATCH = 500


K = TypeVar("K")
V = TypeVar("V")
T = TypeVar("T")


class _Refused(Exception):
    """Stands for "the database refused this record" in :meth:`SqlStore._one_by_one`'s results."""


_REFUSED = _Refused()


def refused(exc: BaseException) -> bool:
    """Whether the database (or its driver) refused the data itself — a value it cannot take, a
    constraint — rather than failed to run (unreachable, shutting down). Decided by class, at
    every level: SQLAlchemy's wrappers, its asyncpg adapter, asyncpg's own classes (the COPY and
    the token statement use the driver directly: PostgreSQL SQLSTATE classes 22 and 23), and a
    value a driver cannot encode (``ValueError``, ``TypeError``)."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        if isinstance(
            error,
            DataError
            | IntegrityError
            | asyncpg.exceptions.DataError
            | asyncpg.exceptions.IntegrityConstraintViolationError
            | ValueError
            | TypeError
            | OverflowError,
        ):
            return True
        error = error.orig if isinstance(error, DBAPIError) else error.__cause__
    return False


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
_MAC = Method.MAC.value
#: how stale ``last_seen_at`` (what orders the working set loaded at start) may get
SEEN_RESOLUTION = timedelta(hours=1)


class _KeptConnection:
    """A pooled connection checked out for good, used through the driver (asyncpg) for one kind
    of statement that runs one at a time (a COPY of records, a batch of tokens): no session, no
    pool checkout, no BEGIN/COMMIT — each statement is its own transaction, one round trip."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._connection: AsyncConnection | None = None
        self._driver: Any = None

    async def driver(self) -> Any:
        if self._connection is None:
            connection = await self._engine.connect()
            try:
                raw = await connection.get_raw_connection()
            except BaseException:
                await connection.close()
                raise
            self._connection, self._driver = connection, raw.driver_connection
        return self._driver

    async def drop(self) -> None:
        """After an error: the next use opens a fresh connection."""
        connection, self._connection, self._driver = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(Exception):
                await connection.invalidate()
            with contextlib.suppress(Exception):
                await connection.close()

    async def close(self) -> None:
        connection, self._connection, self._driver = self._connection, None, None
        if connection is not None:
            await connection.close()


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
        self._accounts: _Lru[str, tuple[AccountView | None, float]] = _Lru(cache_size)
        self._devices: _Lru[str, tuple[str, datetime | None]] = _Lru(cache_size)
        self._by_commune: dict[int, AccessPolicy] = {}
        self._by_site: dict[int, AccessPolicy] = {}
        self._resolved: dict[tuple[int | None, int | None], Policy] = {}
        self._records: list[RecordedDecision] = []
        self.max_buffered_records = max_buffered_records
        self.records_dropped = 0
        self._since = self.clock()
        self._clients_version: tuple[int, datetime | None] | None = None
        self._tokens = Batcher(self._consume_tokens, limit=TOKEN_BATCH)
        self._usage = Batcher(self._write_usage, limit=accounting_batch)
        self._open_sessions: dict[int, list[str | None]] = {}
        self.timezone = ZoneInfo(timezone)
        # accounts and devices whose last_seen_at this process wrote in the current window
        self._seen_accounts: set[int] = set()
        self._seen_devices: set[str] = set()
        self._seen_since = monotonic()
        self._engine: AsyncEngine = sessions.kw["bind"]
        self._postgres = self._engine.dialect.name == "postgresql"
        self._records_connection = _KeptConnection(self._engine)
        self._tokens_connection = _KeptConnection(self._engine)

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
            self._accounts.put(view.username, (view, 0.0))
        for mac, device in reversed(devices):
            self._devices.put(mac, device)
        log.info("radius: %d accounts and %d remembered devices loaded", len(accounts), len(devices))
        return len(accounts), len(devices)

    # -- lookups ------------------------------------------------------------------------------

    async def account(self, username: str) -> AccountView | None:
        cached = self._accounts.get(username)
        if cached is not None and (cached[0] is not None or cached[1] > self.monotonic()):
            return cached[0]
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
        self._accounts.put(username, (view, self.monotonic() + NEGATIVE_TTL))
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
        """Group commit: attempts that arrive while a batch is in flight go together in the next one."""
        if nas_id is None:  # a partner's proxy: no token of ours was handed to it
            return None
        return await self._tokens((username, token, nas_id, now))

    async def _consume_tokens(self, batch: list[tuple[str, str, int, datetime]]) -> list[AccountView | None]:
        attempts: list[tokens.Attempt] = [(username, token, nas_id) for username, token, nas_id, _ in batch]
        now = max(now for _, _, _, now in batch)
        if self._postgres:  # one statement, its own transaction: one round trip per batch
            try:
                won = await tokens.consume_tokens_of_users_on(
                    await self._tokens_connection.driver(),
                    box=self.box,
                    region_id=self.region_id,
                    attempts=attempts,
                    now=now,
                )
            except Exception:
                await self._tokens_connection.drop()
                raise
        else:
            async with self.sessions() as session, session.begin():
                won = await tokens.consume_tokens_of_users(
                    session, box=self.box, region_id=self.region_id, attempts=attempts, now=now
                )
        # the same token twice in one batch (a client retrying fast): only the first wins
        owners = [(attempt[0], won.pop(attempt, None)) for attempt in attempts]
        return [_owner_view(username, owner) if owner else None for username, owner in owners]

    async def consume_token_matching(
        self, *, account_id: int, nas_id: int | None, matches: Callable[[bytes], bool], now: datetime
    ) -> bool:
        if nas_id is None:
            return False
        async with self.sessions() as session, session.begin():
            return await tokens.consume_token_matching(
                session, box=self.box, account_id=account_id, nas_id=nas_id, matches=matches, now=now
            )

    async def nt_hashes(self, *, account_id: int) -> list[tuple[int, bytes]]:
        async with self.sessions() as session:
            return await credentials.active_nt_hashes(session, box=self.box, account_id=account_id)

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

    # -- records ------------------------------------------------------------------------------

    def record(self, decision: RecordedDecision) -> None:
        if len(self._records) >= self.max_buffered_records:
            self.records_dropped += 1  # the database is away: keep answering, count what is lost
            return
        self._records.append(authlog.storable(decision))  # made storable before it is queued

    async def flush_records(self) -> int:
        """Write the buffered decision records; how many were written (or refused: see below).

        A batch that fails is tried once more as a whole (a connection that went away), then
        record by record (:meth:`_one_by_one`): a record the database refuses is logged and
        counted, never retried, and never holds the others back. Only when the database does
        not answer at all are the records kept, for the next flush.
        """
        batch, self._records = self._records, []
        if not batch:
            return 0
        try:
            try:
                await self._write_decisions(batch)
                return len(batch)
            except Exception as exc:
                if refused(exc) or len(batch) == 1:
                    raise
                log.info("radius: decision records retried after %r", exc)
                await self._write_decisions(batch)
                return len(batch)
        except Exception as exc:
            first = exc
        results = await self._one_by_one(batch, self._write_decisions, first)
        kept = [
            record for record, result in zip(batch, results, strict=True) if result not in (None, _REFUSED)
        ]
        for record, result in zip(batch, results, strict=True):
            if result is _REFUSED:
                self._refused("radpostauth", record)
        if kept:
            self._records[:0] = kept[: self.max_buffered_records - len(self._records)]
            raise first
        return len(batch)

    async def _write_decisions(self, batch: list[RecordedDecision]) -> None:
        accounts, devices = self._newly_seen(batch)
        copied = self._postgres and await self._copy_records(batch)
        if not copied:
            await self._write_records(batch, accounts, devices)
        else:
            await self._mark_seen(accounts, devices)

    async def _one_by_one(
        self, batch: list[T], write: Callable[[list[T]], Awaitable[None]], failure: BaseException
    ) -> list[BaseException | None]:
        """Write a batch that failed item by item: per item None (written), :data:`_REFUSED` (the
        database refused it, or failed on it while it answers otherwise: it is at fault), or the
        error that left it unwritten while the database does not answer (the item and all after
        it are then left for later)."""
        results: list[BaseException | None] = []
        for index, item in enumerate(batch):
            try:
                await write([item])
            except Exception as exc:
                if not refused(exc) and not await self._database_answers():
                    return results + [exc] * (len(batch) - index)
                log.debug("radius: one record refused: %r", exc)
                results.append(_REFUSED)
                continue
            results.append(None)
        return results

    async def _database_answers(self) -> bool:
        try:
            async with self.sessions() as session:
                await session.execute(select(1))
        except Exception:
            return False
        return True

    def _refused(self, table: str, record: object) -> None:
        """A record the database refused: counted and logged (what it held, made storable), so
        that the trace is kept somewhere; it is not retried."""
        metrics.RECORDS_REFUSED.labels(table).inc()
        log.error("radius: the database refused a %s record; it is logged here only: %r", table, record)

    async def _copy_records(self, batch: list[RecordedDecision]) -> bool:
        """PostgreSQL: one COPY, in its own transaction, on a connection kept for the records (no
        session, no pool checkout, no BEGIN/COMMIT round trips: a flush of 250 records holds the
        event loop ~1.5 ms instead of ~3 ms, in slices; that pause was the p99 latency at half
        load). False when an account was deleted meanwhile (nothing written)."""
        try:
            await authlog.copy_decisions(await self._records_connection.driver(), batch)
        except authlog.DanglingAccount:
            return False
        except Exception:
            await self._records_connection.drop()  # a fresh one at the next flush
            raise
        return True

    async def _write_records(
        self, batch: list[RecordedDecision], accounts: dict[int, datetime], devices: dict[str, datetime]
    ) -> None:
        """Through a session: SQLite, and on PostgreSQL a batch naming a deleted account."""
        try:
            # Accounts are seldom deleted while their decisions wait here: write at once, and
            # look the accounts up only if the database refuses a dangling one. (Looking them
            # up every time cost a query per flush, and its ~400-id IN list held the event
            # loop longer than the COPY itself.)
            async with self.sessions() as session, session.begin():
                await authlog.record_decisions(session, batch, check_accounts=False)
                await authlog.mark_seen(
                    session, accounts=accounts, devices=devices, resolution=SEEN_RESOLUTION
                )
        except authlog.DanglingAccount:
            named = {d.account_id for d in batch if d.account_id is not None}
            existing = await self._existing_accounts(named)
            async with self.sessions() as session, session.begin():
                await authlog.record_decisions(session, batch, existing=existing)
                await authlog.mark_seen(
                    session, accounts=accounts, devices=devices, resolution=SEEN_RESOLUTION
                )
        self._seen_accounts.update(accounts)
        self._seen_devices.update(devices)

    async def _mark_seen(self, accounts: dict[int, datetime], devices: dict[str, datetime]) -> None:
        """After a COPY: the records are in, so a failure here only delays the marks."""
        if not accounts and not devices:
            return
        try:
            driver = await self._records_connection.driver()
            await authlog.mark_seen_on(driver, accounts=accounts, devices=devices, resolution=SEEN_RESOLUTION)
        except Exception as exc:
            await self._records_connection.drop()
            log.warning("radius: could not mark %d accounts as seen: %r", len(accounts), exc)
            return
        self._seen_accounts.update(accounts)
        self._seen_devices.update(devices)

    async def close(self) -> None:
        """Give the kept connections back (after the last flush)."""
        await self._records_connection.close()
        await self._tokens_connection.close()

    def _newly_seen(self, batch: list[RecordedDecision]) -> tuple[dict[int, datetime], dict[str, datetime]]:
        """The accounts and remembered devices accepted in ``batch`` whose ``last_seen_at`` this
        process has not written for a while (at most once per :data:`SEEN_RESOLUTION` each)."""
        if self.monotonic() - self._seen_since > SEEN_RESOLUTION.total_seconds():
            self._seen_accounts.clear()
            self._seen_devices.clear()
            self._seen_since = self.monotonic()
        accounts: dict[int, datetime] = {}
        devices: dict[str, datetime] = {}
        for d in batch:
            if d.reply != "Access-Accept":
                continue
            if d.account_id is not None and d.account_id not in self._seen_accounts:
                accounts[d.account_id] = d.authdate
            if d.method == _MAC:
                mac = canonical_mac(d.username)
                if mac is not None and mac not in self._seen_devices:
                    devices[mac] = d.authdate
        return accounts, devices

    # -- accounting and limits ------------------------------------------------------------------

    async def record_usage(self, usage: sessions.Usage) -> None:
        """Return once the record is committed (with the others that arrived meanwhile), or
        refused by the database (logged and counted: see :meth:`_write_usage`)."""
        await self._usage(sessions.storable(usage))  # made storable before it is queued

    async def _existing_accounts(self, account_ids: set[int]) -> set[int]:
        """Which of these accounts still exist, read before (not inside) a write transaction:
        on SQLite a transaction that reads before it writes fails at once when another writer
        committed in between. An account deleted meanwhile is then not linked (see
        :func:`accounts.sessions.apply_usage`)."""
        if not account_ids:
            return set()
        async with self.sessions() as session:
            return await sessions.existing_accounts(session, account_ids)

    async def _write_usage(self, batch: list[sessions.Usage]) -> list[BaseException | None]:
        """Commit a batch of accounting records; one result per record (None: committed).

        A batch that fails is written record by record, so one record the database refuses
        cannot take the others down with it (they would all be retransmitted, and refused again,
        forever). A record refused alone is acknowledged all the same, and logged and counted:
        retransmitted, it would be refused again forever (and some NASes hold back their later
        records behind it). Only a database that does not answer leaves records unanswered.
        """
        existing = await self._existing_accounts(sessions.linked_accounts(batch))
        try:
            await self._commit_usage(batch, existing=existing)
        except Exception as exc:
            if len(batch) > 1:
                log.warning("radius: an accounting batch failed (%r); writing it record by record", exc)
            results = await self._one_by_one(batch, partial(self._commit_usage, existing=existing), exc)
            for usage, result in zip(batch, results, strict=True):
                if result is _REFUSED:
                    self._refused("radacct", usage)
            return [None if result is _REFUSED else result for result in results]
        metrics.ACCOUNTING_BATCH.observe(len(batch))
        return [None] * len(batch)

    async def _commit_usage(self, batch: list[sessions.Usage], *, existing: set[int]) -> None:
        for attempt in (1, 2):
            try:
                async with self.sessions() as session, session.begin():
                    await sessions.apply_usage(session, batch, existing=existing)
                return
            except DBAPIError as exc:  # another worker's batch held rows this one needed: once more
                if attempt == 2 or getattr(exc.orig, "sqlstate", None) not in RETRYABLE:
                    raise
                log.info("accounting batch retried after %s", getattr(exc.orig, "sqlstate", "?"))

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
        for mac in changed_devices:
            self._devices.forget(mac)
        for kind, key in deleted:  # deleted rows leave no updated_at behind: their tombstones say
            (self._accounts if kind == "account" else self._devices).forget(key)
        self._since = now

    async def clients_changed(self) -> bool:
        async with self.sessions() as session:
            version = tuple(
                (await session.execute(select(func.count(Nas.id), func.max(Nas.updated_at)))).one()
            )
        changed = version != self._clients_version
        self._clients_version = version  # type: ignore[assignment]
        return changed

    async def load_clients(self) -> ClientTable:
        async with self.sessions() as session:
            rows = (
                await session.execute(select(Nas, Site.commune_id).join(Site, Site.id == Nas.site_id))
            ).all()
        clients = []
        for nas, commune_id in rows:
            try:
                secret = nas_secret(self.box, nas)
            except SecretUnreadable:
                log.error(
                    "access point %s: its shared secret cannot be decrypted; it is ignored", nas.shortname
                )
                continue
            clients.append(
                Client(
                    id=nas.id,
                    name=nas.shortname,
                    network=ipaddress.ip_network(nas.nasname),
                    secret=secret,
                    require_message_authenticator=nas.require_message_authenticator,
                    site_id=nas.site_id,
                    commune_id=commune_id,
                    vendor=nas.type,
                )
            )
        return ClientTable(clients)


def _owner_view(username: str, owner: tokens.TokenOwner) -> AccountView:
    return AccountView(
        id=owner.account_id,
        username=username,
        status=owner.status,
        email_verified=owner.email_verified,
        password_hash=owner.password_hash,
        grace_until=owner.grace_until,
    )
