"""The hand-off flow (portal.hotspot), driven over HTTP like a browser (httpx), on SQLite and
PostgreSQL: arriving from an access point (CoovaChilli's ``md``-signed redirect, a Meraki-like
form POST), logging in, and being handed back to the controller with a single-use token.

The CoovaChilli side is written here from its sources, independently of ``portal.handoff``:
``md`` is the upper-case hex MD5 of the redirect URL up to ``&md=`` followed by the UAM secret,
and the logon ``password`` is the token XOR ``MD5(challenge || uamsecret)``, in hex.
"""

from __future__ import annotations

import hashlib
import html
import json
import re
import time
from datetime import timedelta
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.models import AccountingSession, AccountStatus, Device, Nas, RadiusToken
from accounts.network import (
    add_commune,
    add_nas,
    add_site,
    ensure_home_region,
    find_site,
    set_branding,
    set_handoff,
    set_wifi4eu,
)
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from accounts.tokens import consume_token
from accounts.users import create_account, find_account, set_status
from portal.app import create_app
from portal.context import Portal, PortalConfig
from portal.security import HANDOFF_COOKIE
from sesame.db import create_sessionmaker
from tests.conftest import TEST_REALM
from tests.portal.conftest import NOW, PUBLIC_URL, Browser, Clock

PASSWORD = "correct horse battery"
UAM_SECRET = "uam-s3cret-for-tests"
CHALLENGE = "5f2a9c0d7e1b3a4c6d8e0f1a2b3c4d5e"
CLIENT_MAC = "11-22-33-44-55-66"
USER_URL = "https://example.com/news?q=a%20b"
CHILLI_NAS = "ap-mediatheque"
MERAKI_NAS = "ap-gare"
MERAKI_LOGIN = "https://n123.network-auth.com/splash/login"
WELCOME = "Welcome to the library's Wi-Fi"
BRAND_COLOR = "#1a5276"
WIFI4EU_ID = "5c7b2f0e-aaaa-4bbb-8ccc-0123456789ab"
WIFI4EU_SCRIPTS = "https://collection.wifi4eu.ec.europa.eu"

DAMAGED = "The access point's link is damaged or was changed."
UNKNOWN = "This link does not come from an access point we know."


# -- the network and the accounts ----------------------------------------------------------------


@pytest.fixture
async def network(browser: Browser) -> None:
    """Valence: a CoovaChilli at the Médiathèque (UAM secret, branded), a Meraki-like AP at the Gare."""
    portal = browser.portal
    async with portal.transaction() as session:
        region = await ensure_home_region(session, realm=TEST_REALM, name="Région de test")
        valence = await add_commune(session, region=region, name="Valence", insee_code="26362")
        library = await add_site(session, commune=valence, name="Médiathèque")
        station = await add_site(session, commune=valence, name="Gare")
        chilli = await add_nas(
            session, box=portal.box, site=library, name=CHILLI_NAS, address="10.1.0.0/24",
            secret="radius-secret",
        )  # fmt: skip
        await set_handoff(session, box=portal.box, nas=chilli, handoff="coovachilli", uam_secret=UAM_SECRET)
        meraki = await add_nas(
            session, box=portal.box, site=station, name=MERAKI_NAS, address="10.2.0.0/24",
            secret="radius-secret", vendor="meraki",
        )  # fmt: skip
        await set_handoff(
            session,
            box=portal.box,
            nas=meraki,
            handoff="form_post",
            options={
                "login_url_param": "login_url",
                "allowed_hosts": ".network-auth.com",
                "username_field": "username",
                "password_field": "password",
            },
        )
        await set_branding(session, commune=valence, values={"color": BRAND_COLOR.upper()})
        await set_branding(session, site=library, values={"welcome_text": WELCOME})


async def add_account(
    browser: Browser, username: str = "alice", *, verified: bool = True, grace: timedelta | None = None
) -> int:
    portal = browser.portal
    async with portal.transaction() as session:
        account = await create_account(
            session, hasher=portal.hasher, region=await portal.region(session), username=username,
            email=f"{username}@example.fr", password=PASSWORD, verified=verified,
        )  # fmt: skip
        account.grace_until = NOW + grace if grace is not None else None
        return account.id


