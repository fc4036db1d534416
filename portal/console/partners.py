"""The federation's partners in the console: the partner regions with their realms and their home
servers' health, a partner's settings and realms, adding and removing a partner (its home servers:
``homeservers.py``).

The same rights, services, checks and audit actions as ``/api/v1/partners``
(``portal/api/partners.py``, whose views and audit snapshots these pages reuse): partners are
region-wide objects, read with ``partners:read`` (region admins, auditors) and changed with
``partners:write`` (region admins), over the whole region only; anyone else gets the console's one
404. A home server's host is where citizens' credentials are sent: it is checked by
``accounts.partnerrules`` exactly as for the API, and its shared secret is never shown back.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from accounts import audit, partners
from accounts.admins import READ_PARTNERS, WRITE_PARTNERS
from accounts.errors import DomainError, InvalidInput, NotFound
from accounts.partnerrules import HOME_SERVER_STATES, RADSEC, TRANSPORTS, UDP, HomeServerSpec
from portal.api.partners import PartnerOut, audited_partner, partner_out
from portal.console.editing import ident, number, problem, read
from portal.console.render import not_found, render
from portal.console.session import Staff, StaffDep
from portal.context import Page, PageDep, redirect

router = APIRouter(prefix="/console", include_in_schema=False)

#: what the API's bodies allow (``PartnerIn``, ``HomeServerIn``, ``RealmIn``), in characters
LIMITS = {
    "name": 63, "display_name": 120, "pattern": 255, "host": 255, "tls_name": 255, "secret": 128,
    "port": 19, "acct_port": 19, "priority": 19,
}  # fmt: skip
MAX_REALMS = 100
#: the notices a change leaves on the partner's page (``?done=``)
DONE = ("created", "saved", "realm-added", "realm-removed", "server-added", "server-saved", "server-removed")


def may_read(staff: Staff) -> bool:
    """The API's ``Reader``: ``partners:read`` over the whole region."""
    return staff.may(READ_PARTNERS) and staff.reach.region_wide


def may_write(staff: Staff) -> bool:
    """The API's ``Writer``: ``partners:write`` over the whole region."""
    return staff.may(WRITE_PARTNERS) and staff.reach.region_wide


def checked_lengths(form: dict[str, str], fields: tuple[str, ...]) -> None:
    """The API's length limits on the form's fields (before any rule looks at a value)."""
    for name in fields:
        if len(form.get(name, "")) > LIMITS[name]:
            raise InvalidInput(f"{name} has at most {LIMITS[name]} characters")


def server_spec(form: dict[str, str]) -> HomeServerSpec:
    """A home server from the form's fields, for ``accounts.partnerrules.check_home_server``: the
    rules are the service's (as the API's ``HomeServerIn.spec``), only numbers are read here."""
    checked_lengths(form, ("host", "tls_name", "secret", "port", "acct_port", "priority"))
    values: dict[str, int | None] = {}
    for name, what in (("port", "a port"), ("acct_port", "an accounting port"), ("priority", "a priority")):
        value = number(form.get(name))
        if isinstance(value, str):
            raise InvalidInput(f"{what} is a whole number")
        values[name] = value
    tls_name = form.get("tls_name", "").strip()
    return HomeServerSpec(
        host=form.get("host", ""), port=values["port"], transport=form.get("transport", UDP),
        secret=form.get("secret") or None, tls_name=tls_name or None, priority=values["priority"] or 0,
        acct_port=values["acct_port"],
        require_message_authenticator=form.get("require_message_authenticator") == "yes",
    )  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Health:
    """How many home servers are in each state, for the summary at the top of the list."""

    counts: dict[str, int]
    total: int


def health(partners_: list[PartnerOut]) -> Health:
    counts = Counter(s.state for p in partners_ for s in p.servers)
    return Health(counts={state: counts.get(state, 0) for state in HOME_SERVER_STATES}, total=counts.total())


