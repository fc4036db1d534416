"""The region's own pages in the console: its communes and its service clients (the staff
accounts are ``staffadmin.py``; the sign-in rule and the hub are ``pages.py``'s ``/console/region``).

The same services, rules and audit actions as the admin API: ``POST /api/v1/communes``
(``commune.create``, ``network:write`` and a region-wide reach), ``/api/v1/clients``
(``client.create``, ``client.disable``, ``admins:write`` and a region-wide reach). Anybody else
gets the console's one 404, for the pages and their forms alike. A service client's secret is
shown once, on the page that answers the form, and never again (only its digest is kept).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import admins, audit, network, reach
from accounts.admins import WRITE_ADMINS, WRITE_NETWORK
from accounts.errors import DomainError, InvalidInput
from accounts.models import AdminRole, Commune, ServiceClient
from portal.console.editing import ident, problem, read
from portal.console.render import not_found, render, role_name
from portal.console.session import Staff, StaffDep
from portal.context import Page, PageDep, redirect

router = APIRouter(prefix="/console/region", include_in_schema=False)


def region_admin(staff: Staff, scope: str) -> bool:
    """Whether the staff member holds ``scope`` over the whole region (else: the one 404)."""
    return staff.may(scope) and staff.reach.region_wide


async def commune_choice(page: Page) -> list[tuple[int, str]]:
    """The communes a commune admin or client may be given, by name: (id, "Name (INSEE)")."""
    async with page.portal.transaction() as session:
        rows = await network.list_communes(session)
        return [(c.id, f"{c.name} ({c.insee_code})") for c in rows]


async def chosen_commune(session: AsyncSession, role: AdminRole, raw: str) -> Commune | None:
    """The form's commune for a commune admin's role (None for another role, whatever was sent)."""
    if role != AdminRole.COMMUNE_ADMIN:
        return None
    commune_id = ident(raw)
    commune = await session.get(Commune, commune_id) if commune_id is not None else None
    if commune is None:
        raise InvalidInput("a commune admin needs a commune: choose one")
    return commune


def role_names(page: Page) -> dict[str, str]:
    """Each role's name in the page's language, by its value (the forms' choices)."""
    return {role.value: role_name(page, role) for role in AdminRole}


def chosen_role(raw: str) -> AdminRole:
    try:
        return AdminRole(raw)
    except ValueError:
        raise InvalidInput("choose one of the roles") from None


# -- communes -------------------------------------------------------------------------------------


async def _communes(
    page: Page, staff: Staff, *, values: dict[str, Any], error: str | None = None, status_code: int = 200
) -> Response:
    async with page.portal.transaction() as session:
        communes = await reach.communes_in_reach(session, reach=staff.reach)
    return render(
        page, "region/communes.html", staff=staff, communes=communes, values=values, error=error,
        status_code=status_code,
    )  # fmt: skip


@router.get("/communes")
async def communes(page: PageDep, staff: StaffDep) -> Response:
    if not region_admin(staff, WRITE_NETWORK):
        return not_found(page, staff)
    return await _communes(page, staff, values={})


@router.post("/communes")
async def add_commune(page: PageDep, staff: StaffDep) -> Response:
    form = await read(page)
    if not region_admin(staff, WRITE_NETWORK):
        return not_found(page, staff)
    name, code = form.get("name", ""), form.get("insee_code", "")
    try:
        if len(name) > 120 or len(code) > 5 or not name.strip():  # as the API's CommuneIn
            raise InvalidInput("a name of at most 120 characters and an INSEE code of five characters")
        async with page.portal.transaction() as session:
            commune = await network.add_commune(
                session, region=await page.portal.region(session), name=name, insee_code=code
            )
            after = {"id": commune.id, "name": commune.name, "insee_code": commune.insee_code}
            await audit.record(
                session, actor=staff.actor, action="commune.create", target=f"commune:{commune.id}",
                commune_id=commune.id, after=after,
            )  # fmt: skip
    except DomainError as error:
        return await _communes(page, staff, values=form, error=problem(page, error), status_code=400)
    return redirect(page, f"/console/communes/{after['id']}")


# -- service clients ------------------------------------------------------------------------------


def client_out(client: ServiceClient) -> dict[str, Any]:
    """What the audit log keeps of a client (as the API's ``ClientOut``: never its secret)."""
    return {
        "id": client.id, "client_id": client.client_id, "name": client.name,
        "role": AdminRole(client.role).value, "commune_id": client.commune_id, "active": client.active,
    }  # fmt: skip


async def _clients(
    page: Page, staff: Staff, *, values: dict[str, Any], error: str | None = None, status_code: int = 200
) -> Response:
    async with page.portal.transaction() as session:
        rows = (
            await session.execute(
                select(ServiceClient, Commune.name)
                .outerjoin(Commune, Commune.id == ServiceClient.commune_id)
                .order_by(ServiceClient.id)
            )
        ).all()
        clients = [client_out(client) | {"commune_name": name} for client, name in rows]
    return render(
        page, "region/clients.html", staff=staff, clients=clients, values=values, error=error,
        communes=await commune_choice(page), roles=list(AdminRole), role_names=role_names(page),
        status_code=status_code,
    )  # fmt: skip


@router.get("/clients")
async def clients(page: PageDep, staff: StaffDep) -> Response:
    if not region_admin(staff, WRITE_ADMINS):
        return not_found(page, staff)
    return await _clients(page, staff, values={})


@router.post("/clients")
async def add_client(page: PageDep, staff: StaffDep) -> Response:
    form = await read(page)
    if not region_admin(staff, WRITE_ADMINS):
        return not_found(page, staff)
    name = form.get("name", "").strip()
    try:
        if not name or len(name) > 120:  # as the API's ClientIn
            raise InvalidInput("a name of 1 to 120 characters")
        role = chosen_role(form.get("role", ""))
        async with page.portal.transaction() as session:
            where = await chosen_commune(session, role, form.get("commune_id", ""))
            client, secret = await admins.create_client(
                session, box=page.portal.box, name=name, role=role, commune=where
            )
            out = client_out(client)
            await audit.record(
                session, actor=staff.actor, action="client.create", target=f"client:{client.client_id}",
                commune_id=client.commune_id, after=out | {"secret": "set"},
            )  # fmt: skip
    except DomainError as error:
        return await _clients(page, staff, values=form, error=problem(page, error), status_code=400)
    return render(page, "region/client_created.html", staff=staff, client=out, secret=secret)


@router.post("/clients/{client_pk}/disable")
async def disable_client(page: PageDep, staff: StaffDep, client_pk: str) -> Response:
    await read(page)
    pk = ident(client_pk)
    if pk is None or not region_admin(staff, WRITE_ADMINS):
        return not_found(page, staff)
    async with page.portal.transaction() as session:
        client = await session.get(ServiceClient, pk)
        if client is None:
            return not_found(page, staff)
        if client.active:
            client.active = False
            await admins.revoke_all(session, admin=client)
            await audit.record(
                session, actor=staff.actor, action="client.disable", target=f"client:{client.client_id}",
                commune_id=client.commune_id, after={"active": False},
            )  # fmt: skip
    return redirect(page, "/console/region/clients")
