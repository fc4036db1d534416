"""A commune's access points in the console: the list with what each last sent (its newest
decision in ``radpostauth``), add one, change it, remove it after a confirmation.

The same services, rules and audit actions as ``/api/v1/access-points``: the shared secret is
write-only — one generated here is shown once, on the page that answers the form, and never
again —; the hand-off and its options say where citizens' browsers and tokens go, so only a region
admin changes them (``portal.api.network.region_only_handoff``, issue 14), while a commune admin
may rotate the controller's UAM secret.
"""

from __future__ import annotations

import secrets
from datetime import timedelta
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from accounts import audit, network, reach
from accounts.admins import READ_NETWORK, WRITE_NETWORK
from accounts.errors import DomainError, InvalidInput, NotFound
from accounts.models import Nas
from portal.console.editing import CommuneRef, ident, number, problem, read, ref
from portal.console.render import not_found, render
from portal.console.session import Staff, StaffDep
from portal.context import Page, PageDep, redirect

router = APIRouter(prefix="/console", include_in_schema=False)

#: how far back "last request seen" looks (the decision records hold a year of the whole region)
SEEN_WINDOW = timedelta(days=7)


def _out(nas: Nas) -> dict[str, Any]:
    """What the audit log keeps of an access point (as the API's ``AccessPointOut``: no secret)."""
    return {
        "id": nas.id, "site_id": nas.site_id, "name": nas.shortname, "address": nas.nasname,
        "vendor": nas.type, "coa_port": nas.coa_port,
        "require_message_authenticator": nas.require_message_authenticator, "handoff": nas.handoff,
        "has_uam_secret": nas.uam_secret_ciphertext is not None,
    }  # fmt: skip


def options_text(options: dict[str, str]) -> str:
    return "\n".join(f"{key}={value}" for key, value in sorted(options.items()))


def parse_options(text: str) -> dict[str, str]:
    """``name=value`` lines (blank lines skipped) as hand-off options; the service checks them."""
    options: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise InvalidInput(f"hand-off options are name=value lines: {line.strip()[:40]!r}")
        options[key.strip()] = value.strip()
    return options


async def _commune(page: Page, staff: Staff, raw: str, scope: str) -> CommuneRef | None:
    ident_ = ident(raw)
    if ident_ is None or not staff.may(scope):
        return None
    async with page.portal.transaction() as session:
        try:
            return ref(await reach.commune_in_reach(session, reach=staff.reach, commune_id=ident_))
        except NotFound:
            return None


@router.get("/communes/{commune_id}/access-points")
async def access_points(page: PageDep, staff: StaffDep, commune_id: str) -> Response:
    commune = await _commune(page, staff, commune_id, READ_NETWORK)
    if commune is None:
        return not_found(page, staff)
    async with page.portal.transaction() as session:
        found = await reach.commune_in_reach(session, reach=staff.reach, commune_id=commune.id)
        rows = await reach.access_points_of(session, commune=found, since=page.portal.now() - SEEN_WINDOW)
    return render(page, "commune/access_points.html", staff=staff, commune=commune, rows=rows)


def _form(
    page: Page, staff: Staff, *, commune: CommuneRef, sites: Any, values: dict[str, Any],
    ap_id: int | None = None, error: str | None = None, status_code: int = 200,
) -> Response:  # fmt: skip
    return render(
        page, "commune/ap_form.html", staff=staff, commune=commune, sites=sites, values=values, ap_id=ap_id,
        vendors=network.VENDORS, handoffs=network.HANDOFFS, error=error, status_code=status_code,
        may_handoff=staff.reach.region_wide,
    )  # fmt: skip


@router.get("/communes/{commune_id}/access-points/new")
async def new_access_point(page: PageDep, staff: StaffDep, commune_id: str) -> Response:
    commune = await _commune(page, staff, commune_id, WRITE_NETWORK)
    if commune is None:
        return not_found(page, staff)
    async with page.portal.transaction() as session:
        found = await reach.commune_in_reach(session, reach=staff.reach, commune_id=commune.id)
        sites = await reach.sites_of(session, commune=found)
    values = {"coa_port": "3799", "require_message_authenticator": "yes", "handoff": "none"}
    return _form(page, staff, commune=commune, sites=sites, values=values)