async def partner_of(page: Page, raw: str) -> PartnerOut | None:
    """The partner a path names (by id), or None (the one 404)."""
    partner_id = ident(raw)
    if partner_id is None:
        return None
    async with page.portal.transaction() as session:
        try:
            return partner_out(await partners.get_partner(session, name_or_id=partner_id))
        except NotFound:
            return None


# -- the list --------------------------------------------------------------------------------------


@router.get("/partners")
async def list_partners(page: PageDep, staff: StaffDep) -> Response:
    if not may_read(staff):
        return not_found(page, staff)
    async with page.portal.transaction() as session:
        found = [partner_out(p) for p in await partners.list_partners(session)]
    return render(
        page, "partners/list.html", staff=staff, partners=found, health=health(found),
        may_write=may_write(staff), done=page.request.query_params.get("done"),
    )  # fmt: skip


def _new_form(
    page: Page, staff: Staff, values: dict[str, Any], *, error: str | None = None, status_code: int = 200
) -> Response:
    return render(
        page, "partners/new.html", staff=staff, values=values, transports=TRANSPORTS, error=error,
        status_code=status_code,
    )  # fmt: skip


@router.get("/partners/new")
async def new_partner(page: PageDep, staff: StaffDep) -> Response:
    if not may_write(staff):
        return not_found(page, staff)
    values = {
        "accept_requests": "yes",
        "transport": UDP,
        "priority": "0",
        "require_message_authenticator": "yes",
    }
    return _new_form(page, staff, values)


@router.post("/partners")
async def create_partner(page: PageDep, staff: StaffDep) -> Response:
    form = await read(page, multiline=("realms",))
    if not may_write(staff):
        return not_found(page, staff)
    portal = page.portal
    try:
        checked_lengths(form, ("name", "display_name"))
        realms = [line.strip() for line in form.get("realms", "").splitlines() if line.strip()]
        if len(realms) > MAX_REALMS:
            raise InvalidInput(f"at most {MAX_REALMS} realms at once")
        if any(len(realm) > LIMITS["pattern"] for realm in realms):
            raise InvalidInput(f"a realm pattern has at most {LIMITS['pattern']} characters")
        spec = server_spec(form)
        async with portal.transaction() as session:
            partner = await partners.add_partner(
                session, box=portal.box, home_realm=portal.config.realm, name=form.get("name", ""),
                realms=realms, servers=[spec], display_name=form.get("display_name") or None,
                accept_requests=form.get("accept_requests") == "yes", transit=form.get("transit") == "yes",
                forward_accounting=form.get("forward_accounting") == "yes",
            )  # fmt: skip
            out = partner_out(partner)
            await audit.record(
                session, actor=staff.actor, action="partner.create", target=f"partner:{partner.id}",
                after=audited_partner(out) | {"secrets": "set"},
            )  # fmt: skip
    except DomainError as error:
        kept = {k: v for k, v in form.items() if k != "secret"}  # never echoed
        return _new_form(page, staff, kept, error=problem(page, error), status_code=400)
    return redirect(page, f"/console/partners/{out.id}?done=created")


# -- one partner -----------------------------------------------------------------------------------


def _partner_page(
    page: Page, staff: Staff, partner: PartnerOut, *, error: str | None = None, status_code: int = 200,
    values: dict[str, str] | None = None,
) -> Response:  # fmt: skip
    done = page.request.query_params.get("done")
    return render(
        page, "partners/partner.html", staff=staff, partner=partner, may_write=may_write(staff),
        error=error, status_code=status_code, values=values or {}, done=done if done in DONE else None,
        radsec=RADSEC,
    )  # fmt: skip


@router.get("/partners/{partner_id}")
async def show_partner(page: PageDep, staff: StaffDep, partner_id: str) -> Response:
    partner = await partner_of(page, partner_id) if may_read(staff) else None
    if partner is None:
        return not_found(page, staff)
    return _partner_page(page, staff, partner)


