"""The citizen's pages for a mobile number (issue 19; docs/sms.md): sign up with a number instead
of an email, confirm it with the code sent by SMS, reset a forgotten password by SMS.

Offered only when the region turns SMS on (``PortalConfig.sms``); otherwise every page here is the
portal's 404. Before any SMS leaves, three throttles answer (per number, per client address, per
number prefix: SMS pumping sends runs of numbers of one range) and every SMS counts against them;
then the region's daily budget (:mod:`accounts.smsbudget`), counted in the database by every worker
and host. The request that spends the last SMS of a budget writes the one log line that says so.
"""

from __future__ import annotations

import logging

from fastapi import APIRouter
from fastapi.responses import Response

from accounts import phonesignup, selfservice
from accounts.errors import Conflict, InvalidInput
from accounts.identity import split_identity
from accounts.phones import (
    RULE_COUNTRY,
    RULE_NOT_MOBILE,
    PhoneRefused,
    masked,
    normalize_phone,
    number_prefix,
)
from portal.context import Page, PageDep, redirect, set_login
from portal.forms import (
    Errors,
    Refused,
    check_throttle,
    client_address,
    failed,
    password_error,
    read_form,
    show,
    signed_in,
)
from portal.metrics import SMS_BUDGET_REACHED, SMS_BUDGET_REFUSED, count
from portal.pages import grace_context, next_step
from portal.sms import Sms, SmsConfig
from portal.throttle import account_at

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)


def sms_config(page: Page) -> SmsConfig:
    config = page.portal.config.sms
    if config is None or page.portal.courier is None:
        raise Refused(404, page._("This page does not exist."))
    return config


def phone_error(page: Page, raw: str, exc: PhoneRefused | None = None) -> str:
    if not raw:
        return page._("Enter your mobile number.")
    if exc is not None and exc.rule == RULE_COUNTRY:
        return page._("Mobile numbers of this country are not accepted here.")
    if exc is not None and exc.rule == RULE_NOT_MOBILE:
        return page._(
            "Enter a mobile number: codes cannot be sent to landlines, premium-rate or special numbers."
        )
    return page._("Enter a mobile number, like 06 12 34 56 78 or +33 6 12 34 56 78.")


def read_number(page: Page, config: SmsConfig, raw: str, errors: Errors) -> str | None:
    try:
        return normalize_phone(raw, rules=config.rules)
    except PhoneRefused as exc:
        errors["phone"] = phone_error(page, raw, exc)
        return None


def sms_keys(page: Page, config: SmsConfig, number: str) -> dict[str, str]:
    """The throttle's keys of one SMS to ``number``."""
    return {
        "sms_ip": client_address(page),
        "sms_number": number,
        "sms_prefix": number_prefix(number, digits=config.rules.prefix_digits),
    }


def send(page: Page, to_send: phonesignup.CodeToSend, text: str) -> None:
    """Queue the SMS, and say once (here: the request that spent it) that a budget is reached."""
    portal = page.portal
    assert portal.courier is not None
    if to_send.budget_reached is not None:
        SMS_BUDGET_REACHED.labels(to_send.budget_reached).inc()
        log.warning(
            "sms: today's budget %s is reached: no more SMS until midnight UTC (SESAME_SMS_DAILY_BUDGET, "
            "SESAME_SMS_COUNTRY_BUDGETS)",
            "of the region" if to_send.budget_reached == "*" else f"for {to_send.budget_reached}",
        )
    portal.courier.post(Sms(to=to_send.number, text=text))


def code_text(page: Page, code: str) -> str:
    return page._(
        "%(region)s Wi-Fi: your code is %(code)s. Do not share it.",
        region=page.portal.config.region_name,
        code=code,
    )


def budget_spent(page: Page, exc: phonesignup.BudgetSpent) -> Refused:
    SMS_BUDGET_REFUSED.labels(exc.scope).inc()
    return Refused(
        503,
        page._(
            "We cannot send text messages any more today. Please sign up with an email address, "
            "or try again tomorrow."
        ),
    )


# -- sign up -------------------------------------------------------------------------------------


