"""The secure network's description under ``/api/v1/onboarding`` (issue 17): what devices' profiles
carry besides their credential — the region's SSID(s) and Passpoint Home SP, a commune's own SSIDs.

Region admins read and change the region's; everyone with ``network:read`` reads it (a commune
admin needs to know what its citizens' devices are told). A commune admin reads and changes only
their own commune's SSIDs: another commune is 404, as everywhere in this API. The rules on the
values are :mod:`accounts.onboarding`'s (a refusal is 422 with the reason), and each change is
written to the audit log in its transaction.

SSIDs are taken as they are sent, without the Unicode normalisation other texts get: an SSID is
compared octet for octet with what the access points broadcast.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from accounts import onboarding
from accounts.admins import READ_NETWORK, WRITE_NETWORK
from accounts.onboarding import MAX_OIS, MAX_SSIDS, RegionOnboarding
from portal.api.auth import Principal, require
from portal.api.common import Id
from portal.api.inputs import Patch, Text
from portal.api.network import commune_in_reach
from portal.context import PortalDep

router = APIRouter(prefix="/onboarding", tags=["onboarding"])

Reader = Annotated[Principal, Depends(require(READ_NETWORK))]
Writer = Annotated[Principal, Depends(require(WRITE_NETWORK))]
RegionWriter = Annotated[Principal, Depends(require(WRITE_NETWORK, region_wide=True))]

#: an SSID as sent (1 to 32 octets of UTF-8 are checked by the service; 32 characters bound it here)
Ssid = Annotated[str, Field(min_length=1, max_length=32)]
Oi = Annotated[str, Field(min_length=6, max_length=10)]

SSIDS = (
    f"the secure network's SSIDs, in order of preference (at most {MAX_SSIDS}; each 1 to 32 octets "
    "of UTF-8, no control character, kept exactly as sent)"
)
FQDN = "Passpoint's Home SP FQDN (Passpoint is off while it is null); null turns Passpoint off"
FRIENDLY = "the provider's name devices show for Passpoint (at most 252 octets); null: the region's name"
NAI_REALM = "the NAI realm access points advertise for Passpoint; null: the home realm"
OIS = (
    f"the region's own Roaming Consortium OIs, 6 or 10 hex digits (at most {MAX_OIS}); "
    "eduroam's and OpenRoaming's have their own switches"
)
EDUROAM = "profiles also carry eduroam's OI 001BC50460 (only for an eduroam identity provider)"
OPENROAMING = "profiles also carry OpenRoaming's OI 5A03BA0000 (only for an OpenRoaming member)"


class RegionOnboardingOut(BaseModel):
    ssids: list[str]
    passpoint_fqdn: str | None
    passpoint_friendly_name: str | None
    nai_realm: str | None
    roaming_consortium_ois: list[str]
    eduroam: bool
    openroaming: bool


class RegionOnboardingPatch(Patch):
    """The fields to change; absent ones stay. Passpoint's friendly name, NAI realm, OIs and
    switches need its FQDN; ``null`` on a Passpoint text field clears it."""

    nullable = frozenset({"passpoint_fqdn", "passpoint_friendly_name", "nai_realm"})
    ssids: list[Ssid] | None = Field(default=None, max_length=MAX_SSIDS, description=SSIDS)
    passpoint_fqdn: Text | None = Field(default=None, max_length=253, description=FQDN)
    passpoint_friendly_name: Text | None = Field(default=None, max_length=252, description=FRIENDLY)
    nai_realm: Text | None = Field(default=None, max_length=253, description=NAI_REALM)
    roaming_consortium_ois: list[Oi] | None = Field(default=None, max_length=MAX_OIS, description=OIS)
    eduroam: bool | None = Field(default=None, description=EDUROAM)
    openroaming: bool | None = Field(default=None, description=OPENROAMING)


class CommuneOnboardingOut(BaseModel):
    commune_id: int
    #: the commune's own SSIDs (empty: the region's apply)
    ssids: list[str]
    #: what its citizens' profiles get: its own SSIDs, else the region's
    effective_ssids: list[str]


class CommuneOnboardingIn(BaseModel):
    """The commune's own SSIDs, replacing the region's there; ``[]`` returns to the region's."""

    model_config = ConfigDict(extra="forbid")
    ssids: list[Ssid] = Field(
        max_length=MAX_SSIDS, description=SSIDS + "; [] removes them (the region's apply again)"
    )


def _region_out(stored: RegionOnboarding) -> RegionOnboardingOut:
    return RegionOnboardingOut(**stored.as_dict())


@router.get("/region", response_model=RegionOnboardingOut)
async def region_onboarding(who: Reader, portal: PortalDep) -> RegionOnboardingOut:
    async with portal.transaction() as session:
        region = await portal.region(session)
        return _region_out(await onboarding.region_onboarding(session, region=region))


@router.patch("/region", response_model=RegionOnboardingOut)
async def set_region_onboarding(
    body: RegionOnboardingPatch, who: RegionWriter, portal: PortalDep
) -> RegionOnboardingOut:
    async with portal.transaction() as session:
        region = await portal.region(session)
        stored = await onboarding.set_region_onboarding(
            session, region=region, changes=body.changes(), actor=who.actor
        )
        return _region_out(stored)


async def _commune_out(portal: PortalDep, who: Principal, commune_id: int) -> CommuneOnboardingOut:
    async with portal.transaction() as session:
        commune = await commune_in_reach(session, who.reach, commune_id)
        own = await onboarding.commune_ssids(session, commune=commune)
        region = await onboarding.region_onboarding(session, region=await portal.region(session))
        return CommuneOnboardingOut(
            commune_id=commune.id, ssids=list(own), effective_ssids=list(own or region.ssids)
        )


@router.get("/communes/{commune_id}", response_model=CommuneOnboardingOut)
async def commune_onboarding(commune_id: Id, who: Reader, portal: PortalDep) -> CommuneOnboardingOut:
    return await _commune_out(portal, who, commune_id)


@router.put("/communes/{commune_id}", response_model=CommuneOnboardingOut)
async def set_commune_onboarding(
    commune_id: Id, body: CommuneOnboardingIn, who: Writer, portal: PortalDep
) -> CommuneOnboardingOut:
    async with portal.transaction() as session:
        commune = await commune_in_reach(session, who.reach, commune_id)
        await onboarding.set_commune_ssids(session, commune=commune, ssids=body.ssids, actor=who.actor)
    return await _commune_out(portal, who, commune_id)
