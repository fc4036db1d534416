"""Reply policies per commune and site, falling back field by field to the region's defaults.

Resolution (OpenWISP's per-organisation settings with a global default): for each field, the
site's value if set, else the commune's, else the region default from the settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.errors import InvalidInput
from accounts.models import AccessPolicy, Commune, Site


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """What an Access-Accept tells the access point (0 or None: no limit sent)."""

    session_timeout: int | None = 3 * 3600
    idle_timeout: int | None = 15 * 60
    interim_interval: int | None = 5 * 60
    bandwidth_up_kbps: int | None = None
    bandwidth_down_kbps: int | None = None
    #: open sessions an account may have at once (a device reconnecting is not counted twice)
    simultaneous_use: int | None = None
    #: seconds of connection and bytes (both directions) per account per day in this commune
    daily_time_limit: int | None = None
    daily_octets_limit: int | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            top = 2**63 - 1 if f.name == "daily_octets_limit" else 2**31 - 1
            if value is not None and not 0 <= value <= top:
                raise InvalidInput(f"{f.name.replace('_', ' ')} must be between 0 and {top}")

    def overlay(self, row: AccessPolicy | None) -> Policy:
        if row is None:
            return self
        changes = {f.name: getattr(row, f.name) for f in fields(self) if getattr(row, f.name) is not None}
        return replace(self, **changes)


async def load_policies(session: AsyncSession) -> tuple[dict[int, AccessPolicy], dict[int, AccessPolicy]]:
    """Every policy row, by commune id and by site id (a small table, cached by the RADIUS server)."""
    rows = (await session.scalars(select(AccessPolicy))).all()
    by_commune = {r.commune_id: r for r in rows if r.commune_id is not None}
    by_site = {r.site_id: r for r in rows if r.site_id is not None}
    return by_commune, by_site


def resolve(
    defaults: Policy,
    *,
    commune_id: int | None,
    site_id: int | None,
    by_commune: dict[int, AccessPolicy],
    by_site: dict[int, AccessPolicy],
) -> Policy:
    policy = defaults
    if commune_id is not None:
        policy = policy.overlay(by_commune.get(commune_id))
    if site_id is not None:
        policy = policy.overlay(by_site.get(site_id))
    return policy


async def set_policy(
    session: AsyncSession,
    *,
    values: Mapping[str, int | None],
    commune: Commune | None = None,
    site: Site | None = None,
) -> AccessPolicy:
    """Set fields of a commune's or a site's policy (a None value clears it: fall back)."""
    if (commune is None) == (site is None):
        raise InvalidInput("a policy applies to one commune or one site")
    unknown = set(values) - {f.name for f in fields(Policy)}
    if unknown:
        raise InvalidInput(f"unknown policy fields: {', '.join(sorted(unknown))}")
    Policy(**{k: v for k, v in values.items() if v is not None})  # validates the ranges
    if commune is not None:
        row = await session.scalar(select(AccessPolicy).where(AccessPolicy.commune_id == commune.id))
    else:
        assert site is not None
        row = await session.scalar(select(AccessPolicy).where(AccessPolicy.site_id == site.id))
    if row is None:
        row = AccessPolicy(commune_id=commune.id if commune else None, site_id=site.id if site else None)
        session.add(row)
    for name, value in values.items():
        setattr(row, name, value)
    await session.flush()
    return row
