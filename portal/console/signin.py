"""Signing in to the console: a password, then a second factor; enrolment; signing out.

``/console/login`` checks the email and password with :func:`accounts.admins.authenticate_admin`
(a dummy hash for unknown emails: no timing oracle), throttled per address and per email at that
address with the API token endpoint's limits (``admin_ip``, ``admin_account_ip``). Then:

* an admin with a confirmed TOTP factor gives a code — or a recovery code — at
  ``/console/login/code``, throttled per address and per admin (``console_code``: whoever guesses
  there already knows the password);
* an admin without one, in a region that requires a second factor, enrols at ``/console/enrol``
  before any other page (the QR code of an ``otpauth://`` URI, the secret also written out for
  those who cannot scan it), and sees their recovery codes once;
* otherwise the session starts on the password alone, and the "Sign-in and security" page offers
  to set a factor up.

Every sign-in, accepted or refused, is audited with its method (:mod:`accounts.staffsignin`).
An email in a domain the region holds to single sign-on (``SESAME_SSO_REQUIRED_DOMAINS``) is
refused here before its password is looked at, so the answer says nothing of the account.

Every POST is CSRF-checked (:func:`portal.forms.read_form`) before its fields are looked at.
Nothing here logs a code, a secret or a password.
"""

from __future__ import annotations

import segno
from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import admins, staffsignin, twofactor
from accounts.models import Admin
from portal.console import session as console_session
from portal.console.render import render
from portal.console.session import ASK_CODE, ASK_ENROL, StaffDep
from portal.context import Page, PageDep, redirect
from portal.forms import check_throttle, client_address, read_form
from portal.throttle import account_at

router = APIRouter(prefix="/console", include_in_schema=False)  # pages, not the admin API


async def _admin(session: AsyncSession, ids: tuple[int, int] | None) -> Admin | None:
    """The admin a pending sign-in names, if still active and not signed out everywhere since."""
    if ids is None:
        return None
    admin = await session.get(Admin, ids[0])
    if admin is None or not admin.active or admin.token_version != ids[1]:
        return None
    return admin


@router.get("/login")
async def login_form(page: PageDep) -> Response:
    notices = {
        "1": page._("You are signed out."),
        "2": page._("You are signed out on every device."),
        "idle": page._("Your session ended. Please sign in again."),
    }
    notice = notices.get(page.request.query_params.get("bye", ""))
    return render(
        page, "signin.html", values={}, error=None, notice=notice, providers=page.portal.config.sso.providers
    )


@router.post("/login")
async def login(page: PageDep) -> Response:
    form = await read_form(page)
    email = form.get("email", "").strip().lower()[:254]
    address = client_address(page)
    keys = {"admin_ip": address, "admin_account_ip": account_at(email, address)}
    await check_throttle(page, keys)
    portal = page.portal
    providers = portal.config.sso.providers
    async with portal.transaction() as session:
        if portal.config.sso.sso_only(email):
            await staffsignin.record(
                session, email=email, method="password", refused="sso-required", at=portal.now()
            )
            return render(
                page, "signin.html", status_code=400, values={"email": email}, providers=providers,
                error=page._("Staff of this organisation sign in with single sign-on."), notice=None,
            )  # fmt: skip
        admin = await admins.authenticate_admin(
            session, hasher=portal.hasher, email=email, password=form.get("password", ""), now=portal.now()
        )
        if admin is None:
            await portal.throttle.failed(keys)
            await staffsignin.record(
                session, email=email, method="password", refused="password", at=portal.now()
            )
            return render(
                page, "signin.html", status_code=400, values={"email": email}, providers=providers,
                error=page._("Wrong email or password."), notice=None,
            )  # fmt: skip
        await portal.throttle.succeeded(keys)
        if await twofactor.has_two_factor(session, admin=admin):
            response = redirect(page, "/console/login/code")
            console_session.start_pending(page, response, admin=admin, ask=ASK_CODE)
        elif (await portal.region(session)).require_two_factor:
            response = redirect(page, "/console/enrol")
            console_session.start_pending(page, response, admin=admin, ask=ASK_ENROL)
        else:
            await staffsignin.record(session, email=email, method="password", admin=admin, at=portal.now())
            response = redirect(page, "/console")
            console_session.start_session(page, response, admin=admin, second_factor=False)
    return response


@router.get("/login/code")
async def code_form(page: PageDep) -> Response:
    if console_session.pending(page, ASK_CODE) is None:
        return redirect(page, "/console/login")
    return render(page, "code.html", error=None)


@router.post("/login/code")
async def code(page: PageDep) -> Response:
    form = await read_form(page)
    portal = page.portal
    async with portal.transaction() as session:
        admin = await _admin(session, console_session.pending(page, ASK_CODE))
        if admin is None:
            return redirect(page, "/console/login")
        keys = {"admin_ip": client_address(page), "console_code": str(admin.id)}
        await check_throttle(page, keys)
        method = console_session.pending_method(page) + "+totp"
        typed = form.get("code", "")
        if len(twofactor.clean_code(typed)) == twofactor.DIGITS:
            good = await twofactor.verify(session, box=portal.box, admin=admin, code=typed, now=portal.now())
        else:
            good = await twofactor.use_recovery_code(
                session, box=portal.box, admin=admin, code=typed, now=portal.now()
            )
        if not good:
            await portal.throttle.failed(keys)
            await staffsignin.record(
                session, email=admin.email, method=method, admin=admin, refused="code", at=portal.now()
            )
            return render(page, "code.html", status_code=400, error=page._("This code is not right."))
        await portal.throttle.succeeded(keys)
        await staffsignin.record(session, email=admin.email, method=method, admin=admin, at=portal.now())
        response = redirect(page, "/console")
        console_session.start_session(page, response, admin=admin, second_factor=True)
    return response


