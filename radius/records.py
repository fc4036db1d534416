"""Writing the legal records RADIUS keeps: decisions (``radpostauth``) and accounting (``radacct``).

Both are written off the request path in batches, and both must survive a record the database
refuses: a batch that fails is written again record by record (:meth:`RecordWriter._one_by_one`),
a record refused alone is logged and counted (never retried, never holding the others back), and
only a database that does not answer leaves records for later. Decisions are buffered and written
in one transaction per flush (on PostgreSQL one COPY, on a connection kept for them); accounting
records are group-committed, each returning once its batch is committed or it is refused.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime, timedelta
from functools import partial
from typing import Any, TypeVar

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import select
from sqlalchemy.exc import DataError, DBAPIError, DisconnectionError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker

from accounts import authlog, sessions
from accounts.authlog import Decision as RecordedDecision
from accounts.identity import canonical_mac
from radius import metrics
from radius.batching import Batcher
from radius.methods import Method

log = logging.getLogger(__name__)

#: deadlock detected, serialization failure: the transaction can simply run again
RETRYABLE = {"40P01", "40001"}
_MAC = Method.MAC.value
#: how stale ``last_seen_at`` (what orders the working set loaded at start) may get
SEEN_RESOLUTION = timedelta(hours=1)

T = TypeVar("T")


class _Refused(Exception):
    """Stands for "the database refused this record" in :meth:`RecordWriter._one_by_one`'s results."""


_REFUSED = _Refused()


def refused(exc: BaseException) -> bool:
    """Whether the database (or its driver) refused the data itself — a value it cannot take, a
    constraint — rather than failed to run (unreachable, shutting down). Decided by class, at
    every level: SQLAlchemy's wrappers, its asyncpg adapter, asyncpg's own classes (the COPY and
    the token statement use the driver directly: PostgreSQL SQLSTATE classes 22 and 23), and a
    value a driver cannot encode (``ValueError``, ``TypeError``)."""
    if _schema_misfit(exc):
        return False  # the schema does not fit this code: no record's fault (see unavailable)
    return any(
        isinstance(
            error,
            DataError
            | IntegrityError
            | asyncpg.exceptions.DataError
            | asyncpg.exceptions.IntegrityConstraintViolationError
            | ValueError
            | TypeError
            | OverflowError,
        )
        for error in _chain(exc)
    )


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """The error and what it wraps, outermost first: SQLAlchemy's ``orig``, then ``__cause__``."""
    seen: set[int] = set()
    error: BaseException | None = exc
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        error = error.orig if isinstance(error, DBAPIError) else error.__cause__


def _state_in(exc: BaseException, states: tuple[str, ...]) -> bool:
    """Whether a SQLSTATE anywhere in the chain starts with one of ``states``."""
    return any(
        isinstance(state := getattr(error, "sqlstate", None), str) and state.startswith(states)
        for error in _chain(exc)
    )


#: SQLSTATEs of a schema that does not fit the code writing to it — a NOT NULL column this code does
#: not fill (23502), a column, table or grant it expects and does not find (class 42) — as when a
#: migration broke the expand-only rule in the middle of a rolling upgrade (alembic/README.md): every
#: record would be "refused", acknowledged and lost; they wait instead, unanswered, for the operator
_SCHEMA_STATES = ("23502", "42")


def _schema_misfit(exc: BaseException) -> bool:
    """Whether a SQLSTATE anywhere in the chain says the schema does not fit (:data:`_SCHEMA_STATES`):
    the outer wrappers of an asyncpg error are IntegrityErrors too, without the state."""
    return _state_in(exc, _SCHEMA_STATES)


#: SQLSTATEs (and classes) of a database that cannot take a record now but may later: connection
#: exceptions (08), an operator's shutdown or a server still starting (57), a read-only server
#: (25006: a standby, or a primary demoted behind our back), resources (53), system errors (58),
#: a transaction to run again (40001, 40P01)
_UNAVAILABLE_STATES = ("08", "57", "53", "58", "25006", "40001", "40P01")


def unavailable(exc: BaseException) -> bool:
    """Whether the database failed to run a statement for reasons of its own — unreachable, gone
    mid-statement, shutting down, read-only (a standby, during a fail-over), a schema that does not
    fit this code (PostgreSQL; an SQLite database is never shared with another release) — rather
    than for the record: whatever was not committed must then wait for it, never be acknowledged as
    refused. Decided by class and SQLSTATE at every level of the chain, like :func:`refused`."""
    if _schema_misfit(exc) or _state_in(exc, _UNAVAILABLE_STATES):
        return True
    return any(
        isinstance(
            error,
            OSError
            | TimeoutError
            | DisconnectionError
            | asyncpg.exceptions.InterfaceError
            | asyncpg.exceptions.PostgresConnectionError
            | asyncpg.TargetServerAttributeNotMatched,
        )
        or (isinstance(error, DBAPIError) and error.connection_invalidated)
        for error in _chain(exc)
    )


class KeptConnection:
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


class RecordWriter:
    """Buffers and writes decision records, group-commits accounting records; owned by
    :class:`radius.sqlstore.SqlStore`, which hands both on to it."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        max_buffered_records: int = 100_000,
        accounting_batch: int = 1000,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sessions = sessions
        self.monotonic = monotonic
        self._records: list[RecordedDecision] = []
        self.max_buffered_records = max_buffered_records
        self.records_dropped = 0
        self._usage = Batcher(self._write_usage, limit=accounting_batch)
        # accounts and devices whose last_seen_at this process wrote in the current window
        self._seen_accounts: set[int] = set()
        self._seen_devices: set[str] = set()
        self._seen_since = monotonic()
        engine: AsyncEngine = sessions.kw["bind"]
        self._postgres = engine.dialect.name == "postgresql"
        self._records_connection = KeptConnection(engine)

    async def close(self) -> None:
        """Give the kept connection back (after the last flush)."""
        await self._records_connection.close()

    # -- decision records (radpostauth) ---------------------------------------------------------

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
        error that left it unwritten while the database cannot take it (:func:`unavailable`, or
        it does not answer: the item and all after it are then left for later).

        A failure that says the database is away is never the record's fault, even when a fresh
        connection answers a moment later: a connection broken by a fail-over, a standby still
        read-only. Taking it for a refusal would acknowledge a record that was never stored."""
        results: list[BaseException | None] = []
        for index, item in enumerate(batch):
            try:
                await write([item])
            except Exception as exc:
                if not refused(exc) and (unavailable(exc) or not await self._database_answers()):
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

    # -- accounting records (radacct) ----------------------------------------------------------

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
