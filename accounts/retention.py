"""Legal retention: deleting connection data once the law no longer requires it.

A commune offering public Wi-Fi is an operator (CPCE art. L34-1): décret 2021-1361 makes it keep
the technical data identifying a connection (user, device MAC, IP, access point, start, end)
for **one year from the connection** — no less, and, under the GDPR's minimisation principle, no
more — and the sign-up data of a closed account for one year after it closed. :func:`purge`
deletes what has passed those periods:

=================  ==========================================================================
``radacct``        sessions that *ended* more than ``connection_days`` ago (the end is the stop
                   time, else the last interim update, else the start: a session left open is
                   judged by its last sign of life)
``radpostauth``    authentication decisions older than ``connection_days``
``closed_account`` what is kept of deleted accounts, ``closed_account_days`` after closing
``radius_token``   single-use tokens expired more than a day ago (hygiene: no legal value)
``account_code``   email codes (verification, reset) expired more than a day ago (same)
``revoked_token``  revoked admin access tokens, a day after they would have expired anyway
``tombstone``      deleted accounts and devices, a day after (the RADIUS caches forgot them)
=================  ==========================================================================

A row exactly at a cutoff is kept. Rows go in batches, one transaction each, through
``DELETE … WHERE pk IN (SELECT pk … ORDER BY <indexed time> LIMIT n)``, until a batch finds
nothing: an interrupted purge has committed what it did and the next run carries on; two purges at
once (a timer and an operator) share the work — on PostgreSQL each batch skips the rows another
transaction holds (``FOR UPDATE SKIP LOCKED``), and SQLite runs one writer at a time anyway. A row
skipped because it was locked goes the next day.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import ColumnElement, Delete, Table, any_, delete, func, select
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.models import (
    AccountCode,
    AccountingSession,
    AuthRecord,
    Base,
    ClosedAccount,
    PhoneCode,
    RadiusToken,
    RevokedToken,
    Tombstone,
)

#: how long after expiring a single-use token is kept (enough to read why a login just failed)
TOKEN_GRACE = timedelta(days=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class Cutoffs:
    """The instants before which each kind of row is purged (a row exactly at one is kept)."""

    connections: datetime
    closed_accounts: datetime
    tokens: datetime

    @classmethod
    def at(cls, now: datetime, *, connection_days: int, closed_account_days: int) -> Cutoffs:
        return cls(
            connections=now - timedelta(days=connection_days),
            closed_accounts=now - timedelta(days=closed_account_days),
            tokens=now - TOKEN_GRACE,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class PurgeReport:
    """Rows deleted per table (or, for a dry run, that would be)."""

    cutoffs: Cutoffs
    radacct: int
    radpostauth: int
    closed_account: int
    radius_token: int
    tombstone: int = 0
    account_code: int = 0
    phone_code: int = 0
    revoked_token: int = 0
    dry_run: bool = False

    def counts(self) -> dict[str, int]:
        """Table name → rows, in the order the purge runs."""
        return {
            "radacct": self.radacct,
            "radpostauth": self.radpostauth,
            "closed_account": self.closed_account,
            "radius_token": self.radius_token,
            "tombstone": self.tombstone,
            "account_code": self.account_code,
            "phone_code": self.phone_code,
            "revoked_token": self.revoked_token,
        }

    @property
    def total(self) -> int:
        return sum(self.counts().values())


@dataclass(frozen=True, slots=True)
class _Rule:
    """Which rows of a table are past their period, and the indexed column to walk them in."""

    table: Table
    key: ColumnElement[Any]
    order: ColumnElement[Any]
    expired: Callable[[Cutoffs], ColumnElement[bool]]


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)  # Core statements: no ORM bookkeeping for bulk deletes


def _rules() -> tuple[_Rule, ...]:
    radacct, radpostauth = _table(AccountingSession), _table(AuthRecord)
    closed, tokens, tombstones = _table(ClosedAccount), _table(RadiusToken), _table(Tombstone)
    codes, revoked, sms_codes = _table(AccountCode), _table(RevokedToken), _table(PhoneCode)
    acct = radacct.c
    start = acct.acctstarttime
    return (
        # A session ends after it starts, so one that ended before the cutoff started before it:
        # that bound lets the database walk the start-time index over old sessions only, instead
        # of computing coalesce() on every row. Sésame always sets the start; a row another tool
        # wrote without one is judged by its stop or last update (second rule).
        _Rule(
            radacct,
            acct.radacctid,
            start,
            lambda cut: (
                (start < cut.connections)
                & (func.coalesce(acct.acctstoptime, acct.acctupdatetime, start) < cut.connections)
            ),
        ),
        _Rule(
            radacct,
            acct.radacctid,
            acct.radacctid,
            lambda cut: (
                start.is_(None) & (func.coalesce(acct.acctstoptime, acct.acctupdatetime) < cut.connections)
            ),
        ),
        _Rule(
            radpostauth,
            radpostauth.c.id,
            radpostauth.c.authdate,
            lambda cut: radpostauth.c.authdate < cut.connections,
        ),
        _Rule(closed, closed.c.id, closed.c.closed_at, lambda cut: closed.c.closed_at < cut.closed_accounts),
        _Rule(tokens, tokens.c.id, tokens.c.expires_at, lambda cut: tokens.c.expires_at < cut.tokens),
        _Rule(
            tombstones,
            tombstones.c.id,
            tombstones.c.deleted_at,
            lambda cut: tombstones.c.deleted_at < cut.tokens,
        ),
        _Rule(codes, codes.c.id, codes.c.expires_at, lambda cut: codes.c.expires_at < cut.tokens),
        _Rule(
            sms_codes, sms_codes.c.id, sms_codes.c.expires_at, lambda cut: sms_codes.c.expires_at < cut.tokens
        ),
        _Rule(revoked, revoked.c.jti, revoked.c.expires_at, lambda cut: revoked.c.expires_at < cut.tokens),
    )


async def purge(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    connection_days: int,
    closed_account_days: int,
    batch_size: int,
    dry_run: bool = False,
) -> PurgeReport:
    """Delete every row past its retention period, ``batch_size`` rows per committed transaction.

    With ``dry_run``, only count them and delete nothing.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    cutoffs = Cutoffs.at(now, connection_days=connection_days, closed_account_days=closed_account_days)
    counts: dict[str, int] = {}
    for rule in _rules():
        if dry_run:
            async with sessions() as session:
                query = select(func.count()).select_from(rule.table).where(rule.expired(cutoffs))
                found = int(await session.scalar(query) or 0)
        else:
            found = await _delete_in_batches(sessions, rule, cutoffs, batch_size)
        counts[rule.table.name] = counts.get(rule.table.name, 0) + found
    return PurgeReport(
        cutoffs=cutoffs,
        radacct=counts["radacct"],
        radpostauth=counts["radpostauth"],
        closed_account=counts["closed_account"],
        radius_token=counts["radius_token"],
        tombstone=counts["tombstone"],
        account_code=counts["account_code"],
        phone_code=counts["phone_code"],
        revoked_token=counts["revoked_token"],
        dry_run=dry_run,
    )


