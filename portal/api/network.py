"""Communes, sites and access points under ``/api/v1``: paginated, scoped, audited.

A commune admin sees and changes only their commune's sites and access points; anything else is
404, exactly as if it did not exist. An access point's shared secret is write-only: it can be set
or rotated, never read back; the RADIUS servers reload the change within seconds.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, Query, Response
from pydantic import BaseModel, ConfigDict, Field, SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import audit, network
from accounts.admins import READ_NETWORK, WRITE_NETWORK, Reach
from accounts.errors import Conflict, NotFound
from accounts.identity import display_name
from accounts.models import Commune, Nas, Site
from portal.api.auth import Principal, require
from portal.api.common import MAX_ID, Id, Page, PageParams, paginate
from portal.api.inputs import Patch, Text
from portal.context import PortalDep

router = APIRouter(tags=["network"])

Reader = Annotated[Principal, Depends(require(READ_NETWORK))]
Writer = Annotated[Principal, Depends(require(WRITE_NETWORK))]
RegionWriter = Annotated[Principal, Depends(require(WRITE_NETWORK, region_wide=True))]


# -- schemas -------------------------------------------------------------------------------------

ALLOW_OVERLAP = (
    "accept an address overlapping another access point's (region admins only: 403 otherwise; audited)"
)


HANDOFF = (
    f"how the portal hands people back after log-in: one of {', '.join(network.HANDOFFS)} (docs/portal.md)"
)
HANDOFF_OPTIONS = (
    "the hand-off's settings (login_url, done_url, …: docs/portal.md); replaces them all when given"
)
COA_PORT = "UDP port of its Disconnect/CoA listener (RFC 5176)"
SIGNED_REQUESTS = (
    "refuse its Access-Requests without Message-Authenticator (BlastRADIUS); false only for legacy gear"
)


class CommuneIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Text = Field(min_length=1, max_length=120, description="the commune's name (unique, folded)")
    insee_code: Text = Field(min_length=5, max_length=5, description="five digits, or 2A/2B + three digits")


class CommuneOut(BaseModel):
    id: int
    name: str
    insee_code: str


class SiteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    commune_id: int = Field(ge=1, le=MAX_ID, description="the commune it is in (a commune admin: theirs)")
    name: Text = Field(min_length=1, max_length=120, description="unique in its commune (folded)")
    address: Text | None = Field(default=None, max_length=255, description="a postal address, for people")


class SitePatch(Patch):
    """A site's name, address, WiFi4EU id; ``null`` removes the address or the id. A site stays in
    its commune (no ``commune_id``: moving it would move its access points' traffic too)."""

    nullable = frozenset({"address", "wifi4eu_network_id"})
    name: Text | None = Field(default=None, min_length=1, max_length=120, description="a new name")
    address: Text | None = Field(default=None, max_length=255, description="a new address; null removes it")
    wifi4eu_network_id: Text | None = Field(
        default=None, max_length=64, description="its WiFi4EU network id (portal snippet); null removes it"
    )


class SiteOut(BaseModel):
    id: int
    commune_id: int
    name: str
    address: str | None
    wifi4eu_network_id: str | None


class AccessPointIn(BaseModel):
    """An access point or controller, with its hand-off if it has one (one call, one audit entry)."""

    model_config = ConfigDict(extra="forbid")
    site_id: int = Field(ge=1, le=MAX_ID, description="the site it serves")
    name: Text = Field(min_length=1, max_length=64, description="unique in the region (folded)")
    address: Text = Field(description="one IP address or a CIDR network", max_length=64)
    secret: SecretStr = Field(description="the RADIUS shared secret (write-only)", max_length=128)
    vendor: Text = Field(
        default="other",
        max_length=30,
        description="what it is (another value is refused, 422)",
        json_schema_extra={"enum": list(network.VENDORS)},
    )
    coa_port: int = Field(default=3799, ge=1, le=65535, description=COA_PORT)
    require_message_authenticator: bool = Field(default=True, description=SIGNED_REQUESTS)
    allow_overlap: bool = Field(default=False, description=ALLOW_OVERLAP)
    handoff: str = Field(default="none", max_length=30, description=HANDOFF + " (region admins only)")
    handoff_options: dict[str, str] | None = Field(
        default=None, description=HANDOFF_OPTIONS + " (region admins only)"
    )
    uam_secret: SecretStr | None = Field(
        default=None, max_length=128, description="the controller's UAM secret (write-only; CoovaChilli)"
    )


class AccessPointPatch(Patch):
    nullable = frozenset({"handoff", "handoff_options", "uam_secret"})  # null keeps them (as before)
    address: Text | None = Field(default=None, description="a new address or range", max_length=64)
    allow_overlap: bool = Field(default=False, description=ALLOW_OVERLAP)
    secret: SecretStr | None = Field(
        default=None, description="a new shared secret (rotation)", max_length=128
    )
    coa_port: int | None = Field(default=None, ge=1, le=65535, description=COA_PORT)
    require_message_authenticator: bool | None = Field(default=None, description=SIGNED_REQUESTS)
    handoff: str | None = Field(
        default=None, max_length=30, description=HANDOFF + " (region admins only; null keeps it)"
    )
    handoff_options: dict[str, str] | None = Field(
        default=None, description=HANDOFF_OPTIONS + " (region admins only; null keeps them)"
    )
    uam_secret: SecretStr | None = Field(
        default=None,
        max_length=128,
        description='the controller\'s UAM secret (write-only; "" removes it, null keeps it)',
    )


class AccessPointOut(BaseModel):
    id: int
    site_id: int
    name: str
    address: str
    vendor: str
    coa_port: int
    require_message_authenticator: bool
    handoff: str
    has_uam_secret: bool


def _commune(c: Commune) -> CommuneOut:
    return CommuneOut(id=c.id, name=c.name, insee_code=c.insee_code)


def _site(s: Site) -> SiteOut:
    return SiteOut(
        id=s.id,
        commune_id=s.commune_id,
        name=s.name,
        address=s.address,
        wifi4eu_network_id=s.wifi4eu_network_id,
    )


def _ap(n: Nas) -> AccessPointOut:
    return AccessPointOut(
        id=n.id,
        site_id=n.site_id,
        name=n.shortname,
        address=n.nasname,
        vendor=n.type,
        coa_port=n.coa_port,
        require_message_authenticator=n.require_message_authenticator,
        handoff=n.handoff,
        has_uam_secret=n.uam_secret_ciphertext is not None,
    )


# -- lookups within reach ---------------------------------------------------------------------------


async def commune_in_reach(session: AsyncSession, reach: Reach, commune_id: int) -> Commune:
    commune = await session.get(Commune, commune_id)
    if commune is None or not reach.covers(commune.id):
        raise NotFound(f"no commune {commune_id}")
    return commune


async def site_in_reach(session: AsyncSession, reach: Reach, site_id: int) -> Site:
    site = await session.get(Site, site_id)
    if site is None or not reach.covers(site.commune_id):
        raise NotFound(f"no site {site_id}")
    return site


async def ap_in_reach(session: AsyncSession, reach: Reach, ap_id: int) -> tuple[Nas, Site]:
    nas = await session.get(Nas, ap_id)
    site = await session.get(Site, nas.site_id) if nas is not None else None
    if nas is None or site is None or not reach.covers(site.commune_id):
        raise NotFound(f"no access point {ap_id}")
    return nas, site


# -- communes --------------------------------------------------------------------------------------


@router.get("/communes", response_model=Page[CommuneOut])
async def list_communes(
    who: Reader, portal: PortalDep, params: Annotated[PageParams, Depends()]
) -> Page[CommuneOut]:
    query = select(Commune).order_by(Commune.name, Commune.id)
    if not who.reach.region_wide:
        query = query.where(Commune.id == who.reach.commune_id)
    async with portal.transaction() as session:
        return await paginate(session, query, params, _commune)


@router.get("/communes/{commune_id}", response_model=CommuneOut)
async def get_commune(commune_id: Id, who: Reader, portal: PortalDep) -> CommuneOut:
    async with portal.transaction() as session:
        return _commune(await commune_in_reach(session, who.reach, commune_id))


@router.post("/communes", response_model=CommuneOut, status_code=201)
async def create_commune(body: CommuneIn, who: RegionWriter, portal: PortalDep) -> CommuneOut:
    async with portal.transaction() as session:
        commune = await network.add_commune(
            session, region=await portal.region(session), name=body.name, insee_code=body.insee_code
        )
        out = _commune(commune)
        await audit.record(
            session, actor=who.actor, action="commune.create", target=f"commune:{commune.id}",
            commune_id=commune.id, after=out.model_dump(),
        )  # fmt: skip
    return out


# -- sites -----------------------------------------------------------------------------------------


@router.get("/sites", response_model=Page[SiteOut])
async def list_sites(
    who: Reader,
    portal: PortalDep,
    params: Annotated[PageParams, Depends()],
    commune_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="only this commune's sites")] = None,
) -> Page[SiteOut]:
    query = select(Site).order_by(Site.name, Site.id)
    if not who.reach.region_wide:
        query = query.where(Site.commune_id == who.reach.commune_id)
    if commune_id is not None:
        query = query.where(Site.commune_id == commune_id)
    async with portal.transaction() as session:
        return await paginate(session, query, params, _site)


