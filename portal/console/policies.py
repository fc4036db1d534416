"""The reply policies of a commune and of each of its sites in the console: each field a value
of its own or empty (the wider level's: the commune's, else the region's default).

The same service and audit action as ``/api/v1/policies`` (``accounts.policies.set_policy``,
``policy.update``); a commune or site outside the staff member's reach is the one 404.
"""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select

from accounts import audit, reach
from accounts.admins import READ_NETWORK, WRITE_NETWORK
from accounts.errors import DomainError, InvalidInput, NotFound
from accounts.models import AccessPolicy
from accounts.policies import Policy, set_policy
from portal.console.editing import ident, number, problem, read, ref
from portal.console.render import not_found, render
from portal.console.session import StaffDep
from portal.context import Page, PageDep

router = APIRouter(prefix="/console", include_in_schema=False)

FIELDS = tuple(f.name for f in fields(Policy))


def _(message: str) -> str:
    """Marks a label for extraction; the template translates it."""
    return message


#: each field's label and unit, in the order shown
LABELS = {
    "session_timeout": (_("Longest session"), _("seconds")),
    "idle_timeout": (_("Idle time before disconnection"), _("seconds")),
    "interim_interval": (_("Interval of accounting updates"), _("seconds")),
    "bandwidth_up_kbps": (_("Upload limit"), _("kbit/s")),
    "bandwidth_down_kbps": (_("Download limit"), _("kbit/s")),
    "simultaneous_use": (_("Sessions at once per account"), _("0: no limit")),
    "daily_time_limit": (_("Connection time per account per day"), _("seconds")),
    "daily_octets_limit": (_("Volume per account per day"), _("bytes")),
}


def _values(row: AccessPolicy | None) -> dict[str, Any]:
    return {name: getattr(row, name) if row is not None else None for name in FIELDS}


async def _target(page: Page, staff: Any, kind: str, raw: str, scope: str) -> tuple[Any, Any, Any] | None:
    """The commune ref, the commune or site object's key, and the policy row's filter; or None."""
    ident_ = ident(raw)
    if ident_ is None or not staff.may(scope):
        return None
    async with page.portal.transaction() as session:
        try:
            if kind == "commune":
                commune = await reach.commune_in_reach(session, reach=staff.reach, commune_id=ident_)
                return ref(commune), None, ident_
            site = await reach.site_in_reach(session, reach=staff.reach, site_id=ident_)
            commune = await reach.commune_in_reach(session, reach=staff.reach, commune_id=site.commune_id)
            return ref(commune), site.name, ident_
        except NotFound:
            return None


async def _show(page: Page, staff: Any, kind: str, raw: str) -> Response:
    found = await _target(page, staff, kind, raw, READ_NETWORK)
    if found is None:
        return not_found(page, staff)
    commune, site_name, ident_ = found
    where = AccessPolicy.commune_id == ident_ if kind == "commune" else AccessPolicy.site_id == ident_
    async with page.portal.transaction() as session:
        values = _values(await session.scalar(select(AccessPolicy).where(where)))
    return _render(page, staff, kind, commune, site_name, ident_, values)


def _render(
    page: Page, staff: Any, kind: str, commune: Any, site_name: str | None, ident_: int,
    values: dict[str, Any], error: str | None = None, saved: bool = False, status_code: int = 200,
) -> Response:  # fmt: skip
    action = f"/console/communes/{ident_}/policy" if kind == "commune" else f"/console/sites/{ident_}/policy"
    return render(
        page, "commune/policy.html", staff=staff, commune=commune, site_name=site_name, action=action,
        values=values, labels=LABELS, error=error, saved=saved, status_code=status_code,
    )  # fmt: skip


async def _save(page: Page, staff: Any, kind: str, raw: str) -> Response:
    form = await read(page)
    found = await _target(page, staff, kind, raw, WRITE_NETWORK)
    if found is None:
        return not_found(page, staff)
    commune, site_name, ident_ = found
    try:
        values: dict[str, int | None] = {}
        for name in FIELDS:
            value = number(form.get(name))
            if isinstance(value, str):
                raise InvalidInput(f"{name.replace('_', ' ')}: a whole number, or empty")
            values[name] = value
        async with page.portal.transaction() as session:
            if kind == "commune":
                place = await reach.commune_in_reach(session, reach=staff.reach, commune_id=ident_)
                where, target = AccessPolicy.commune_id == ident_, f"commune:{ident_}"
                before = _values(await session.scalar(select(AccessPolicy).where(where)))
                row = await set_policy(session, values=values, commune=place)
            else:
                site = await reach.site_in_reach(session, reach=staff.reach, site_id=ident_)
                where, target = AccessPolicy.site_id == ident_, f"site:{ident_}"
                before = _values(await session.scalar(select(AccessPolicy).where(where)))
                row = await set_policy(session, values=values, site=site)
            after = _values(row)
            await audit.record(
                session, actor=staff.actor, action="policy.update", target=target, commune_id=commune.id,
                before=before, after=after,
            )  # fmt: skip
    except DomainError as error:
        shown: dict[str, Any] = dict(form)
        return _render(
            page, staff, kind, commune, site_name, ident_, shown, error=problem(page, error), status_code=400
        )
    return _render(page, staff, kind, commune, site_name, ident_, after, saved=True)


@router.get("/communes/{commune_id}/policy")
async def commune_policy(page: PageDep, staff: StaffDep, commune_id: str) -> Response:
    return await _show(page, staff, "commune", commune_id)


@router.post("/communes/{commune_id}/policy")
async def save_commune_policy(page: PageDep, staff: StaffDep, commune_id: str) -> Response:
    return await _save(page, staff, "commune", commune_id)


@router.get("/sites/{site_id}/policy")
async def site_policy(page: PageDep, staff: StaffDep, site_id: str) -> Response:
    return await _show(page, staff, "site", site_id)


@router.post("/sites/{site_id}/policy")
async def save_site_policy(page: PageDep, staff: StaffDep, site_id: str) -> Response:
    return await _save(page, staff, "site", site_id)
