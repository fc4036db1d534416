"""A commune's portal branding in the console, with a live preview of the citizens' log-in page.

The preview is the portal's own ``login.html`` rendered by the portal's own ``render`` with the
draft as its :class:`~portal.context.Look` — not a look-alike —, in a sandboxed ``<iframe>`` on the
branding page (no script, no form runs in it). ``static/branding-preview.js`` reloads it as the
fields change; without script, it shows what was last saved. A draft is checked by the rule
the save uses (:func:`accounts.network.check_branding`: a colour ``#rrggbb``, a logo under the
``weburl`` rule); a refused draft previews without the refused field.

Saving goes through :func:`accounts.network.set_branding`, audited as ``branding.update``.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select

from accounts import audit, network, reach
from accounts.admins import WRITE_NETWORK
from accounts.errors import DomainError, InvalidInput, NotFound
from accounts.models import Branding
from portal import context
from portal.console.editing import CommuneRef, ident, problem, read, ref
from portal.console.render import not_found, render
from portal.console.session import Staff, StaffDep
from portal.context import Look, Page, PageDep
from portal.forms import typeable

router = APIRouter(prefix="/console", include_in_schema=False)

#: what the page edits (the terms' version follows the text: accounts/network.py)
EDITED = ("title", "logo_url", "color", "welcome_text", "terms_text")
KEPT = (*EDITED, "terms_version")
#: what the log-in page shows, hence what the preview carries
PREVIEWED = ("title", "logo_url", "color", "welcome_text")


def terms_version(insee_code: str, text: str | None) -> str | None:
    """A new version for new terms (each account records the version it accepted at sign-up,
    ``accounts.selfservice``): the commune and a digest of the text, so that two texts never share
    one; None with no text of its own (the region's terms and version apply)."""
    if text is None:
        return None
    return f"commune-{insee_code}-{hashlib.sha256(text.encode()).hexdigest()[:8]}"


async def _commune(page: Page, staff: Staff, raw: str) -> CommuneRef | None:
    ident_ = ident(raw)
    if ident_ is None or not staff.may(WRITE_NETWORK):
        return None
    async with page.portal.transaction() as session:
        try:
            return ref(await reach.commune_in_reach(session, reach=staff.reach, commune_id=ident_))
        except NotFound:
            return None


def _preview_url(commune: CommuneRef, values: dict[str, Any]) -> str:
    query = urlencode({k: values[k] for k in PREVIEWED if values.get(k)})
    return f"/console/communes/{commune.id}/branding/preview" + (f"?{query}" if query else "")


def _form(
    page: Page, staff: Staff, commune: CommuneRef, values: dict[str, Any], *, error: str | None = None,
    saved: bool = False, status_code: int = 200,
) -> Response:  # fmt: skip
    return render(
        page, "commune/branding.html", staff=staff, commune=commune, values=values, error=error, saved=saved,
        preview=_preview_url(commune, values), status_code=status_code,
    )  # fmt: skip


@router.get("/communes/{commune_id}/branding")
async def branding(page: PageDep, staff: StaffDep, commune_id: str) -> Response:
    commune = await _commune(page, staff, commune_id)
    if commune is None:
        return not_found(page, staff)
    async with page.portal.transaction() as session:
        row = await session.scalar(select(Branding).where(Branding.commune_id == commune.id))
        values = {name: getattr(row, name) if row is not None else None for name in EDITED}
    return _form(page, staff, commune, values)


@router.post("/communes/{commune_id}/branding")
async def save_branding(page: PageDep, staff: StaffDep, commune_id: str) -> Response:
    form = await read(page, multiline=("welcome_text", "terms_text"))
    commune = await _commune(page, staff, commune_id)
    if commune is None:
        return not_found(page, staff)
    values: dict[str, str | None] = {name: form.get(name, "").strip() or None for name in EDITED}
    try:
        async with page.portal.transaction() as session:
            found = await reach.commune_in_reach(session, reach=staff.reach, commune_id=commune.id)
            row = await session.scalar(select(Branding).where(Branding.commune_id == found.id))
            before = {name: getattr(row, name) if row is not None else None for name in KEPT}
            if values["terms_text"] != before["terms_text"]:
                values["terms_version"] = terms_version(found.insee_code, values["terms_text"])
            row = await network.set_branding(session, commune=found, values=values)
            after = {name: getattr(row, name) for name in KEPT}
            await audit.record(
                session, actor=staff.actor, action="branding.update", target=f"commune:{found.id}",
                commune_id=found.id, before=before, after=after,
            )  # fmt: skip
    except DomainError as error:
        return _form(page, staff, commune, values, error=problem(page, error), status_code=400)
    return _form(page, staff, commune, after, saved=True)


@router.get("/communes/{commune_id}/branding/preview")
async def preview(page: PageDep, staff: StaffDep, commune_id: str) -> Response:
    """The citizens' log-in page as the draft would make it (framed by the branding page only)."""
    commune = await _commune(page, staff, commune_id)
    if commune is None:
        return not_found(page, staff)
    draft: dict[str, str | None] = {}
    for name in PREVIEWED:
        value = (page.request.query_params.get(name) or "").strip() or None
        try:
            network.check_branding({name: value})
        except InvalidInput:
            value = None  # what the save would refuse is not shown either
        if value is not None and not typeable(value.replace("\r", "").replace("\n", "")):
            value = None
        draft[name] = value
    look = Look(
        title=draft["title"] or commune.name,
        logo_url=draft["logo_url"],
        color=draft["color"].lower() if draft["color"] else None,
        welcome_text=draft["welcome_text"],
        terms_version=page.portal.config.terms_version,
    )
    response = context.render(page, "login.html", look=look, values={}, errors={}, notice=None)
    # the one page the console frames: by itself only (the portal's pages are never framed)
    csp = response.headers["Content-Security-Policy"]
    response.headers["Content-Security-Policy"] = csp.replace(
        "frame-ancestors 'none'", "frame-ancestors 'self'"
    )
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response
