"""What a caller's :class:`~accounts.admins.Reach` covers, for the staff console's overview.

One query per view, filtered by the reach in SQL (a commune admin's rows never leave the
database), and a lookup that treats a commune outside the reach exactly as a missing one: the
console answers both with the same 404, so an id tells nothing of another commune.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.admins import Reach
from accounts.errors import NotFound
from accounts.models import AuthRecord, Commune, Nas, Site


@dataclass(frozen=True, slots=True, kw_only=True)
class CommuneSummary:
    """A commune as the overview shows it: how many sites and access points it has."""

    id: int
    name: str
    insee_code: str
    sites: int
    access_points: int


@dataclass(frozen=True, slots=True, kw_only=True)
class SitePlace:
    """A site as the dashboards name and map it: its commune, and its coordinates when known."""

    id: int
    name: str
    commune_id: int
    commune_name: str
    latitude: float | None
    longitude: float | None


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteSummary:
    id: int
    name: str
    address: str | None
    access_points: int


async def communes_in_reach(session: AsyncSession, *, reach: Reach) -> Sequence[CommuneSummary]:
    """The communes within reach, by name, each with its number of sites and access points."""
    sites = select(Site.commune_id, func.count(Site.id).label("n")).group_by(Site.commune_id).subquery()
    aps = (
        select(Site.commune_id, func.count(Nas.id).label("n"))
        .join(Nas, Nas.site_id == Site.id)
        .group_by(Site.commune_id)
        .subquery()
    )
    query = (
        select(Commune.id, Commune.name, Commune.insee_code, sites.c.n, aps.c.n)
        .outerjoin(sites, sites.c.commune_id == Commune.id)
        .outerjoin(aps, aps.c.commune_id == Commune.id)
        .order_by(Commune.name, Commune.insee_code)
    )
    if not reach.region_wide:
        query = query.where(Commune.id == reach.commune_id)
    return [
        CommuneSummary(id=i, name=name, insee_code=code, sites=int(s or 0), access_points=int(a or 0))
        for i, name, code, s, a in (await session.execute(query)).all()
    ]


async def commune_in_reach(session: AsyncSession, *, reach: Reach, commune_id: int) -> Commune:
    """The commune, or :class:`NotFound` — also when it exists outside the reach."""
    commune = await session.get(Commune, commune_id)
    if commune is None or not reach.covers(commune.id):
        raise NotFound(f"no commune {commune_id}")
    return commune


async def sites_of(session: AsyncSession, *, commune: Commune) -> Sequence[SiteSummary]:
    """A commune's sites by name, each with its number of access points (the caller checked the
    commune is within reach)."""
    query = (
        select(Site.id, Site.name, Site.address, func.count(Nas.id))
        .outerjoin(Nas, Nas.site_id == Site.id)
        .where(Site.commune_id == commune.id)
        .group_by(Site.id, Site.name, Site.address)
        .order_by(Site.name)
    )
    return [
        SiteSummary(id=i, name=name, address=address, access_points=int(n))
        for i, name, address, n in (await session.execute(query)).all()
    ]


async def sites_in_reach(
    session: AsyncSession, *, reach: Reach, commune_id: int | None = None
) -> Sequence[SitePlace]:
    """Every site within reach (of one commune with ``commune_id``, which the caller checked), by
    commune and name: the dashboards' names for places and the map's markers."""
    query = (
        select(Site.id, Site.name, Commune.id, Commune.name, Site.latitude, Site.longitude)
        .join(Commune, Commune.id == Site.commune_id)
        .order_by(Commune.name, Commune.id, Site.name)
    )
    if not reach.region_wide:
        query = query.where(Commune.id == reach.commune_id)
    if commune_id is not None:
        query = query.where(Commune.id == commune_id)
    return [
        SitePlace(id=i, name=name, commune_id=c, commune_name=cname, latitude=lat, longitude=lon)
        for i, name, c, cname, lat, lon in (await session.execute(query)).all()
    ]


async def site_in_reach(session: AsyncSession, *, reach: Reach, site_id: int) -> Site:
    """The site, or :class:`NotFound` — also when its commune is outside the reach."""
    site = await session.get(Site, site_id)
    if site is None or not reach.covers(site.commune_id):
        raise NotFound(f"no site {site_id}")
    return site


async def access_point_in_reach(session: AsyncSession, *, reach: Reach, nas_id: int) -> tuple[Nas, Site]:
    """The access point and its site, or :class:`NotFound` — also when outside the reach."""
    nas = await session.get(Nas, nas_id)
    site = await session.get(Site, nas.site_id) if nas is not None else None
    if nas is None or site is None or not reach.covers(site.commune_id):
        raise NotFound(f"no access point {nas_id}")
    return nas, site


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessPointSummary:
    """An access point as the console lists it: where, how it hands off, and whether it is
    sending requests — its last decision (``radpostauth``) within the window, if any."""

    id: int
    name: str
    address: str
    site_id: int
    site_name: str
    vendor: str
    handoff: str
    last_seen: datetime | None
    last_reply: str | None
    last_reason: str | None


async def access_points_of(
    session: AsyncSession, *, commune: Commune, since: datetime
) -> Sequence[AccessPointSummary]:
    """A commune's access points by name, each with its last decision since ``since``.

    The decisions are found through the indexed ``site_id`` and ``authdate`` columns, bounded by
    the window (the table holds a year of every request of the region): the newest row per access
    point is the one with the highest id, rows being written in order."""
    rows = (
        await session.execute(
            select(Nas.id, Nas.shortname, Nas.nasname, Nas.site_id, Site.name, Nas.type, Nas.handoff)
            .join(Site, Site.id == Nas.site_id)
            .where(Site.commune_id == commune.id)
            .order_by(Nas.shortname)
        )
    ).all()
    newest = (
        select(func.max(AuthRecord.id))
        .join(Site, Site.id == AuthRecord.site_id)
        .where(Site.commune_id == commune.id, AuthRecord.authdate >= since, AuthRecord.nas_id.is_not(None))
        .group_by(AuthRecord.nas_id)
    )
    last = {
        nas_id: (when, reply, reason)
        for nas_id, when, reply, reason in (
            await session.execute(
                select(AuthRecord.nas_id, AuthRecord.authdate, AuthRecord.reply, AuthRecord.reason).where(
                    AuthRecord.id.in_(newest)
                )
            )
        ).all()
    }
    summaries = []
    for i, name, address, site_id, site_name, vendor, handoff in rows:
        seen, reply, reason = last.get(i, (None, None, None))
        summary = AccessPointSummary(
            id=i, name=name, address=address, site_id=site_id, site_name=site_name, vendor=vendor,
            handoff=handoff, last_seen=seen, last_reply=reply, last_reason=reason,
        )  # fmt: skip
        summaries.append(summary)
    return summaries
