"""The hand-off flow (portal.hotspot), driven over HTTP like a browser (httpx), on SQLite and
PostgreSQL: arriving from an access point (CoovaChilli's ``md``-signed redirect, a Meraki-like
form POST), logging in, and being handed back to the controller with a single-use token.

The controllers' side (CoovaChilli written from its sources) is ``tests/portal/hotspots.py``;
test_hotspot_targets.py holds what must never be handed a credential.
"""

from __future__ import annotations

import re
import time
from datetime import timedelta
from urllib.parse import parse_qsl, quote, unquote, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from accounts.models import AccountStatus, Device, Nas, RadiusToken
from accounts.secretbox import SecretBox
from accounts.users import find_account, set_status
from portal.security import HANDOFF_COOKIE
from tests.conftest import TEST_REALM
from tests.portal.conftest import NOW, PUBLIC_URL, Browser, Clock
from tests.portal.hotspots import (
    BRAND_COLOR,
    CHALLENGE,
    CHILLI_NAS,
    CLIENT_MAC,
    DAMAGED,
    MERAKI_LOGIN,
    MERAKI_NAS,
    UNKNOWN,
    USER_URL,
    WELCOME,
    add_account,
    chilli_query,
    chilli_token,
    csp,
    handoff_form,
    log_in,
    logon_url,
    meraki_query,
    signed,
    text,
    token_is_live_once,
)

# -- arriving from CoovaChilli -------------------------------------------------------------------


async def test_a_signed_chilli_redirect_opens_the_sites_branded_login_page(
    browser: Browser, network: None
) -> None:
    response = await browser.get(signed(chilli_query()))
    assert response.status_code == 200, response.text
    assert "<title>Log in · Valence · Médiathèque</title>" in response.text
    assert f'<p class="welcome">{WELCOME}</p>' in text(response)
    style = re.search(r'<style nonce="([^"]+)">:root \{ --brand: ([^;]+);', response.text)
    assert style and style.group(2) == BRAND_COLOR  # the commune's colour under the site's welcome
    assert f"'nonce-{style.group(1)}'" in csp(response)["style-src"]
    assert 'name="remember" value="yes"' in response.text  # chilli told us the MAC
    cookie = response.cookies[HANDOFF_COOKIE].strip('"')  # quoted: base64 padding has '='
    state = browser.portal.handoff_signer.read(cookie, now=time.time(), max_age=60)
    assert state is not None, "the hand-off cookie is signed by the portal"
    async with browser.portal.transaction() as session:
        nas_id = await session.scalar(select(Nas.id).where(Nas.shortname == CHILLI_NAS))
    assert state["n"] == nas_id and state["m"] == CLIENT_MAC and state["u"] == USER_URL
    assert state["s"] == {"res": "notyet", "uamip": "10.1.0.1", "uamport": "3990", "challenge": CHALLENGE}
    assert "httponly" in response.headers["set-cookie"].lower()

    browser.cookies.clear()
    without_mac = await browser.get(signed(chilli_query(mac=None)))
    assert without_mac.status_code == 200 and 'name="remember"' not in without_mac.text


@pytest.mark.parametrize(
    ("path", "message"),
    [
        pytest.param(signed(chilli_query()).replace("uamport=3990", "uamport=3991"), DAMAGED, id="tampered"),
        pytest.param(signed(chilli_query()).replace("mac=11", "mac=22"), DAMAGED, id="tampered-mac"),
        pytest.param(signed(chilli_query()) + "&res=success", DAMAGED, id="appended-after-md"),
        pytest.param(f"/hotspot?{chilli_query()}", DAMAGED, id="missing-md"),
        pytest.param(signed(chilli_query(), secret="another-secret"), DAMAGED, id="other-secret"),
        pytest.param(signed(chilli_query(challenge="00")), DAMAGED, id="short-challenge"),
        pytest.param(signed(chilli_query(nasid="ap-unknown")), UNKNOWN, id="unknown-nasid"),
        pytest.param(signed(chilli_query(nasid=None)), UNKNOWN, id="no-nasid"),
        pytest.param("/hotspot", UNKNOWN, id="nothing"),
        pytest.param("/hotspot?nas=%00", UNKNOWN, id="nul-name"),
        pytest.param(f"/hotspot?nas={'x' * 70}", UNKNOWN, id="long-name"),
    ],
)
async def test_a_damaged_or_foreign_link_is_refused(
    browser: Browser, network: None, path: str, message: str
) -> None:
    response = await browser.get(path)
    assert response.status_code == 400
    assert message in text(response) and "We cannot connect you" in response.text
    assert HANDOFF_COOKIE not in response.cookies
    assert (await browser.get("/connect")).status_code == 409  # nothing to hand off to


