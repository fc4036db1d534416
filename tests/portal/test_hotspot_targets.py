"""Issue 14, on SQLite and PostgreSQL: no credential goes to a place the verified arrival did not name.
A crafted or foreign CoovaChilli link, a target stored outside the one rule for URLs (a database from
before the fix, a hand edit), or settings changed since the arrival: no token, no redirect."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from accounts.models import Nas, RadiusToken
from accounts.network import set_handoff
from portal.security import HANDOFF_COOKIE
from tests.portal.conftest import Browser
from tests.portal.hotspots import (
    CHILLI_NAS,
    DAMAGED,
    MERAKI_NAS,
    add_account,
    chilli_query,
    log_in,
    meraki_query,
    signed,
    text,
)


async def _force_handoff(
    browser: Browser, name: str, handoff: str, options: str | None, secret: bool
) -> None:
    """Settings the service now refuses, written straight into the row (as a database from before
    the fix, or a hand edit, could hold them): the portal must refuse them too."""
    async with browser.portal.transaction() as session:
        nas = (await session.scalars(select(Nas).where(Nas.shortname == name))).one()
        nas.handoff, nas.handoff_options = handoff, options
        if not secret:
            nas.uam_secret_ciphertext = None


async def test_a_crafted_chilli_link_sends_no_credential(browser: Browser, network: None) -> None:
    """A CoovaChilli access point without its UAM secret: a link naming an outside uamip and the
    attacker's challenge must mint no token and send nothing anywhere."""
    await add_account(browser)
    await log_in(browser)
    await _force_handoff(browser, CHILLI_NAS, "coovachilli", None, secret=False)
    crafted = chilli_query(uamip="203.0.113.66", challenge="00" * 16)
    for path in (f"/hotspot?{crafted}", signed(crafted), signed(chilli_query())):
        response = await browser.get(path)
        assert response.status_code == 400 and DAMAGED in text(response), path
    assert (await browser.get("/connect")).status_code == 409
    async with browser.portal.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(RadiusToken)) == 0


async def test_a_signed_link_to_a_public_uamip_sends_no_credential(browser: Browser, network: None) -> None:
    await add_account(browser)
    await log_in(browser)
    response = await browser.get(signed(chilli_query(uamip="203.0.113.66")))
    assert response.status_code == 400 and HANDOFF_COOKIE not in response.cookies
    async with browser.portal.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(RadiusToken)) == 0


@pytest.mark.parametrize(
    ("handoff", "options"),
    [
        ("form_post", '{"login_url": "http://evil.example/collect"}'),  # the harvest of issue 14
        ("form_post", '{"login_url": "javascript:alert(1)"}'),
        ("none", '{"done_url": "http://evil.example/"}'),  # an open redirect
        ("none", '{"done_url": "//evil.example/"}'),
    ],
)
async def test_a_stored_target_outside_the_rule_is_never_used(
    browser: Browser, network: None, handoff: str, options: str
) -> None:
    await add_account(browser)
    await log_in(browser)
    await _force_handoff(browser, MERAKI_NAS, handoff, options, secret=True)
    arrival = await browser.get(f"/hotspot?nas={MERAKI_NAS}")
    connect = await browser.get("/connect") if arrival.status_code == 303 else arrival
    assert connect.status_code == 400 and DAMAGED in text(connect)
    assert "evil.example" not in connect.text and "javascript:" not in connect.text


async def test_settings_changed_since_the_arrival_get_no_hand_off(browser: Browser, network: None) -> None:
    """The arrival named a Meraki login URL; the access point is now a CoovaChilli: its cookie's
    state is not handed to another integration."""
    await add_account(browser)
    await browser.get(f"/hotspot?{meraki_query()}")
    assert (await log_in(browser)).headers["location"] == "/connect"
    async with browser.portal.transaction() as session:
        nas = (await session.scalars(select(Nas).where(Nas.shortname == MERAKI_NAS))).one()
        await set_handoff(
            session, box=browser.portal.box, nas=nas, handoff="coovachilli", uam_secret="s3cret"
        )
    response = await browser.get("/connect")
    assert response.status_code == 400 and DAMAGED in text(response)
    assert "network-auth.com" not in response.text
