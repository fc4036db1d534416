"""Single sign-on to the console against a real OpenID provider (panva's oidc-provider, started
by the test): the console's redirects are followed by an httpx client on the provider's side,
and the answer brought back to the app as a browser would. A known staff email lands on the
console with Sésame's role; an unknown email, an unverified one, a wrong ``state``, another
``nonce``, a reused code and a refused consent are refused, with an audit entry where an email
was given; a domain held to SSO cannot use a password."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts import staffsignin, twofactor
from accounts.models import AuditEntry
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from portal.context import Portal, PortalConfig
from portal.mail import OutboxMailer, Postman
from portal.ssoconfig import OidcProvider, SsoConfig
from sesame.db import create_sessionmaker
from sesame.ssosettings import OidcProviderSettings, SsoSettings
from tests.conftest import TEST_REALM
from tests.portal.conftest import PUBLIC_URL, Browser, Clock, World
from tests.portal.console import ConsolePage, enrol, give_code, sign_in, sign_out
from tests.support.oidcprovider import openid_provider

SECRET = "client-secret-for-tests-only"
CALLBACK = f"{PUBLIC_URL}/console/sso/callback"


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    client: dict[str, object] = {
        "client_secret": SECRET,
        "redirect_uris": [CALLBACK],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
    }
    clients = [{"client_id": "sesame", **client}, {"client_id": "nonce-liar", **client}]
    with openid_provider(tmp_path_factory.mktemp("oidc"), clients) as found:
        yield found


@pytest.fixture
def portal(
    engine: AsyncEngine, tmp_path: Path, hasher: PasswordHasher, box: SecretBox, clock: Clock, issuer: str
) -> Portal:
    def provider(slug: str, client_id: str) -> OidcProvider:
        return OidcProvider(
            slug=slug, name=f"Test {slug}", issuer=issuer, client_id=client_id, client_secret=SECRET
        )

    sso = SsoConfig(
        providers=(provider("agents", "sesame"), provider("liar", "nonce-liar")),
        required_domains=frozenset({"sso-only.example"}),
        timeout=5.0,
    )
    return Portal(
        config=PortalConfig(realm=TEST_REALM, region_name="Région de test", public_url=PUBLIC_URL, sso=sso),
        sessions=create_sessionmaker(engine),
        box=box,
        hasher=hasher,
        postman=Postman(OutboxMailer(tmp_path / "outbox"), sender="Wi-Fi <wifi@test.example>"),
        clock=clock,
    )


class Refresh(HTMLParser):
    """The ``<meta http-equiv="refresh">`` of a page, as a browser reads it."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.content: str | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "meta" and (values.get("http-equiv") or "").lower() == "refresh":
            self.content = values.get("content")


async def at_provider(url: str, *, who: str, deny: bool = False) -> str:
    """The person at the provider: follow its redirects until it sends the browser back to the
    console; the callback URL (the provider's cookies say who signs in, or that they refuse)."""
    cookies = {"who": who, **({"deny": "1"} if deny else {})}
    async with httpx.AsyncClient(cookies=cookies, timeout=10, trust_env=False) as provider:
        for _ in range(10):
            if url.startswith(CALLBACK):
                return url
            answer = await provider.get(url)
            assert answer.status_code in (302, 303), (answer.status_code, answer.text[:300])
            url = str(answer.url.join(answer.headers["location"]))
    raise AssertionError("the provider never sent the browser back")


