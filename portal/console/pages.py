"""The console's first pages: "My reach" (where every role lands), a commune's sites, the
staff member's sign-in and security settings, and the region's sign-in rule.

Every page takes the signed-in :class:`~portal.console.session.Staff`; what a page shows is
read through ``accounts`` services filtered by the staff member's ``Reach``, and a page a role may
not open, or an object outside the reach, is the same 404 as one that does not exist.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from accounts import audit, reach, twofactor
from accounts.admins import READ_NETWORK, WRITE_ADMINS
from accounts.errors import NotFound
from accounts.models import Admin
from portal.console import session as console_session
from portal.console.render import not_found, render
from portal.console.session import StaffDep
from portal.context import PageDep, redirect
from portal.forms import check_throttle, client_address, read_form

router = APIRouter(prefix="/console", include_in_schema=False)  # pages, not the admin API

MAX_ID = 2**31 - 1


def _id(raw: str) -> int | None:
    """A path's id, or None (then 404, like a missing object: never a validation error)."""
    return int(raw) if raw.isascii() and raw.isdigit() and 0 < len(raw) <= 10 and int(raw) <= MAX_ID else None


@router.get("")
async def home(page: PageDep, staff: StaffDep) -> Response:
    """My reach: the communes this staff member may look at, with their sites and access points."""
    if not staff.may(READ_NETWORK):
        return not_found(page, staff)
    async with page.portal.transaction() as session:
        communes = await reach.communes_in_reach(session, reach=staff.reach)
    return render(page, "home.html", staff=staff, communes=communes)


@router.get("/communes/{commune_id}")
async def commune(page: PageDep, staff: StaffDep, commune_id: str) -> Response:
    ident = _id(commune_id)
    if ident is None or not staff.may(READ_NETWORK):
        return not_found(page, staff)
    async with page.portal.transaction() as session:
        try:
            found = await reach.commune_in_reach(session, reach=staff.reach, commune_id=ident)
        except NotFound:
            return not_found(page, staff)
        sites = await reach.sites_of(session, commune=found)
        name, code = found.name, found.insee_code
    return render(
        page, "commune.html", staff=staff, commune_id=ident, name=name, insee_code=code, sites=sites
    )


# -- the staff member's own sign-in -------------------------------------------------------------------


@router.get("/security")
async def security(page: PageDep, staff: StaffDep) -> Response:
    async with page.portal.transaction() as session:
        admin = await session.get_one(Admin, staff.admin_id)
        enrolled = await twofactor.has_two_factor(session, admin=admin)
        left = await twofactor.recovery_codes_left(session, admin=admin) if enrolled else 0
        required = (await page.portal.region(session)).require_two_factor
    return render(
        page, "security.html", staff=staff, enrolled=enrolled, left=left, required=required, error=None
    )


@router.post("/security/recovery-codes")
async def new_recovery_codes(page: PageDep, staff: StaffDep) -> Response:
    """New recovery codes (the old ones stop working), once a current TOTP code is given: a
    session left open on a shared screen cannot take the factor's place."""
    form = await read_form(page)
    portal = page.portal
    keys = {"admin_ip": client_address(page), "console_code": str(staff.admin_id)}
    await check_throttle(page, keys)
    async with portal.transaction() as session:
        admin = await session.get_one(Admin, staff.admin_id)
        code = form.get("code", "")
        if not await twofactor.verify(session, box=portal.box, admin=admin, code=code, now=portal.now()):
            await portal.throttle.failed(keys)
            left = await twofactor.recovery_codes_left(session, admin=admin)
            required = (await portal.region(session)).require_two_factor
            return render(
                page, "security.html", staff=staff, status_code=400, enrolled=True, left=left,
                required=required, error=page._("This code is not right."),
            )  # fmt: skip
        await portal.throttle.succeeded(keys)
        codes = await twofactor.new_recovery_codes(session, box=portal.box, admin=admin)
        await audit.record(
            session, actor=staff.actor, action="admin.recovery_codes", target=f"admin:{admin.id}"
        )
    return render(page, "recovery.html", staff=staff, codes=codes)


# -- the region's rule ----------------------------------------------------------------------------------


@router.get("/region")
async def region_settings(page: PageDep, staff: StaffDep) -> Response:
    if not (staff.may(WRITE_ADMINS) and staff.reach.region_wide):
        return not_found(page, staff)
    async with page.portal.transaction() as session:
        required = (await page.portal.region(session)).require_two_factor
    return render(page, "region.html", staff=staff, required=required, saved=False)


@router.post("/region")
async def save_region_settings(page: PageDep, staff: StaffDep) -> Response:
    form = await read_form(page)
    if not (staff.may(WRITE_ADMINS) and staff.reach.region_wide):
        return not_found(page, staff)
    required = form.get("require_two_factor") == "yes"
    async with page.portal.transaction() as session:
        region = await page.portal.region(session)
        before = region.require_two_factor
        await twofactor.set_required(session, region=region, required=required)
        if before != required:
            await audit.record(
                session, actor=staff.actor, action="region.require_two_factor", target=f"region:{region.id}",
                before={"require_two_factor": before}, after={"require_two_factor": required},
            )  # fmt: skip
    if required and not staff.second_factor:
        # the rule applies to its author too: this session had no second factor
        response = redirect(page, "/console/login")
        console_session.end_session(response)
        return response
    return render(page, "region.html", staff=staff, required=required, saved=True)
