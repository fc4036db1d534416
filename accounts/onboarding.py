"""What operators say of the secure network, for devices' onboarding profiles (issue 17): per region
the SSID(s) and the Passpoint Home SP, per commune optionally SSIDs of its own; and
:func:`network_for`, what a profile needs besides the credential and the CA.

The values go into files that devices parse (Apple's plist, Android's PPS-MO, Windows' WLAN XML…),
so they are checked here, once, whoever sets them (the admin API, the command line):

- an SSID is 1 to 32 octets of UTF-8 (IEEE 802.11's limit is on octets, not characters), without
  NUL or control characters; it is stored exactly as given — never normalised, since an SSID is
  compared octet by octet with what the access points broadcast;
- the Passpoint Home SP's FQDN and the NAI realm are DNS names (:func:`accounts.identity.normalize_realm`);
- a Roaming Consortium OI is 3 or 5 octets, written as 6 or 10 upper-case hex digits — the rule of
  ``portal.onboarding.spec.Passpoint``, which every format module relies on. eduroam's and
  OpenRoaming's OIs are never in the region's own list: each has its switch, since carrying one
  means the region's identities are expected to work at every hotspot of that federation (only
  for an eduroam identity provider or an OpenRoaming member).

Changes are written to the audit log in the caller's transaction, before and after.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import audit
from accounts.errors import InvalidInput
from accounts.identity import display_name, normalize_realm
from accounts.models import Account, Commune, OnboardingNetwork, Region

__all__ = [
    "EDUROAM_OI",
    "OPENROAMING_OI",
    "NetworkDescription",
    "PasspointDescription",
    "RegionOnboarding",
    "check_oi",
    "check_ssid",
    "commune_overrides",
    "commune_ssids",
    "network_for",
    "region_onboarding",
    "set_commune_ssids",
    "set_region_onboarding",
]

#: eduroam's Roaming Consortium OI (GÉANT) and the Wireless Broadband Alliance's OpenRoaming one
#: (settled, any identity provider)
EDUROAM_OI = "001BC50460"
OPENROAMING_OI = "5A03BA0000"
#: bounds on lists: a profile with more SSIDs or OIs than this is a mistake, and some devices
#: (Apple's RoamingConsortiumOIs, the 802.11u beacon's three OIs) use only the first few anyway
MAX_SSIDS = 8
MAX_OIS = 8
SSID_OCTETS = 32
FRIENDLY_NAME_LENGTH = 252  # ANQP's Operator Friendly Name field, in octets

_OI = re.compile(r"^(?:[0-9A-F]{6}|[0-9A-F]{10})$")  # the same as portal/onboarding/spec.py's
REGION_FIELDS = frozenset(
    {
        "ssids",
        "passpoint_fqdn",
        "passpoint_friendly_name",
        "nai_realm",
        "roaming_consortium_ois",
        "eduroam",
        "openroaming",
    }
)


# -- the rules -------------------------------------------------------------------------------------


def check_ssid(raw: str) -> str:
    """``raw`` if it can be an SSID: 1 to 32 octets of UTF-8, no NUL or control character."""
    try:
        octets = raw.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate
        raise InvalidInput("an SSID must be valid UTF-8 text") from None
    if not 1 <= len(octets) <= SSID_OCTETS:
        raise InvalidInput(f"an SSID is 1 to {SSID_OCTETS} octets of UTF-8 (this one is {len(octets)})")
    if any(unicodedata.category(c) == "Cc" for c in raw):
        raise InvalidInput("an SSID may not hold NUL or control characters")
    return raw


def check_ssids(values: Iterable[str]) -> list[str]:
    """Each SSID checked, duplicates dropped (the first kept, in order), at most :data:`MAX_SSIDS`."""
    ssids = list(dict.fromkeys(check_ssid(v) for v in values))
    if len(ssids) > MAX_SSIDS:
        raise InvalidInput(f"at most {MAX_SSIDS} SSIDs")
    return ssids


def check_oi(raw: str) -> str:
    """A Roaming Consortium OI in the form profiles carry: 6 or 10 upper-case hex digits (lower
    case is accepted and raised)."""
    oi = raw.strip().upper()
    if not _OI.match(oi):
        raise InvalidInput(f"a Roaming Consortium OI is 6 or 10 hex digits (3 or 5 octets): {raw[:40]!r}")
    return oi


def _own_ois(values: Iterable[str]) -> list[str]:
    ois = list(dict.fromkeys(check_oi(v) for v in values))
    for oi, switch in ((EDUROAM_OI, "eduroam"), (OPENROAMING_OI, "openroaming")):
        if oi in ois:
            raise InvalidInput(f"{oi} is {switch}'s OI: turn on '{switch}' instead of listing it")
    if len(ois) > MAX_OIS:
        raise InvalidInput(f"at most {MAX_OIS} Roaming Consortium OIs")
    return ois


def _host(raw: str | None, what: str) -> str | None:
    if raw is None or not raw.strip():
        return None
    try:
        return normalize_realm(raw)
    except InvalidInput:
        raise InvalidInput(f"{what} must be a DNS name such as wifi.example.fr") from None


def _friendly_name(raw: str | None) -> str | None:
    if raw is None or not raw.strip():
        return None
    name = display_name(raw, what="Passpoint friendly", max_length=FRIENDLY_NAME_LENGTH)
    if len(name.encode("utf-8")) > FRIENDLY_NAME_LENGTH:
        raise InvalidInput(f"the Passpoint friendly name is at most {FRIENDLY_NAME_LENGTH} octets of UTF-8")
    return name


# -- what admins read and write ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class RegionOnboarding:
    """The region's description as stored (empty: not configured; onboarding offers nothing)."""

    ssids: tuple[str, ...] = ()
    passpoint_fqdn: str | None = None
    passpoint_friendly_name: str | None = None
    nai_realm: str | None = None
    roaming_consortium_ois: tuple[str, ...] = ()
    eduroam: bool = False
    openroaming: bool = False

    @classmethod
    def of(cls, row: OnboardingNetwork | None) -> RegionOnboarding:
        if row is None:
            return cls()
        return cls(
            ssids=tuple(str(s) for s in row.ssids or ()),
            passpoint_fqdn=row.passpoint_fqdn,
            passpoint_friendly_name=row.passpoint_friendly_name,
            nai_realm=row.nai_realm,
            roaming_consortium_ois=tuple(str(o) for o in row.roaming_consortium_ois or ()),
            eduroam=row.eduroam,
            openroaming=row.openroaming,
        )

    def as_dict(self) -> dict[str, Any]:
        values = asdict(self)
        values["ssids"] = list(self.ssids)
        values["roaming_consortium_ois"] = list(self.roaming_consortium_ois)
        return values