async def start(browser: Browser, slug: str = "agents") -> str:
    response = await browser.get(f"/console/sso/{slug}")
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    query = parse_qs(urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"] and query["redirect_uri"] == [CALLBACK]
    assert query["state"][0] and query["nonce"][0] and "openid" in query["scope"][0].split()
    flow = SimpleCookie()
    flow.load(response.headers["set-cookie"])
    cookie = flow["sesame_console_sso"]
    assert cookie["path"] == "/console/sso" and cookie["samesite"] == "lax" and cookie["httponly"]
    return location


async def callback(browser: Browser, url: str) -> httpx.Response:
    split = urlsplit(url)
    return await browser.get(f"{split.path}?{split.query}")


async def audit(browser: Browser) -> list[tuple[str, str, str | None]]:
    async with browser.portal.transaction() as session:
        rows = await session.scalars(select(AuditEntry).where(AuditEntry.action.like("staff.%")))
        return [(row.action, row.actor, row.after) for row in rows]


async def test_a_known_staff_email_signs_in_with_sesames_role(browser: Browser, world: World) -> None:
    page = ConsolePage((await browser.get("/console/login")).text)
    assert "/console/sso/agents" in page.links and "/console/sso/liar" in page.links
    back = await at_provider(await start(browser), who="valence@test.example")
    landed = await callback(browser, back)
    assert landed.status_code == 200, landed.text
    assert Refresh(landed.text).content == "0;url=/console"  # moves on by itself (no script)
    assert "/console" in ConsolePage(landed.text).links  # or by its link
    home = await browser.get("/console")
    assert home.status_code == 200
    reach = ConsolePage(home.text)
    assert reach.h1 == "My reach" and reach.row_headers == ["Valence"]  # a commune admin's reach
    assert (staffsignin.SIGNED_IN, "valence@test.example", '{"method": "oidc:agents"}') in await audit(
        browser
    )


@pytest.mark.parametrize(
    ("who", "reason", "words"),
    [
        ("stranger@test.example", "unknown", "No staff account"),
        ("unverified.region@test.example", "unverified", "does not confirm"),
    ],
)
async def test_unknown_and_unverified_emails_are_refused_and_audited(
    browser: Browser, world: World, who: str, reason: str, words: str
) -> None:
    back = await at_provider(await start(browser), who=who)
    refused = await callback(browser, back)
    assert refused.status_code == 403 and words in ConsolePage(refused.text).alerts[0]
    assert "sesame_console=" not in refused.headers.get("set-cookie", "")
    assert (await browser.get("/console")).status_code == 303
    entry = (staffsignin.REFUSED, who, f'{{"method": "oidc:agents", "reason": "{reason}"}}')
    assert entry in await audit(browser)


async def test_a_wrong_state_is_refused(browser: Browser, world: World) -> None:
    back = await at_provider(await start(browser), who="region@test.example")
    split = urlsplit(back)
    query = {k: v[0] for k, v in parse_qs(split.query).items()}
    query["state"] = "not-" + query["state"]
    refused = await browser.get(f"{split.path}?{urlencode(query)}")
    assert (
        refused.status_code == 400 and "not started from this browser" in ConsolePage(refused.text).alerts[0]
    )
    assert (await browser.get("/console")).status_code == 303
    # the answer of a sign-in another browser started: no flow cookie here
    async with Browser(transport=browser._transport, base_url=PUBLIC_URL) as other:
        assert (await callback(other, back)).status_code == 400


async def test_another_nonce_in_the_id_token_is_refused(
    browser: Browser, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    """The provider's "nonce-liar" client signs, with the provider's own key, an ID token whose
    nonce is another request's: the signature holds, the nonce does not."""
    back = await at_provider(await start(browser, "liar"), who="region@test.example")
    refused = await callback(browser, back)
    assert refused.status_code == 403 and "could not be verified" in ConsolePage(refused.text).alerts[0]
    assert "ID token refused: InvalidClaimError" in caplog.text
    assert (await browser.get("/console")).status_code == 303


async def test_a_reused_code_is_refused(
    browser: Browser, world: World, caplog: pytest.LogCaptureFixture
) -> None:
    back = await at_provider(await start(browser), who="region@test.example")
    flow_cookie = browser.cookies.get("sesame_console_sso")
    assert (await callback(browser, back)).status_code == 200
    browser.cookies.clear()
    browser.cookies.set("sesame_console_sso", flow_cookie or "", path="/console/sso")  # replayed too
    refused = await callback(browser, back)
    assert refused.status_code == 403 and "could not be verified" in ConsolePage(refused.text).alerts[0]
    assert "token endpoint refused the code: invalid_grant" in caplog.text


async def test_a_refused_consent_says_so(browser: Browser, world: World) -> None:
    back = await at_provider(await start(browser), who="region@test.example", deny=True)
    assert parse_qs(urlsplit(back).query)["error"] == ["access_denied"]
    refused = await callback(browser, back)
    assert refused.status_code == 403 and "cancelled or refused" in ConsolePage(refused.text).alerts[0]


async def test_a_domain_held_to_sso_cannot_use_a_password(browser: Browser, world: World) -> None:
    refused = await sign_in(browser, "someone@SSO-only.example", "any password at all")
    assert refused.status_code == 400 and "single sign-on" in ConsolePage(refused.text).alerts[0]
    assert (
        staffsignin.REFUSED,
        "someone@sso-only.example",
        '{"method": "password", "reason": "sso-required"}',
    ) in (await audit(browser))
    assert (await sign_in(browser, "region@test.example")).status_code == 303
    assert (staffsignin.SIGNED_IN, "region@test.example", '{"method": "password"}') in await audit(browser)


async def test_the_region_can_ask_totp_after_the_provider_too(
    browser: Browser, world: World, clock: Clock
) -> None:
    await sign_in(browser, "region@test.example")
    secret, _ = await enrol(browser)
    await sign_out(browser)
    config = browser.portal.config
    browser.portal.config = dataclasses.replace(
        config, sso=dataclasses.replace(config.sso, totp_after_sso=True)
    )
    landed = await callback(browser, await at_provider(await start(browser), who="region@test.example"))
    assert Refresh(landed.text).content == "0;url=/console/login/code"
    assert (await browser.get("/console")).status_code == 303  # no session before the code
    clock.now += timedelta(seconds=twofactor.STEP)  # the enrolment's step is spent
    assert (await give_code(browser, twofactor.code_at(secret, browser.portal.now()))).status_code == 303
    assert (await browser.get("/console")).status_code == 200
    entries = await audit(browser)
    assert (staffsignin.SIGNED_IN, "region@test.example", '{"method": "oidc:agents+totp"}') in entries
    assert (staffsignin.SIGNED_IN, "region@test.example", '{"method": "oidc:agents"}') not in entries


@pytest.mark.parametrize(
    ("issuer", "good"),
    [
        ("https://auth.agentconnect.gouv.fr/api/v2", True),
        ("http://127.0.0.1:8080", True),
        ("http://192.168.1.10", False),  # a private address is no test loopback: https only
        ("http://idp.example.fr", False),
        ("https://user@idp.example.fr", False),
        ("https://idp.example.fr/?next=x", False),
        ("javascript:alert(1)", False),
    ],
)
def test_the_settings_hold_every_issuer_to_https(issuer: str, good: bool) -> None:
    provider = {"slug": "idp", "name": "IdP", "issuer": issuer, "client_id": "c", "client_secret": "s"}
    if good:
        assert SsoSettings(providers=[OidcProviderSettings(**provider)]).providers[0].issuer == issuer
    else:
        with pytest.raises(ValidationError):
            OidcProviderSettings(**provider)


@pytest.mark.parametrize(
    ("trust", "flag", "good"),
    [
        (False, True, True),
        (False, None, False),
        (True, None, True),
        (True, False, False),
        (False, "true", False),
    ],
)
def test_an_email_is_taken_only_as_verified_as_the_provider_says(
    trust: bool, flag: object, good: bool
) -> None:
    provider = OidcProvider(slug="p", name="P", issuer="https://p.example", client_id="c", client_secret="s",
                            trust_email=trust)  # fmt: skip
    claims: dict[str, object] = {"email": "a@b.example"} | ({} if flag is None else {"email_verified": flag})
    assert provider.verified(claims) is good


@pytest.mark.parametrize("slug", ["callback", "Upper", "-dash", "a" * 33])
def test_a_slug_is_a_plain_name_and_not_the_callbacks_path(slug: str) -> None:
    with pytest.raises(ValidationError):
        OidcProviderSettings(
            slug=slug, name="P", issuer="https://p.example", client_id="c", client_secret="s"
        )
