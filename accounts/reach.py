"""What a caller's :class:`~accounts.admins.Reach` covers, for the staff console's overview.

One query per view, filtered by the reach in SQL (a commune admin's rows never leave the
database), and a lookup that treats a commune outside the reach exactly as a missing one: the
console answers both with the same 404, so an id tells nothing of another commune.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.admins import Reach
from accounts.errors import NotFound
from accounts.models import Commune, Nas, Site


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