@router.post("/communes/{commune_id}/access-points")
async def add_access_point(page: PageDep, staff: StaffDep, commune_id: str) -> Response:
    form = await read(page, multiline=("handoff_options",))
    commune = await _commune(page, staff, commune_id, WRITE_NETWORK)
    if commune is None:
        return not_found(page, staff)
    portal = page.portal
    secret = form.get("secret", "")
    generated = not secret
    if generated:
        secret = secrets.token_urlsafe(24)  # 32 characters: twice RFC 2865's recommended 16 octets
    site_id = ident(form.get("site_id", ""))
    try:
        async with portal.transaction() as session:
            try:
                site = await reach.site_in_reach(session, reach=staff.reach, site_id=site_id or 0)
            except NotFound:
                raise InvalidInput("choose one of the commune's sites") from None
            if site.commune_id != commune.id:
                raise InvalidInput("choose one of the commune's sites")
            handoff = form.get("handoff", "none") if staff.reach.region_wide else "none"
            options = parse_options(form.get("handoff_options", "")) if staff.reach.region_wide else None
            coa_port = number(form.get("coa_port"))
            if not isinstance(coa_port, int):
                raise InvalidInput("the CoA port is a number between 1 and 65535")
            nas = await network.add_nas(
                session, box=portal.box, site=site, name=form.get("name", ""),
                address=form.get("address", ""), secret=secret, vendor=form.get("vendor", "other"),
                coa_port=coa_port,
                require_message_authenticator=form.get("require_message_authenticator") == "yes",
                rules=portal.config.nas_address_rules,
            )  # fmt: skip
            uam = form.get("uam_secret") or None
            if handoff != "none" or options or uam is not None:
                await network.set_handoff(
                    session, box=portal.box, nas=nas, handoff=handoff, uam_secret=uam, options=options or None
                )
            out = _out(nas)
            await audit.record(
                session, actor=staff.actor, action="access_point.create", target=f"access_point:{nas.id}",
                commune_id=site.commune_id,
                after=out | {"secret": "set"} | ({"uam_secret": "set"} if uam is not None else {}),
            )  # fmt: skip
    except DomainError as error:
        async with portal.transaction() as session:
            found = await reach.commune_in_reach(session, reach=staff.reach, commune_id=commune.id)
            sites = await reach.sites_of(session, commune=found)
        kept = {k: v for k, v in form.items() if k not in ("secret", "uam_secret")}  # never echoed
        return _form(
            page, staff, commune=commune, sites=sites, values=kept, error=problem(page, error),
            status_code=400,
        )  # fmt: skip
    return render(
        page, "commune/ap_created.html", staff=staff, commune=commune, name=out["name"],
        address=out["address"], secret=secret if generated else None,
    )  # fmt: skip


async def _ap(page: Page, staff: Staff, raw: str, scope: str) -> tuple[CommuneRef, int] | None:
    ident_ = ident(raw)
    if ident_ is None or not staff.may(scope):
        return None
    async with page.portal.transaction() as session:
        try:
            _, site = await reach.access_point_in_reach(session, reach=staff.reach, nas_id=ident_)
        except NotFound:
            return None
        commune = await reach.commune_in_reach(session, reach=staff.reach, commune_id=site.commune_id)
        return ref(commune), ident_


@router.get("/access-points/{ap_id}")
async def edit_access_point(page: PageDep, staff: StaffDep, ap_id: str) -> Response:
    found = await _ap(page, staff, ap_id, WRITE_NETWORK)
    if found is None:
        return not_found(page, staff)
    commune, nas_id = found
    async with page.portal.transaction() as session:
        nas, _ = await reach.access_point_in_reach(session, reach=staff.reach, nas_id=nas_id)
        values = _out(nas) | {
            "require_message_authenticator": "yes" if nas.require_message_authenticator else "",
            "handoff_options": options_text(network.handoff_options(nas)),
        }
    return _form(page, staff, commune=commune, sites=(), values=values, ap_id=nas_id)


