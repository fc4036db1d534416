"""Statistics under ``/api/v1/stats``: per day, for the region, a commune or a site."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query
from pydantic import BaseModel

from accounts.admins import READ_STATS
from accounts.stats import daily_stats
from portal.api.auth import Principal, require
from portal.api.common import IdFilter
from portal.api.network import commune_in_reach, site_in_reach
from portal.context import PortalDep

router = APIRouter(prefix="/stats", tags=["statistics"])

Reader = Annotated[Principal, Depends(require(READ_STATS))]
MAX_DAYS = 366


class DayOut(BaseModel):
    day: date
    sessions: int
    accounts: int
    octets_in: int
    octets_out: int
    refused: int


@router.get("/daily", response_model=list[DayOut])
async def daily(
    who: Reader,
    portal: PortalDep,
    since: Annotated[date, Query(description="first day (UTC), included")],
    until: Annotated[date, Query(description="last day (UTC), included")],
    commune_id: IdFilter = None,
    site_id: IdFilter = None,
) -> list[DayOut]:
    """Sessions started, distinct accounts, volumes and refused authentications per day."""
    if until < since or (until - since).days >= MAX_DAYS:
        raise HTTPException(422, detail=f"until must not be before since, and at most {MAX_DAYS} days apart")
    if not who.reach.region_wide:
        commune_id = commune_id if commune_id is not None else who.reach.commune_id
    async with portal.transaction() as session:
        if commune_id is not None:
            await commune_in_reach(session, who.reach, commune_id)
        if site_id is not None:
            await site_in_reach(session, who.reach, site_id)
        rows = await daily_stats(
            session,
            since=datetime.combine(since, time(), UTC),
            until=datetime.combine(until + timedelta(days=1), time(), UTC),
            commune_id=commune_id,
            site_id=site_id,
        )
    return [DayOut(**{f: getattr(r, f) for f in DayOut.model_fields}) for r in rows]
