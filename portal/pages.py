"""The citizen's pages: sign up, verify the email, log in and out, reset or change the password,
my account (devices, sessions, my data, deletion), terms, privacy and the language switcher.

Views stay thin: they read the form (after the CSRF check), ask the throttle, call one
``accounts`` service in one transaction, and render. Every field error is translated and shown
next to its field.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import Response

from accounts import selfservice
from accounts.errors import Conflict, InvalidInput
from accounts.identity import normalize_email, split_identity
from accounts.models import Account, AccountStatus
from accounts.phones import has_mailbox
from portal import citizenidp
from portal.context import Page, PageDep, redirect, set_login, usable
from portal.forms import (
    Errors,
    check_throttle,
    client_address,
    failed,
    password_error,
    read_form,
    show,
    signed_in,
)
from portal.mail import Mail
from portal.metrics import count
from portal.myaccount import remember
from portal.throttle import account_at

router = APIRouter(include_in_schema=False)


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
    return await show(page, "terms.html")


@router.get("/privacy")
async def privacy(page: PageDep) -> Response:
    return await show(page, "privacy.html", remember_days=page.portal.config.remember.days)


# -- sign up -------------------------------------------------------------------------------------


@router.get("/signup")
async def signup_form(page: PageDep) -> Response:
    return await show(page, "signup.html", values={}, errors={})


def signup_errors(page: Page, values: dict[str, str], form: dict[str, str]) -> Errors:
    """The fields' own rules, each with its translated message."""
    errors: Errors = {}
    try:
        split_identity(values["username"], home_realm=page.portal.config.realm)
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
        normalize_email(values["email"])
    except InvalidInput:
        errors["email"] = (
            page._("Enter your email address.")
            if not values["email"]
            else page._("Enter an email address, like name@example.fr.")
        )
    if not form.get("password"):
        errors["password"] = page._("Choose a password.")
    if form.get("terms") != "yes":
        errors["terms"] = page._("To create an account, accept the terms of use and the privacy notice.")
    return errors


@router.post("/signup")
async def signup(page: PageDep) -> Response:
    portal = page.portal
    keys = {"signup_ip": client_address(page)}
    form = await read_form(page)
    await check_throttle(page, keys)
    async with portal.transaction() as session:
        look = await page.look(session)
    values = {name: form.get(name, "").strip() for name in ("username", "email")}
    errors = signup_errors(page, values, form)
    if errors:
        count("signup", "invalid")
        return await show(page, "signup.html", look=look, values=values, errors=errors, status_code=422)
    await failed(page, keys)  # sign-ups are limited by volume
    email, now = normalize_email(values["email"]), portal.now()
    try:
        async with portal.transaction() as session:
            account = await selfservice.sign_up(
                session,
                hasher=portal.hasher,
                region=await portal.region(session),
                username=values["username"],
                email=email,
                password=form.get("password", ""),
                consent=selfservice.Consent(version=look.terms_version, accepted_at=now),
                grace=portal.config.grace,
                locale=page.t.language,
            )
            code = await selfservice.send_verification(session, box=portal.box, account=account, now=now)
            identity = account.identity
    except selfservice.EmailInUse:
        count("signup", "email_in_use")
        await warn_address_owner(page, email)
        return await show(page, "signup_done.html", look=look, email=email)
    except Conflict:
        count("signup", "username_taken")
        errors["username"] = page._("This username is taken: choose another.")
        return await show(page, "signup.html", look=look, values=values, errors=errors, status_code=409)
    except InvalidInput as exc:
        errors["password"] = password_error(page, exc)
        return await show(page, "signup.html", look=look, values=values, errors=errors, status_code=422)
    count("signup", "created")
    portal.mail_verification_code(page.t, to=email, code=code, identity=identity)
    response = redirect(page, "/verify")
    set_login(page, response, account)
    return response


async def warn_address_owner(page: Page, email: str) -> None:
    """Say nothing of the other account: tell its owner instead; at most a few such warnings per
    address, so nobody can flood a mailbox through us."""
    portal, keys = page.portal, {"mail_account": email}
    if await portal.throttle.wait(keys) > 0:
        return
    await failed(page, keys)
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


# -- email verification --------------------------------------------------------------------------