@router.get("/sites/{site_id}", response_model=SiteOut)
async def get_site(site_id: Id, who: Reader, portal: PortalDep) -> SiteOut:
    async with portal.transaction() as session:
        return _site(await site_in_reach(session, who.reach, site_id))


@router.post("/sites", response_model=SiteOut, status_code=201)
async def create_site(body: SiteIn, who: Writer, portal: PortalDep) -> SiteOut:
    async with portal.transaction() as session:
        commune = await commune_in_reach(session, who.reach, body.commune_id)
        site = await network.add_site(session, commune=commune, name=body.name, address=body.address)
        out = _site(site)
        await audit.record(
            session, actor=who.actor, action="site.create", target=f"site:{site.id}", commune_id=commune.id,
            after=out.model_dump(),
        )  # fmt: skip
    return out


@router.patch("/sites/{site_id}", response_model=SiteOut)
async def update_site(site_id: Id, body: SitePatch, who: Writer, portal: PortalDep) -> SiteOut:
    async with portal.transaction() as session:
        site = await site_in_reach(session, who.reach, site_id)
        before = _site(site).model_dump()
        changes = body.changes()
        if "name" in changes:
            await network.rename_site(session, site=site, name=changes["name"])
        if "address" in changes:
            address = (changes["address"] or "").strip()
            site.address = display_name(address, what="address", max_length=255) if address else None
        if "wifi4eu_network_id" in changes:
            await network.set_wifi4eu(session, site=site, network_id=changes["wifi4eu_network_id"])
        await network.flush_or_conflict(session, f"the commune already has a site named {site.name!r}")
        out = _site(site)
        await audit.record(
            session, actor=who.actor, action="site.update", target=f"site:{site.id}",
            commune_id=site.commune_id, before=before, after=out.model_dump(),
        )  # fmt: skip
    return out