@router.post("/access-points/{ap_id}")
async def save_access_point(page: PageDep, staff: StaffDep, ap_id: str) -> Response:
    form = await read(page, multiline=("handoff_options",))
    found = await _ap(page, staff, ap_id, WRITE_NETWORK)
    if found is None:
        return not_found(page, staff)
    commune, nas_id = found
    portal = page.portal
    try:
        async with portal.transaction() as session:
            nas, site = await reach.access_point_in_reach(session, reach=staff.reach, nas_id=nas_id)
            before = _out(nas)
            address = form.get("address", "").strip()
            if address and address != nas.nasname:
                await network.set_nas_address(
                    session, nas=nas, site=site, address=address, rules=portal.config.nas_address_rules
                )
            if form.get("secret"):
                nas.secret_ciphertext = network.seal_nas_secret(portal.box, form["secret"])
            coa_port = number(form.get("coa_port"))
            if not isinstance(coa_port, int) or not 1 <= coa_port <= 65535:
                raise InvalidInput("the CoA port is a number between 1 and 65535")
            nas.coa_port = coa_port
            nas.require_message_authenticator = form.get("require_message_authenticator") == "yes"
            uam = form.get("uam_secret") or None
            if staff.reach.region_wide:
                await network.set_handoff(
                    session, box=portal.box, nas=nas, handoff=form.get("handoff", nas.handoff),
                    uam_secret=uam, options=parse_options(form.get("handoff_options", "")),
                )  # fmt: skip
            elif uam is not None:  # rotating the UAM secret stays the commune's
                await network.set_handoff(
                    session, box=portal.box, nas=nas, handoff=nas.handoff, uam_secret=uam
                )
            await session.flush()
            after = _out(nas) | ({"secret": "rotated"} if form.get("secret") else {})
            await audit.record(
                session, actor=staff.actor, action="access_point.update", target=f"access_point:{nas.id}",
                commune_id=site.commune_id, before=before, after=after,
            )  # fmt: skip
    except DomainError as error:
        kept = {k: v for k, v in form.items() if k not in ("secret", "uam_secret")}
        return _form(
            page, staff, commune=commune, sites=(), values=kept, ap_id=nas_id, error=problem(page, error),
            status_code=400,
        )  # fmt: skip
    return redirect(page, f"/console/communes/{commune.id}/access-points")


@router.get("/access-points/{ap_id}/delete")
async def confirm_delete(page: PageDep, staff: StaffDep, ap_id: str) -> Response:
    found = await _ap(page, staff, ap_id, WRITE_NETWORK)
    if found is None:
        return not_found(page, staff)
    commune, nas_id = found
    async with page.portal.transaction() as session:
        nas, _ = await reach.access_point_in_reach(session, reach=staff.reach, nas_id=nas_id)
        name, address = nas.shortname, nas.nasname
    return render(
        page, "commune/ap_delete.html", staff=staff, commune=commune, ap_id=nas_id, name=name, address=address
    )


@router.post("/access-points/{ap_id}/delete")
async def delete_access_point(page: PageDep, staff: StaffDep, ap_id: str) -> Response:
    await read(page)
    found = await _ap(page, staff, ap_id, WRITE_NETWORK)
    if found is None:
        return not_found(page, staff)
    commune, nas_id = found
    async with page.portal.transaction() as session:
        nas, site = await reach.access_point_in_reach(session, reach=staff.reach, nas_id=nas_id)
        before = _out(nas)
        await session.delete(nas)
        await session.flush()
        await audit.record(
            session, actor=staff.actor, action="access_point.delete", target=f"access_point:{nas_id}",
            commune_id=site.commune_id, before=before,
        )  # fmt: skip
    return redirect(page, f"/console/communes/{commune.id}/access-points")
