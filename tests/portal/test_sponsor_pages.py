"""Sponsored access on the portal (over httpx, like a browser), SQLite and PostgreSQL: a visitor at a
hotspot asks a named sponsor, the sponsor approves by the mailed link, the visitor's waiting page
logs them in with the day's voucher and hands off; a wrong, reused or expired link; another browser
cannot ride the approval; a sponsor outside the list; hostile notes; throttles and the cap of
pending requests."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from sqlalchemy import select

from accounts import sponsorship
from accounts.models import Account, Commune, SponsorRequest, Voucher, VoucherBatch, VoucherPlace
from portal.throttle import DEFAULT_LIMITS, MemoryThrottle, Throttle
from tests.portal.conftest import NOW, PUBLIC_URL, Browser
from tests.portal.hotspots import chilli_query, logon_url, signed

SPONSORS = "Anne Martin <anne.martin@valence.example>\nbruno@valence.example"


async def _turn_on(browser: Browser, text: str = SPONSORS) -> int:
    portal = browser.portal
    async with portal.transaction() as session:
        commune = await session.scalar(select(Commune).where(Commune.insee_code == "26362"))
        assert commune is not None
        await sponsorship.configure(
            session, commune=commune, enabled=True, sponsors=sponsorship.parse_sponsors(text), now=NOW
        )
        return commune.id


async def _ask(browser: Browser, sponsor: str = "0", note: str = "Jeanne, réunion de 14 h") -> httpx.Response:
    return await browser.submit("/sponsor", {"sponsor": sponsor, "note": note, "terms": "yes"})


async def _link(browser: Browser) -> str:
    mail = (await browser.mails())[-1]
    found = re.search(r"(/sponsor/decide/[A-Za-z0-9_-]+)", mail.get_content())
    assert found, mail.get_content()
    return found.group(1)


async def _decide(sponsor: httpx.AsyncClient, link: str, decision: str) -> httpx.Response:
    page = await sponsor.get(link)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert token, page.text
    return await sponsor.post(link, data={"csrf_token": token.group(1), "decision": decision})


@pytest.fixture
async def other(browser: Browser) -> AsyncIterator[httpx.AsyncClient]:
    """Another browser (the sponsor's, or an intruder's) on the same app."""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=browser.app, client=("203.0.113.9", 40000)),
        base_url=PUBLIC_URL,
        headers={"Accept-Language": "en"},
    ) as client:
        yield client


async def test_the_whole_flow_lets_the_visitor_in_for_the_day(
    browser: Browser, network: None, other: httpx.AsyncClient
) -> None:
    commune_id = await _turn_on(browser)
    await browser.get(signed(chilli_query()))
    login = await browser.get("/login")
    assert 'href="/sponsor"' in login.text
    form = await browser.get("/sponsor")
    assert form.status_code == 200
    assert "Anne Martin (a•••@valence.example)" in form.text and "b•••@valence.example" in form.text
    assert "anne.martin@" not in form.text and "bruno@" not in form.text
    asked = await _ask(browser)
    assert asked.status_code == 303 and asked.headers["location"] == "/sponsor/wait"
    mails = await browser.mails()
    assert mails[-1]["To"] == "anne.martin@valence.example"
    assert "Jeanne, réunion de 14 h" in mails[-1].get_content()
    assert "vous demande l'accès" in mails[-1].get_content()  # the region's language, not the visitor's
    waiting = await browser.get("/sponsor/wait")
    assert waiting.status_code == 200 and '<script src="/static/sponsor-wait.js" defer>' in waiting.text
    assert (await browser.get("/sponsor/status")).json() == {"pending": True}
    assert (await other.get("/sponsor/status")).json() == {"pending": False}  # not its request
    link = await _link(browser)
    shown = await other.get(link)  # the sponsor's GET changes nothing
    assert (
        shown.status_code == 200
        and "Jeanne, réunion de 14 h" in shown.text
        and "22/11/2026 13:00" in shown.text
    )
    assert (await browser.get("/sponsor/wait")).status_code == 200  # still waiting
    approved = await _decide(other, link, "approve")
    assert approved.status_code == 200 and "let in for today" in approved.text
    assert (await browser.get("/sponsor/status")).json() == {"pending": False}
    done = await browser.get("/sponsor/wait")
    assert done.status_code == 303 and done.headers["location"] == "/connect"
    connect = await browser.get("/connect")
    assert connect.status_code == 200 and "voucher~" in logon_url(connect)
    async with browser.portal.transaction() as session:
        request = await session.scalar(select(SponsorRequest))
        assert request is not None and request.status == "approved" and request.voucher_id is not None
        voucher = await session.get_one(Voucher, request.voucher_id)
        batch = await session.get_one(VoucherBatch, voucher.batch_id)
        assert batch.commune_id == commune_id and batch.count == 1 and batch.max_devices == 1
        assert batch.created_by == "anne.martin@valence.example"
        guest = await session.get_one(Account, voucher.account_id)
        assert guest.terms_accepted_at == NOW and guest.terms_version
        # the end of the day in Paris: midnight CET is 23:00 UTC
        assert batch.valid_until == datetime(2026, 11, 22, 23, 0, tzinfo=UTC)
        places = (
            await session.scalars(select(VoucherPlace.site_id).where(VoucherPlace.batch_id == batch.id))
        ).all()
        assert len(places) == 2  # the commune's two sites
    # reused link: answered already
    again = await other.get(link)
    assert again.status_code == 409 and "answered already" in again.text


async def test_another_browser_cannot_ride_the_approval(
    browser: Browser, network: None, other: httpx.AsyncClient
) -> None:
    await _turn_on(browser)
    await browser.get(signed(chilli_query()))
    await _ask(browser)
    link = await _link(browser)
    assert (await other.get("/sponsor/wait")).status_code == 404
    forged = {
        "sesame_sponsor": browser.cookies.get("sesame_sponsor", path="/sponsor", domain="portal.test") or ""
    }
    assert forged["sesame_sponsor"]
    tampered = forged["sesame_sponsor"][:-2] + ("AA" if not forged["sesame_sponsor"].endswith("AA") else "BB")
    other.cookies.set("sesame_sponsor", tampered, domain="portal.test", path="/sponsor")
    await _decide(other, link, "approve")
    intruder = await other.get("/sponsor/wait")
    assert intruder.status_code == 404 and "sesame_login" not in intruder.headers.get("set-cookie", "")
    assert (await browser.get("/sponsor/wait")).status_code == 303


async def test_refused_wrong_and_expired_links(
    browser: Browser, network: None, other: httpx.AsyncClient
) -> None:
    await _turn_on(browser)
    await browser.get(signed(chilli_query()))
    await _ask(browser)
    link = await _link(browser)
    assert (await other.get(link[:-1] + ("B" if link.endswith("A") else "A"))).status_code == 404
    assert (await other.get("/sponsor/decide/short")).status_code == 404
    refused = await _decide(other, link, "refuse")
    assert refused.status_code == 200 and "refused" in refused.text
    told = await browser.get("/sponsor/wait")
    assert told.status_code == 403 and "Your request was refused." in told.text
    assert "sesame_login" not in told.headers.get("set-cookie", "")
    # a second request, left unanswered past 30 minutes
    await _ask(browser, sponsor="1")
    late = await _link(browser)
    browser.portal.clock.now = NOW + timedelta(minutes=31)  # type: ignore[attr-defined]
    assert (await other.get(late)).status_code == 410
    expired = await browser.get("/sponsor/wait")
    assert expired.status_code == 410 and "expired" in expired.text


async def test_sponsors_outside_the_list_and_hostile_notes_are_refused(
    browser: Browser, network: None
) -> None:
    await _turn_on(browser)
    await browser.get(signed(chilli_query()))
    for choice in ("2", "-1", "anne.martin@valence.example", "attacker@evil.example", ""):
        answer = await _ask(browser, sponsor=choice)
        assert answer.status_code == 422 and "Choose the person" in answer.text, choice
    assert await browser.mails() == []
    too_long = await _ask(browser, note="x" * 201)
    assert too_long.status_code == 422 and "at most 200 characters" in too_long.text
    nul = await _ask(browser, note="Jeanne\x00")
    assert nul.status_code == 400
    control = await _ask(browser, note="Jeanne\x1b[31m")
    assert control.status_code == 400
    assert await browser.mails() == []


async def test_off_or_away_from_a_hotspot_there_is_nothing_to_ask(browser: Browser, network: None) -> None:
    assert (await browser.get("/sponsor")).status_code == 404  # no hotspot
    await browser.get(signed(chilli_query()))
    assert (await browser.get("/sponsor")).status_code == 404  # the commune does not offer it
    assert 'href="/sponsor"' not in (await browser.get("/voucher")).text  # not offered: no link
    assert 'href="/sponsor"' not in (await browser.get("/login")).text
    await _turn_on(browser)
    assert 'href="/sponsor"' in (await browser.get("/voucher")).text


def _frozen(browser: Browser) -> None:
    """A throttle whose clock stands still: a wait never runs out during the test."""
    browser.portal.throttle = Throttle(dict(DEFAULT_LIMITS), store=MemoryThrottle(clock=lambda: 0.0))


async def test_wrong_links_are_throttled_per_address(browser: Browser, other: httpx.AsyncClient) -> None:
    _frozen(browser)
    hostile = ["%00" * 30, "A" * 5000, "%FF" * 30, "é" * 40] + [f"{'x' * 43}{n}" for n in range(6)]
    for token in hostile:
        assert (await other.get(f"/sponsor/decide/{token}")).status_code == 404, token[:20]
    assert (await other.get(f"/sponsor/decide/{'y' * 43}")).status_code == 429
    assert (await browser.get(f"/sponsor/decide/{'y' * 43}")).status_code == 404  # another address


async def test_requests_are_throttled_per_address(browser: Browser, network: None) -> None:
    _frozen(browser)
    await _turn_on(browser)
    await browser.get(signed(chilli_query()))
    statuses = [(await _ask(browser, sponsor=str(n % 2))).status_code for n in range(7)]
    assert statuses == [303] * 5 + [429] * 2
    assert len(await browser.mails()) == 5


async def test_pending_requests_are_capped_per_sponsor(browser: Browser, network: None) -> None:
    _frozen(browser)
    await _turn_on(browser)
    answers = [await _ask(await _visitor(browser, n)) for n in range(6)]
    assert [a.status_code for a in answers] == [303] * 5 + [429]
    assert "several requests waiting" in answers[5].text


async def test_a_sponsors_mailbox_is_throttled_across_addresses(browser: Browser, network: None) -> None:
    _frozen(browser)
    await _turn_on(browser)
    statuses = []
    for n in range(12):
        statuses.append((await _ask(await _visitor(browser, n))).status_code)
        async with browser.portal.transaction() as session:  # answered: the pending cap stays out of the way
            for request in (await session.scalars(select(SponsorRequest))).all():
                request.status = "refused"
    assert statuses == [303] * 10 + [429] * 2
    assert len(await browser.mails()) == 10


async def _visitor(browser: Browser, n: int) -> Browser:
    """Another visitor, at another address, arrived at the hotspot."""
    visitor = Browser(
        transport=httpx.ASGITransport(app=browser.app, client=(f"198.51.100.{n + 20}", 50000)),
        base_url=PUBLIC_URL,
        headers={"Accept-Language": "en"},
    )
    visitor.portal, visitor.app, visitor.outbox = browser.portal, browser.app, browser.outbox
    await visitor.get(signed(chilli_query()))
    return visitor
