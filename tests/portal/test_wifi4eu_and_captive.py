"""What the portal's pages tell beside the hand-off, on SQLite and PostgreSQL: a WiFi4EU-funded site's
login pages carry the Commission's snippet (under the page's CSP nonce), and the captive-portal API
(RFC 8908) says whether this address still has to log in."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.models import AccountingSession
from accounts.network import find_site, set_wifi4eu
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from portal.app import create_app
from portal.context import Portal, PortalConfig
from sesame.db import create_sessionmaker
from tests.conftest import TEST_REALM
from tests.portal.conftest import NOW, PUBLIC_URL, Browser, Clock
from tests.portal.hotspots import (
    chilli_query,
    csp,
    meraki_query,
    signed,
)

WIFI4EU_ID = "5c7b2f0e-aaaa-4bbb-8ccc-0123456789ab"
WIFI4EU_SCRIPTS = "https://collection.wifi4eu.ec.europa.eu"


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
