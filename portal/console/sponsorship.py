"""A commune's sponsored access in the console: on or off, and its named sponsors (one a line,
``Name <email>``) — the only addresses the portal mails an approval link to (docs/vouchers.md).

The same service and audit action as ``PUT /api/v1/communes/{id}/sponsorship``
(``sponsorship.update``); ``network:write`` to read and change it (the sponsors' addresses). Another
commune is the console's one 404.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from accounts import audit, reach, sponsorship
from accounts.admins import WRITE_NETWORK
from accounts.errors import DomainError, NotFound
from portal.console.editing import CommuneRef, ident, problem, read, ref
from portal.console.render import not_found, render
from portal.console.session import StaffDep
from portal.context import Page, PageDep

router = APIRouter(prefix="/console", include_in_schema=False)


async def _commune(page: Page, staff: Any, raw: str) -> CommuneRef | None:
    commune_id = ident(raw)
    if commune_id is None or not staff.may(WRITE_NETWORK):
        return None
    async with page.portal.transaction() as session:
        try:
            return ref(await reach.commune_in_reach(session, reach=staff.reach, commune_id=commune_id))
        except NotFound:
            return None


def _lines(sponsors: list[sponsorship.Sponsor]) -> str:
    return "\n".join(f"{s.name} <{s.email}>" if s.name else s.email for s in sponsors)


@router.get("/communes/{commune_id}/sponsorship")
async def sponsorship_page(page: PageDep, staff: StaffDep, commune_id: str) -> Response:
    commune = await _commune(page, staff, commune_id)
    if commune is None:
        return not_found(page, staff)
    async with page.portal.transaction() as session:
        setting = await sponsorship.setting_of(session, commune_id=commune.id)
    values = {
        "enabled": "yes" if setting and setting.enabled else "",
        "sponsors": _lines(sponsorship.sponsors_of(setting)),
    }
    return render(page, "commune/sponsorship.html", staff=staff, commune=commune, values=values, error=None)


@router.post("/communes/{commune_id}/sponsorship")
async def save_sponsorship(page: PageDep, staff: StaffDep, commune_id: str) -> Response:
    form = await read(page, multiline=("sponsors",))
    commune = await _commune(page, staff, commune_id)
    if commune is None:
        return not_found(page, staff)
    values = {
        "enabled": "yes" if form.get("enabled") == "yes" else "",
        "sponsors": form.get("sponsors", "")[:20_000],
    }
    try:
        async with page.portal.transaction() as session:
            place = await reach.commune_in_reach(session, reach=staff.reach, commune_id=commune.id)
            before = sponsorship.summary(await sponsorship.setting_of(session, commune_id=place.id))
            setting = await sponsorship.configure(
                session, commune=place, enabled=bool(values["enabled"]),
                sponsors=sponsorship.parse_sponsors(values["sponsors"]), now=page.portal.now(),
            )  # fmt: skip
            await audit.record(
                session, actor=staff.actor, action="sponsorship.update", target=f"commune:{place.id}",
                commune_id=place.id, before=before, after=sponsorship.summary(setting),
            )  # fmt: skip
    except NotFound:
        return not_found(page, staff)
    except DomainError as error:
        return render(
            page, "commune/sponsorship.html", staff=staff, commune=commune, values=values,
            error=problem(page, error), status_code=400,
        )  # fmt: skip
    return render(
        page, "commune/sponsorship.html", staff=staff, commune=commune, values=values, error=None, saved=True
    )