async def log_in(browser: Browser, *, remember: bool = False) -> httpx.Response:
    form = {"identity": "alice", "password": PASSWORD} | ({"remember": "yes"} if remember else {})
    return await browser.submit("/login", form)


# -- CoovaChilli, written from its sources ---------------------------------------------------------


def chilli_quote(value: str) -> str:
    """redir_urlencode: lower-case hex, only A-Za-z0-9 and ``-_.!~*`` left bare."""
    return re.sub("%[0-9A-F]{2}", lambda m: m.group().lower(), quote(value, safe="-_.!~*"))


def chilli_query(**changes: str | None) -> str:
    """The query string of a CoovaChilli redirect (``None`` leaves a parameter out)."""
    fields: dict[str, str | None] = {
        "res": "notyet",
        "uamip": "10.1.0.1",
        "uamport": "3990",
        "challenge": CHALLENGE,
        "called": "AA-BB-CC-00-11-22",
        "mac": CLIENT_MAC,
        "ip": "10.1.0.23",
        "nasid": CHILLI_NAS,
        "sessionid": "5f2a9c0d00000001",
        "userurl": USER_URL,
    }
    fields.update(changes)
    return "&".join(f"{name}={chilli_quote(value)}" for name, value in fields.items() if value is not None)


def signed(query: str, secret: str = UAM_SECRET) -> str:
    """The path chilli sends the browser to: ``md`` = MD5(URL up to ``&md=`` ‖ uamsecret), upper-case hex."""
    path = f"/hotspot?{query}"
    md = hashlib.md5(f"{PUBLIC_URL}{path}{secret}".encode(), usedforsecurity=False).hexdigest().upper()
    return f"{path}&md={md}"


def chilli_token(password_hex: str, *, challenge: str = CHALLENGE, secret: str = UAM_SECRET) -> str:
    """What chilli recovers from the logon URL's ``password``: hex XOR MD5(challenge ‖ uamsecret)."""
    c = hashlib.md5(bytes.fromhex(challenge) + secret.encode(), usedforsecurity=False).digest()
    return bytes(byte ^ c[i % 16] for i, byte in enumerate(bytes.fromhex(password_hex))).decode()


# -- reading pages -------------------------------------------------------------------------------


def text(response: httpx.Response) -> str:
    return html.unescape(response.text)


def csp(response: httpx.Response) -> dict[str, list[str]]:
    directives = (item.split() for item in response.headers["content-security-policy"].split(";"))
    return {name: values for name, *values in directives}


def logon_url(response: httpx.Response) -> str:
    refresh = re.search(r'<meta http-equiv="refresh" content="0;url=([^"]+)">', response.text)
    link = re.search(r'<a class="button" id="handoff-link" href="([^"]+)">', response.text)
    assert refresh and link, response.text
    assert refresh.group(1) == link.group(1)
    return html.unescape(refresh.group(1))


def handoff_form(response: httpx.Response) -> tuple[str, dict[str, str]]:
    form = re.search(r'<form method="post" action="([^"]+)" id="handoff">(.*?)</form>', response.text, re.S)
    assert form, response.text
    fields = re.findall(r'<input type="hidden" name="([^"]*)" value="([^"]*)">', form.group(2))
    return html.unescape(form.group(1)), {html.unescape(k): html.unescape(v) for k, v in fields}


async def token_is_live_once(
    browser: Browser, box: SecretBox, account_id: int, token: str, nas: str = CHILLI_NAS
) -> bool:
    """Consume the token twice, as two Access-Requests would: True if only the first wins.
    Before that, every other access point tries it: none may (issue 14)."""
    async with browser.portal.transaction() as session:
        nas_id = await session.scalar(select(Nas.id).where(Nas.shortname == nas))
        others = (await session.scalars(select(Nas.id).where(Nas.shortname != nas))).all()
    assert nas_id is not None and others
    results = []
    for tried in [*others, nas_id, nas_id]:
        async with browser.portal.transaction() as session:
            results.append(
                await consume_token(
                    session, box=box, account_id=account_id, token=token, nas_id=tried, now=NOW
                )
            )
    return results == [False] * len(others) + [True, False]


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


