"""The citizen's pages: sign up, verify the email, log in and out, reset or change the password,
my account (devices, sessions, my data, deletion), terms, privacy and the language switcher.

Views stay thin: they read the form (after the CSRF check), ask the throttle, call one
``accounts`` service in one transaction, and render. Every field error is translated and shown
next to its field.
"""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from accounts import selfservice
from accounts.disconnect import disconnect_account
from accounts.errors import Conflict, InvalidInput, NotFound
from accounts.identity import normalize_email, normalize_mac, split_identity
from accounts.models import Account, AccountStatus
from accounts.users import delete_account, forget_device, list_devices
from portal.context import Look, Page, PageDep, redirect, render, set_login, usable
from portal.mail import Mail
from portal.metrics import THROTTLED, count
from portal.security import CSRF_FIELD

router = APIRouter(include_in_schema=False)

Errors = dict[str, str]


class Refused(Exception):
    """The request cannot go on: a bad CSRF token, or too many attempts."""

    def __init__(self, status_code: int, message: str, retry_after: float = 0) -> None:
        self.status_code, self.message, self.retry_after = status_code, message, retry_after


async def read_form(page: Page) -> dict[str, str]:
    form = await page.request.form()
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    if not page.portal.csrf.valid(page.request.cookies.get("sesame_csrf"), values.get(CSRF_FIELD)):
        raise Refused(400, page._("This form has expired. Please try again."))
    return values


def client_address(page: Page) -> str:
    return page.request.client.host if page.request.client else "unknown"


def check_throttle(page: Page, keys: dict[str, str]) -> None:
    wait = page.portal.throttle.wait(keys, now=time.monotonic())
    if wait > 0:
        THROTTLED.labels(page.request.url.path).inc()
        seconds = max(1, int(wait + 0.999))
        raise Refused(
            429,
            page.t.ngettext(
                "Too many attempts. Please wait %(num)d second and try again.",
                "Too many attempts. Please wait %(num)d seconds and try again.",
                seconds,
            ),
            retry_after=seconds,
        )


def refused_page(page: Page, look: Look, refused: Refused) -> HTMLResponse:
    headers = {"Retry-After": str(int(refused.retry_after))} if refused.retry_after else None
    return render(
        page,
        "message.html",
        look=look,
        status_code=refused.status_code,
        headers=headers,
        heading=page._("Sorry"),
        message=refused.message,
        back=page.request.url.path,
    )


def password_error(page: Page, exc: InvalidInput) -> str:
    code = getattr(exc, "code", "")
    if code == "password_too_short":
        return page._("A password has at least %(n)d characters.", n=8)
    if code == "password_too_long":
        return page._("A password has at most %(n)d characters.", n=128)
    if code == "password_personal":
        return page._("A password cannot contain your username or email.")
    if code == "password_common":
        return page._("This password is too common: choose another.")
    return page._("Choose another password.")


def next_step(page: Page) -> str:
    """Where a logged-in person goes: on to the access point when they came from one."""
    return "/connect" if page.handoff is not None else "/account"