# -- enrolment --------------------------------------------------------------------------------------


async def _enrolling(page: Page, session: AsyncSession) -> tuple[Admin, bool] | None:
    """Who enrols: a sign-in the region holds until it is done (False), or a signed-in admin
    (True: they confirm with their password, so that a session left open cannot put a factor of
    someone else's on the account and lock its owner out)."""
    admin = await _admin(session, console_session.pending(page, ASK_ENROL))
    if admin is not None:
        return admin, False
    payload = console_session.session_payload(page)
    if payload is None:
        return None
    staff_admin = await session.get(Admin, int(payload["a"]))
    if staff_admin is None or console_session.staff_of(staff_admin, payload) is None:
        return None
    return staff_admin, True


def qr_svg(uri: str, *, title: str) -> str:
    """The QR code of ``uri`` as inline SVG (segno; no image library, nothing fetched)."""
    qr = segno.make(uri, error="m")
    return qr.svg_inline(scale=5, border=4, title=title, dark="#000", light="#fff")


def _enrol_page(
    page: Page, admin: Admin, secret: str, *, ask_password: bool, error: str | None = None
) -> Response:
    portal = page.portal
    uri = twofactor.provisioning_uri(secret, email=admin.email, issuer=f"Sésame {portal.config.region_name}")
    return render(
        page, "enrol.html", status_code=400 if error else 200, error=error, ask_password=ask_password,
        qr=qr_svg(uri, title=page._("QR code to scan with an authenticator app")),
        secret=" ".join(secret[i : i + 4] for i in range(0, len(secret), 4)),
    )  # fmt: skip


@router.get("/enrol")
async def enrol_form(page: PageDep) -> Response:
    portal = page.portal
    async with portal.transaction() as session:
        who = await _enrolling(page, session)
        if who is None:
            return redirect(page, "/console/login")
        admin, ask_password = who
        if await twofactor.has_two_factor(session, admin=admin):
            return redirect(page, "/console/security")
        row = await twofactor.enrolment(session, admin=admin)
        if row is not None:
            secret = twofactor.pending_secret(portal.box, row)
        else:
            secret = await twofactor.start_enrolment(session, box=portal.box, admin=admin)
    return _enrol_page(page, admin, secret, ask_password=ask_password)


@router.post("/enrol")
async def enrol(page: PageDep) -> Response:
    form = await read_form(page)
    portal = page.portal
    async with portal.transaction() as session:
        who = await _enrolling(page, session)
        if who is None:
            return redirect(page, "/console/login")
        admin, ask_password = who
        address = client_address(page)
        keys = {"admin_ip": address, "console_code": str(admin.id)}
        if ask_password:
            keys["admin_account_ip"] = account_at(admin.email, address)
        await check_throttle(page, keys)
        codes: list[str] | None = None
        password = form.get("password", "")
        if ask_password and not await portal.hasher.verify_off_loop(password, admin.password_hash):
            error: str | None = page._("Your password is not right.")
        else:
            codes = await twofactor.confirm_enrolment(
                session, box=portal.box, admin=admin, code=form.get("code", ""), now=portal.now()
            )
            error = None if codes is not None else page._("This code is not right.")
        if codes is None:
            await portal.throttle.failed(keys)
            row = await twofactor.enrolment(session, admin=admin)
            if row is None or row.confirmed_at is not None:
                return redirect(page, "/console/enrol")
            secret = twofactor.pending_secret(portal.box, row)
            return _enrol_page(page, admin, secret, ask_password=ask_password, error=error)
        await portal.throttle.succeeded(keys)
        if not ask_password:  # the end of a sign-in the region held for enrolment
            method = console_session.pending_method(page) + "+totp"
            await staffsignin.record(session, email=admin.email, method=method, admin=admin, at=portal.now())
        staff = console_session.staff_for(admin, second_factor=True, signed_in_at=portal.now().timestamp())
        response = render(page, "recovery.html", staff=staff, codes=codes)
        console_session.start_session(page, response, admin=admin, second_factor=True)  # after render's
    return response


# -- signing out ------------------------------------------------------------------------------------


@router.post("/logout")
async def logout(page: PageDep) -> Response:
    await read_form(page)
    response = redirect(page, "/console/login?bye=1")
    console_session.end_session(response)
    return response


@router.post("/logout-everywhere")
async def logout_everywhere(page: PageDep, staff: StaffDep) -> Response:
    """Every session of this admin ends, on every browser, and every API token they hold."""
    await read_form(page)
    async with page.portal.transaction() as session:
        admin = await session.get_one(Admin, staff.admin_id)
        await admins.revoke_all(session, admin=admin)
    response = redirect(page, "/console/login?bye=2")
    console_session.end_session(response)
    return response
