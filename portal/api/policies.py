"""Access policies under ``/api/v1/policies``: per commune or per site, field by field over the
region's defaults (session and idle timeouts, interim interval, bandwidth, daily limits,
simultaneous use). ``PATCH`` sets the fields given; ``null`` clears one (it falls back to the wider
level). The RADIUS servers reload policies within seconds."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select

from accounts import audit
from accounts.admins import READ_NETWORK, WRITE_NETWORK
from accounts.models import AccessPolicy
from accounts.policies import set_policy
from portal.api.auth import Principal, require
from portal.api.common import Id
from portal.api.network import commune_in_reach, site_in_reach
from portal.context import PortalDep

router = APIRouter(prefix="/policies", tags=["policies"])

Reader = Annotated[Principal, Depends(require(READ_NETWORK))]
Writer = Annotated[Principal, Depends(require(WRITE_NETWORK))]


def _int(description: str) -> Any:
    return Field(default=None, ge=0, le=2**31 - 1, description=description + "; null: the wider level's")


class PolicyFields(BaseModel):
    """Each field: a value for this commune or site, or ``null`` (the wider level's)."""

    model_config = ConfigDict(extra="forbid")
    session_timeout: int | None = _int("seconds a session may last (Session-Timeout)")
    idle_timeout: int | None = _int("seconds of silence before the access point ends it (Idle-Timeout)")
    interim_interval: int | None = _int("seconds between interim accounting updates (Acct-Interim-Interval)")
    bandwidth_up_kbps: int | None = _int("upload limit in kbit/s (WISPr and ChilliSpot attributes)")
    bandwidth_down_kbps: int | None = _int("download limit in kbit/s (WISPr and ChilliSpot attributes)")
    simultaneous_use: int | None = _int("sessions an account may have open at once (0: no limit)")
    daily_time_limit: int | None = _int("seconds of connection per account per day in a commune")
    daily_octets_limit: int | None = Field(
        default=None,
        ge=0,
        le=2**63 - 1,
        description="octets in + out per account per day in a commune; null: the wider level's",
    )


def _fields(row: AccessPolicy | None) -> PolicyFields:
    if row is None:
        return PolicyFields()
    return PolicyFields(**{name: getattr(row, name) for name in PolicyFields.model_fields})


async def _patch(
    who: Principal, portal: PortalDep, body: PolicyFields, *, commune_id: int | None, site_id: int | None
) -> PolicyFields:
    values: dict[str, Any] = body.model_dump(exclude_unset=True)
    async with portal.transaction() as session:
        if commune_id is not None:
            commune = await commune_in_reach(session, who.reach, commune_id)
            where, target, scope_commune = (
                AccessPolicy.commune_id == commune.id,
                f"commune:{commune.id}",
                commune.id,
            )
            before = _fields(await session.scalar(select(AccessPolicy).where(where)))
            row = await set_policy(session, values=values, commune=commune)
        else:
            assert site_id is not None
            site = await site_in_reach(session, who.reach, site_id)
            where, target, scope_commune = AccessPolicy.site_id == site.id, f"site:{site.id}", site.commune_id
            before = _fields(await session.scalar(select(AccessPolicy).where(where)))
            row = await set_policy(session, values=values, site=site)
        after = _fields(row)
        await audit.record(
            session, actor=who.actor, action="policy.update", target=target, commune_id=scope_commune,
            before=before.model_dump(), after=after.model_dump(),
        )  # fmt: skip
    return after


@router.get("/communes/{commune_id}", response_model=PolicyFields)
async def commune_policy(commune_id: Id, who: Reader, portal: PortalDep) -> PolicyFields:
    async with portal.transaction() as session:
        commune = await commune_in_reach(session, who.reach, commune_id)
        return _fields(
            await session.scalar(select(AccessPolicy).where(AccessPolicy.commune_id == commune.id))
        )


@router.patch("/communes/{commune_id}", response_model=PolicyFields)
async def set_commune_policy(
    commune_id: Id, body: PolicyFields, who: Writer, portal: PortalDep
) -> PolicyFields:
    return await _patch(who, portal, body, commune_id=commune_id, site_id=None)


@router.get("/sites/{site_id}", response_model=PolicyFields)
async def site_policy(site_id: Id, who: Reader, portal: PortalDep) -> PolicyFields:
    async with portal.transaction() as session:
        site = await site_in_reach(session, who.reach, site_id)
        return _fields(await session.scalar(select(AccessPolicy).where(AccessPolicy.site_id == site.id)))


@router.patch("/sites/{site_id}", response_model=PolicyFields)
async def set_site_policy(site_id: Id, body: PolicyFields, who: Writer, portal: PortalDep) -> PolicyFields:
    return await _patch(who, portal, body, commune_id=None, site_id=site_id)