async def _delete_in_batches(
    sessions: async_sessionmaker[AsyncSession], rule: _Rule, cutoffs: Cutoffs, batch_size: int
) -> int:
    total = 0
    while True:
        async with sessions() as session, session.begin():
            dialect = (await session.connection()).dialect.name
            result = await session.execute(_delete_batch(rule, cutoffs, batch_size, dialect))
        deleted = int(result.rowcount)  # type: ignore[attr-defined]
        total += deleted
        if deleted == 0:  # not "< batch_size": a concurrent purge may have taken part of a batch
            return total


def _delete_batch(rule: _Rule, cutoffs: Cutoffs, batch_size: int, dialect: str) -> Delete:
    """``DELETE … WHERE pk IN (SELECT pk … ORDER BY indexed column LIMIT n)``."""
    batch = select(rule.key).where(rule.expired(cutoffs)).order_by(rule.order).limit(batch_size)
    if dialect != "postgresql":
        return delete(rule.table).where(rule.key.in_(batch))
    # PostgreSQL plans ``IN (subquery)`` as a hash join over a scan of the whole table (measured:
    # 170 ms a batch at a million sessions, growing with the table). Collecting the keys into an
    # array first makes it one primary-key index lookup per row (8 ms). SKIP LOCKED: two purges
    # at once take different rows rather than waiting on each other.
    keys = batch.with_for_update(skip_locked=True).subquery()
    array = select(func.array_agg(keys.c[0])).scalar_subquery()
    return delete(rule.table).where(rule.key == any_(sql_cast(array, postgresql.ARRAY(rule.key.type))))
