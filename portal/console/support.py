"""Support's pages: find a citizen (username, email, or a device's MAC in any notation), read
why their last attempts were refused — in words (:mod:`portal.console.reasons`) —, and help:
resend the verification, unlock, disable or enable, disconnect a connection, forget a device.

The same ``accounts`` services and rights as the API's ``/accounts`` and ``/sessions``: reading
needs ``accounts:read``, helping (unlock, resend, forget a device) ``accounts:help``, disabling
and enabling ``accounts:write``, disconnecting ``sessions:write``. A role without the scope gets
the 404 of everything unseen — a commune admin, who has no ``accounts:*`` scope, never sees these
pages at all. Nothing secret is shown: no password, hash, device credential or token.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from accounts import audit, enrolment, helpdesk, selfservice
from accounts.admins import HELP_ACCOUNTS, READ_ACCOUNTS, WRITE_ACCOUNTS, WRITE_SESSIONS
from accounts.disconnect import disconnect_session
from accounts.errors import Conflict, InvalidInput, NotFound
from accounts.models import Account, AccountStatus
from accounts.phones import contact_of
from accounts.sessions import SessionFilter, get_session, list_sessions
from accounts.users import forget_device, list_devices, set_status
from portal.console.pages import _id
from portal.console.reasons import in_words
from portal.console.render import not_found, render
from portal.console.session import Staff, StaffDep
from portal.context import Page, PageDep, redirect
from portal.forms import read_form, typeable

router = APIRouter(prefix="/console/citizens", include_in_schema=False)

LAST_ATTEMPTS = 20


def _(message: str) -> str:
    """Marks a note for extraction (pybabel); the page translates it where shown."""
    return message


#: what an action's redirect may announce (``?done=``): key → (English sentence, is an error)
NOTES: dict[str, tuple[str, bool]] = {
    "unlocked": (_("The account is unlocked."), False),
    "not-locked": (_("This account is not locked."), True),
    "sent": (_("A new verification code has been sent to the citizen's email address."), False),
    "verified": (_("This email address is verified already."), True),
    "disabled": (_("The account is disabled."), False),
    "enabled": (_("The account is enabled."), False),
    "forgotten": (_("The device is forgotten: it must sign in again."), False),
    "disconnect-ack": (_("The access point ended the connection."), False),
    "disconnect-failed": (_("The access point did not end the connection."), True),
    "ended": (_("This connection has already ended."), True),
    "no-coa": (_("Disconnecting is not available (RADIUS is not running here)."), True),
}


def status_name(page: Page, status: AccountStatus) -> str:
    return {
        AccountStatus.ACTIVE: page._("Active"),
        AccountStatus.DISABLED: page._("Disabled"),
        AccountStatus.LOCKED: page._("Locked"),
    }[AccountStatus(status)]


@router.get("")
async def search(page: PageDep, staff: StaffDep, q: str = "") -> Response:
    """The search form and, once asked, the accounts it finds."""
    if not staff.may(READ_ACCOUNTS):
        return not_found(page, staff)
    query = q.strip()[:254]
    if not typeable(query):  # a NUL or a broken character reaches no query (PostgreSQL refuses NUL)
        return render(
            page, "support/search.html", staff=staff, status_code=400, q="", rows=[], searched=False
        )
    found: list[Account] = []
    if query:
        async with page.portal.transaction() as session:
            found = await helpdesk.find_citizens(session, query)
    rows = [
        {"id": a.id, "identity": a.identity, "email": contact_of(a.email), "verified": a.email_verified,
         "status": status_name(page, a.status)}
        for a in found
    ]  # fmt: skip
    return render(page, "support/search.html", staff=staff, q=query, rows=rows, searched=bool(query))


async def _account(session: AsyncSession, account_id: int) -> Account | None:
    return await session.scalar(
        select(Account).where(Account.id == account_id).options(selectinload(Account.region))
    )


@router.get("/{account_id}")
async def citizen(page: PageDep, staff: StaffDep, account_id: str, done: str = "") -> Response:
    ident = _id(account_id)
    if ident is None or not staff.may(READ_ACCOUNTS):
        return not_found(page, staff)
    async with page.portal.transaction() as session:
        account = await _account(session, ident)
        if account is None:
            return not_found(page, staff)
        devices = list(await list_devices(session, account=account))
        enrolled = await enrolment.enrolled_devices(session, account=account)
        open_sessions = [
            s
            for s in await list_sessions(
                session, SessionFilter(open_only=True, account_id=account.id), limit=50
            )
            if staff.reach.covers(s.commune_id)
        ]
        attempts = await helpdesk.last_attempts(session, account=account, limit=LAST_ATTEMPTS)
        view = {
            "id": account.id, "identity": account.identity, "email": contact_of(account.email),
            "verified": account.email_verified, "status": AccountStatus(account.status),
            "status_name": status_name(page, account.status), "created_at": account.created_at,
            "last_seen_at": account.last_seen_at,
        }  # fmt: skip
    note = NOTES.get(done)
    return render(
        page, "support/citizen.html", staff=staff, account=view, devices=devices, enrolled=enrolled,
        sessions=open_sessions,
        attempts=[(a, in_words(page, a.reason)) for a in attempts],
        note=page._(note[0]) if note else None, note_is_error=bool(note and note[1]),
        may_help=staff.may(HELP_ACCOUNTS), may_write=staff.may(WRITE_ACCOUNTS),
        may_disconnect=staff.may(WRITE_SESSIONS), locked=AccountStatus.LOCKED,
        disabled=AccountStatus.DISABLED,
    )  # fmt: skip


def _back(page: Page, account_id: int, done: str) -> Response:
    return redirect(page, f"/console/citizens/{account_id}?done={done}")


async def _guarded(
    page: Page, staff: Staff, account_id: str, scope: str
) -> tuple[int | None, dict[str, str]]:
    """The form (its CSRF checked first) and the account id, or None when the role may not or the
    id is no id (then 404)."""
    form = await read_form(page)
    ident = _id(account_id)
    if ident is None or not staff.may(scope):
        return None, form
    return ident, form


@router.post("/{account_id}/unlock")
async def unlock(page: PageDep, staff: StaffDep, account_id: str) -> Response:
    ident, _form = await _guarded(page, staff, account_id, HELP_ACCOUNTS)
    if ident is None:
        return not_found(page, staff)
    async with page.portal.transaction() as session:
        account = await _account(session, ident)
        if account is None:
            return not_found(page, staff)
        if account.status != AccountStatus.LOCKED:
            return _back(page, ident, "not-locked")
        await set_status(session, account=account, status=AccountStatus.ACTIVE)
        await audit.record(
            session, actor=staff.actor, action="account.unlock", target=f"account:{account.username}",
            before={"status": "locked"}, after={"status": "active"},
        )  # fmt: skip
    return _back(page, ident, "unlocked")


async def _set_status(
    page: Page, staff: Staff, account_id: str, status: AccountStatus, action: str
) -> Response:
    ident, _form = await _guarded(page, staff, account_id, WRITE_ACCOUNTS)
    if ident is None:
        return not_found(page, staff)
    async with page.portal.transaction() as session:
        account = await _account(session, ident)
        if account is None:
            return not_found(page, staff)
        before = AccountStatus(account.status).value
        await set_status(session, account=account, status=status)
        await audit.record(
            session, actor=staff.actor, action=action, target=f"account:{account.username}",
            before={"status": before}, after={"status": status.value},
        )  # fmt: skip
    return _back(page, ident, "disabled" if status == AccountStatus.DISABLED else "enabled")


@router.post("/{account_id}/disable")
async def disable(page: PageDep, staff: StaffDep, account_id: str) -> Response:
    return await _set_status(page, staff, account_id, AccountStatus.DISABLED, "account.disable")


@router.post("/{account_id}/enable")
async def enable(page: PageDep, staff: StaffDep, account_id: str) -> Response:
    return await _set_status(page, staff, account_id, AccountStatus.ACTIVE, "account.enable")


@router.post("/{account_id}/resend-verification")
async def resend_verification(page: PageDep, staff: StaffDep, account_id: str) -> Response:
    ident, _form = await _guarded(page, staff, account_id, HELP_ACCOUNTS)
    if ident is None:
        return not_found(page, staff)
    portal = page.portal
    async with portal.transaction() as session:
        account = await _account(session, ident)
        if account is None:
            return not_found(page, staff)
        try:
            code = await selfservice.send_verification(
                session, box=portal.box, account=account, now=portal.now()
            )
        except Conflict:
            return _back(page, ident, "verified")
        await audit.record(
            session, actor=staff.actor, action="account.resend_verification",
            target=f"account:{account.username}",
        )  # fmt: skip
        t, to, identity = portal.translator(account.locale), account.email or "", account.identity
    portal.mail_verification_code(t, to=to, code=code, identity=identity)  # once the code is committed
    return _back(page, ident, "sent")


@router.post("/{account_id}/devices/forget")
async def forget_remembered(page: PageDep, staff: StaffDep, account_id: str) -> Response:
    """Forget a remembered MAC: its MAC authentication stops at once."""
    ident, form = await _guarded(page, staff, account_id, HELP_ACCOUNTS)
    if ident is None:
        return not_found(page, staff)
    async with page.portal.transaction() as session:
        account = await _account(session, ident)
        if account is None:
            return not_found(page, staff)
        try:
            await forget_device(session, account=account, mac=form.get("mac", ""))
        except (NotFound, InvalidInput):
            return not_found(page, staff)
        await audit.record(
            session, actor=staff.actor, action="device.forget", target=f"account:{account.username}",
            before={"mac": form.get("mac", "")},
        )  # fmt: skip
    return _back(page, ident, "forgotten")


@router.post("/{account_id}/enrolled/forget")
async def forget_enrolled(page: PageDep, staff: StaffDep, account_id: str) -> Response:
    """Revoke an enrolled 802.1X device's credential or certificate (as the citizen's own
    "forget this device" does)."""
    ident, form = await _guarded(page, staff, account_id, HELP_ACCOUNTS)
    device_id = _id(form.get("id", ""))
    try:
        kind = enrolment.CredentialKind(form.get("kind", ""))
    except ValueError:
        return not_found(page, staff)
    if ident is None or device_id is None:
        return not_found(page, staff)
    portal = page.portal
    async with portal.transaction() as session:
        account = await _account(session, ident)
        if account is None:
            return not_found(page, staff)
        try:
            await enrolment.forget_enrolled(
                session, account=account, kind=kind, id=device_id, now=portal.now(), actor=staff.actor
            )
        except NotFound:
            return not_found(page, staff)
    return _back(page, ident, "forgotten")


@router.post("/{account_id}/sessions/{session_id}/disconnect")
async def disconnect(page: PageDep, staff: StaffDep, account_id: str, session_id: str) -> Response:
    """Ask the access point to end one of the citizen's connections (RFC 5176)."""
    await read_form(page)
    ident, radacctid = _id(account_id), _id(session_id)
    if ident is None or radacctid is None or not staff.may(WRITE_SESSIONS) or not staff.may(READ_ACCOUNTS):
        return not_found(page, staff)
    portal = page.portal
    async with portal.transaction() as session:
        try:
            row = await get_session(session, radacctid)
        except NotFound:
            return not_found(page, staff)
        ended, commune_id, owner = row.acctstoptime is not None, row.commune_id, row.account_id
    if owner != ident or not staff.reach.covers(commune_id):
        return not_found(page, staff)
    if ended:
        return _back(page, ident, "ended")
    if portal.coa is None:
        return _back(page, ident, "no-coa")
    result = await disconnect_session(portal.sessions, box=portal.box, radacctid=radacctid, send=portal.coa)
    async with portal.transaction() as session:
        await audit.record(
            session, actor=staff.actor, action="session.disconnect", target=f"session:{radacctid}",
            commune_id=commune_id, after={"outcome": result.outcome.value, "detail": result.detail},
        )  # fmt: skip
    return _back(page, ident, "disconnect-ack" if result.outcome.value == "ack" else "disconnect-failed")