@router.delete("/sites/{site_id}", status_code=204)
async def delete_site(site_id: Id, who: Writer, portal: PortalDep) -> Response:
    async with portal.transaction() as session:
        site = await site_in_reach(session, who.reach, site_id)
        if await session.scalar(select(Nas.id).where(Nas.site_id == site.id).limit(1)) is not None:
            raise Conflict("the site still has access points: remove them first")
        before = _site(site).model_dump()
        await session.delete(site)
        await session.flush()
        await audit.record(
            session, actor=who.actor, action="site.delete", target=f"site:{site_id}",
            commune_id=before["commune_id"], before=before,
        )  # fmt: skip
    return Response(status_code=204)


# -- access points ----------------------------------------------------------------------------------


@router.get("/access-points", response_model=Page[AccessPointOut])
async def list_access_points(
    who: Reader,
    portal: PortalDep,
    params: Annotated[PageParams, Depends()],
    site_id: Annotated[
        int | None, Query(ge=1, le=MAX_ID, description="only this site's access points")
    ] = None,
) -> Page[AccessPointOut]:
    query = select(Nas).join(Site, Site.id == Nas.site_id).order_by(Nas.shortname, Nas.id)
    if not who.reach.region_wide:
        query = query.where(Site.commune_id == who.reach.commune_id)
    if site_id is not None:
        query = query.where(Nas.site_id == site_id)
    async with portal.transaction() as session:
        return await paginate(session, query, params, _ap)


