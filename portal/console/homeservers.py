"""A partner's home servers in the console: add one, change it, remove it after a confirmation.

The same services, checks and audit actions as ``/api/v1/partners/{id}/servers``
(``partner.server.add``, ``.update``, ``.remove``): the host, port, transport, TLS name and
priority are those of ``accounts.partnerrules.check_home_server``; once added, only whether its
replies must carry a Message-Authenticator and its shared secret change in place (the API's
``HomeServerPatch``, and the secret's rotation of ``sesame partner server secret``); anything else
is removing it and adding it again. The shared secret is write-only: never shown, never echoed in
a refused form, recorded as "set" or "rotated" in the audit log.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import audit, partners
from accounts.errors import DomainError, NotFound
from accounts.models import HomeServer, Partner
from accounts.partnerrules import RADSEC, TRANSPORTS, UDP
from portal.api.partners import HomeServerOut, PartnerOut, audited_server, server_out
from portal.console.editing import ident, problem, read
from portal.console.partners import checked_lengths, may_write, partner_of, server_spec
from portal.console.render import not_found, render
from portal.console.session import Staff, StaffDep
from portal.context import Page, PageDep, redirect

router = APIRouter(prefix="/console", include_in_schema=False)


async def _server_of(
    page: Page, staff: Staff, raw_partner: str, raw_server: str
) -> tuple[PartnerOut, HomeServerOut] | None:
    """The partner and home server a path names, for someone who may change them; else None."""
    partner = await partner_of(page, raw_partner) if may_write(staff) else None
    server_id = ident(raw_server)
    if partner is None or server_id is None:
        return None
    server = next((s for s in partner.servers if s.id == server_id), None)
    return (partner, server) if server is not None else None


async def _load(session: AsyncSession, partner_id: int, server_id: int) -> tuple[Partner, HomeServer]:
    found = await partners.get_partner(session, name_or_id=partner_id)
    server = next((s for s in found.servers if s.id == server_id), None)
    if server is None:
        raise NotFound(f"partner {found.name} has no home server {server_id}")
    return found, server


def _form(
    page: Page, staff: Staff, partner: PartnerOut, values: dict[str, Any], *,
    server: HomeServerOut | None = None, error: str | None = None, status_code: int = 200,
) -> Response:  # fmt: skip
    return render(
        page, "partners/server_form.html", staff=staff, partner=partner, server=server, values=values,
        transports=TRANSPORTS, radsec=RADSEC, error=error, status_code=status_code,
    )  # fmt: skip


@router.get("/partners/{partner_id}/servers/new")
async def new_server(page: PageDep, staff: StaffDep, partner_id: str) -> Response:
    partner = await partner_of(page, partner_id) if may_write(staff) else None
    if partner is None:
        return not_found(page, staff)
    values = {"transport": UDP, "priority": "0", "require_message_authenticator": "yes"}
    return _form(page, staff, partner, values)


@router.post("/partners/{partner_id}/servers")
async def add_server(page: PageDep, staff: StaffDep, partner_id: str) -> Response:
    form = await read(page)
    partner = await partner_of(page, partner_id) if may_write(staff) else None
    if partner is None:
        return not_found(page, staff)
    portal = page.portal
    try:
        spec = server_spec(form)
        async with portal.transaction() as session:
            found = await partners.get_partner(session, name_or_id=partner.id)
            server = await partners.add_home_server(session, box=portal.box, partner=found, server=spec)
            await audit.record(
                session, actor=staff.actor, action="partner.server.add", target=f"partner:{found.id}",
                after=audited_server(server_out(server)) | {"secret": "set"},
            )  # fmt: skip
    except DomainError as error:
        kept = {k: v for k, v in form.items() if k != "secret"}  # never echoed
        return _form(page, staff, partner, kept, error=problem(page, error), status_code=400)
    return redirect(page, f"/console/partners/{partner.id}?done=server-added")


@router.get("/partners/{partner_id}/servers/{server_id}")
async def edit_server(page: PageDep, staff: StaffDep, partner_id: str, server_id: str) -> Response:
    found = await _server_of(page, staff, partner_id, server_id)
    if found is None:
        return not_found(page, staff)
    partner, server = found
    values = {"require_message_authenticator": "yes" if server.require_message_authenticator else ""}
    return _form(page, staff, partner, values, server=server)


@router.post("/partners/{partner_id}/servers/{server_id}")
async def save_server(page: PageDep, staff: StaffDep, partner_id: str, server_id: str) -> Response:
    form = await read(page)
    found = await _server_of(page, staff, partner_id, server_id)
    if found is None:
        return not_found(page, staff)
    partner, shown = found
    portal = page.portal
    secret = form.get("secret", "")
    try:
        checked_lengths(form, ("secret",))
        async with portal.transaction() as session:
            loaded, server = await _load(session, partner.id, shown.id)
            before = audited_server(server_out(server))
            await partners.set_home_server_message_authenticator(
                session, partner=loaded, server_id=server.id,
                required=form.get("require_message_authenticator") == "yes",
            )  # fmt: skip
            if secret:
                await partners.set_home_server_secret(
                    session, box=portal.box, partner=loaded, server_id=server.id, secret=secret
                )
            await audit.record(
                session, actor=staff.actor, action="partner.server.update", target=f"partner:{loaded.id}",
                before=before,
                after=audited_server(server_out(server)) | ({"secret": "rotated"} if secret else {}),
            )  # fmt: skip
    except DomainError as error:
        values = {"require_message_authenticator": form.get("require_message_authenticator", "")}
        return _form(page, staff, partner, values, server=shown, error=problem(page, error), status_code=400)
    return redirect(page, f"/console/partners/{partner.id}?done=server-saved")


@router.get("/partners/{partner_id}/servers/{server_id}/delete")
async def confirm_remove(page: PageDep, staff: StaffDep, partner_id: str, server_id: str) -> Response:
    found = await _server_of(page, staff, partner_id, server_id)
    if found is None:
        return not_found(page, staff)
    partner, server = found
    return render(page, "partners/server_delete.html", staff=staff, partner=partner, server=server)


@router.post("/partners/{partner_id}/servers/{server_id}/delete")
async def remove_server(page: PageDep, staff: StaffDep, partner_id: str, server_id: str) -> Response:
    await read(page)
    found = await _server_of(page, staff, partner_id, server_id)
    if found is None:
        return not_found(page, staff)
    partner, shown = found
    try:
        async with page.portal.transaction() as session:
            loaded, server = await _load(session, partner.id, shown.id)
            before = audited_server(server_out(server))
            await partners.remove_home_server(session, partner=loaded, server_id=server.id)
            await audit.record(
                session, actor=staff.actor, action="partner.server.remove", target=f"partner:{loaded.id}",
                before=before,
            )  # fmt: skip
    except DomainError as error:
        return render(
            page, "partners/server_delete.html", staff=staff, partner=partner, server=shown,
            error=problem(page, error), status_code=400,
        )  # fmt: skip
    return redirect(page, f"/console/partners/{partner.id}?done=server-removed")
