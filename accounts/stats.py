"""Statistics per day for a commune or a site: sessions, distinct accounts, volumes and refused
authentications. Days are UTC calendar days."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Date, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import AccountingSession, AuthRecord, Site


@dataclass(frozen=True, slots=True, kw_only=True)
class DayStats:
    day: date
    sessions: int = 0
    accounts: int = 0
    octets_in: int = 0
    octets_out: int = 0
    refused: int = 0


def utc_day(column: Any, dialect: str) -> ColumnElement[Any]:
    """The UTC calendar day of a timestamp column, on either backend (shared with accounts.history)."""
    if dialect == "postgresql":  # timestamptz: the UTC day whatever the server's time zone
        return cast(func.timezone("UTC", column), Date)
    return func.date(column)  # SQLite stores naive UTC text


def as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))


async def daily_stats(
    session: AsyncSession,
    *,
    since: datetime,
    until: datetime,
    commune_id: int | None = None,
    site_id: int | None = None,
) -> list[DayStats]:
    """Days with any activity between ``since`` (included) and ``until`` (excluded), oldest first."""
    dialect = (await session.connection()).dialect.name
    acct = AccountingSession
    day = utc_day(acct.acctstarttime, dialect).label("day")
    sessions_query = (
        select(
            day,
            func.count(),
            func.count(func.distinct(acct.account_id)),
            func.coalesce(func.sum(acct.acctinputoctets), 0),
            func.coalesce(func.sum(acct.acctoutputoctets), 0),
        )
        .where(acct.acctstarttime >= since, acct.acctstarttime < until)
        .group_by(day)
    )
    if commune_id is not None:
        sessions_query = sessions_query.where(acct.commune_id == commune_id)
    if site_id is not None:
        sessions_query = sessions_query.where(acct.site_id == site_id)
    auth_day = utc_day(AuthRecord.authdate, dialect).label("day")
    refused_query = (
        select(auth_day, func.count())
        .where(AuthRecord.authdate >= since, AuthRecord.authdate < until, AuthRecord.reply == "Access-Reject")
        .group_by(auth_day)
    )
    if commune_id is not None:
        refused_query = refused_query.join(Site, Site.id == AuthRecord.site_id).where(
            Site.commune_id == commune_id
        )
    if site_id is not None:
        refused_query = refused_query.where(AuthRecord.site_id == site_id)
    days: dict[date, dict[str, int]] = {}
    for value, count, accounts, octets_in, octets_out in (await session.execute(sessions_query)).all():
        days.setdefault(as_date(value), {}).update(
            sessions=int(count), accounts=int(accounts), octets_in=int(octets_in), octets_out=int(octets_out)
        )
    for value, count in (await session.execute(refused_query)).all():
        days.setdefault(as_date(value), {})["refused"] = int(count)
    return [DayStats(day=d, **values) for d, values in sorted(days.items())]
