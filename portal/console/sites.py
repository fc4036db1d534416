"""A commune's sites in the console: add one, change its name, address or WiFi4EU id.

The same services and audit actions as ``/api/v1/sites`` (``site.create``, ``site.update``); a
site or commune outside the staff member's reach is the console's one 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from accounts import audit, network, reach
from accounts.admins import WRITE_NETWORK
from accounts.errors import DomainError, NotFound
from accounts.identity import display_name
from accounts.models import Site
from portal.console.editing import ident, problem, read, ref
from portal.console.render import not_found, render
from portal.console.session import Staff, StaffDep
from portal.context import Page, PageDep, redirect

router = APIRouter(prefix="/console", include_in_schema=False)


def _values(site: Site) -> dict[str, Any]:
    return {
        "id": site.id,
        "commune_id": site.commune_id,
        "name": site.name,
        "address": site.address,
        "wifi4eu_network_id": site.wifi4eu_network_id,
    }


def _form(
    page: Page, staff: Staff, *, commune: Any, values: dict[str, Any], site_id: int | None,
    error: str | None = None, status_code: int = 200,
) -> Response:  # fmt: skip
    return render(
        page, "commune/site_form.html", staff=staff, commune=commune, values=values, site_id=site_id,
        error=error, status_code=status_code,
    )  # fmt: skip


@router.get("/communes/{commune_id}/sites/new")
async def new_site(page: PageDep, staff: StaffDep, commune_id: str) -> Response:
    ident_ = ident(commune_id)
    if ident_ is None or not staff.may(WRITE_NETWORK):
        return not_found(page, staff)
    async with page.portal.transaction() as session:
        try:
            commune = ref(await reach.commune_in_reach(session, reach=staff.reach, commune_id=ident_))
        except NotFound:
            return not_found(page, staff)
    return _form(page, staff, commune=commune, values={}, site_id=None)


@router.post("/communes/{commune_id}/sites")
async def add_site(page: PageDep, staff: StaffDep, commune_id: str) -> Response:
    form = await read(page)
    ident_ = ident(commune_id)
    if ident_ is None or not staff.may(WRITE_NETWORK):
        return not_found(page, staff)
    async with page.portal.transaction() as session:
        try:
            commune = ref(await reach.commune_in_reach(session, reach=staff.reach, commune_id=ident_))
        except NotFound:
            return not_found(page, staff)
    try:  # a refused value rolls the whole transaction back
        async with page.portal.transaction() as session:
            found = await reach.commune_in_reach(session, reach=staff.reach, commune_id=commune.id)
            site = await network.add_site(
                session, commune=found, name=form.get("name", ""), address=form.get("address") or None
            )
            await audit.record(
                session, actor=staff.actor, action="site.create", target=f"site:{site.id}",
                commune_id=found.id, after=_values(site),
            )  # fmt: skip
    except DomainError as error:
        return _form(
            page, staff, commune=commune, values=form, site_id=None, error=problem(page, error),
            status_code=400,
        )  # fmt: skip
    return redirect(page, f"/console/communes/{commune.id}")


@router.get("/sites/{site_id}")
async def edit_site(page: PageDep, staff: StaffDep, site_id: str) -> Response:
    ident_ = ident(site_id)
    if ident_ is None or not staff.may(WRITE_NETWORK):
        return not_found(page, staff)
    async with page.portal.transaction() as session:
        try:
            site = await reach.site_in_reach(session, reach=staff.reach, site_id=ident_)
        except NotFound:
            return not_found(page, staff)
        commune = ref(await reach.commune_in_reach(session, reach=staff.reach, commune_id=site.commune_id))
        values = _values(site)
    return _form(page, staff, commune=commune, values=values, site_id=ident_)


@router.post("/sites/{site_id}")
async def save_site(page: PageDep, staff: StaffDep, site_id: str) -> Response:
    form = await read(page)
    ident_ = ident(site_id)
    if ident_ is None or not staff.may(WRITE_NETWORK):
        return not_found(page, staff)
    async with page.portal.transaction() as session:
        try:
            site = await reach.site_in_reach(session, reach=staff.reach, site_id=ident_)
        except NotFound:
            return not_found(page, staff)
        commune = ref(await reach.commune_in_reach(session, reach=staff.reach, commune_id=site.commune_id))
    try:  # a refused value rolls the whole transaction back
        async with page.portal.transaction() as session:
            site = await reach.site_in_reach(session, reach=staff.reach, site_id=ident_)
            before = _values(site)
            await network.rename_site(session, site=site, name=form.get("name", ""))
            address = (form.get("address") or "").strip()
            site.address = display_name(address, what="address", max_length=255) if address else None
            await network.set_wifi4eu(session, site=site, network_id=form.get("wifi4eu_network_id") or None)
            await network.flush_or_conflict(session, f"the commune already has a site named {site.name!r}")
            await audit.record(
                session, actor=staff.actor, action="site.update", target=f"site:{site.id}",
                commune_id=site.commune_id, before=before, after=_values(site),
            )  # fmt: skip
    except DomainError as error:
        return _form(
            page, staff, commune=commune, values=form, site_id=ident_, error=problem(page, error),
            status_code=400,
        )  # fmt: skip
    return redirect(page, f"/console/communes/{commune.id}")
