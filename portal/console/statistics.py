"""A commune's statistics in the console: per day, sessions started, distinct people, volumes
and refused authentications, over a period the reader chooses (at most a year, as the API's
``/api/v1/stats/daily``, through the same :func:`accounts.stats.daily_stats`). Charts across
communes and the open data are the dashboards' (another page); this is the commune's own table.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from fastapi import APIRouter
from fastapi.responses import Response

from accounts import reach
from accounts.admins import READ_STATS
from accounts.errors import NotFound
from accounts.stats import daily_stats
from portal.console.editing import ident, ref
from portal.console.render import not_found, render
from portal.console.session import StaffDep
from portal.context import PageDep

router = APIRouter(prefix="/console", include_in_schema=False)

MAX_DAYS = 366
DEFAULT_DAYS = 30


def _day(raw: str | None) -> date | None:
    try:
        return date.fromisoformat(raw) if raw and len(raw) == 10 else None
    except ValueError:
        return None


@router.get("/communes/{commune_id}/statistics")
async def statistics(page: PageDep, staff: StaffDep, commune_id: str) -> Response:
    ident_ = ident(commune_id)
    if ident_ is None or not staff.may(READ_STATS):
        return not_found(page, staff)
    today = page.portal.now().astimezone(UTC).date()
    query = page.request.query_params
    until = _day(query.get("until")) or today
    since = _day(query.get("since")) or until - timedelta(days=DEFAULT_DAYS - 1)
    error = None
    if until < since or (until - since).days >= MAX_DAYS:
        error = page._("The period runs from a day to a later one, at most %(num)d days.", num=MAX_DAYS)
        until, since = today, today - timedelta(days=DEFAULT_DAYS - 1)
    async with page.portal.transaction() as session:
        try:
            commune = ref(await reach.commune_in_reach(session, reach=staff.reach, commune_id=ident_))
        except NotFound:
            return not_found(page, staff)
        rows = await daily_stats(
            session,
            since=datetime.combine(since, time(), UTC),
            until=datetime.combine(until + timedelta(days=1), time(), UTC),
            commune_id=commune.id,
        )
    totals = {
        name: sum(getattr(r, name) for r in rows)
        for name in ("sessions", "octets_in", "octets_out", "refused")
    }
    return render(
        page, "commune/statistics.html", staff=staff, commune=commune, rows=rows, since=since, until=until,
        totals=totals, error=error, status_code=400 if error else 200,
    )  # fmt: skip