def safe_next(value: str | None) -> str:
    """A local path only (no open redirect)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    return urlsplit(value).path or "/"


# -- entry ---------------------------------------------------------------------------------------


@router.get("/")
async def home(page: PageDep) -> Response:
    async with page.portal.transaction() as session:
        account = await page.account(session)
    return redirect(page, next_step(page) if account is not None else "/login")


@router.get("/lang/{code}")
async def switch_language(page: PageDep, code: str, next: str | None = None) -> Response:
    if code in page.portal.config.languages:
        page.set_language = code
    return redirect(page, safe_next(next))


@router.get("/terms")
async def terms(page: PageDep) -> Response:
    async with page.portal.transaction() as session:
        look = await page.look(session)
    return render(page, "terms.html", look=look)


@router.get("/privacy")
async def privacy(page: PageDep) -> Response:
    async with page.portal.transaction() as session:
        look = await page.look(session)
    config = page.portal.config
    return render(page, "privacy.html", look=look, remember_days=config.remember.days)


# -- sign up -------------------------------------------------------------------------------------


@router.get("/signup")
async def signup_form(page: PageDep) -> Response:
    async with page.portal.transaction() as session:
        look = await page.look(session)
    return render(page, "signup.html", look=look, values={}, errors={})


@router.post("/signup")
async def signup(page: PageDep) -> Response:
    portal = page.portal
    async with portal.transaction() as session:
        look = await page.look(session)
    keys = {"signup_ip": client_address(page)}
    try:
        form = await read_form(page)
        check_throttle(page, keys)
    except Refused as refused:
        return refused_page(page, look, refused)
    values = {name: form.get(name, "").strip() for name in ("username", "email")}
    password = form.get("password", "")
    errors: Errors = {}
    username = email = ""
    try:
        username, _realm = split_identity(values["username"], home_realm=portal.config.realm)
    except InvalidInput:
        errors["username"] = (
            page._("Choose a username.")
            if not values["username"]
            else page._(
                "A username has 3 to 64 characters: letters a-z, digits, '.', '_' or '-', "
                "starting and ending with a letter or digit."
            )
        )
    try:
        email = normalize_email(values["email"])
    except InvalidInput:
        errors["email"] = (
            page._("Enter your email address.")
            if not values["email"]
            else page._("Enter an email address, like name@example.fr.")
        )
    if not password:
        errors["password"] = page._("Choose a password.")
    if form.get("terms") != "yes":
        errors["terms"] = page._("To create an account, accept the terms of use and the privacy notice.")
    if errors:
        count("signup", "invalid")
        return render(page, "signup.html", look=look, values=values, errors=errors, status_code=422)
    portal.throttle.failed(keys, now=time.monotonic())  # sign-ups are limited by volume
    now = portal.now()
    try:
        async with portal.transaction() as session:
            account = await selfservice.sign_up(
                session,
                hasher=portal.hasher,
                region=await portal.region(session),
                username=username,
                email=email,
                password=password,
                consent=selfservice.Consent(version=look.terms_version, accepted_at=now),
                grace=portal.config.grace,
                locale=page.t.language,
            )
            code = await selfservice.send_verification(session, box=portal.box, account=account, now=now)
    except selfservice.EmailInUse:
        count("signup", "email_in_use")
        # say nothing of the other account: tell its owner instead, and answer as for a new one;
        # at most a few such warnings per address, so nobody can flood a mailbox through us
        mail_keys = {"mail_account": email}
        if portal.throttle.wait(mail_keys, now=time.monotonic()) > 0:
            return render(page, "signup_done.html", look=look, email=email)
        portal.throttle.failed(mail_keys, now=time.monotonic())
        portal.postman.post(
            Mail(
                to=email,
                subject=page._("Someone tried to sign up with your address"),
                text=page._(
                    "Someone (perhaps you) tried to create a %(region)s Wi-Fi account with this "
                    "address, which already has one. If it was you, log in, or reset your password "
                    "on the portal. Otherwise, ignore this message.",
                    region=portal.config.region_name,
                ),
            )
        )
        return render(page, "signup_done.html", look=look, email=email)
    except Conflict:
        count("signup", "username_taken")
        errors["username"] = page._("This username is taken: choose another.")
        return render(page, "signup.html", look=look, values=values, errors=errors, status_code=409)
    except InvalidInput as exc:
        errors["password"] = password_error(page, exc)
        return render(page, "signup.html", look=look, values=values, errors=errors, status_code=422)
    count("signup", "created")
    send_code_mail(page, account.email, code, identity=f"{username}@{portal.config.realm}")
    response = redirect(page, "/verify")
    set_login(page, response, account)
    return response


def send_code_mail(page: Page, to: str, code: str, *, identity: str) -> None:
    page.portal.postman.post(
        Mail(
            to=to,
            subject=page._("Your verification code: %(code)s", code=code),
            text=page._(
                "Welcome to %(region)s public Wi-Fi!\n\nYour identity: %(identity)s\n"
                "Your verification code: %(code)s\n\nType it on the portal to confirm your email "
                "address. If you did not sign up, ignore this message.",
                region=page.portal.config.region_name,
                identity=identity,
                code=code,
            ),
        )
    )


# -- email verification --------------------------------------------------------------------------


@router.get("/verify")
async def verify_form(page: PageDep) -> Response:
    async with page.portal.transaction() as session:
        look, account = await page.look(session), await page.account(session)
    if account is None:
        return redirect(page, "/login")
    if account.email_verified:
        return redirect(page, next_step(page))
    return render(page, "verify.html", look=look, account=account, errors={}, **grace_context(page, account))


def grace_context(page: Page, account: Account) -> dict[str, Any]:
    grace = account.grace_until
    minutes = int((grace - page.portal.now()).total_seconds() // 60) if grace else 0
    return {"grace_minutes": max(0, minutes), "can_connect_now": minutes > 0 and page.handoff is not None}


@router.post("/verify")
async def verify(page: PageDep) -> Response:
    portal = page.portal
    async with portal.transaction() as session:
        look, account = await page.look(session), await page.account(session)
        if account is None:
            return redirect(page, "/login")
        keys = {"code_ip": client_address(page), "code_account": str(account.id)}
        try:
            form = await read_form(page)
            check_throttle(page, keys)
        except Refused as refused:
            return refused_page(page, look, refused)
        if form.get("action") == "resend":
            return await resend_code(page, look, session, account)
        if await selfservice.verify_email(
            session, box=portal.box, account=account, code=form.get("code", ""), now=portal.now()
        ):
            portal.throttle.succeeded(keys)
            count("verify", "ok")
            return redirect(page, next_step(page))
    portal.throttle.failed(keys, now=time.monotonic())
    count("verify", "wrong_code")
    errors = {
        "code": page._("This code is not right, or it has expired. Check your email or ask for a new one.")
    }
    return render(
        page, "verify.html", look=look, account=account, errors=errors, status_code=422,
        **grace_context(page, account),
    )  # fmt: skip


async def resend_code(page: Page, look: Look, session: Any, account: Account) -> Response:
    portal = page.portal
    keys = {"mail_ip": client_address(page), "mail_account": str(account.id)}
    try:
        check_throttle(page, keys)
    except Refused as refused:
        return refused_page(page, look, refused)
    portal.throttle.failed(keys, now=time.monotonic())
    code = await selfservice.send_verification(session, box=portal.box, account=account, now=portal.now())
    send_code_mail(page, account.email, code, identity=account.identity)
    return render(
        page, "verify.html", look=look, account=account, errors={}, resent=True,
        **grace_context(page, account),
    )  # fmt: skip


# -- log in / out --------------------------------------------------------------------------------


@router.get("/login")
async def login_form(page: PageDep) -> Response:
    async with page.portal.transaction() as session:
        look = await page.look(session)
    return render(page, "login.html", look=look, values={}, errors={})


@router.post("/login")
async def login(page: PageDep) -> Response:
    portal = page.portal
    async with portal.transaction() as session:
        look = await page.look(session)
    try:
        form = await read_form(page)
        identity = form.get("identity", "").strip().lower()
        keys = {"login_ip": client_address(page), "login_account": identity[:254]}
        check_throttle(page, keys)
    except Refused as refused:
        return refused_page(page, look, refused)
    values = {"identity": form.get("identity", "").strip()}
    async with portal.transaction() as session:
        account = await selfservice.log_in(
            session,
            hasher=portal.hasher,
            region=await portal.region(session),
            identity=identity,
            password=form.get("password", ""),
        )
        if account is not None and usable(account) and form.get("remember") == "yes":
            await remember(page, session, account)
    if account is None:
        portal.throttle.failed(keys, now=time.monotonic())
        count("login", "failed")
        errors = {"identity": page._("Wrong identity or password.")}
        return render(page, "login.html", look=look, values=values, errors=errors, status_code=401)
    portal.throttle.succeeded(keys)
    count("login", "ok" if usable(account) else str(account.status))
    if not usable(account):
        message = (
            page._("This account is disabled.")
            if account.status == AccountStatus.DISABLED
            else page._("This account is locked: contact support.")
        )
        return render(
            page, "message.html", look=look, status_code=403, heading=page._("Sorry"), message=message
        )
    response = redirect(page, next_step(page) if account.email_verified else "/verify")
    set_login(page, response, account)
    return response


async def remember(page: Page, session: Any, account: Account) -> bool:
    """Remember the device the person came from, if the access point told us its MAC."""
    mac = page.handoff.client_mac if page.handoff else None
    if not mac:
        return False
    try:
        await selfservice.remember_this_device(
            session, account=account, mac=normalize_mac(mac), now=page.portal.now(),
            period=page.portal.config.remember,
        )  # fmt: skip
    except (InvalidInput, Conflict):
        return False
    return True


@router.post("/logout")
async def logout(page: PageDep) -> Response:
    async with page.portal.transaction() as session:
        look = await page.look(session)
    try:
        await read_form(page)
    except Refused as refused:
        return refused_page(page, look, refused)
    response = redirect(page, "/login")
    set_login(page, response, None)
    return response


# -- forgotten password --------------------------------------------------------------------------


@router.get("/forgot")
async def forgot_form(page: PageDep) -> Response:
    async with page.portal.transaction() as session:
        look = await page.look(session)
    return render(page, "forgot.html", look=look, values={}, errors={})


@router.post("/forgot")
async def forgot(page: PageDep) -> Response:
    portal = page.portal
    async with portal.transaction() as session:
        look = await page.look(session)
    try:
        form = await read_form(page)
        value = form.get("identity", "").strip()
        keys = {"mail_ip": client_address(page), "mail_account": value.lower()[:254]}
        check_throttle(page, keys)
    except Refused as refused:
        return refused_page(page, look, refused)
    if not value:
        errors = {"identity": page._("Enter your email address or your identity.")}
        return render(page, "forgot.html", look=look, values={}, errors=errors, status_code=422)
    portal.throttle.failed(keys, now=time.monotonic())
    async with portal.transaction() as session:
        started = await selfservice.start_reset(
            session, box=portal.box, region=await portal.region(session), value=value, now=portal.now()
        )
    if started is not None:
        account, code = started
        portal.postman.post(
            Mail(
                to=account.email,
                subject=page._("Your password reset code: %(code)s", code=code),
                text=page._(
                    "Your identity: %(identity)s\nYour password reset code: %(code)s\n\n"
                    "Type it on the portal to choose a new password. It works for 30 minutes. "
                    "If you did not ask for it, ignore this message: your password is unchanged.",
                    identity=account.identity,
                    code=code,
                ),
            )
        )
    # the same answer whether or not an account matched
    return redirect(page, "/reset")


@router.get("/reset")
async def reset_form(page: PageDep) -> Response:
    async with page.portal.transaction() as session:
        look = await page.look(session)
    return render(page, "reset.html", look=look, values={}, errors={})


@router.post("/reset")
async def reset(page: PageDep) -> Response:
    portal = page.portal
    async with portal.transaction() as session:
        look = await page.look(session)
    try:
        form = await read_form(page)
        value = form.get("identity", "").strip()
        keys = {"code_ip": client_address(page), "code_account": value.lower()[:254]}
        check_throttle(page, keys)
    except Refused as refused:
        return refused_page(page, look, refused)
    values = {"identity": value}
    try:
        async with portal.transaction() as session:
            account = await selfservice.finish_reset(
                session,
                box=portal.box,
                hasher=portal.hasher,
                region=await portal.region(session),
                value=value,
                code=form.get("code", ""),
                password=form.get("password", ""),
                now=portal.now(),
            )
    except InvalidInput as exc:
        errors = {"password": password_error(page, exc)}
        return render(page, "reset.html", look=look, values=values, errors=errors, status_code=422)
    if account is None:
        portal.throttle.failed(keys, now=time.monotonic())
        errors = {
            "code": page._(
                "This code is not right, or it has expired. Check your email or ask for a new one."
            )
        }
        return render(page, "reset.html", look=look, values=values, errors=errors, status_code=422)
    portal.throttle.succeeded(keys)
    count("reset", "ok")
    response = redirect(page, next_step(page))
    set_login(page, response, account)
    return response


# -- my account ----------------------------------------------------------------------------------


@router.get("/account")
async def account_page(page: PageDep) -> Response:
    async with page.portal.transaction() as session:
        look, account = await page.look(session), await page.account(session)
        if account is None:
            return redirect(page, "/login")
        devices = await list_devices(session, account=account)
        sessions = await selfservice.recent_sessions(session, account=account)
    this_mac = page.handoff.client_mac if page.handoff else None
    try:
        this_mac = normalize_mac(this_mac) if this_mac else None
    except InvalidInput:
        this_mac = None
    return render(
        page, "account.html", look=look, account=account, devices=devices, sessions=sessions,
        this_mac=this_mac, now=page.portal.now(), remember_days=page.portal.config.remember.days,
    )  # fmt: skip


@router.post("/account/devices")
async def devices(page: PageDep) -> Response:
    async with page.portal.transaction() as session:
        look, account = await page.look(session), await page.account(session)
        if account is None:
            return redirect(page, "/login")
        try:
            form = await read_form(page)
        except Refused as refused:
            return refused_page(page, look, refused)
        action, mac = form.get("action"), form.get("mac", "")
        try:
            if action == "remember":
                await remember(page, session, account)
            elif action == "forget":
                await forget_device(session, account=account, mac=mac)
            elif action == "rename":
                await selfservice.rename_device(
                    session, account=account, mac=mac, label=form.get("label", "")
                )
        except (NotFound, InvalidInput):
            pass  # a stale page: the list shown next is the truth
    return redirect(page, "/account")


@router.get("/account/data")
async def my_data(page: PageDep) -> Response:
    async with page.portal.transaction() as session:
        account = await page.account(session)
        if account is None:
            return redirect(page, "/login")
        data = await selfservice.export_data(session, account=account)
    return Response(
        json.dumps(data, indent=2, ensure_ascii=False),
        media_type="application/json",
        headers={
            "Content-Disposition": f'attachment; filename="{account.username}-wifi-data.json"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/account/password")
async def password_form(page: PageDep) -> Response:
    async with page.portal.transaction() as session:
        look, account = await page.look(session), await page.account(session)
    if account is None:
        return redirect(page, "/login")
    return render(page, "password.html", look=look, errors={})


@router.post("/account/password")
async def change_password(page: PageDep) -> Response:
    portal = page.portal
    async with portal.transaction() as session:
        look, account = await page.look(session), await page.account(session)
        if account is None:
            return redirect(page, "/login")
        keys = {"login_ip": client_address(page), "login_account": account.username}
        try:
            form = await read_form(page)
            check_throttle(page, keys)
        except Refused as refused:
            return refused_page(page, look, refused)
        errors: Errors = {}
        try:
            changed = await selfservice.change_password(
                session, hasher=portal.hasher, account=account, current=form.get("current", ""),
                new=form.get("password", ""),
            )  # fmt: skip
        except InvalidInput as exc:
            errors["password"] = password_error(page, exc)
            changed = False
        else:
            if not changed:
                portal.throttle.failed(keys, now=time.monotonic())
                errors["current"] = page._("This is not your current password.")
    if errors:
        return render(page, "password.html", look=look, errors=errors, status_code=422)
    response = render(page, "password.html", look=look, errors={}, changed=True)
    set_login(page, response, account)  # the new password's cookie: other browsers are logged out
    return response


@router.get("/account/delete")
async def delete_form(page: PageDep) -> Response:
    async with page.portal.transaction() as session:
        look, account = await page.look(session), await page.account(session)
    if account is None:
        return redirect(page, "/login")
    return render(page, "delete.html", look=look, account=account, errors={})


@router.post("/account/delete")
async def delete(page: PageDep) -> Response:
    portal = page.portal
    async with portal.transaction() as session:
        look, account = await page.look(session), await page.account(session)
        if account is None:
            return redirect(page, "/login")
        keys = {"login_ip": client_address(page), "login_account": account.username}
        try:
            form = await read_form(page)
            check_throttle(page, keys)
        except Refused as refused:
            return refused_page(page, look, refused)
        if not await portal.hasher_verify(form.get("password", ""), account.password_hash):
            portal.throttle.failed(keys, now=time.monotonic())
            errors = {"password": page._("This is not your current password.")}
            return render(page, "delete.html", look=look, account=account, errors=errors, status_code=422)
        account_id = account.id
    if portal.coa is not None:  # end its connections first: afterwards the NAS knows no such user
        await disconnect_account(portal.sessions, box=portal.box, account_id=account_id, send=portal.coa)
    async with portal.transaction() as session:
        account = await session.get(Account, account_id)
        if account is not None:
            await delete_account(session, box=portal.box, account=account, now=portal.now())
    response = render(
        page, "message.html", look=look, heading=page._("Your account is deleted"),
        message=page._(
            "Your account, your devices and your email address are deleted. The law requires us to "
            "keep the technical records of your connections for one year, under a pseudonym."
        ),
    )  # fmt: skip
    set_login(page, response, None)
    return response