@router.get("/signup/phone")
async def signup_form(page: PageDep) -> Response:
    sms_config(page)
    return await show(page, "signup_phone.html", values={}, errors={})


@router.post("/signup/phone")
async def signup(page: PageDep) -> Response:
    portal, config = page.portal, sms_config(page)
    form = await read_form(page)
    await check_throttle(page, {"signup_ip": client_address(page), "sms_ip": client_address(page)})
    async with portal.transaction() as session:
        look = await page.look(session)
    values = {name: form.get(name, "").strip() for name in ("username", "phone")}
    errors: Errors = {}
    try:
        split_identity(values["username"], home_realm=portal.config.realm)
    except InvalidInput:
        errors["username"] = (
            page._("Choose a username.")
            if not values["username"]
            else page._(
                "A username has 3 to 64 characters: letters a-z, digits, '.', '_' or '-', "
                "starting and ending with a letter or digit."
            )
        )
    number = read_number(page, config, values["phone"], errors)
    if not form.get("password"):
        errors["password"] = page._("Choose a password.")
    if form.get("terms") != "yes":
        errors["terms"] = page._("To create an account, accept the terms of use and the privacy notice.")
    if errors or number is None:
        count("signup_phone", "invalid")
        return await show(page, "signup_phone.html", look=look, values=values, errors=errors, status_code=422)
    keys = sms_keys(page, config, number)
    await check_throttle(page, keys)
    await failed(page, {"signup_ip": client_address(page)})
    now = portal.now()
    try:
        async with portal.transaction() as session:
            account = await phonesignup.sign_up_by_phone(
                session,
                hasher=portal.hasher,
                region=await portal.region(session),
                username=values["username"],
                number=number,
                password=form.get("password", ""),
                consent=selfservice.Consent(version=look.terms_version, accepted_at=now),
                grace=portal.config.grace,
                locale=page.t.language,
            )
            to_send = await phonesignup.send_phone_verification(
                session, box=portal.box, budget=config.budget, account=account, now=now
            )
    except phonesignup.PhoneInUse:
        # the same page as a new sign-up's code, without naming the other account, and no SMS
        # (an SMS to the owner would be a way to make us send SMS at will)
        count("signup_phone", "phone_in_use")
        await failed(page, keys)
        return await show(page, "sms_sent.html", look=look, number=masked(number))
    except phonesignup.BudgetSpent as exc:
        raise budget_spent(page, exc) from None
    except Conflict:
        count("signup_phone", "username_taken")
        errors["username"] = page._("This username is taken: choose another.")
        return await show(page, "signup_phone.html", look=look, values=values, errors=errors, status_code=409)
    except InvalidInput as exc:
        errors["password"] = password_error(page, exc)
        return await show(page, "signup_phone.html", look=look, values=values, errors=errors, status_code=422)
    await failed(page, keys)
    count("signup_phone", "created")
    send(page, to_send, code_text(page, to_send.code))
    response = redirect(page, "/verify/phone")
    set_login(page, response, account)
    return response


# -- verification --------------------------------------------------------------------------------


@router.get("/verify/phone")
async def verify_form(page: PageDep) -> Response:
    sms_config(page)
    async with page.portal.transaction() as session:
        look, account = await page.look(session), await signed_in(page, session)
        phone = await phonesignup.phone_of(session, account=account)
    if phone is None or phone.verified_at is not None:
        return redirect(page, next_step(page) if account.email_verified else "/verify")
    return await show(
        page, "verify_phone.html", look=look, number=masked(phone.number), errors={},
        **grace_context(page, account),
    )  # fmt: skip


