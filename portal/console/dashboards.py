"""The console's dashboards (docs/console.md, "Dashboards"): the network *now* — sessions open per
commune and site, authentications per minute, the partners' home servers, the map of the sites —
and its *history* over a period the staff member chooses, as charts, tables and CSV files.

The numbers come from the services the admin API's ``/api/v1/stats/…`` uses
(:mod:`accounts.live`, :mod:`accounts.history`), limited to the staff member's reach: a commune
admin sees their commune whatever the address asks, and another commune's id is the console's one
404. Each chart has its table (a canvas says nothing to a screen reader), and its data travel in
the page as JSON read by ``static/dashboards.js``: no inline script. The map has no background
unless the operator configured a tile server (``SESAME_CONSOLE_MAP_TILES``, portal/maptiles.py):
then its template travels in the map's ``data-`` attributes and its origin, and nothing else, is
added to this page's ``img-src``.

The live part is refreshed by htmx every 30 seconds; that fragment is served *without* restarting
the session's idle timer, so a dashboard left open on a screen still ends its session on time.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import partners, reach
from accounts.admins import READ_PARTNERS, READ_STATS
from accounts.errors import InvalidInput, NotFound
from accounts.history import Level, Period, daily_refusals, daily_usage
from accounts.live import authentications_per_minute, open_sessions
from portal.api.history import csv_download
from portal.console import dashdata
from portal.console.render import not_found, render
from portal.console.session import Staff, StaffDep
from portal.context import Page, PageDep

router = APIRouter(prefix="/console/dashboards", include_in_schema=False)

MAX_ID = 2**31 - 1
DEFAULT_DAYS = 30


class _OutOfReach(Exception):
    """The commune asked for does not exist or is outside the reach: the page is a 404."""


def _id(raw: str | None) -> int | None:
    if raw is None or raw == "":
        return None
    if raw.isascii() and raw.isdigit() and 0 < len(raw) <= 10 and int(raw) <= MAX_ID:
        return int(raw)
    raise _OutOfReach


async def _commune(session: AsyncSession, staff: Staff, raw: str | None) -> int | None:
    """The commune the numbers are limited to: the one asked for (within reach, else
    :class:`_OutOfReach`), or a commune admin's own; None for the whole region."""
    ident = _id(raw)
    if ident is None:
        return None if staff.reach.region_wide else staff.reach.commune_id
    try:
        await reach.commune_in_reach(session, reach=staff.reach, commune_id=ident)
    except NotFound:
        raise _OutOfReach from None
    return ident


async def _live(page: Page, staff: Staff, commune: str | None) -> dict[str, Any]:
    """The live numbers (the page and its htmx fragment share them)."""
    portal = page.portal
    async with portal.transaction() as session:
        commune_id = await _commune(session, staff, commune)
        counts = await open_sessions(session, level=Level.SITE, commune_id=commune_id)
        minutes = await authentications_per_minute(session, now=portal.now(), commune_id=commune_id)
        communes = await reach.communes_in_reach(session, reach=staff.reach)
        sites = await reach.sites_in_reach(session, reach=staff.reach, commune_id=commune_id)
        servers = []
        if staff.may(READ_PARTNERS) and staff.reach.region_wide:
            for partner in await partners.list_partners(session):
                for server in sorted(partner.servers, key=lambda s: (s.priority, s.id)):
                    servers.append(
                        {
                            "partner": partner.display_name or partner.name, "partner_id": partner.id,
                            "host": server.host, "port": server.port, "transport": server.transport,
                            "state": server.state, "since": server.state_changed_at,
                        }
                    )  # fmt: skip
    names = dashdata.Names.of(communes, sites)
    return {
        "commune_id": commune_id,
        "commune_name": names.commune(commune_id),
        "communes": communes,
        "open_rows": dashdata.open_rows(counts, names),
        "open_total": sum(c.sessions for c in counts),
        "minutes": minutes,
        "accepted": sum(m.accepted for m in minutes),
        "refused": sum(m.refused for m in minutes),
        "minutes_data": dashdata.minutes_series(minutes),
        "servers": servers,
        "markers": dashdata.markers(sites, dashdata.open_by_site(counts)),
        "opendata": page.portal.config.opendata.public,
    }


@router.get("")
async def live(page: PageDep, staff: StaffDep, commune: str | None = None) -> Response:
    """The network now: the landing of the dashboards, for the staff member's reach."""
    if not staff.may(READ_STATS):
        return not_found(page, staff)
    try:
        context = await _live(page, staff, commune)
    except _OutOfReach:
        return not_found(page, staff)
    tiles = page.portal.config.map_tiles
    images = (tiles.img_source,) if tiles is not None and tiles.img_source else ()
    return render(page, "dashboards/live.html", staff=staff, images=images, tiles=tiles, **context)


@router.get("/live")
async def live_fragment(page: PageDep, staff: StaffDep, commune: str | None = None) -> Response:
    """The live numbers alone, for htmx's refresh (the idle timer is not restarted: no ``staff``)."""
    if not staff.may(READ_STATS):
        return not_found(page, None)
    try:
        context = await _live(page, staff, commune)
    except _OutOfReach:
        return not_found(page, None)
    return render(page, "dashboards/_live.html", **context)