@router.get("/access-points/{ap_id}", response_model=AccessPointOut)
async def get_access_point(ap_id: Id, who: Reader, portal: PortalDep) -> AccessPointOut:
    async with portal.transaction() as session:
        nas, _ = await ap_in_reach(session, who.reach, ap_id)
        return _ap(nas)


def _check_override(who: Principal, allow_overlap: bool) -> None:
    if allow_overlap and not who.reach.region_wide:
        raise HTTPException(403, detail="only a region admin may allow overlapping access point addresses")


@router.post("/access-points", response_model=AccessPointOut, status_code=201)
async def create_access_point(body: AccessPointIn, who: Writer, portal: PortalDep) -> AccessPointOut:
    """Create an access point, with its hand-off when ``handoff`` is given (one transaction)."""
    _check_override(who, body.allow_overlap)
    with_handoff = body.handoff != "none" or body.handoff_options is not None
    async with portal.transaction() as session:
        site = await site_in_reach(session, who.reach, body.site_id)
        if with_handoff:
            region_only_handoff(who)  # after the reach check: another commune's site stays a 404
        nas = await network.add_nas(
            session,
            box=portal.box,
            site=site,
            name=body.name,
            address=body.address,
            secret=body.secret.get_secret_value(),
            vendor=body.vendor,
            coa_port=body.coa_port,
            require_message_authenticator=body.require_message_authenticator,
            rules=portal.config.nas_address_rules,
            allow_overlap=body.allow_overlap,
        )
        if with_handoff or body.uam_secret is not None:
            await network.set_handoff(
                session,
                box=portal.box,
                nas=nas,
                handoff=body.handoff,
                uam_secret=body.uam_secret.get_secret_value() if body.uam_secret is not None else None,
                options=body.handoff_options,
            )
        out = _ap(nas)
        overlap: dict[str, object] = {"allow_overlap": True} if body.allow_overlap else {}
        overlap |= {"uam_secret": "set"} if body.uam_secret is not None else {}
        await audit.record(
            session, actor=who.actor, action="access_point.create", target=f"access_point:{nas.id}",
            commune_id=site.commune_id, after=out.model_dump() | {"secret": "set"} | overlap,
        )  # fmt: skip
    return out