@router.post("/verify/phone")
async def verify(page: PageDep) -> Response:
    portal, config = page.portal, sms_config(page)
    form = await read_form(page)
    resend = form.get("action") == "resend"
    to_send = None
    try:
        async with portal.transaction() as session:
            look, account = await page.look(session), await signed_in(page, session)
            phone = await phonesignup.phone_of(session, account=account)
            if phone is None:
                return redirect(page, "/verify")
            keys = {"code_ip": client_address(page), "code_account": str(account.id)}
            await check_throttle(page, keys)
            if resend:
                keys = sms_keys(page, config, phone.number)
                await check_throttle(page, keys)
                to_send = await phonesignup.send_phone_verification(
                    session, box=portal.box, budget=config.budget, account=account, now=portal.now()
                )
            elif await phonesignup.verify_phone(
                session, box=portal.box, account=account, code=form.get("code", "")[:32], now=portal.now()
            ):
                await portal.throttle.succeeded(keys)
                count("verify_phone", "ok")
                return redirect(page, next_step(page))
    except phonesignup.BudgetSpent as exc:
        raise budget_spent(page, exc) from None
    except Conflict:  # verified meanwhile
        return redirect(page, next_step(page))
    await failed(page, keys)
    context = {"number": masked(phone.number), **grace_context(page, account)}
    if to_send is not None:
        send(page, to_send, code_text(page, to_send.code))
        return await show(page, "verify_phone.html", look=look, errors={}, resent=True, **context)
    count("verify_phone", "wrong_code")
    errors = {"code": page._("This code is not right, or it has expired. Ask for a new one.")}
    return await show(page, "verify_phone.html", look=look, errors=errors, status_code=422, **context)


# -- forgotten password --------------------------------------------------------------------------


@router.get("/forgot/phone")
async def forgot_form(page: PageDep) -> Response:
    sms_config(page)
    return await show(page, "forgot_phone.html", values={}, errors={})


@router.post("/forgot/phone")
async def forgot(page: PageDep) -> Response:
    portal, config = page.portal, sms_config(page)
    form = await read_form(page)
    await check_throttle(page, {"sms_ip": client_address(page)})
    values = {"phone": form.get("phone", "").strip()}
    errors: Errors = {}
    number = read_number(page, config, values["phone"], errors)
    if number is None:
        return await show(page, "forgot_phone.html", values=values, errors=errors, status_code=422)
    keys = sms_keys(page, config, number)
    await check_throttle(page, keys)
    await failed(page, keys)  # whether or not an account matches: the same answer either way
    to_send = None
    try:
        async with portal.transaction() as session:
            to_send = await phonesignup.start_phone_reset(
                session, box=portal.box, budget=config.budget, region=await portal.region(session),
                number=number, now=portal.now(),
            )  # fmt: skip
    except phonesignup.BudgetSpent as exc:
        SMS_BUDGET_REFUSED.labels(exc.scope).inc()  # and the same answer: no enumeration
    if to_send is not None:
        send(
            page,
            to_send,
            page._(
                "%(region)s Wi-Fi: your password reset code is %(code)s. Do not share it.",
                region=portal.config.region_name,
                code=to_send.code,
            ),
        )
    return redirect(page, "/reset/phone")


@router.get("/reset/phone")
async def reset_form(page: PageDep) -> Response:
    sms_config(page)
    return await show(page, "reset_phone.html", values={}, errors={})


@router.post("/reset/phone")
async def reset(page: PageDep) -> Response:
    portal, config = page.portal, sms_config(page)
    form = await read_form(page)
    values = {"phone": form.get("phone", "").strip()}
    errors: Errors = {}
    number = read_number(page, config, values["phone"], errors)
    if number is None:
        return await show(page, "reset_phone.html", values=values, errors=errors, status_code=422)
    keys = {"code_ip": client_address(page), "code_account_ip": account_at(number, client_address(page))}
    await check_throttle(page, keys)
    try:
        async with portal.transaction() as session:
            account = await phonesignup.finish_phone_reset(
                session, box=portal.box, hasher=portal.hasher, region=await portal.region(session),
                number=number, code=form.get("code", "")[:32], password=form.get("password", ""),
                now=portal.now(),
            )  # fmt: skip
    except InvalidInput as exc:
        errors["password"] = password_error(page, exc)
        return await show(page, "reset_phone.html", values=values, errors=errors, status_code=422)
    if account is None:
        await failed(page, keys)
        count("reset_phone", "wrong_code")
        errors["code"] = page._("This code is not right, or it has expired. Ask for a new one.")
        return await show(page, "reset_phone.html", values=values, errors=errors, status_code=422)
    await portal.throttle.succeeded(keys)
    count("reset_phone", "ok")
    response = redirect(page, next_step(page))
    set_login(page, response, account)
    return response
