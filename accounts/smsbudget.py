"""The daily SMS budget of a region (issue 19): SMS cost money, and SMS pumping fraud spends it.

Each SMS takes one unit of the day's budget for the region (``*``) and, when the region sets one,
of its destination country's; once a budget is spent, no SMS leaves until the next day (UTC). The
count lives in ``sms_spend``, taken by one ``UPDATE … SET sent = sent + 1 WHERE sent < budget`` per
scope: every portal worker and host shares it, and concurrent requests cannot go past it (the row
lock orders them). The caller's transaction holds the count with the code it sends: a refused or
failed request gives its unit back when it rolls back.

:func:`spend` says :attr:`Spend.LAST` to the one request that took the last unit of a scope, so a
single log line across all hosts says the budget is reached.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Region, SmsSpend

ALL = "*"


@dataclass(frozen=True, slots=True, kw_only=True)
class Budget:
    """SMS a region may send a day, in all and per destination country (ISO 3166 alpha-2)."""

    daily: int = 1000
    per_country: Mapping[str, int] = field(default_factory=dict)


class Spend(enum.Enum):
    SENT = "sent"
    LAST = "last"  # sent, and it was the last of a budget: the budget is reached
    REFUSED = "refused"  # a budget is spent: nothing sent


@dataclass(frozen=True, slots=True)
class Outcome:
    spend: Spend
    scope: str | None = None  # the budget reached or spent: "*" or a country


def day_of(now: datetime) -> str:
    return now.date().isoformat()


async def _take(session: AsyncSession, *, region_id: int, day: str, scope: str, budget: int) -> int | None:
    """Take one unit of a scope's budget: the new count, or None when it is spent."""
    dialect = (await session.connection()).dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    await session.execute(
        insert(SmsSpend)
        .values(region_id=region_id, day=day, scope=scope, sent=0)
        .on_conflict_do_nothing(index_elements=["region_id", "day", "scope"])
    )
    taken = await session.scalar(
        update(SmsSpend)
        .where(
            SmsSpend.region_id == region_id,
            SmsSpend.day == day,
            SmsSpend.scope == scope,
            SmsSpend.sent < budget,
        )
        .values(sent=SmsSpend.sent + 1)
        .returning(SmsSpend.sent)
    )
    return None if taken is None else int(taken)


async def spend(
    session: AsyncSession, *, region: Region, country: str, budget: Budget, now: datetime
) -> Outcome:
    """One SMS to ``country`` out of today's budgets, or :attr:`Spend.REFUSED` naming the one spent.

    The country's budget is taken first: a country that is spent does not use up the region's.
    On REFUSED the caller rolls its transaction back (what this took goes with it).
    """
    day, last = day_of(now), None
    scopes = [(country, budget.per_country[country])] if country in budget.per_country else []
    for scope, limit in [*scopes, (ALL, budget.daily)]:
        sent = await _take(session, region_id=region.id, day=day, scope=scope, budget=limit)
        if sent is None:
            return Outcome(Spend.REFUSED, scope)
        if sent == limit:
            last = last or scope
    return Outcome(Spend.LAST, last) if last else Outcome(Spend.SENT)


async def spent_today(session: AsyncSession, *, region: Region, now: datetime, scope: str = ALL) -> int:
    """SMS counted today in a scope (the console, the tests)."""
    sent = await session.scalar(
        select(SmsSpend.sent).where(
            SmsSpend.region_id == region.id, SmsSpend.day == day_of(now), SmsSpend.scope == scope
        )
    )
    return int(sent or 0)
