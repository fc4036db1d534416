"""A guest's log-in with a voucher on the portal (over httpx, like a browser), SQLite and PostgreSQL:
the QR code's link fills the code in (and nothing else from a hostile query string), the code
logs in once consented, then hands off to the access point like any account; wrong, early and
expired codes are refused with words; guessing is throttled."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from accounts import vouchers
from accounts.models import Account
from accounts.secretbox import SecretBox
from tests.portal.conftest import NOW, Browser
from tests.portal.hotspots import chilli_query, handoff_form, logon_url, meraki_query, signed

HOUR = timedelta(hours=1)


async def _batch(browser: Browser, count: int = 2) -> list[str]:
    portal = browser.portal
    async with portal.transaction() as session:
        _batch, codes = await vouchers.create_batch(
            session, box=portal.box, region=await portal.region(session), commune=None,
            spec=vouchers.BatchSpec(
                label="Desk", count=count, valid_from=NOW, valid_until=NOW + 24 * HOUR, duration=2 * HOUR
            ),
            created_by="test", now=NOW,
        )  # fmt: skip
    return codes


def _value(html: str) -> str:
    start = html.index('id="code"')
    tag = html[start : html.index(">", start)]
    return tag.split('value="', 1)[1].split('"', 1)[0]


async def test_the_qr_link_fills_the_code_in_and_nothing_else(browser: Browser) -> None:
    page = await browser.get("/voucher?code=k7xm p3qr-t9vw")
    assert page.status_code == 200 and _value(page.text) == "K7XM-P3QR-T9VW"
    for hostile in (
        '"><script>alert(1)</script>',
        "%00",
        "A" * 10_000,
        "K7XM-P3QR-T9V%FF",
        "K7XM-P3QR-T9VW%0A",
    ):
        page = await browser.get(f"/voucher?code={hostile if '%' in hostile else quote(hostile)}")
        assert page.status_code == 200 and _value(page.text) == "", hostile
        assert "<script>alert" not in page.text
    assert _value((await browser.get("/voucher?code=K7XM-P3QR-T9VW&code=evil")).text) == "K7XM-P3QR-T9VW"
    assert 'href="/voucher"' in (await browser.get("/login")).text


async def test_a_guest_logs_in_and_goes_on_to_the_access_point(
    browser: Browser, network: None, box: SecretBox
) -> None:
    codes = await _batch(browser)
    arrival = await browser.get(signed(chilli_query()))
    assert 'href="/voucher"' in arrival.text
    refused = await browser.submit("/voucher", {"code": codes[0]}, page=f"/voucher?code={codes[0]}")
    assert refused.status_code == 422 and "accept the terms of use" in refused.text
    done = await browser.submit("/voucher", {"code": codes[0].lower().replace("-", " "), "terms": "yes"})
    assert done.status_code == 303 and done.headers["location"] == "/connect"
    connect = await browser.get("/connect")
    assert connect.status_code == 200 and "voucher~" in logon_url(connect)
    async with browser.portal.transaction() as session:
        state = await vouchers.state_by_code(session, box=box, region_id=1, code=codes[0])
        assert state is not None
        account = await session.get_one(Account, state.account_id)
        assert account.terms_accepted_at == NOW


async def test_without_an_access_point_the_guest_is_told_to_join_the_wifi(
    browser: Browser, network: None
) -> None:
    codes = await _batch(browser)
    done = await browser.submit("/voucher", {"code": codes[1], "terms": "yes"})
    assert done.status_code == 200 and "Your voucher is ready" in done.text
    assert (await browser.get(f"/hotspot?{meraki_query()}")).headers["location"] == "/connect"  # logged in
    connect = await browser.get("/connect")
    _action, fields = handoff_form(connect)
    assert fields["username"].startswith("voucher~")


@pytest.mark.parametrize(
    ("when", "said"),
    [(NOW - HOUR, "This voucher is not valid yet."), (NOW + 25 * HOUR, "This voucher has expired.")],
)
async def test_early_and_late(browser: Browser, when: object, said: str) -> None:
    codes = await _batch(browser)
    browser.portal.clock.now = when  # type: ignore[attr-defined]
    refused = await browser.submit("/voucher", {"code": codes[0], "terms": "yes"})
    assert refused.status_code == 422 and said in refused.text


async def test_guessing_codes_is_throttled(browser: Browser) -> None:
    await _batch(browser)
    answers = []
    for guess in [f"XXXX-XXXX-XX{a}{b}" for a in "YZ" for b in "ABCDEF"]:
        answer = await browser.submit("/voucher", {"code": guess, "terms": "yes"})
        answers.append((answer.status_code, "This code is not valid" in answer.text))
    assert answers[:10] == [(422, True)] * 10
    assert answers[-1][0] == 429  # past ten wrong codes from one address, it must wait
    malformed = await browser.submit("/voucher", {"code": "not a code", "terms": "yes"})
    assert malformed.status_code in (422, 429)


async def test_a_guest_has_my_account_and_no_password_to_change_or_delete_it(browser: Browser) -> None:
    """The voucher is purged when it expires; a guest has no password, so neither a password
    change nor a deletion goes through (each refused with its message, never an error)."""
    codes = await _batch(browser)
    await browser.submit("/voucher", {"code": codes[0], "terms": "yes"})
    mine = await browser.get("/account")
    assert mine.status_code == 200 and "voucher~" in mine.text
    assert (await browser.get("/account/data")).status_code == 200
    for path in ("/account/delete", "/account/password"):
        refused = await browser.submit(path, {"password": "", "new_password": "a long new passphrase"})
        assert refused.status_code == 422, (path, refused.status_code)
    assert (await browser.get("/account")).status_code == 200
