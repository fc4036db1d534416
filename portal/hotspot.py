"""Arriving from an access point, and handing the person back to it.

1. ``GET /hotspot?…`` is where a controller sends the browser (CoovaChilli's ``uamserver``, a
   Meraki splash URL…). The access point is named by our own ``nas`` parameter (its shortname,
   which operators add to the splash URL) or by what the controller sends
   (:func:`portal.handoff.identify_nas`). Its integration verifies the parameters (CoovaChilli's
   ``md`` checksum under the UAM secret) before any is trusted; what the hand-off will need is
   kept in a signed cookie.
2. ``GET /connect``, once the person is logged in: mint a single-use RADIUS token, and send the
   browser to the controller with ``username@realm`` and the token, by a redirect (UAM) or a
   form POST. The access point's Access-Request then costs no password hash. The token is bound
   to that access point (only its Access-Requests may use it), and it goes only to the target
   the verified arrival named, if the access point's current settings still allow it.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select

from accounts import network
from accounts.errors import SecretUnreadable
from accounts.models import Nas
from accounts.secretbox import SecretBox
from accounts.tokens import issue_token
from accounts.weburl import is_destination
from portal.context import (
    HandoffState,
    Look,
    Page,
    PageDep,
    redirect,
    render,
    set_handoff,
    usable,
)
from portal.forms import show, signed_in
from portal.handoff import HandoffConfig, HandoffError, identify_nas, integration
from portal.metrics import count

router = APIRouter(include_in_schema=False)

TOKEN_LIFETIME = timedelta(minutes=2)


def handoff_config(box: SecretBox, nas: Nas) -> HandoffConfig:
    return HandoffConfig(
        integration=nas.handoff, secret=network.uam_secret(box, nas), options=network.handoff_options(nas)
    )


async def problem(page: Page, message: str, status_code: int = 400, *, look: Look | None = None) -> Response:
    hint = page._("Disconnect from the Wi-Fi and connect again: the access point will bring you back here.")
    heading = page._("We cannot connect you")
    return await show(
        page, "message.html", look=look, status_code=status_code, heading=heading, message=message, hint=hint
    )


@router.get("/hotspot")
async def arrive(page: PageDep) -> Response:
    portal = page.portal
    request = page.request
    params: dict[str, str] = {}
    for key, value in request.query_params.multi_items():
        params.setdefault(key, value)
    raw_query = request.scope.get("query_string", b"").decode("latin-1")
    async with portal.transaction() as session:
        name = identify_nas(params)  # ``nas`` first; checked (a NUL breaks a PostgreSQL query)
        nas = await session.scalar(select(Nas).where(Nas.shortname == name)) if name else None
        if nas is None:
            count("arrival", "unknown_nas")
            return await problem(page, page._("This link does not come from an access point we know."))
        try:
            config = handoff_config(portal.box, nas)
            arrival = integration(nas.handoff).arrive(
                url=f"{portal.config.public_url}/hotspot?{raw_query}", params=params, config=config
            )
        except (HandoffError, SecretUnreadable, KeyError):
            count("arrival", "bad_link")
            return await problem(page, page._("The access point's link is damaged or was changed."))
        count("arrival", nas.handoff)
        page.handoff = handoff = HandoffState(nas_id=nas.id, arrival=arrival)
        look = await page.look(session)  # the branding of where the person now is
        account = await page.account(session)
    response: Response
    if arrival.state.get("res") in ("success", "already"):
        response = render(page, "connected.html", look=look, user_url=_safe_url(arrival.user_url))
    elif account is not None and arrival.state.get("res") not in ("failed", "logoff"):
        # not after a reject (the next token would be rejected too, and chilli sends the browser
        # back here: a loop) nor after the person logged off
        response = redirect(page, "/connect")
    else:
        notice = (
            page._("The access point refused the connection. Log in again, or look at your account.")
            if arrival.state.get("res") == "failed"
            else None
        )
        response = render(page, "login.html", look=look, values={}, errors={}, notice=notice)
    set_handoff(page, response, handoff)
    return response


@router.get("/connect")
async def connect(page: PageDep) -> Response:
    portal = page.portal
    async with portal.transaction() as session:
        look = await page.look(session)
        if page.handoff is None:
            message = page._(
                "Connect to the Wi-Fi network of a participating site: its page will open by itself."
            )
            heading = page._("Almost there")
            return render(
                page,
                "message.html",
                look=look,
                status_code=409,
                heading=heading,
                message=message,
                back="/account",
            )
        account = await signed_in(page, session)
        if not usable(account):
            return await problem(
                page, page._("This account cannot connect: contact support."), 403, look=look
            )
        now = portal.now()
        if not account.email_verified and (account.grace_until is None or account.grace_until <= now):
            return redirect(page, "/verify")
        nas = await session.get(Nas, page.handoff.nas_id)
        if nas is None:
            return await problem(
                page, page._("This link does not come from an access point we know."), look=look
            )
        if nas.handoff != page.handoff.integration:  # its settings changed since the arrival
            return await problem(
                page, page._("The access point's link is damaged or was changed."), look=look
            )
        token = await issue_token(
            session, box=portal.box, account=account, nas_id=nas.id, now=now, lifetime=TOKEN_LIFETIME
        )
        try:
            config = handoff_config(portal.box, nas)
            plan = integration(page.handoff.integration).handoff(
                page.handoff.arrival,
                username=account.identity,
                token=token,
                config=config,
            )
        except (HandoffError, SecretUnreadable, KeyError):
            return await problem(
                page, page._("The access point's link is damaged or was changed."), look=look
            )
    count("handoff", page.handoff.integration)
    # A page, not a redirect: Content-Security-Policy's form-action also governs the redirects
    # that follow a form (log-in → /connect → controller), and browsers enforce it there.
    target = urlsplit(plan.url)
    return render(
        page, "connect.html", look=look, plan=plan, form_targets=(f"{target.scheme}://{target.netloc}",),
    )  # fmt: skip


def _safe_url(url: str | None) -> str | None:
    """Only an address the one rule allows is offered as a link (accounts.weburl)."""
    return url if is_destination(url) else None
