"""The dashboards' live view under ``/api/v1/stats/live``: sessions open now per commune and site,
and authentications per minute over the last hour — counts only, within the caller's reach."""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter
from pydantic import BaseModel

from accounts.history import Level
from accounts.live import authentications_per_minute, open_sessions
from portal.api.common import IdFilter
from portal.api.history import LevelQuery, Reader, place_in_reach
from portal.context import PortalDep

router = APIRouter(prefix="/stats/live", tags=["statistics"])


class OpenOut(BaseModel):
    commune_id: int | None
    site_id: int | None
    sessions: int


class MinuteOut(BaseModel):
    minute: datetime
    accepted: int
    refused: int


@router.get("/sessions", response_model=list[OpenOut])
async def sessions_open(
    who: Reader,
    portal: PortalDep,
    level: LevelQuery = Level.SITE,
    commune_id: IdFilter = None,
    site_id: IdFilter = None,
) -> list[OpenOut]:
    """Sessions open now per place (places with none are left out)."""
    async with portal.transaction() as session:
        commune_id = await place_in_reach(session, who.reach, commune_id, site_id)
        counts = await open_sessions(session, level=level, commune_id=commune_id, site_id=site_id)
    return [
        OpenOut(commune_id=c.place.commune_id, site_id=c.place.site_id, sessions=c.sessions) for c in counts
    ]


@router.get("/authentications", response_model=list[MinuteOut])
async def authentications(
    who: Reader, portal: PortalDep, commune_id: IdFilter = None, site_id: IdFilter = None
) -> list[MinuteOut]:
    """Accepted and refused authentications in each of the last 60 whole minutes (UTC), oldest first."""
    async with portal.transaction() as session:
        commune_id = await place_in_reach(session, who.reach, commune_id, site_id)
        minutes = await authentications_per_minute(
            session, now=portal.now(), commune_id=commune_id, site_id=site_id
        )
    return [MinuteOut(minute=m.start, accepted=m.accepted, refused=m.refused) for m in minutes]