def meraki_query(login_url: str = MERAKI_LOGIN) -> str:
    return urlencode(
        {
            "nas": MERAKI_NAS,
            "login_url": login_url,
            "continue_url": "http://example.com/",
            "ap_mac": "00:18:0a:00:00:01",
            "ap_name": "Gare hall",
            "client_mac": "AA:BB:CC:00:11:22",
            "client_ip": "10.2.0.5",
        }
    )


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


# -- WiFi4EU -------------------------------------------------------------------------------------


def wifi4eu_snippet(response: httpx.Response) -> str:
    """The inline script of the WiFi4EU snippet, checked to be allowed by the page's CSP nonce."""
    script = re.search(r'<script nonce="([^"]+)">(.*?)</script>', response.text, re.S)
    assert script, response.text
    script_src = csp(response)["script-src"]
    assert f"'nonce-{script.group(1)}'" in script_src and WIFI4EU_SCRIPTS in script_src
    assert f'<script src="{WIFI4EU_SCRIPTS}/wifi4eu.min.js" defer></script>' in response.text
    return script.group(2)


async def test_a_wifi4eu_site_embeds_the_commissions_snippet(
    browser: Browser,
    network: None,
    engine: AsyncEngine,
    box: SecretBox,
    hasher: PasswordHasher,
    clock: Clock,
) -> None:
    async with browser.portal.transaction() as session:
        await set_wifi4eu(session, site=await find_site(session, "Médiathèque"), network_id=WIFI4EU_ID)
    plain = await browser.get("/login")  # no access point yet: nothing to report
    assert (
        "wifi4eu" not in plain.text.lower()
        and WIFI4EU_SCRIPTS not in plain.headers["content-security-policy"]
    )

    login = await browser.get(signed(chilli_query()))
    snippet = wifi4eu_snippet(login)
    assert f"var wifi4euNetworkIdentifier = {json.dumps(WIFI4EU_ID)};" in snippet
    assert 'var wifi4euLanguage = "en";' in snippet and "selftestModus" not in snippet
    signup = await browser.get("/signup", headers={"Accept-Language": "it"})
    assert 'var wifi4euLanguage = "it";' in wifi4eu_snippet(signup)
    assert "wifi4eu" not in (await browser.get(f"/hotspot?{meraki_query()}")).text.lower()  # another site

    portal = Portal(
        config=PortalConfig(
            realm=TEST_REALM, region_name="Région de test", public_url=PUBLIC_URL, wifi4eu_self_test=True
        ),
        sessions=create_sessionmaker(engine),
        box=box,
        hasher=hasher,
        postman=browser.portal.postman,
        clock=clock,
    )
    async with Browser(
        transport=httpx.ASGITransport(
            app=create_app(engine=engine, portal=portal), client=("198.51.100.7", 50000)
        ),
        base_url=PUBLIC_URL,
        headers={"Accept-Language": "en"},
    ) as testing:
        page = await testing.get(signed(chilli_query()))
    snippet = wifi4eu_snippet(page)
    assert "var selftestModus = true;" in snippet and WIFI4EU_ID in snippet


# -- RFC 8908 ------------------------------------------------------------------------------------


async def test_the_captive_api_sees_an_open_session_of_this_address(browser: Browser, network: None) -> None:
    async def captive() -> bool:
        response = await browser.get("/api/captive")
        assert response.status_code == 200
        return bool(response.json()["captive"])

    def accounting(unique: str, address: str, *, stopped: bool) -> AccountingSession:
        return AccountingSession(
            acctsessionid=unique,
            acctuniqueid=unique,
            username=f"alice@{TEST_REALM}",
            nasipaddress="10.1.0.1",
            acctstarttime=NOW - timedelta(minutes=30),
            acctstoptime=NOW if stopped else None,
            framedipaddress=address,
        )

    async with browser.portal.transaction() as session:
        session.add_all(
            [
                accounting("closed", "198.51.100.7", stopped=True),
                accounting("other", "198.51.100.8", stopped=False),
            ]
        )
    assert await captive()
    async with browser.portal.transaction() as session:
        session.add(accounting("open", "198.51.100.7", stopped=False))
    assert not await captive()


# -- issue 14: no credential to a place the verified arrival did not name -------------------------


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