@router.patch("/access-points/{ap_id}", response_model=AccessPointOut)
async def update_access_point(
    ap_id: Id, body: AccessPointPatch, who: Writer, portal: PortalDep
) -> AccessPointOut:
    _check_override(who, body.allow_overlap)
    async with portal.transaction() as session:
        nas, site = await ap_in_reach(session, who.reach, ap_id)
        before = _ap(nas).model_dump()
        changes = body.changes()
        if {"handoff", "handoff_options"} & changes.keys():
            region_only_handoff(who)
        if body.address is not None:
            await network.set_nas_address(
                session, nas=nas, site=site, address=body.address, rules=portal.config.nas_address_rules,
                allow_overlap=body.allow_overlap,
            )  # fmt: skip
        if body.secret is not None:
            nas.secret_ciphertext = network.seal_nas_secret(portal.box, body.secret.get_secret_value())
        if body.coa_port is not None:
            nas.coa_port = body.coa_port
        if body.require_message_authenticator is not None:
            nas.require_message_authenticator = body.require_message_authenticator
        if {"handoff", "handoff_options", "uam_secret"} & changes.keys():
            await network.set_handoff(
                session,
                box=portal.box,
                nas=nas,
                handoff=body.handoff or nas.handoff,
                uam_secret=body.uam_secret.get_secret_value() if body.uam_secret is not None else None,
                options=body.handoff_options,
            )
        await session.flush()
        out = _ap(nas)
        after = out.model_dump() | ({"secret": "rotated"} if body.secret is not None else {})
        after |= {"allow_overlap": True} if body.allow_overlap and body.address is not None else {}
        await audit.record(
            session, actor=who.actor, action="access_point.update", target=f"access_point:{nas.id}",
            commune_id=site.commune_id, before=before, after=after,
        )  # fmt: skip
    return out


@router.delete("/access-points/{ap_id}", status_code=204)
async def delete_access_point(ap_id: Id, who: Writer, portal: PortalDep) -> Response:
    async with portal.transaction() as session:
        nas, site = await ap_in_reach(session, who.reach, ap_id)
        before = _ap(nas).model_dump()
        await session.delete(nas)
        await session.flush()
        await audit.record(
            session, actor=who.actor, action="access_point.delete", target=f"access_point:{ap_id}",
            commune_id=site.commune_id, before=before,
        )  # fmt: skip
    return Response(status_code=204)


class SiteHandoff(BaseModel):
    """The hand-off of every access point of a site (see docs/portal.md)."""

    model_config = ConfigDict(extra="forbid")
    handoff: str = Field(max_length=30, description=HANDOFF)
    handoff_options: dict[str, str] | None = Field(default=None, description=HANDOFF_OPTIONS)
    uam_secret: SecretStr | None = Field(
        default=None, max_length=128, description="the controllers' UAM secret (write-only)"
    )


def region_only_handoff(who: Principal) -> None:
    """Where citizens' browsers and tokens go is the region's to say (issue 14): a commune admin
    could otherwise send the citizens of every commune, who may be handed a link to any access
    point, to a host of their choice. Rotating a UAM secret stays the commune's."""
    if not who.reach.region_wide:
        raise HTTPException(
            403,
            detail="only a region admin may change an access point's hand-off or its options "
            "(they say where citizens' browsers and tokens go)",
        )


@router.put("/sites/{site_id}/handoff", response_model=list[AccessPointOut])
async def set_site_handoff(
    site_id: Id, body: SiteHandoff, who: Writer, portal: PortalDep
) -> list[AccessPointOut]:
    """Set the hand-off of all the site's access points at once (region admins only)."""
    async with portal.transaction() as session:
        site = await site_in_reach(session, who.reach, site_id)
        region_only_handoff(who)  # after the reach check: another commune's site stays a 404
        aps = (await session.scalars(select(Nas).where(Nas.site_id == site.id).order_by(Nas.shortname))).all()
        for nas in aps:
            await network.set_handoff(
                session,
                box=portal.box,
                nas=nas,
                handoff=body.handoff,
                uam_secret=body.uam_secret.get_secret_value() if body.uam_secret is not None else None,
                options=body.handoff_options,
            )
        out = [_ap(nas) for nas in aps]
        after = {
            "handoff": body.handoff,
            "options": body.handoff_options,
            "uam_secret": "set" if body.uam_secret is not None else None,
            "access_points": [a.name for a in out],
        }
        await audit.record(
            session, actor=who.actor, action="site.handoff", target=f"site:{site.id}",
            commune_id=site.commune_id, after=after,
        )  # fmt: skip
    return out
