"""A commune's open sessions in the console, each with a "Disconnect" button.

Disconnecting takes the API's path exactly (``portal/api/sessions.py``): the session within
reach, still open, then :func:`accounts.disconnect.disconnect_session` through the portal's
``CoaSender`` (RFC 5176 Disconnect-Request to the access point), audited as
``session.disconnect`` with the access point's answer; the page says that answer in words.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from accounts import audit, reach
from accounts.admins import READ_SESSIONS, WRITE_SESSIONS
from accounts.disconnect import CoaOutcome, disconnect_session
from accounts.errors import DomainError, NotFound
from accounts.sessions import SessionFilter, count_sessions, get_session, list_sessions
from portal.console.editing import CommuneRef, ident, read, ref
from portal.console.render import not_found, render
from portal.console.session import Staff, StaffDep
from portal.context import Page, PageDep

router = APIRouter(prefix="/console", include_in_schema=False)

SHOWN = 200  # the newest open sessions shown (the count says how many there are)
MAX_SESSION_ID = 2**63 - 1


def _session_id(raw: str) -> int | None:
    ok = raw.isascii() and raw.isdigit() and 0 < len(raw) <= 19 and int(raw) <= MAX_SESSION_ID
    return int(raw) if ok else None


async def _show(page: Page, staff: Staff, commune: CommuneRef, *, notice: str | None = None,
                error: str | None = None, status_code: int = 200) -> Response:  # fmt: skip
    where = SessionFilter(open_only=True, commune_id=commune.id)
    async with page.portal.transaction() as session:
        total = await count_sessions(session, where)
        rows = await list_sessions(session, where, limit=SHOWN)
    return render(
        page, "commune/sessions.html", staff=staff, commune=commune, rows=rows, total=total, notice=notice,
        error=error, status_code=status_code,
    )  # fmt: skip


@router.get("/communes/{commune_id}/sessions")
async def open_sessions(page: PageDep, staff: StaffDep, commune_id: str) -> Response:
    ident_ = ident(commune_id)
    if ident_ is None or not staff.may(READ_SESSIONS):
        return not_found(page, staff)
    async with page.portal.transaction() as session:
        try:
            commune = ref(await reach.commune_in_reach(session, reach=staff.reach, commune_id=ident_))
        except NotFound:
            return not_found(page, staff)
    return await _show(page, staff, commune)


@router.post("/sessions/{session_id}/disconnect")
async def disconnect(page: PageDep, staff: StaffDep, session_id: str) -> Response:
    await read(page)
    ident_ = _session_id(session_id)
    if ident_ is None or not staff.may(WRITE_SESSIONS):
        return not_found(page, staff)
    portal = page.portal
    async with portal.transaction() as session:
        try:
            row = await get_session(session, ident_)
            if row.commune_id is None or not staff.reach.covers(row.commune_id):
                return not_found(page, staff)
            commune = ref(await reach.commune_in_reach(session, reach=staff.reach, commune_id=row.commune_id))
        except NotFound:
            return not_found(page, staff)
        ended = row.acctstoptime is not None
    if ended:
        message = page._("This session has already ended.")
        return await _show(page, staff, commune, error=message, status_code=409)
    if portal.coa is None:
        message = page._("Disconnecting is not available: the RADIUS service is not running here.")
        return await _show(page, staff, commune, error=message, status_code=503)
    try:
        result = await disconnect_session(portal.sessions, box=portal.box, radacctid=ident_, send=portal.coa)
    except DomainError as exc:
        return await _show(page, staff, commune, error=str(exc), status_code=409)
    async with portal.transaction() as session:
        await audit.record(
            session, actor=staff.actor, action="session.disconnect", target=f"session:{ident_}",
            commune_id=commune.id, after={"outcome": result.outcome.value, "detail": result.detail},
        )  # fmt: skip
    if result.outcome is CoaOutcome.ACK:
        return await _show(page, staff, commune, notice=page._("The access point ended the session."))
    words = {
        CoaOutcome.NAK: page._("The access point refused: %(detail)s", detail=result.detail),
        CoaOutcome.TIMEOUT: page._("The access point did not answer."),
    }
    return await _show(page, staff, commune, error=words[result.outcome], status_code=502)