async def _region_row(session: AsyncSession, region: Region) -> OnboardingNetwork | None:
    return await session.scalar(select(OnboardingNetwork).where(OnboardingNetwork.region_id == region.id))


async def _commune_row(session: AsyncSession, commune: Commune) -> OnboardingNetwork | None:
    return await session.scalar(select(OnboardingNetwork).where(OnboardingNetwork.commune_id == commune.id))


async def region_onboarding(session: AsyncSession, *, region: Region) -> RegionOnboarding:
    return RegionOnboarding.of(await _region_row(session, region))


async def set_region_onboarding(
    session: AsyncSession, *, region: Region, changes: Mapping[str, Any], actor: str
) -> RegionOnboarding:
    """Change the fields given in ``changes`` (a ``None`` clears a Passpoint text field), check the
    whole, store it and record it in the audit log. Passpoint is on while ``passpoint_fqdn`` is set;
    its other fields mean nothing without it, so setting them alone is refused."""
    unknown = set(changes) - REGION_FIELDS
    if unknown:
        raise InvalidInput(f"unknown onboarding fields: {', '.join(sorted(unknown))}")
    row = await _region_row(session, region)
    before = RegionOnboarding.of(row)
    values = before.as_dict() | dict(changes)
    after = RegionOnboarding(
        ssids=tuple(check_ssids(values["ssids"] or ())),
        passpoint_fqdn=_host(values["passpoint_fqdn"], "the Passpoint Home SP's FQDN"),
        passpoint_friendly_name=_friendly_name(values["passpoint_friendly_name"]),
        nai_realm=_host(values["nai_realm"], "the NAI realm"),
        roaming_consortium_ois=tuple(_own_ois(values["roaming_consortium_ois"] or ())),
        eduroam=bool(values["eduroam"]),
        openroaming=bool(values["openroaming"]),
    )
    passpoint_parts = (
        after.passpoint_friendly_name,
        after.nai_realm,
        after.roaming_consortium_ois,
        after.eduroam,
        after.openroaming,
    )
    if after.passpoint_fqdn is None and any(passpoint_parts):
        raise InvalidInput(
            "Passpoint's friendly name, NAI realm and Roaming Consortium OIs need its Home SP's FQDN"
        )
    if row is None:
        row = OnboardingNetwork(region_id=region.id)
        session.add(row)
    row.ssids = list(after.ssids)
    row.passpoint_fqdn = after.passpoint_fqdn
    row.passpoint_friendly_name = after.passpoint_friendly_name
    row.nai_realm = after.nai_realm
    row.roaming_consortium_ois = list(after.roaming_consortium_ois)
    row.eduroam, row.openroaming = after.eduroam, after.openroaming
    await session.flush()
    await audit.record(
        session, actor=actor, action="onboarding.region.update", target=f"region:{region.id}",
        before=before.as_dict(), after=after.as_dict(),
    )  # fmt: skip
    return after


