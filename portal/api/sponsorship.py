"""A commune's sponsored access under ``/api/v1/communes/{id}/sponsorship`` (docs/vouchers.md):
on or off, and its named sponsors (the only addresses the portal mails an approval link to).

Reading and changing it need ``network:write`` (the sponsors' addresses are staff's personal data);
a commune admin reaches their commune's only — another's is the same 404 as a missing one.
Changes are audited (``sponsorship.update``).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from accounts import audit, sponsorship
from accounts.admins import WRITE_NETWORK
from accounts.errors import InvalidInput
from portal.api.auth import Principal, require
from portal.api.common import Id
from portal.api.inputs import Text
from portal.api.network import commune_in_reach
from portal.context import PortalDep

router = APIRouter(tags=["network"])

Writer = Annotated[Principal, Depends(require(WRITE_NETWORK))]


class SponsorIO(BaseModel):
    model_config = ConfigDict(extra="forbid")
    email: Text = Field(min_length=3, max_length=254, description="where the approval link is sent")
    name: Text = Field(default="", max_length=sponsorship.MAX_NAME, description="as visitors see it")


class SponsorshipIO(BaseModel):
    model_config = ConfigDict(extra="forbid")
    enabled: bool = Field(description="visitors at the commune's hotspots may ask for access")
    sponsors: list[SponsorIO] = Field(
        default_factory=list, max_length=sponsorship.MAX_SPONSORS, description="the commune's named sponsors"
    )


def _out(summary: dict[str, object]) -> SponsorshipIO:
    return SponsorshipIO.model_validate(summary)


@router.get("/communes/{commune_id}/sponsorship", response_model=SponsorshipIO)
async def get_sponsorship(commune_id: Id, who: Writer, portal: PortalDep) -> SponsorshipIO:
    async with portal.transaction() as session:
        commune = await commune_in_reach(session, who.reach, commune_id)
        return _out(sponsorship.summary(await sponsorship.setting_of(session, commune_id=commune.id)))


@router.put("/communes/{commune_id}/sponsorship", response_model=SponsorshipIO)
async def put_sponsorship(
    commune_id: Id, body: SponsorshipIO, who: Writer, portal: PortalDep
) -> SponsorshipIO:
    lines = "\n".join(f"{s.name} <{s.email}>" if s.name.strip() else s.email for s in body.sponsors)
    if any("\n" in s.email or "\n" in s.name or "<" in s.name for s in body.sponsors):
        raise InvalidInput("a sponsor's name or address holds characters that cannot be used")
    async with portal.transaction() as session:
        commune = await commune_in_reach(session, who.reach, commune_id)
        before = sponsorship.summary(await sponsorship.setting_of(session, commune_id=commune.id))
        setting = await sponsorship.configure(
            session, commune=commune, enabled=body.enabled, sponsors=sponsorship.parse_sponsors(lines),
            now=portal.now(),
        )  # fmt: skip
        after = sponsorship.summary(setting)
        await audit.record(
            session, actor=who.actor, action="sponsorship.update", target=f"commune:{commune.id}",
            commune_id=commune.id, before=before, after=after,
        )  # fmt: skip
    return _out(after)
