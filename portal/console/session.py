"""Who is signed in to the staff console: a signed session cookie, its timeouts and its end.

**The cookie** (``sesame_console``, path ``/console``) is signed with the portal's
:class:`~portal.security.Signer` under a purpose of its own, so no other cookie of the site reads
as a console session. It carries the admin's id, their ``token_version`` when they signed in, when
they signed in, and whether they gave a second factor. It is ``HttpOnly`` (no script reads it),
``Secure`` when the public URL is https, and ``SameSite=Strict``: the console is reached by typing
its address or from a bookmark, never by following another site's link, so a cross-site request
— a link in a phishing mail included — arrives without the session (it lands on the sign-in page)
on top of the CSRF token every POST carries. The price is that following a link to the console
from a mail asks to sign in once more.

**Idle timeout**: each page served re-signs the cookie with the time of that request, and a cookie
older than ``idle`` is not read: ``idle`` without a request ends the session, whatever the
browser keeps. **Absolute lifetime**: a session older than ``lifetime`` since sign-in ends too,
however busy (both in ``PortalConfig``: 30 minutes and 12 hours unless the settings say otherwise).
Time comes from ``Portal.clock`` (tests give it).

**Sign out everywhere** raises the admin's ``token_version``, as for API tokens
(:func:`accounts.admins.revoke_all`): every cookie signed with the old version — and every API
token — stops being read. So do a role change, a disabled admin and a password change, which
raise it too. A stolen cookie is therefore good until it idles out, the session's lifetime ends,
or its owner signs out everywhere (docs/security.md).

**Between the password and the second factor** a short-lived *pending* cookie (five minutes, its
own purpose) names the admin and what is still asked: a code, or an enrolment the region requires.
It opens no console page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends
from fastapi.responses import Response

from accounts.admins import RIGHTS, Reach
from accounts.models import Admin, AdminRole
from portal.context import Page, PageDep, Portal
from portal.security import Signer

SESSION_COOKIE = "sesame_console"
PENDING_COOKIE = "sesame_console_pending"
PATH = "/console"
PENDING_MAX_AGE = 300.0

#: what the pending cookie says is still asked after the password
ASK_CODE, ASK_ENROL = "code", "enrol"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConsoleSettings:
    """How long a console session lasts: ``idle`` seconds without a request, ``lifetime`` seconds
    in all since sign-in (``SESAME_PORTAL_CONSOLE_IDLE_MINUTES``, ``SESAME_PORTAL_CONSOLE_HOURS``)."""

    idle: float
    lifetime: float


@dataclass(frozen=True, slots=True, kw_only=True)
class Staff:
    """The signed-in admin as the console's pages see them: who, what role, where they reach, and
    the scopes of their role (:data:`accounts.admins.RIGHTS`, the one table of rights)."""

    admin_id: int
    email: str
    role: AdminRole
    reach: Reach
    scopes: frozenset[str]
    second_factor: bool
    signed_in_at: float

    @property
    def actor(self) -> str:
        """How the audit log names them (as the API does: their email)."""
        return self.email

    def may(self, scope: str) -> bool:
        return scope in self.scopes


class SignInRequired(Exception):
    """A console page was asked for without a valid session: answered by the sign-in page."""


def _signers(portal: Portal) -> tuple[Signer, Signer]:
    return Signer(portal.box, purpose="console-session"), Signer(portal.box, purpose="console-pending")


def settings_of(page: Page) -> ConsoleSettings:
    config = page.portal.config
    return ConsoleSettings(idle=config.console_idle, lifetime=config.console_lifetime)


def now_of(portal: Portal) -> float:
    return portal.now().timestamp()


def session_payload(page: Page) -> dict[str, Any] | None:
    """The session cookie's payload if it is still good by its signature and both timeouts."""
    portal, settings = page.portal, settings_of(page)
    now = now_of(portal)
    payload = _signers(portal)[0].read(
        page.request.cookies.get(SESSION_COOKIE), now=now, max_age=settings.idle
    )
    if payload is None:
        return None
    try:
        started = float(payload["s"])
        int(payload["a"]), int(payload["v"])
    except (KeyError, TypeError, ValueError):
        return None
    if not 0 <= now - started <= settings.lifetime:
        return None
    return payload


