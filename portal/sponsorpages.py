"""Sponsored access on the portal: ``/sponsor`` (docs/vouchers.md, "Sponsored access").

At a hotspot of a commune that offers it, a visitor picks one of the commune's sponsors (shown by
name and a masked address: the visitor never types an address, so the portal mails no one else)
and may add a short note. The sponsor gets a one-time link (``/sponsor/decide/<token>``: the link
is the credential, no sign-in; a GET only shows the request, a POST with a CSRF token answers it).
The visitor's browser holds a signed cookie naming the request — the waiting page
(``/sponsor/wait``, whose small script polls ``/sponsor/status``; without script, a link) reads
only that, so no other browser can ride the approval — and is logged in with the day's voucher as
soon as it is approved, then handed off to the access point as at a voucher log-in.

Limits: requests per client address (``sponsor_ip``) and per sponsor (``sponsor_email``), every
request counting; wrong links per address (``sponsor_link_ip``); and at most
:data:`accounts.sponsorship.MAX_PENDING` pending requests per sponsor.
"""

from __future__ import annotations

import time
from datetime import datetime
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import JSONResponse, Response

from accounts import sponsorship
from accounts.errors import InvalidInput
from accounts.models import Commune, SponsorRequest
from portal.context import Page, PageDep, redirect, set_login
from portal.forms import check_throttle, client_address, failed, read_form, show
from portal.mail import Mail
from portal.metrics import count
from portal.security import Signer
from portal.voucherpdf import TIMEZONE

router = APIRouter(include_in_schema=False)

COOKIE = "sesame_sponsor"
#: how often the waiting page asks, in seconds
REFRESH = 5


def _signer(page: Page) -> Signer:
    return Signer(page.portal.box, purpose="portal-sponsor-request")


async def _show_message(page: Page, heading: str, message: str, status_code: int = 200) -> Response:
    return await show(page, "message.html", heading=heading, message=message, status_code=status_code)


async def _offer(page: Page) -> tuple[int, list[sponsorship.Sponsor]] | None:
    """The commune of the hotspot the visitor is at and its sponsors, if it offers sponsored access."""
    async with page.portal.transaction() as session:
        commune = await page.commune(session)
        if commune is None:
            return None
        sponsors = await sponsorship.offered(session, commune_id=commune.id)
    return (commune.id, sponsors) if sponsors else None


async def _not_offered(page: Page) -> Response:
    return await _show_message(
        page,
        page._("Sponsored access"),
        page._("Sponsored access is not offered here. Connect to the Wi-Fi of a participating site first."),
        404,
    )


@router.get("/sponsor")
async def sponsor_form(page: PageDep) -> Response:
    offer = await _offer(page)
    if offer is None:
        return await _not_offered(page)
    return await show(page, "sponsor.html", sponsors=offer[1], values={}, errors={})


@router.post("/sponsor")
async def sponsor_ask(page: PageDep) -> Response:
    form = await read_form(page)
    offer = await _offer(page)
    if offer is None:
        return await _not_offered(page)
    commune_id, sponsors = offer
    address = client_address(page)
    await check_throttle(page, {"sponsor_ip": address})
    raw_choice, note = form.get("sponsor", "")[:4], form.get("note", "")[:1000]
    errors: dict[str, str] = {}
    choice = int(raw_choice) if raw_choice.isascii() and raw_choice.isdigit() else -1
    if not 0 <= choice < len(sponsors):
        errors["sponsor"] = page._("Choose the person who will let you in.")
    if len(" ".join(note.split())) > sponsorship.MAX_NOTE:
        errors["note"] = page._("A note has at most %(n)d characters.", n=sponsorship.MAX_NOTE)
    if form.get("terms") != "yes":
        errors["terms"] = page._("To ask for access, accept the terms of use and the privacy notice.")
    if errors:
        return await show(
            page, "sponsor.html", sponsors=sponsors, values={"note": note}, errors=errors, status_code=422
        )
    per_sponsor = {"sponsor_email": f"{commune_id} {sponsors[choice].email}"}
    await check_throttle(page, per_sponsor)
    portal, now = page.portal, page.portal.now()
    try:
        async with portal.transaction() as session:
            request, sponsor, token = await sponsorship.ask(
                session, box=portal.box, commune_id=commune_id, sponsor_index=choice, note=note, now=now
            )
            look = await page.look(session)
    except sponsorship.TooManyPending:
        count("sponsor", "busy")
        return await _show_message(
            page,
            page._("Sponsored access"),
            page._("This person already has several requests waiting. Please try again in a few minutes."),
            429,
        )
    except InvalidInput:
        errors["note"] = page._("A note has at most %(n)d characters.", n=sponsorship.MAX_NOTE)
        return await show(
            page, "sponsor.html", sponsors=sponsors, values={"note": note}, errors=errors, status_code=422
        )
    await failed(page, {"sponsor_ip": address, **per_sponsor})  # every request counts
    link = f"{portal.config.public_url.rstrip('/')}/sponsor/decide/{token}"
    # the region's first language: the sponsor is the commune's, not the visitor's
    t = portal.translator(None)
    portal.postman.post(
        Mail(
            to=sponsor.email,
            subject=t.gettext("A visitor asks for Wi-Fi access: %(place)s", place=look.title),
            text=t.gettext(
                "Someone at %(place)s asks you for access to the public Wi-Fi for today.\n\n"
                "Their note: %(note)s\n\nTo let them in or refuse, open this link within 30 minutes "
                "(it works once):\n%(link)s\n\nIf you do not know what this is about, ignore this "
                "message: nobody gets in without your answer.",
                place=look.title,
                note=request.note or "—",
                link=link,
            ),
        )
    )
    count("sponsor", "asked")
    response = redirect(page, "/sponsor/wait")
    response.set_cookie(
        COOKIE,
        _signer(page).sign({"r": request.id}, now=time.time()),
        max_age=int(sponsorship.LINK_LIFETIME.total_seconds()) + 3600,
        httponly=True,
        samesite="lax",
        secure=portal.config.secure_cookies,
        path="/sponsor",
    )
    return response