ASCII = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E, exclude_characters="#"), max_size=12)
KEYS = st.one_of(
    st.sampled_from(
        ["nas", "nasid", "ap_name", "gw_id", "res", "uamip", "uamport", "challenge", "mac", "ip",
         "userurl", "md", "login_url", "client_mac", "client_ip", "continue_url", "reason"]
    ),
    ASCII,
)  # fmt: skip
VALUES = st.one_of(
    st.sampled_from(
        [CHILLI_NAS, MERAKI_NAS, "notyet", "success", "already", "failed", CHALLENGE, "10.1.0.1", "3990",
         "::1%25eth0", MERAKI_LOGIN, "https%3A%2F%2Fevil.example%2F", "%ff", "%zz", ""]
    ),
    ASCII,
    st.binary(max_size=6).map(lambda raw: quote(raw, safe="")),
)  # fmt: skip
QUERIES = st.lists(st.one_of(st.tuples(KEYS, VALUES).map("=".join), ASCII), max_size=12).map("&".join)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(query=QUERIES, sign=st.booleans())
async def test_no_query_string_crashes_the_arrival(
    browser: Browser, network: None, query: str, sign: bool
) -> None:
    browser.cookies.clear()
    query = httpx.URL(f"{PUBLIC_URL}/hotspot?{query}").query.decode()  # as the browser sends it
    response = await browser.get(signed(query) if sign else f"/hotspot?{query}")
    assert response.status_code in (200, 303, 400), response.text


# -- logging in and being handed back ------------------------------------------------------------


async def test_log_in_then_connect_hands_chilli_a_single_use_token(
    browser: Browser, network: None, box: SecretBox
) -> None:
    account_id = await add_account(browser)
    await browser.get(signed(chilli_query()))
    login = await log_in(browser, remember=True)
    assert login.status_code == 303 and login.headers["location"] == "/connect"
    connect = await browser.get("/connect")
    assert connect.status_code == 200 and connect.headers["cache-control"] == "no-store"
    url = urlsplit(logon_url(connect))
    assert (url.scheme, url.netloc, url.path) == ("http", "10.1.0.1:3990", "/logon")
    assert url.query.startswith(f"username=alice%40{TEST_REALM}&password=")
    params = dict(parse_qsl(url.query))
    assert params["username"] == f"alice@{TEST_REALM}"
    assert unquote(params["userurl"]) == USER_URL  # chilli decodes userurl twice
    assert re.fullmatch(r"[0-9a-f]+", params["password"])
    token = chilli_token(params["password"])
    assert await token_is_live_once(browser, box, account_id, token)

    async with browser.portal.transaction() as session:
        devices = (await session.scalars(select(Device).where(Device.account_id == account_id))).all()
    assert [(d.mac, d.remembered_until) for d in devices] == [("11:22:33:44:55:66", NOW + timedelta(days=90))]

    # back from the access point while logged in: straight on to the hand-off, a new token
    again = await browser.get(signed(chilli_query()))
    assert again.status_code == 303 and again.headers["location"] == "/connect"
    second = chilli_token(
        dict(parse_qsl(urlsplit(logon_url(await browser.get("/connect"))).query))["password"]
    )
    assert second != token and await token_is_live_once(browser, box, account_id, second)


async def test_no_device_is_remembered_unless_asked(browser: Browser, network: None) -> None:
    await add_account(browser)
    await browser.get(signed(chilli_query()))
    assert (await log_in(browser)).headers["location"] == "/connect"
    async with browser.portal.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Device)) == 0


async def test_an_unverified_account_connects_only_during_its_grace(
    browser: Browser, network: None, box: SecretBox, clock: Clock
) -> None:
    account_id = await add_account(browser, verified=False, grace=timedelta(minutes=15))
    await browser.get(signed(chilli_query()))
    login = await log_in(browser)
    assert login.status_code == 303 and login.headers["location"] == "/verify"
    assert 'href="/connect"' in (await browser.get("/verify")).text  # "Connect now"
    connect = await browser.get("/connect")
    assert connect.status_code == 200
    token = chilli_token(dict(parse_qsl(urlsplit(logon_url(connect)).query))["password"])
    assert await token_is_live_once(browser, box, account_id, token)

    clock.now = NOW + timedelta(minutes=15)
    late = await browser.get("/connect")
    assert late.status_code == 303 and late.headers["location"] == "/verify"
    async with browser.portal.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(RadiusToken)) == 1