def staff_of(admin: Admin | None, payload: dict[str, Any]) -> Staff | None:
    """The staff member of a session, if the admin still exists, is active, and has not signed
    out everywhere (nor changed role, password or state) since."""
    if admin is None or not admin.active or admin.token_version != int(payload["v"]):
        return None
    return staff_for(admin, second_factor=bool(payload.get("f")), signed_in_at=float(payload["s"]))


def staff_for(admin: Admin, *, second_factor: bool, signed_in_at: float) -> Staff:
    return Staff(
        admin_id=admin.id,
        email=admin.email,
        role=admin.role,
        reach=Reach(commune_id=admin.commune_id),
        scopes=RIGHTS[admin.role],
        second_factor=second_factor,
        signed_in_at=signed_in_at,
    )


async def current_staff(page: PageDep) -> Staff:
    """The signed-in staff member, or :class:`SignInRequired`."""
    payload = session_payload(page)
    if payload is None:
        raise SignInRequired
    async with page.portal.transaction() as session:
        staff = staff_of(await session.get(Admin, int(payload["a"])), payload)
        # a region that came to require a second factor ends the sessions opened without one
        if (
            staff is not None
            and not staff.second_factor
            and (await page.portal.region(session)).require_two_factor
        ):
            staff = None
    if staff is None:
        raise SignInRequired
    return staff


StaffDep = Annotated[Staff, Depends(current_staff)]


def _cookie(page: Page, response: Response, name: str, value: str, max_age: float) -> None:
    response.set_cookie(
        name,
        value,
        max_age=int(max_age),
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=page.portal.config.secure_cookies,
    )


def start_session(page: Page, response: Response, *, admin: Admin, second_factor: bool) -> None:
    """Sign the admin in on this browser (and forget a pending sign-in)."""
    now = now_of(page.portal)
    value = _signers(page.portal)[0].sign(
        {"a": admin.id, "v": admin.token_version, "s": int(now), "f": int(second_factor)}, now=now
    )
    _cookie(page, response, SESSION_COOKIE, value, settings_of(page).lifetime)
    response.delete_cookie(PENDING_COOKIE, path=PATH)


def refresh_session(page: Page, response: Response) -> None:
    """Re-sign the session with this request's time: the idle timeout counts from now."""
    payload = session_payload(page)
    if payload is None:
        return
    now = now_of(page.portal)
    value = _signers(page.portal)[0].sign(payload, now=now)
    _cookie(page, response, SESSION_COOKIE, value, settings_of(page).lifetime)


def end_session(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE, path=PATH)
    response.delete_cookie(PENDING_COOKIE, path=PATH)


def start_pending(
    page: Page, response: Response, *, admin: Admin, ask: str, method: str = "password"
) -> None:
    """Hold a sign-in until ``ask`` is done; ``method`` is how it began, for the audit log."""
    value = _signers(page.portal)[1].sign(
        {"a": admin.id, "v": admin.token_version, "k": ask, "m": method}, now=now_of(page.portal)
    )
    _cookie(page, response, PENDING_COOKIE, value, PENDING_MAX_AGE)


def pending(page: Page, ask: str) -> tuple[int, int] | None:
    """The admin id and token version of a sign-in waiting for ``ask``, if any."""
    payload = _signers(page.portal)[1].read(
        page.request.cookies.get(PENDING_COOKIE), now=now_of(page.portal), max_age=PENDING_MAX_AGE
    )
    if payload is None or payload.get("k") != ask:
        return None
    try:
        return int(payload["a"]), int(payload["v"])
    except (KeyError, TypeError, ValueError):
        return None


def pending_method(page: Page) -> str:
    """How the pending sign-in began (``password`` or ``oidc:<provider>``), for the audit log."""
    payload = _signers(page.portal)[1].read(
        page.request.cookies.get(PENDING_COOKIE), now=now_of(page.portal), max_age=PENDING_MAX_AGE
    )
    method = payload.get("m") if payload is not None else None
    return method if isinstance(method, str) and method else "password"
