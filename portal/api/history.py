"""The dashboards' history under ``/api/v1/stats``: per day, for the region, each commune or each
site, over a period of the caller's choosing — connections, distinct people, volumes, and refusals
by reason — as JSON for charts and as CSV to download.

A commune admin's numbers are their commune's whatever they ask: no ``commune_id`` means theirs,
another commune's or site's id is 404, as everywhere in the API.
"""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import Response
from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.admins import READ_STATS, Reach
from accounts.history import DayRefusals, DayUsage, Level, Period, daily_refusals, daily_usage
from accounts.models import Commune, Site
from portal.api.auth import Principal, require
from portal.api.common import IdFilter
from portal.api.network import commune_in_reach, site_in_reach
from portal.context import PortalDep

router = APIRouter(prefix="/stats", tags=["statistics"])

Reader = Annotated[Principal, Depends(require(READ_STATS))]
Since = Annotated[date, Query(description="first day (UTC), included")]
Until = Annotated[date, Query(description="last day (UTC), included; at most 366 days after since")]
LevelQuery = Annotated[Level, Query(description="one series for the region, or one per commune or site")]
CSV = "text/csv; charset=utf-8"


class UsageOut(BaseModel):
    day: date
    commune_id: int | None
    site_id: int | None
    connections: int
    people: int
    octets_in: int
    octets_out: int


class RefusalsOut(BaseModel):
    day: date
    commune_id: int | None
    site_id: int | None
    reason: str
    count: int


async def place_in_reach(
    session: AsyncSession, reach: Reach, commune_id: int | None, site_id: int | None
) -> int | None:
    """The commune the numbers are limited to: the one asked for, or the caller's own; a commune
    or site out of reach is :class:`NotFound` (404), never an empty answer that says it exists."""
    if not reach.region_wide:
        commune_id = commune_id if commune_id is not None else reach.commune_id
    if commune_id is not None:
        await commune_in_reach(session, reach, commune_id)
    if site_id is not None:
        await site_in_reach(session, reach, site_id)
    return commune_id


def _usage(row: DayUsage) -> UsageOut:
    return UsageOut(
        day=row.day, commune_id=row.place.commune_id, site_id=row.place.site_id, connections=row.connections,
        people=row.people, octets_in=row.octets_in, octets_out=row.octets_out,
    )  # fmt: skip


def _refusals(row: DayRefusals) -> RefusalsOut:
    place = row.place
    return RefusalsOut(
        day=row.day, commune_id=place.commune_id, site_id=place.site_id, reason=row.reason, count=row.count
    )


async def _usage_rows(
    portal: PortalDep,
    who: Principal,
    period: Period,
    level: Level,
    commune_id: int | None,
    site_id: int | None,
) -> tuple[list[DayUsage], dict[int, Commune], dict[int, Site]]:
    async with portal.transaction() as session:
        commune_id = await place_in_reach(session, who.reach, commune_id, site_id)
        rows = await daily_usage(session, period=period, level=level, commune_id=commune_id, site_id=site_id)
        communes, sites = await _names(session, commune_id)
    return rows, communes, sites


async def _names(session: AsyncSession, commune_id: int | None) -> tuple[dict[int, Commune], dict[int, Site]]:
    communes, sites = select(Commune), select(Site)
    if commune_id is not None:
        communes, sites = communes.where(Commune.id == commune_id), sites.where(Site.commune_id == commune_id)
    return (
        {c.id: c for c in await session.scalars(communes)},
        {s.id: s for s in await session.scalars(sites)},
    )


@router.get("/history", response_model=list[UsageOut])
async def history(
    who: Reader,
    portal: PortalDep,
    since: Since,
    until: Until,
    level: LevelQuery = Level.COMMUNE,
    commune_id: IdFilter = None,
    site_id: IdFilter = None,
) -> list[UsageOut]:
    """Connections, distinct people and volumes per day and place (days with sessions only)."""
    rows, _, _ = await _usage_rows(portal, who, Period(first=since, last=until), level, commune_id, site_id)
    return [_usage(r) for r in rows]


@router.get("/refusals", response_model=list[RefusalsOut])
async def refusals(
    who: Reader,
    portal: PortalDep,
    since: Since,
    until: Until,
    level: LevelQuery = Level.COMMUNE,
    commune_id: IdFilter = None,
    site_id: IdFilter = None,
) -> list[RefusalsOut]:
    """Refused authentications per day, place and reason, from the decision records."""
    period = Period(first=since, last=until)
    async with portal.transaction() as session:
        commune_id = await place_in_reach(session, who.reach, commune_id, site_id)
        rows = await daily_refusals(
            session, period=period, level=level, commune_id=commune_id, site_id=site_id
        )
    return [_refusals(r) for r in rows]


def csv_download(header: list[str], rows: list[list[Any]], name: str) -> Response:
    """A CSV attachment: UTF-8, comma-separated, CRLF (RFC 4180), ``name`` ASCII without quotes."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows([["" if v is None else v for v in row] for row in rows])
    return Response(
        buffer.getvalue().encode("utf-8"),
        media_type=CSV,
        headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"},
    )


@router.get("/history.csv", response_class=Response, responses={200: {"content": {CSV: {}}}})
async def history_csv(
    who: Reader,
    portal: PortalDep,
    since: Since,
    until: Until,
    level: LevelQuery = Level.COMMUNE,
    commune_id: IdFilter = None,
    site_id: IdFilter = None,
) -> Response:
    """The history as a CSV file, with the communes' INSEE codes and the places' names."""
    period = Period(first=since, last=until)
    rows, communes, sites = await _usage_rows(portal, who, period, level, commune_id, site_id)
    table = []
    for row in rows:
        commune = communes.get(row.place.commune_id or 0)
        site = sites.get(row.place.site_id or 0)
        table.append([
            row.day.isoformat(), commune.insee_code if commune else None, commune.name if commune else None,
            row.place.site_id, site.name if site else None, row.connections, row.people, row.octets_in,
            row.octets_out,
        ])  # fmt: skip
    header = [
        "date",
        "code_insee",
        "commune",
        "site_id",
        "site",
        "connections",
        "people",
        "octets_in",
        "octets_out",
    ]
    return csv_download(header, table, f"history-{level.value}-{since.isoformat()}-{until.isoformat()}.csv")


@router.get("/refusals.csv", response_class=Response, responses={200: {"content": {CSV: {}}}})
async def refusals_csv(
    who: Reader,
    portal: PortalDep,
    since: Since,
    until: Until,
    level: LevelQuery = Level.COMMUNE,
    commune_id: IdFilter = None,
    site_id: IdFilter = None,
) -> Response:
    """The refusals as a CSV file, with the communes' INSEE codes and the places' names."""
    period = Period(first=since, last=until)
    async with portal.transaction() as session:
        commune_id = await place_in_reach(session, who.reach, commune_id, site_id)
        rows = await daily_refusals(
            session, period=period, level=level, commune_id=commune_id, site_id=site_id
        )
        communes, sites = await _names(session, commune_id)
    table = []
    for row in rows:
        commune = communes.get(row.place.commune_id or 0)
        site = sites.get(row.place.site_id or 0)
        table.append([
            row.day.isoformat(), commune.insee_code if commune else None, commune.name if commune else None,
            row.place.site_id, site.name if site else None, row.reason, row.count,
        ])  # fmt: skip
    header = ["date", "code_insee", "commune", "site_id", "site", "reason", "count"]
    return csv_download(header, table, f"refusals-{level.value}-{since.isoformat()}-{until.isoformat()}.csv")