# -- history ------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Choice:
    """What the history form asked for, as read (hostile text: only dates, a level, an id)."""

    since: str
    until: str
    level: Level
    commune: str | None

    def query(self) -> str:
        from urllib.parse import urlencode

        fields = {"since": self.since, "until": self.until, "level": self.level.value}
        if self.commune:
            fields["commune"] = self.commune
        return urlencode(fields)


def _choice(
    page: Page, since: str | None, until: str | None, level: str | None, commune: str | None
) -> Choice:
    today = page.portal.now().date()
    return Choice(
        since=since if since else (today - timedelta(days=DEFAULT_DAYS - 1)).isoformat(),
        until=until if until else today.isoformat(),
        level=Level.SITE if level == Level.SITE.value else Level.COMMUNE,
        commune=commune or None,
    )


def _period(choice: Choice) -> Period:
    """The period asked for, or :class:`InvalidInput` (a date that is not one, too long a period)."""
    try:
        first, last = date.fromisoformat(choice.since[:10]), date.fromisoformat(choice.until[:10])
    except ValueError:
        raise InvalidInput("a date is written YYYY-MM-DD") from None
    return Period(first=first, last=last)


async def _history(page: Page, staff: Staff, choice: Choice, period: Period) -> dict[str, Any]:
    async with page.portal.transaction() as session:
        commune_id = await _commune(session, staff, choice.commune)
        rows = await daily_usage(session, period=period, level=choice.level, commune_id=commune_id)
        # the charts' totals: their own query, since people seen at two places are one person
        whole = Level.REGION if commune_id is None else Level.COMMUNE
        totals = await daily_usage(session, period=period, level=whole, commune_id=commune_id)
        refusals = await daily_refusals(session, period=period, level=choice.level, commune_id=commune_id)
        all_refusals = await daily_refusals(session, period=period, level=whole, commune_id=commune_id)
        communes = await reach.communes_in_reach(session, reach=staff.reach)
        sites = await reach.sites_in_reach(session, reach=staff.reach, commune_id=commune_id)
    names = dashdata.Names.of(communes, sites)
    return {
        "commune_id": commune_id,
        "commune_name": names.commune(commune_id),
        "communes": communes,
        "usage": dashdata.usage_rows(rows, names),
        "refusals": dashdata.refusal_rows(refusals, names),
        "totals": {
            "connections": sum(r.connections for r in totals),
            "octets_in": sum(r.octets_in for r in totals),
            "octets_out": sum(r.octets_out for r in totals),
            "refused": sum(r.count for r in all_refusals),
        },
        "chart_data": {
            "usage": dashdata.usage_series(period, totals),
            "refusals": dashdata.refusal_series(period, all_refusals),
        },
    }


@router.get("/history")
async def history(
    page: PageDep,
    staff: StaffDep,
    since: str | None = None,
    until: str | None = None,
    level: str | None = None,
    commune: str | None = None,
) -> Response:
    """Connections, people, volumes and refusals per day over the period chosen."""
    if not staff.may(READ_STATS):
        return not_found(page, staff)
    choice = _choice(page, since, until, level, commune)
    try:
        period = _period(choice)
    except InvalidInput as error:
        return await _history_refused(page, staff, choice, str(error))
    try:
        context = await _history(page, staff, choice, period)
    except _OutOfReach:
        return not_found(page, staff)
    return render(page, "dashboards/history.html", staff=staff, choice=choice, error=None, **context)


async def _history_refused(page: Page, staff: Staff, choice: Choice, error: str) -> Response:
    async with page.portal.transaction() as session:
        communes = await reach.communes_in_reach(session, reach=staff.reach)
    message = page._(
        "This period cannot be shown: give two dates, the first before the last, at most 366 days apart."
    )
    return render(
        page, "dashboards/history.html", staff=staff, status_code=400, choice=choice, error=message,
        communes=communes, commune_id=None, usage=[], refusals=[], totals=None, chart_data=None,
    )  # fmt: skip


@router.get("/history.csv")
async def history_csv(
    page: PageDep,
    staff: StaffDep,
    since: str | None = None,
    until: str | None = None,
    level: str | None = None,
    commune: str | None = None,
    table: str = "usage",
) -> Response:
    """The history's table as a CSV file (``table=refusals`` for the refusals)."""
    if not staff.may(READ_STATS):
        return not_found(page, staff)
    choice = _choice(page, since, until, level, commune)
    try:
        period = _period(choice)
        context = await _history(page, staff, choice, period)
    except (InvalidInput, _OutOfReach):
        return not_found(page, staff)
    name = f"{period.first.isoformat()}-{period.last.isoformat()}.csv"
    cell = dashdata.csv_cell
    if table == "refusals":
        rows = [
            [r.day.isoformat(), cell(r.commune), cell(r.site), cell(r.reason), r.count]
            for r in context["refusals"]
        ]
        return csv_download(["date", "commune", "site", "reason", "count"], rows, f"refusals-{name}")
    header = ["date", "commune", "site", "connections", "people", "octets_in", "octets_out"]
    rows = [
        [r.day.isoformat(), cell(r.commune), cell(r.site), r.connections, r.people, r.octets_in, r.octets_out]
        for r in context["usage"]
    ]
    return csv_download(header, rows, f"history-{name}")
