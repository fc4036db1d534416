"""A guest's log-in with a voucher: ``/voucher`` (docs/vouchers.md).

The ticket's QR code opens ``/voucher?code=…``: the code is filled in only when it has a code's
shape (the query string is anyone's to write: anything else is dropped, never echoed), and the
guest still presses the button — a link alone logs no one in. A wrong code counts against the
address (``voucher_ip``: a few mistakes are free, then each waits longer), so guessing 2⁵⁹ codes is
hopeless. Once logged in, the guest goes on to the access point they came from, as any citizen.
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from accounts import vouchers
from accounts.vouchercodes import normalize_code, printed
from portal.context import PageDep, redirect, set_login
from portal.forms import Errors, check_throttle, client_address, failed, read_form, show
from portal.metrics import count

router = APIRouter(include_in_schema=False)


@router.get("/voucher")
async def voucher_form(page: PageDep) -> Response:
    given = page.request.query_params.getlist("code")  # the first, if several
    raw = normalize_code(given[0][:64]) if given else None
    values = {"code": printed(raw)} if raw is not None else {}
    return await show(page, "voucher.html", values=values, errors={})


@router.post("/voucher")
async def voucher_login(page: PageDep) -> Response:
    portal = page.portal
    form = await read_form(page)
    keys = {"voucher_ip": client_address(page)}
    await check_throttle(page, keys)
    typed = form.get("code", "").strip()[:64]
    errors: Errors = {}
    reason, account = "", None
    if normalize_code(typed) is None:
        errors["code"] = (
            page._("Type the code printed on your ticket.")
            if not typed
            else page._("A voucher code has 12 letters and digits, like K7XM-P3QR-T9VW.")
        )
    if form.get("terms") != "yes":
        errors["terms"] = page._("To use a voucher, accept the terms of use and the privacy notice.")
    if not errors:
        async with portal.transaction() as session:
            look = await page.look(session)
            try:
                now = portal.now()
                account = await vouchers.redeem(
                    session, box=portal.box, region=await portal.region(session), code=typed, now=now
                )
            except vouchers.VoucherRefused as refused:
                errors["code"] = {
                    "not_yet_valid": page._("This voucher is not valid yet."),
                    "expired": page._("This voucher has expired."),
                }.get(refused.reason, page._("This code is not valid: check it and type it again."))
                reason = refused.reason
            else:
                if account.terms_accepted_at is None:  # the guest's consent, as a citizen's at sign-up
                    account.terms_version, account.terms_accepted_at = look.terms_version, now
    if errors or account is None:
        if reason == "unknown":  # a well-formed code that is none: a guess, or a typing mistake
            await failed(page, keys)
        count("voucher", "refused")
        return await show(page, "voucher.html", values={"code": typed}, errors=errors, status_code=422)
    count("voucher", "ok")
    await portal.throttle.succeeded(keys)
    response: Response
    if page.handoff is not None:
        response = redirect(page, "/connect")
    else:
        response = await show(
            page,
            "message.html",
            heading=page._("Your voucher is ready"),
            message=page._(
                "Connect to the Wi-Fi network of a participating site: its page will open by itself."
            ),
        )
    set_login(page, response, account)
    return response
