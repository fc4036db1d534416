"""The hotspot as the hand-off tests see it (test_hotspot*.py, test_wifi4eu_and_captive.py): a network
with a CoovaChilli and a Meraki-like access point (``add_network``, the portal conftest's ``network``
fixture), accounts, redirects as the controllers send them, and readers of the pages.

The CoovaChilli side is written here from its sources, independently of ``portal.handoff``:
``md`` is the upper-case hex MD5 of the redirect URL up to ``&md=`` followed by the UAM secret,
and the logon ``password`` is the token XOR ``MD5(challenge || uamsecret)``, in hex.
"""

from __future__ import annotations

import hashlib
import html
import re
from datetime import timedelta
from urllib.parse import quote, urlencode

import httpx
from sqlalchemy import select

from accounts.models import Nas
from accounts.network import add_commune, add_nas, add_site, ensure_home_region, set_branding, set_handoff
from accounts.secretbox import SecretBox
from accounts.tokens import consume_token
from accounts.users import create_account
from tests.conftest import TEST_REALM
from tests.portal.conftest import NOW, PUBLIC_URL, Browser

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

DAMAGED = "The access point's link is damaged or was changed."
UNKNOWN = "This link does not come from an access point we know."


# -- the network and the accounts ----------------------------------------------------------------


async def add_network(browser: Browser) -> None:
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