async def commune_ssids(session: AsyncSession, *, commune: Commune) -> tuple[str, ...]:
    """The commune's own SSIDs (empty: the region's apply there)."""
    row = await _commune_row(session, commune)
    return tuple(str(s) for s in row.ssids or ()) if row is not None else ()


async def set_commune_ssids(
    session: AsyncSession, *, commune: Commune, ssids: Sequence[str], actor: str
) -> tuple[str, ...]:
    """Give the commune SSIDs of its own, or none (``[]``: the region's apply again); audited."""
    checked = check_ssids(ssids)
    row = await _commune_row(session, commune)
    before = tuple(str(s) for s in row.ssids or ()) if row is not None else ()
    if not checked:
        if row is not None:
            await session.delete(row)
    else:
        if row is None:
            row = OnboardingNetwork(commune_id=commune.id)
            session.add(row)
        row.ssids = checked
    await session.flush()
    await audit.record(
        session, actor=actor, action="onboarding.commune.update", target=f"commune:{commune.id}",
        commune_id=commune.id, before={"ssids": list(before)}, after={"ssids": checked},
    )  # fmt: skip
    return tuple(checked)


async def commune_overrides(
    session: AsyncSession, *, region: Region
) -> list[tuple[Commune, tuple[str, ...]]]:
    """The region's communes that have SSIDs of their own, by name."""
    rows = await session.execute(
        select(Commune, OnboardingNetwork)
        .join(OnboardingNetwork, OnboardingNetwork.commune_id == Commune.id)
        .where(Commune.region_id == region.id)
        .order_by(Commune.name_key, Commune.id)
    )
    return [(commune, tuple(str(s) for s in row.ssids or ())) for commune, row in rows]


# -- what a profile needs ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class PasspointDescription:
    """Passpoint's fields as ``portal.onboarding.spec.Passpoint`` takes them (the home's own OIs
    first, then eduroam's and OpenRoaming's where allowed)."""

    home_fqdn: str
    friendly_name: str
    nai_realm: str
    roaming_consortium_ois: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkDescription:
    """What a device's profile needs besides its credential and the pinned CA and server name."""

    #: the region's name: who provides the network
    organisation: str
    #: the home realm
    realm: str
    #: the SSIDs in force where the citizen is (the commune's own, else the region's)
    ssids: tuple[str, ...]
    passpoint: PasspointDescription | None = None

    @property
    def configured(self) -> bool:
        """Whether a profile can be made: it needs an SSID or Passpoint."""
        return bool(self.ssids) or self.passpoint is not None


async def network_for(
    session: AsyncSession, *, account: Account, commune: Commune | None = None
) -> NetworkDescription:
    """The secure network as ``account``'s profile describes it; ``commune`` (where the citizen is,
    if known) brings its own SSIDs when it has some. A commune of another region is ignored: its
    SSIDs would not know this account."""
    region = await session.get_one(Region, account.region_id)
    stored = await region_onboarding(session, region=region)
    ssids = stored.ssids
    if commune is not None and commune.region_id == region.id:
        ssids = await commune_ssids(session, commune=commune) or ssids
    passpoint = None
    if stored.passpoint_fqdn is not None:
        extra = ((EDUROAM_OI,) if stored.eduroam else ()) + ((OPENROAMING_OI,) if stored.openroaming else ())
        passpoint = PasspointDescription(
            home_fqdn=stored.passpoint_fqdn,
            friendly_name=stored.passpoint_friendly_name or region.name,
            nai_realm=stored.nai_realm or region.realm,
            roaming_consortium_ois=stored.roaming_consortium_ois + extra,
        )
    return NetworkDescription(organisation=region.name, realm=region.realm, ssids=ssids, passpoint=passpoint)