def grace_context(page: Page, account: Account) -> dict[str, int | bool]:
    grace = account.grace_until
    minutes = int((grace - page.portal.now()).total_seconds() // 60) if grace else 0
    return {"grace_minutes": max(0, minutes), "can_connect_now": minutes > 0 and page.handoff is not None}


@router.get("/verify")
async def verify_form(page: PageDep) -> Response:
    async with page.portal.transaction() as session:
        look, account = await page.look(session), await signed_in(page, session)
    if account.email_verified:
        return redirect(page, next_step(page))
    if not has_mailbox(account.email):  # signed up by SMS
        return redirect(page, "/verify/phone")
    return await show(
        page, "verify.html", look=look, account=account, errors={}, **grace_context(page, account)
    )


@router.post("/verify")
async def verify(page: PageDep) -> Response:
    portal = page.portal
    async with portal.transaction() as session:
        look, account = await page.look(session), await signed_in(page, session)
        form = await read_form(page)
        keys = {"code_ip": client_address(page), "code_account": str(account.id)}
        await check_throttle(page, keys)
        resend = form.get("action") == "resend"
        if resend:
            keys = {"mail_ip": client_address(page), "mail_account": str(account.id)}
            await check_throttle(page, keys)
            code = await selfservice.send_verification(
                session, box=portal.box, account=account, now=portal.now()
            )
        elif await selfservice.verify_email(
            session, box=portal.box, account=account, code=form.get("code", ""), now=portal.now()
        ):
            await portal.throttle.succeeded(keys)
            count("verify", "ok")
            return redirect(page, next_step(page))
    await failed(page, keys)  # a resent code counts against the mail budget, a wrong one against the code's
    grace = grace_context(page, account)
    if resend:
        portal.mail_verification_code(page.t, to=account.email or "", code=code, identity=account.identity)
        return await show(page, "verify.html", look=look, account=account, errors={}, resent=True, **grace)
    count("verify", "wrong_code")
    errors = {
        "code": page._("This code is not right, or it has expired. Check your email or ask for a new one.")
    }
    return await show(
        page, "verify.html", look=look, account=account, errors=errors, status_code=422, **grace
    )


# -- log in / out --------------------------------------------------------------------------------


@router.get("/login")
async def login_form(page: PageDep) -> Response:
    return await show(page, "login.html", values={}, errors={})


@router.post("/login")
async def login(page: PageDep) -> Response:
    portal = page.portal
    form = await read_form(page)
    identity = form.get("identity", "").strip().lower()
    address = client_address(page)
    keys = {"login_ip": address, "login_account_ip": account_at(identity[:254], address)}
    await check_throttle(page, keys)
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
        await failed(page, keys)
        count("login", "failed")
        errors = {"identity": page._("Wrong identity or password.")}
        values = {"identity": form.get("identity", "").strip()}
        return await show(page, "login.html", values=values, errors=errors, status_code=401)
    await portal.throttle.succeeded(keys)
    count("login", "ok" if usable(account) else str(account.status))
    if not usable(account):
        message = (
            page._("This account is disabled.")
            if account.status == AccountStatus.DISABLED
            else page._("This account is locked: contact support.")
        )
        return await show(page, "message.html", status_code=403, heading=page._("Sorry"), message=message)
    response = redirect(page, next_step(page) if account.email_verified else "/verify")
    set_login(page, response, account)
    response.delete_cookie(citizenidp.SESSION_COOKIE)  # a provider's log-in before is not this one
    return response


@router.post("/logout")
async def logout(page: PageDep) -> Response:
    await read_form(page)
    response = redirect(page, "/login")
    set_login(page, response, None)
    return await citizenidp.provider_logout(page, response)


# -- forgotten password --------------------------------------------------------------------------


@router.get("/forgot")
async def forgot_form(page: PageDep) -> Response:
    return await show(page, "forgot.html", values={}, errors={})


@router.post("/forgot")
async def forgot(page: PageDep) -> Response:
    portal = page.portal
    form = await read_form(page)
    value = form.get("identity", "").strip()
    keys = {"mail_ip": client_address(page), "mail_account": value.lower()[:254]}
    await check_throttle(page, keys)
    if not value:
        errors = {"identity": page._("Enter your email address or your identity.")}
        return await show(page, "forgot.html", values={}, errors=errors, status_code=422)
    await failed(page, keys)
    async with portal.transaction() as session:
        started = await selfservice.start_reset(
            session, box=portal.box, region=await portal.region(session), value=value, now=portal.now()
        )
    if started is not None:
        account, code = started
        portal.postman.post(
            Mail(
                to=account.email or "",  # start_reset finds none without an email
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
    return await show(page, "reset.html", values={}, errors={})


@router.post("/reset")
async def reset(page: PageDep) -> Response:
    portal = page.portal
    form = await read_form(page)
    value = form.get("identity", "").strip()
    address = client_address(page)
    keys = {"code_ip": address, "code_account_ip": account_at(value.lower()[:254], address)}
    await check_throttle(page, keys)
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
        return await show(page, "reset.html", values=values, errors=errors, status_code=422)
    if account is None:
        await failed(page, keys)
        count("reset", "wrong_code")
        errors = {
            "code": page._(
                "This code is not right, or it has expired. Check your email or ask for a new one."
            )
        }
        return await show(page, "reset.html", values=values, errors=errors, status_code=422)
    await portal.throttle.succeeded(keys)
    count("reset", "ok")
    response = redirect(page, next_step(page))
    set_login(page, response, account)
    return response