@router.post("/partners/{partner_id}")
async def save_partner(page: PageDep, staff: StaffDep, partner_id: str) -> Response:
    form = await read(page)
    partner = await partner_of(page, partner_id) if may_write(staff) else None
    if partner is None:
        return not_found(page, staff)
    try:
        checked_lengths(form, ("display_name",))
        async with page.portal.transaction() as session:
            found = await partners.get_partner(session, name_or_id=partner.id)
            before = audited_partner(partner_out(found))
            await partners.update_partner(
                session, partner=found, display_name=form.get("display_name", ""),
                accept_requests=form.get("accept_requests") == "yes", transit=form.get("transit") == "yes",
                forward_accounting=form.get("forward_accounting") == "yes",
            )  # fmt: skip
            await audit.record(
                session, actor=staff.actor, action="partner.update", target=f"partner:{found.id}",
                before=before, after=audited_partner(partner_out(found)),
            )  # fmt: skip
    except DomainError as error:
        return _partner_page(page, staff, partner, error=problem(page, error), status_code=400)
    return redirect(page, f"/console/partners/{partner.id}?done=saved")


@router.post("/partners/{partner_id}/realms")
async def add_realm(page: PageDep, staff: StaffDep, partner_id: str) -> Response:
    form = await read(page)
    partner = await partner_of(page, partner_id) if may_write(staff) else None
    if partner is None:
        return not_found(page, staff)
    portal = page.portal
    try:
        checked_lengths(form, ("pattern",))
        async with portal.transaction() as session:
            found = await partners.get_partner(session, name_or_id=partner.id)
            realm = await partners.add_realm(
                session, partner=found, home_realm=portal.config.realm, pattern=form.get("pattern", "")
            )
            await audit.record(
                session, actor=staff.actor, action="partner.realm.add", target=f"partner:{found.id}",
                after={"pattern": realm.pattern},
            )  # fmt: skip
    except DomainError as error:
        values = {"pattern": form.get("pattern", "")}
        return _partner_page(page, staff, partner, error=problem(page, error), status_code=400, values=values)
    return redirect(page, f"/console/partners/{partner.id}?done=realm-added")


@router.post("/partners/{partner_id}/realms/remove")
async def remove_realm(page: PageDep, staff: StaffDep, partner_id: str) -> Response:
    form = await read(page)
    partner = await partner_of(page, partner_id) if may_write(staff) else None
    if partner is None:
        return not_found(page, staff)
    try:
        checked_lengths(form, ("pattern",))
        async with page.portal.transaction() as session:
            found = await partners.get_partner(session, name_or_id=partner.id)
            await partners.remove_realm(session, partner=found, pattern=form.get("pattern", ""))
            await audit.record(
                session, actor=staff.actor, action="partner.realm.remove", target=f"partner:{found.id}",
                before={"pattern": partners.normalize_realm_pattern(form.get("pattern", ""))},
            )  # fmt: skip
    except DomainError as error:
        return _partner_page(page, staff, partner, error=problem(page, error), status_code=400)
    return redirect(page, f"/console/partners/{partner.id}?done=realm-removed")


@router.get("/partners/{partner_id}/delete")
async def confirm_delete(page: PageDep, staff: StaffDep, partner_id: str) -> Response:
    partner = await partner_of(page, partner_id) if may_write(staff) else None
    if partner is None:
        return not_found(page, staff)
    return render(page, "partners/delete.html", staff=staff, partner=partner)


@router.post("/partners/{partner_id}/delete")
async def delete_partner(page: PageDep, staff: StaffDep, partner_id: str) -> Response:
    await read(page)
    partner = await partner_of(page, partner_id) if may_write(staff) else None
    if partner is None:
        return not_found(page, staff)
    async with page.portal.transaction() as session:
        try:
            found = await partners.get_partner(session, name_or_id=partner.id)
        except NotFound:  # removed meanwhile
            return not_found(page, staff)
        before = audited_partner(partner_out(found))
        await partners.remove_partner(session, partner=found)
        await audit.record(
            session, actor=staff.actor, action="partner.delete", target=f"partner:{partner.id}", before=before
        )
    return redirect(page, "/console/partners?done=deleted")