async def test_a_disabled_account_gets_no_token(browser: Browser, network: None) -> None:
    await add_account(browser)
    await browser.get(signed(chilli_query()))
    assert (await log_in(browser)).status_code == 303
    async with browser.portal.transaction() as session:
        account = await find_account(session, "alice", region=await browser.portal.region(session))
        await set_status(session, account=account, status=AccountStatus.DISABLED)
    refused = await browser.get("/connect")
    assert refused.status_code == 403 and "This account cannot connect: contact support." in refused.text
    async with browser.portal.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(RadiusToken)) == 0


async def test_connect_without_a_hand_off_says_almost_there(browser: Browser, network: None) -> None:
    await add_account(browser)
    assert (await browser.get("/connect")).status_code == 409  # neither logged in nor arrived
    assert (await log_in(browser)).headers["location"] == "/account"
    response = await browser.get("/connect")
    assert response.status_code == 409 and "Almost there" in response.text
    # a hand-off cookie the portal did not sign reads as absent
    await browser.get(signed(chilli_query()))
    cookie = browser.cookies[HANDOFF_COOKIE].strip('"')
    browser.cookies.set(HANDOFF_COOKIE, cookie[:-2] + ("AA" if cookie[-2:] != "AA" else "BB"))
    assert (await browser.get("/connect")).status_code == 409
    async with browser.portal.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(RadiusToken)) == 0


@pytest.mark.parametrize(
    ("res", "user_url", "link"),
    [
        ("success", "https://example.com/news", "https://example.com/news"),
        ("already", "https://example.com/", "https://example.com/"),
        ("success", "http://example.com/news", "http://example.com/news"),  # what people ask for
        ("success", "http://a b/", None),
        ("success", "https://a@evil.example/", None),
        ("success", "javascript:alert(1)", None),
        ("already", None, None),
    ],
)
async def test_chilli_says_the_person_is_connected(
    browser: Browser, network: None, res: str, user_url: str | None, link: str | None
) -> None:
    response = await browser.get(signed(chilli_query(res=res, challenge=None, userurl=user_url)))
    assert response.status_code == 200 and "<h1>You are connected</h1>" in response.text
    links = re.findall(r'<a class="button" href="([^"]*)">', response.text)
    assert links == ([link] if link else [])
    assert "javascript:" not in response.text


async def test_a_logged_in_person_refused_by_chilli_is_not_sent_round_again(
    browser: Browser, network: None
) -> None:
    """res=failed (an Access-Reject) or logoff must not start another hand-off by itself: the
    controller would reject the next token too and send the browser back, for ever."""
    await add_account(browser)
    await browser.get(signed(chilli_query()))
    assert (await log_in(browser)).headers["location"] == "/connect"
    for res in ("failed", "logoff"):
        response = await browser.get(signed(chilli_query(res=res, reason="reject")))
        assert response.status_code == 200, (res, response.headers.get("location"))
        assert 'action="/login"' in response.text
        assert ("The access point refused the connection" in response.text) == (res == "failed")


# -- a controller that takes a form POST (Meraki-like) -------------------------------------------


async def test_a_form_post_access_point_gets_the_token_posted(
    browser: Browser, network: None, box: SecretBox
) -> None:
    account_id = await add_account(browser)
    arrival = await browser.get(f"/hotspot?{meraki_query()}")
    assert arrival.status_code == 200 and "<title>Log in · Valence · Gare</title>" in arrival.text
    assert 'name="remember"' in arrival.text
    assert (await log_in(browser, remember=True)).headers["location"] == "/connect"
    connect = await browser.get("/connect")
    assert connect.status_code == 200
    action, fields = handoff_form(connect)
    assert action == MERAKI_LOGIN
    assert set(fields) == {"username", "password"} and fields["username"] == f"alice@{TEST_REALM}"
    assert await token_is_live_once(browser, box, account_id, fields["password"], MERAKI_NAS)
    assert csp(connect)["form-action"] == ["'self'", "https://n123.network-auth.com"]
    assert '<script src="/static/connect.js" defer></script>' in connect.text
    async with browser.portal.transaction() as session:
        assert await session.scalar(select(Device.mac).where(Device.account_id == account_id)) == (
            "aa:bb:cc:00:11:22"
        )


@pytest.mark.parametrize(
    "login_url",
    [
        "https://evil.example/splash/login",
        "https://n123.network-auth.com.evil.example/splash/login",
        "https://network-auth.com@evil.example/",
        "javascript:alert(1)//n123.network-auth.com",
    ],
)
async def test_a_login_url_on_another_host_is_refused(
    browser: Browser, network: None, login_url: str
) -> None:
    response = await browser.get(f"/hotspot?{meraki_query(login_url)}")
    assert response.status_code == 400 and DAMAGED in text(response)
    assert HANDOFF_COOKIE not in response.cookies
