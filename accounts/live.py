"""The dashboards' live view: sessions open now per commune and site, and authentications per
minute, accepted and refused, over the last hour.

Both are counts; nothing about who is connected leaves these queries. Open sessions are read
through the partial indexes on open sessions (``acctstoptime IS NULL``), so the cost follows the
number of sessions open, not the size of ``radacct``; the minutes through the ``authdate`` index.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.history import Level, Place
from accounts.models import AccountingSession, AuthRecord, Site

ACCEPT, REJECT = "Access-Accept", "Access-Reject"
WINDOW = timedelta(hours=1)


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenCount:
    place: Place
    sessions: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Minute:
    """Decisions taken in the minute that begins at ``start``."""

    start: datetime
    accepted: int = 0
    refused: int = 0


async def open_sessions(
    session: AsyncSession, *, level: Level, commune_id: int | None = None, site_id: int | None = None
) -> list[OpenCount]:
    """Sessions open now per place of ``level`` (places with none are left out), by place."""
    acct = AccountingSession
    keys: list[Any] = []
    if level is not Level.REGION:
        keys.append(acct.commune_id)
    if level is Level.SITE:
        keys.append(acct.site_id)
    query = select(*keys, func.count()).where(acct.acctstoptime.is_(None))
    if commune_id is not None:
        query = query.where(acct.commune_id == commune_id)
    if site_id is not None:
        query = query.where(acct.site_id == site_id)
    if keys:
        query = query.group_by(*keys)
    counts = []
    for row in (await session.execute(query)).all():
        *where, count = row
        if not count:
            continue  # the region's count over no row at all
        place = Place(commune_id=where[0] if where else None, site_id=where[1] if len(where) > 1 else None)
        counts.append(OpenCount(place=place, sessions=int(count)))
    return sorted(counts, key=lambda c: (c.place.commune_id or 0, c.place.site_id or 0))


def _minute(column: Any, dialect: str) -> ColumnElement[Any]:
    if dialect == "postgresql":  # the UTC minute whatever the server's time zone (some are :30, :45)
        return func.date_trunc("minute", func.timezone("UTC", column))
    return func.strftime("%Y-%m-%d %H:%M:00", column)  # SQLite stores naive UTC text


def _as_minute(value: Any) -> datetime:
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def authentications_per_minute(
    session: AsyncSession,
    *,
    now: datetime,
    commune_id: int | None = None,
    site_id: int | None = None,
) -> list[Minute]:
    """Accepted and refused decisions in each of the 60 whole minutes before ``now``'s minute
    (the current minute is still filling, so a chart would show a false drop), oldest first; a
    minute without decisions is there with zeros."""
    end = now.astimezone(UTC).replace(second=0, microsecond=0)
    start = end - WINDOW
    dialect = (await session.connection()).dialect.name
    minute = _minute(AuthRecord.authdate, dialect).label("minute")
    query = (
        select(minute, AuthRecord.reply, func.count())
        .where(
            AuthRecord.authdate >= start, AuthRecord.authdate < end, AuthRecord.reply.in_((ACCEPT, REJECT))
        )
        .group_by(minute, AuthRecord.reply)
    )
    if commune_id is not None:
        query = query.join(Site, Site.id == AuthRecord.site_id).where(Site.commune_id == commune_id)
    if site_id is not None:
        query = query.where(AuthRecord.site_id == site_id)
    found: dict[datetime, dict[str, int]] = {}
    for value, reply, count in (await session.execute(query)).all():
        found.setdefault(_as_minute(value), {})[reply] = int(count)
    minutes = [start + timedelta(minutes=n) for n in range(int(WINDOW / timedelta(minutes=1)))]
    return [
        Minute(start=m, accepted=found.get(m, {}).get(ACCEPT, 0), refused=found.get(m, {}).get(REJECT, 0))
        for m in minutes
    ]


__all__ = ["Minute", "OpenCount", "authentications_per_minute", "open_sessions"]