def _request_id(page: Page) -> int | None:
    """The request this browser made (its signed cookie), if any."""
    payload = _signer(page).read(
        page.request.cookies.get(COOKIE),
        now=time.time(),
        max_age=sponsorship.LINK_LIFETIME.total_seconds() + 3600,
    )
    found = payload.get("r") if payload else None
    return found if isinstance(found, int) else None


@router.get("/sponsor/status")
async def sponsor_status(page: PageDep) -> Response:
    """What the waiting page's script polls: whether this browser's request still waits."""
    request_id, pending = _request_id(page), False
    if request_id is not None:
        async with page.portal.transaction() as session:
            request = await session.get(SponsorRequest, request_id)
            pending = request is not None and sponsorship.status_of(request, page.portal.now()) == "pending"
    return JSONResponse({"pending": pending}, headers={"Cache-Control": "no-store"})


@router.get("/sponsor/wait")
async def sponsor_wait(page: PageDep) -> Response:
    portal = page.portal
    request_id = _request_id(page)
    heading = page._("Sponsored access")
    if not isinstance(request_id, int):
        return await _show_message(page, heading, page._("There is no request from this browser."), 404)
    now = portal.now()
    async with portal.transaction() as session:
        request = await session.get(SponsorRequest, request_id)
        status = sponsorship.status_of(request, now) if request is not None else sponsorship.EXPIRED
        account = (
            await sponsorship.account_of(session, request=request, now=now) if request is not None else None
        )
        look = await page.look(session)
        if account is not None and account.terms_accepted_at is None:  # accepted when asking
            account.terms_version, account.terms_accepted_at = look.terms_version, now
    if status == sponsorship.PENDING:
        return await show(page, "sponsor_wait.html", look=look, refresh=REFRESH)
    if status == sponsorship.REFUSED:
        response = await _show_message(page, heading, page._("Your request was refused."), 403)
    elif status == sponsorship.APPROVED and account is not None:
        count("sponsor", "in")
        if page.handoff is not None:
            response = redirect(page, "/connect")
        else:
            response = await _show_message(
                page,
                page._("You are let in for today"),
                page._("Connect to the Wi-Fi network of a participating site: its page will open by itself."),
            )
        set_login(page, response, account)
    else:
        response = await _show_message(
            page, heading, page._("Your request has expired without an answer. You may ask again."), 410
        )
    response.delete_cookie(COOKIE, path="/sponsor")
    return response


def _local(when: datetime) -> str:
    return when.astimezone(ZoneInfo(TIMEZONE)).strftime("%d/%m/%Y %H:%M")


async def _by_link(page: Page, token: str) -> tuple[SponsorRequest | None, str]:
    await check_throttle(page, {"sponsor_link_ip": client_address(page)})
    async with page.portal.transaction() as session:
        request = await sponsorship.by_token(session, box=page.portal.box, token=token[:200])
        if request is None:
            await failed(page, {"sponsor_link_ip": client_address(page)})
            return None, sponsorship.EXPIRED
        return request, sponsorship.status_of(request, page.portal.now())


async def _closed(page: Page, request: SponsorRequest | None, status: str) -> Response:
    heading = page._("Sponsored access")
    if request is None:
        return await _show_message(page, heading, page._("This link is not valid."), 404)
    if status == sponsorship.EXPIRED:
        return await _show_message(
            page, heading, page._("This request has expired: the visitor may ask again."), 410
        )
    return await _show_message(page, heading, page._("This request was answered already."), 409)


@router.get("/sponsor/decide/{token}")
async def sponsor_request_page(page: PageDep, token: str) -> Response:
    request, status = await _by_link(page, token)
    if request is None or status != sponsorship.PENDING:
        return await _closed(page, request, status)
    async with page.portal.transaction() as session:
        commune = await session.get_one(Commune, request.commune_id)
    return await show(
        page, "sponsor_decide.html", request=request, asked_at=_local(request.created_at), token=token,
        commune=commune.name,
    )  # fmt: skip


@router.post("/sponsor/decide/{token}")
async def sponsor_decide(page: PageDep, token: str) -> Response:
    form = await read_form(page)
    request, status = await _by_link(page, token)
    if request is None or status != sponsorship.PENDING:
        return await _closed(page, request, status)
    approve = form.get("decision") == "approve"
    portal = page.portal
    try:
        async with portal.transaction() as session:
            mine = await session.get_one(SponsorRequest, request.id)
            await sponsorship.decide(
                session, box=portal.box, region=await portal.region(session), request=mine,
                approve=approve, now=portal.now(), timezone=TIMEZONE,
            )  # fmt: skip
    except sponsorship.RequestClosed as closed:
        return await _closed(page, request, closed.status)
    count("sponsor", "approved" if approve else "refused")
    return await _show_message(
        page,
        page._("Sponsored access"),
        page._("Thank you: the visitor is let in for today.")
        if approve
        else page._("Thank you: the request is refused."),
    )
