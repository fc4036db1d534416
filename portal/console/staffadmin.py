"""The region's staff accounts in the console: list them, add one, change a role, commune or
state, sign someone out everywhere, reset a lost second factor.

The same services, rules and audit actions as ``/api/v1/admins`` (``admin.create``,
``admin.update``) and the CLI (``admin.revoke``, ``admin.reset_two_factor``), for region admins
only (``admins:write`` and a region-wide reach; anybody else gets the console's one 404).
:func:`accounts.staff.change_admin` keeps the region from being locked out: nobody disables or
demotes themselves, and the last active region admin stays one. Any change signs the admin out
everywhere (their ``token_version`` goes up). A password is write-only, a password hash or a TOTP
secret is never shown; resetting one's own factor is the "Sign-in and security" page's business
(it asks for a code), not this one's.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from accounts import admins, audit, staff
from accounts.admins import WRITE_ADMINS
from accounts.errors import DomainError, InvalidInput
from accounts.models import Admin, AdminRole
from portal.console import session as console_session
from portal.console.editing import ident, problem, read
from portal.console.region import chosen_commune, chosen_role, commune_choice, region_admin, role_names
from portal.console.render import not_found, render
from portal.console.session import Staff, StaffDep
from portal.context import Page, PageDep, redirect

router = APIRouter(prefix="/console/region/staff", include_in_schema=False)

MAX_PASSWORD = 1024  # as the API's AdminIn


def admin_out(admin: Admin) -> dict[str, Any]:
    """What the audit log keeps of an admin (as the API's ``AdminOut``: never a password hash)."""
    return {
        "id": admin.id, "email": admin.email, "role": AdminRole(admin.role).value,
        "commune_id": admin.commune_id, "active": admin.active,
        "last_login_at": admin.last_login_at.isoformat() if admin.last_login_at else None,
    }  # fmt: skip


async def _listing(
    page: Page, staff_: Staff, *, values: dict[str, Any], error: str | None = None, status_code: int = 200
) -> Response:
    async with page.portal.transaction() as session:
        members = await staff.staff_list(session)
    return render(
        page, "region/staff.html", staff=staff_, members=members, values=values, error=error,
        communes=await commune_choice(page), roles=list(AdminRole), role_names=role_names(page),
        status_code=status_code,
    )  # fmt: skip


@router.get("")
async def staff_page(page: PageDep, staff_: StaffDep) -> Response:
    if not region_admin(staff_, WRITE_ADMINS):
        return not_found(page, staff_)
    return await _listing(page, staff_, values={})


@router.post("")
async def add_admin(page: PageDep, staff_: StaffDep) -> Response:
    form = await read(page)
    if not region_admin(staff_, WRITE_ADMINS):
        return not_found(page, staff_)
    kept = {k: v for k, v in form.items() if k != "password"}  # never echoed
    try:
        password, email = form.get("password", ""), form.get("email", "")
        if len(email) > 254 or len(password) > MAX_PASSWORD:  # as the API's AdminIn
            raise InvalidInput("an email of at most 254 characters and a password of at most 1024")
        role = chosen_role(form.get("role", ""))
        async with page.portal.transaction() as session:
            commune = await chosen_commune(session, role, form.get("commune_id", ""))
            admin = await admins.create_admin(
                session, hasher=page.portal.hasher, email=email, role=role, commune=commune, password=password
            )
            await audit.record(
                session, actor=staff_.actor, action="admin.create", target=f"admin:{admin.id}",
                commune_id=admin.commune_id, after=admin_out(admin) | {"password": "set"},
            )  # fmt: skip
            admin_id = admin.id
    except DomainError as error:
        return await _listing(page, staff_, values=kept, error=problem(page, error), status_code=400)
    return redirect(page, f"/console/region/staff/{admin_id}")


async def _member(
    page: Page, staff_: Staff, admin_id: int, *, values: dict[str, Any] | None = None,
    error: str | None = None, notice: str | None = None, status_code: int = 200,
) -> Response:  # fmt: skip
    async with page.portal.transaction() as session:
        member = next((m for m in await staff.staff_list(session) if m.id == admin_id), None)
    if member is None:
        return not_found(page, staff_)
    shown = values if values is not None else {
        "role": member.role.value, "commune_id": str(member.commune_id or ""),
        "active": "yes" if member.active else "",
    }  # fmt: skip
    return render(
        page, "region/member.html", staff=staff_, member=member, values=shown, error=error, notice=notice,
        communes=await commune_choice(page), roles=list(AdminRole), role_names=role_names(page),
        myself=member.id == staff_.admin_id,
        status_code=status_code,
    )  # fmt: skip


@router.get("/{admin_id}")
async def member_page(page: PageDep, staff_: StaffDep, admin_id: str) -> Response:
    pk = ident(admin_id)
    if pk is None or not region_admin(staff_, WRITE_ADMINS):
        return not_found(page, staff_)
    return await _member(page, staff_, pk)


@router.post("/{admin_id}")
async def save_admin(page: PageDep, staff_: StaffDep, admin_id: str) -> Response:
    form = await read(page)
    pk = ident(admin_id)
    if pk is None or not region_admin(staff_, WRITE_ADMINS):
        return not_found(page, staff_)
    try:
        async with page.portal.transaction() as session:
            admin = await session.get(Admin, pk)
            if admin is None:
                return not_found(page, staff_)
            before = admin_out(admin)
            role = chosen_role(form.get("role", ""))
            commune = await chosen_commune(session, role, form.get("commune_id", ""))
            await staff.change_admin(
                session, admin=admin, role=role, commune=commune, active=form.get("active") == "yes",
                by=staff_.admin_id,
            )  # fmt: skip
            await audit.record(
                session, actor=staff_.actor, action="admin.update", target=f"admin:{admin.id}",
                commune_id=admin.commune_id, before=before, after=admin_out(admin),
            )  # fmt: skip
    except DomainError as error:
        return await _member(page, staff_, pk, values=form, error=problem(page, error), status_code=400)
    if pk == staff_.admin_id:  # any change signs its holder out, this session too
        response = redirect(page, "/console/login?bye=2")
        console_session.end_session(response)
        return response
    return await _member(page, staff_, pk, notice=page._("Saved. They are signed out everywhere."))


@router.post("/{admin_id}/sign-out")
async def sign_out_everywhere(page: PageDep, staff_: StaffDep, admin_id: str) -> Response:
    await read(page)
    pk = ident(admin_id)
    if pk is None or not region_admin(staff_, WRITE_ADMINS):
        return not_found(page, staff_)
    async with page.portal.transaction() as session:
        admin = await session.get(Admin, pk)
        if admin is None:
            return not_found(page, staff_)
        await admins.revoke_all(session, admin=admin)
        await audit.record(
            session, actor=staff_.actor, action="admin.revoke", target=f"admin:{admin.id}",
            commune_id=admin.commune_id,
        )  # fmt: skip
    if pk == staff_.admin_id:  # this session too
        response = redirect(page, "/console/login?bye=2")
        console_session.end_session(response)
        return response
    return await _member(page, staff_, pk, notice=page._("Every session and token they had has ended."))


@router.post("/{admin_id}/reset-two-factor")
async def reset_two_factor(page: PageDep, staff_: StaffDep, admin_id: str) -> Response:
    await read(page)
    pk = ident(admin_id)
    if pk is None or not region_admin(staff_, WRITE_ADMINS):
        return not_found(page, staff_)
    if pk == staff_.admin_id:
        error = page._("Your own second factor is changed from the “Sign-in and security” page.")
        return await _member(page, staff_, pk, error=error, status_code=400)
    async with page.portal.transaction() as session:
        admin = await session.get(Admin, pk)
        if admin is None:
            return not_found(page, staff_)
        had = await staff.reset_two_factor(session, admin=admin)
        await audit.record(
            session, actor=staff_.actor, action="admin.reset_two_factor", target=f"admin:{admin.id}",
            commune_id=admin.commune_id, before={"two_factor": had}, after={"two_factor": False},
        )  # fmt: skip
    notice = page._("Their second factor is removed: they set a new one up at their next sign-in.")
    return await _member(page, staff_, pk, notice=notice)
