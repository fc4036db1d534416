"""Citizens' sign-in with FranceConnect (or any OpenID provider) against a real OpenID provider
(panva's oidc-provider, started by the test, with pairwise subjects, ``acr`` and the civil
identity's scopes as FranceConnect has them): the portal's redirects are followed on the
provider's side by an httpx client, and the answer brought back to the app as a browser would.
The first sign-in creates and links an account, the second finds it; a wrong ``state``, another
``nonce``, an expired or reused code and a refused consent each get a translated page, never a
500; only the pairwise ``sub`` is stored unless the region keeps more; the log-out goes through
the provider's end-session endpoint. On SQLite and PostgreSQL (the ``engine`` fixture)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts import identitylinks
from accounts.errors import Conflict, InvalidInput
from accounts.models import Account, IdentityLink
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from accounts.selfservice import Consent
from portal.citizenidpconfig import CitizenIdp, CitizenIdpConfig
from portal.context import Portal, PortalConfig, login_cookie
from portal.mail import OutboxMailer, Postman
from portal.security import SESSION_COOKIE
from portal.ssoconfig import OidcProvider
from sesame.citizenidpsettings import CitizenIdpSettings, CitizenProviderSettings, citizen_idp_config
from sesame.db import create_sessionmaker
from sesame.settings import load_settings
from tests.conftest import TEST_REALM
from tests.portal.conftest import PUBLIC_URL, Browser, Clock
from tests.portal.hotspots import add_network, chilli_query, logon_url, signed
from tests.support.oidcprovider import openid_provider

SECRET = "client-secret-for-tests-only"
CALLBACK = f"{PUBLIC_URL}/idp/callback"
SCOPES = ("openid", "email", "given_name", "family_name", "birthdate")


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    client: dict[str, object] = {
        "client_secret": SECRET,
        "redirect_uris": [CALLBACK],
        "post_logout_redirect_uris": [f"{PUBLIC_URL}/login"],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "client_secret_basic",
        "subject_type": "pairwise",
    }
    clients = [
        {"client_id": name, **client} for name in ("fc", "fc-civil", "fc-email", "nonce-liar", "expired-code")
    ]
    with openid_provider(tmp_path_factory.mktemp("oidc"), clients) as found:
        yield found


def idp(issuer: str, slug: str, client_id: str, **kept: bool) -> CitizenIdp:
    provider = OidcProvider(
        slug=slug, name="FranceConnect", issuer=issuer, client_id=client_id, client_secret=SECRET,
        scopes=SCOPES, acr_values="eidas1",
    )  # fmt: skip
    return CitizenIdp(provider=provider, franceconnect=True, **kept)


@pytest.fixture
def portal(
    engine: AsyncEngine, tmp_path: Path, hasher: PasswordHasher, box: SecretBox, clock: Clock, issuer: str
) -> Portal:
    idps = CitizenIdpConfig(
        providers=(
            idp(issuer, "franceconnect", "fc"),
            idp(issuer, "civil", "fc-civil", keep_civil_identity=True),
            idp(issuer, "withemail", "fc-email", use_email=True),
            idp(issuer, "liar", "nonce-liar"),
            idp(issuer, "slow", "expired-code"),
        ),
        timeout=5.0,
    )
    return Portal(
        config=PortalConfig(
            realm=TEST_REALM, region_name="Région de test", public_url=PUBLIC_URL, citizen_idps=idps
        ),
        sessions=create_sessionmaker(engine),
        box=box,
        hasher=hasher,
        postman=Postman(OutboxMailer(tmp_path / "outbox"), sender="Wi-Fi <wifi@test.example>"),
        clock=clock,
    )


async def at_provider(url: str, *, who: str, deny: bool = False) -> str:
    """The person at the provider: follow its redirects until it sends the browser back."""
    cookies = {"who": who, **({"deny": "1"} if deny else {})}
    async with httpx.AsyncClient(cookies=cookies, timeout=10, trust_env=False) as provider:
        for _ in range(10):
            if url.startswith(CALLBACK):
                return url
            answer = await provider.get(url)
            assert answer.status_code in (302, 303), (answer.status_code, answer.text[:300])
            url = str(answer.url.join(answer.headers["location"]))
    raise AssertionError("the provider never sent the browser back")


async def start(browser: Browser, slug: str = "franceconnect") -> str:
    response = await browser.get(f"/idp/{slug}")
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    query = parse_qs(urlsplit(location).query)
    assert query["code_challenge_method"] == ["S256"] and query["redirect_uri"] == [CALLBACK]
    assert query["state"][0] and query["nonce"][0] and query["acr_values"] == ["eidas1"]
    return location


async def callback(browser: Browser, url: str) -> httpx.Response:
    split = urlsplit(url)
    return await browser.get(f"{split.path}?{split.query}")


async def sign_in(browser: Browser, who: str, slug: str = "franceconnect") -> httpx.Response:
    return await callback(browser, await at_provider(await start(browser, slug), who=who))


async def welcome(browser: Browser, username: str) -> httpx.Response:
    return await browser.submit("/idp/welcome", {"username": username, "terms": "yes"})


async def links(browser: Browser) -> list[tuple[str, str, str, str | None, str | None]]:
    async with browser.portal.transaction() as session:
        rows = await session.execute(
            select(Account.username, IdentityLink.provider, IdentityLink.subject, Account.email,
                   IdentityLink.civil_ciphertext).join(Account, Account.id == IdentityLink.account_id)
        )  # fmt: skip
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_the_login_page_shows_the_franceconnect_button(browser: Browser) -> None:
    page = (await browser.get("/login", headers={"Accept-Language": "fr"})).text
    assert 'href="/idp/franceconnect"' in page and "S&#39;identifier avec FranceConnect" in page
    assert "Qu’est-ce que FranceConnect" in page or "Qu&#39;est-ce que FranceConnect" in page


async def test_the_first_sign_in_creates_and_links_an_account_the_second_finds_it(browser: Browser) -> None:
    landed = await sign_in(browser, "marianne@example.fr")
    assert landed.status_code == 303 and landed.headers["location"] == "/idp/welcome"
    form = await browser.get("/idp/welcome")
    assert form.status_code == 200 and 'name="username"' in form.text
    refused = await browser.submit("/idp/welcome", {"username": "marianne"})  # terms not accepted
    assert refused.status_code == 422 and "accept the terms" in refused.text
    done = await welcome(browser, "marianne")
    assert done.status_code == 303 and done.headers["location"] == "/account"
    account_page = await browser.get("/account")
    assert account_page.status_code == 200 and f"marianne@{TEST_REALM}" in account_page.text
    [(username, provider, subject, email, civil)] = await links(browser)
    assert (username, provider, email, civil) == ("marianne", "franceconnect", None, None)
    assert subject != "marianne@example.fr" and len(subject) == 64  # pairwise: not the provider's id
    async with browser.portal.transaction() as session:
        account = await session.scalar(select(Account).where(Account.username == "marianne"))
        assert account is not None and account.terms_version and account.terms_accepted_at
        assert account.email_verified and account.password_hash is None

    data = (await browser.get("/account/data")).json()
    assert data["account"]["email"] is None
    assert [(p["provider"], p["subject"], p["civil_identity_kept"]) for p in data["identity_providers"]] == [
        ("franceconnect", subject, False)
    ]

    browser.cookies.clear()
    again = await sign_in(browser, "marianne@example.fr")
    assert again.status_code == 303 and again.headers["location"] == "/account"
    assert f"marianne@{TEST_REALM}" in (await browser.get("/account")).text
    assert len(await links(browser)) == 1


async def test_the_civil_identity_and_email_are_kept_only_when_the_region_says(
    browser: Browser, box: SecretBox
) -> None:
    await sign_in(browser, "jeanne@example.fr", "civil")
    assert (await welcome(browser, "jeanne")).status_code == 303
    browser.cookies.clear()
    await sign_in(browser, "paul@example.fr", "withemail")
    assert (await welcome(browser, "paul")).status_code == 303
    found = {row[0]: row for row in await links(browser)}
    assert found["jeanne"][3] is None and found["jeanne"][4] is not None
    assert "Dupont" not in found["jeanne"][4]  # sealed
    async with browser.portal.transaction() as session:
        link = await session.scalar(select(IdentityLink).where(IdentityLink.provider == "civil"))
        assert link is not None
        assert identitylinks.civil_identity(box, link) == {
            "given_name": "Marianne", "family_name": "Dupont", "birthdate": "1970-01-01"
        }  # fmt: skip
    assert found["paul"][3] == "paul@example.fr" and found["paul"][4] is None


async def test_a_wrong_state_is_refused_with_a_translated_page(browser: Browser) -> None:
    back = await at_provider(await start(browser), who="marianne@example.fr")
    split = urlsplit(back)
    query = {k: v[0] for k, v in parse_qs(split.query).items()}
    query["state"] = "not-" + query["state"]
    refused = await browser.get(f"{split.path}?{urlencode(query)}", headers={"Accept-Language": "fr"})
    assert refused.status_code == 400 and "pas été commencée dans ce navigateur" in refused.text
    async with Browser(transport=browser._transport, base_url=PUBLIC_URL) as other:
        assert (await callback(other, back)).status_code == 400  # another browser: no flow cookie
    assert await links(browser) == []


async def test_another_nonce_is_refused(browser: Browser, caplog: pytest.LogCaptureFixture) -> None:
    refused = await sign_in(browser, "marianne@example.fr", "liar")
    assert refused.status_code == 403 and "could not be verified" in refused.text
    assert "ID token refused: InvalidClaimError" in caplog.text
    assert await links(browser) == [] and (await browser.get("/account")).status_code == 303


async def test_an_expired_code_is_refused(browser: Browser, caplog: pytest.LogCaptureFixture) -> None:
    """The provider's "expired-code" client's codes live one second: brought back later."""
    back = await at_provider(await start(browser, "slow"), who="marianne@example.fr")
    await asyncio.sleep(2.5)
    refused = await callback(browser, back)
    assert refused.status_code == 403 and "took too long or was already used" in refused.text
    assert "token endpoint refused the code: invalid_grant" in caplog.text
    assert await links(browser) == []


async def test_a_reused_code_is_refused(browser: Browser) -> None:
    back = await at_provider(await start(browser), who="marianne@example.fr")
    flow = browser.cookies.get("sesame_idp_flow")
    assert (await callback(browser, back)).status_code == 303
    browser.cookies.set(
        "sesame_idp_flow", flow or "", domain=urlsplit(PUBLIC_URL).hostname or "", path="/idp"
    )
    assert (await callback(browser, back)).status_code == 403


async def test_a_refused_consent_says_so_in_italian(browser: Browser) -> None:
    back = await at_provider(await start(browser), who="marianne@example.fr", deny=True)
    assert "error=access_denied" in back
    refused = await browser.get(back[len(PUBLIC_URL) :], headers={"Accept-Language": "it"})
    assert refused.status_code == 403 and "Accesso rifiutato" in refused.text
    assert await links(browser) == []


async def test_the_log_out_goes_through_the_providers_end_session(browser: Browser) -> None:
    await sign_in(browser, "marianne@example.fr")
    await welcome(browser, "marianne")
    page = await browser.get("/account")
    out = await browser.post("/logout", data={"csrf_token": browser.csrf_token(page.text)})
    assert out.status_code == 303
    target = urlsplit(out.headers["location"])
    query = parse_qs(target.query)
    assert target.path.endswith("/session/end") and query["post_logout_redirect_uri"] == [
        f"{PUBLIC_URL}/login"
    ]
    assert query["id_token_hint"][0].count(".") == 2
    assert (await browser.get("/account")).status_code == 303  # logged out here already


async def test_an_existing_account_is_linked_from_my_account(browser: Browser) -> None:
    async with browser.portal.transaction() as session:
        region = await browser.portal.region(session)
        await identitylinks.sign_up(
            session, hasher=browser.portal.hasher, box=browser.portal.box, region=region,
            provider="other", subject="x" * 10, username="lucie",
            consent=Consent(version="1", accepted_at=browser.portal.now()),
        )  # fmt: skip
    assert (await browser.get("/idp/franceconnect?link=1")).headers["location"] == "/login"  # not logged in
    # lucie's other provider is not configured here: she is logged in by her login cookie
    async with browser.portal.transaction() as session:
        lucie = await session.scalar(select(Account).where(Account.username == "lucie"))
        assert lucie is not None
        browser.cookies.set(SESSION_COOKIE, login_cookie(browser.portal, lucie))
    assert "Link my account to FranceConnect" in (await browser.get("/account")).text
    response = await browser.get("/idp/franceconnect?link=1")
    back = await at_provider(response.headers["location"], who="lucie@example.fr")
    linked = await callback(browser, back)
    assert linked.status_code == 303 and linked.headers["location"] == "/account"
    assert "Your account is linked to FranceConnect" in (await browser.get("/account")).text
    assert sorted(row[1] for row in await links(browser) if row[0] == "lucie") == ["franceconnect", "other"]
    unlinked = await browser.submit("/idp/unlink", {"provider": "franceconnect"}, page="/account")
    assert unlinked.status_code == 303 and unlinked.headers["location"] == "/account"
    refused = await browser.submit("/idp/unlink", {"provider": "other"}, page="/account")
    assert refused.status_code == 409 and "only way in" in refused.text  # no password, one link left
    assert [row[1] for row in await links(browser) if row[0] == "lucie"] == ["other"]


async def test_the_service_on_both_databases(browser: Browser) -> None:
    """accounts.identitylinks: unique (provider, sub), hostile subjects, unlink keeps a way in."""
    portal = browser.portal
    async with portal.transaction() as session:
        region = await portal.region(session)
        consent = Consent(version="1", accepted_at=portal.now())
        account = await identitylinks.sign_up(
            session, hasher=portal.hasher, box=portal.box, region=region, provider="fc", subject="abc",
            username="alpha", consent=consent, email="Alpha@Example.fr",
        )  # fmt: skip
        assert account.email == "Alpha@example.fr"  # the domain folded, as at sign-up
        other = await identitylinks.sign_up(
            session, hasher=portal.hasher, box=portal.box, region=region, provider="fc2", subject="abc",
            username="beta", consent=consent, email="Alpha@example.fr",
        )  # fmt: skip
        assert other.email is None  # an address another account has is dropped, never a way in
        assert (
            await identitylinks.account_for(session, region=region, provider="fc", subject="abc") == account
        )
        for bad in ("", "a\x00b", "é", "x" * 256, None):
            with pytest.raises(InvalidInput):
                identitylinks.check_subject("fc", bad)
        with pytest.raises(Conflict):
            await identitylinks.link(session, box=portal.box, account=other, provider="fc", subject="abc",
                                     now=portal.now())  # fmt: skip
        with pytest.raises(Conflict):  # the only way in
            await identitylinks.unlink(session, account=account, provider="fc")


@pytest.mark.parametrize(
    ("issuer", "good"),
    [("https://fc.example", True), ("http://127.0.0.1:9", True), ("http://fc.example", False),
     ("https://fc.example/?x=1", False), ("javascript:alert(1)", False)],
)  # fmt: skip
def test_the_settings_hold_every_issuer_to_https(issuer: str, good: bool) -> None:
    values = {"slug": "fc", "name": "FranceConnect", "issuer": issuer, "client_id": "c", "client_secret": "s"}
    if good:
        assert CitizenIdpSettings(providers=[CitizenProviderSettings(**values)]).providers[0].issuer == issuer
    else:
        with pytest.raises(ValidationError):
            CitizenProviderSettings(**values)


def test_the_settings_keep_nothing_more_by_default() -> None:
    found = CitizenProviderSettings(
        slug="fc", name="FranceConnect", issuer="https://fc.example", client_id="c", client_secret="s"
    )
    assert not found.keep_civil_identity and not found.use_email and found.scopes == "openid"
    with pytest.raises(ValidationError):  # the email needs its scope
        CitizenProviderSettings(**{**found.model_dump(), "client_secret": "s", "use_email": True})


async def test_at_a_hotspot_the_sign_in_continues_to_the_hand_off(browser: Browser) -> None:
    """Like a password log-in: the CoovaChilli's redirect, FranceConnect, then ``/connect``
    sends the browser back to the access point with a one-time token."""
    await add_network(browser)
    arrived = await browser.get(signed(chilli_query()))
    assert arrived.status_code == 200 and 'href="/idp/franceconnect"' in arrived.text
    assert (await sign_in(browser, "marianne@example.fr")).headers["location"] == "/idp/welcome"
    assert (await welcome(browser, "marianne")).headers["location"] == "/connect"
    logon = urlsplit(logon_url(await browser.get("/connect")))
    assert logon.path == "/logon" and f"username=marianne%40{TEST_REALM}" in logon.query.replace("@", "%40")
    browser.cookies.delete("sesame_session")
    assert (await sign_in(browser, "marianne@example.fr")).headers["location"] == "/connect"


@pytest.mark.parametrize(
    "query",
    ["", "state=x", "code=a%00b&state=" + "s" * 5000, "error=access_denied", "code=c&state=s&iss=%FF"],
)
async def test_a_hostile_callback_gets_a_page_not_a_500(browser: Browser, query: str) -> None:
    assert (await browser.get(f"/idp/callback?{query}")).status_code == 400
    assert (await browser.get("/idp/welcome")).status_code == 400  # nothing pending
    forged = {
        "csrf_token": browser.csrf_token((await browser.get("/login")).text),
        "username": "x",
        "terms": "yes",
    }
    browser.cookies.set("sesame_idp_pending", "not-sealed\x00" * 10)
    assert (await browser.post("/idp/welcome", data=forged)).status_code == 400


def test_the_environment_configures_the_providers(monkeypatch: pytest.MonkeyPatch) -> None:
    provider = {
        "slug": "franceconnect", "name": "FranceConnect", "franceconnect": True, "issuer": "https://fc.example",
        "client_id": "c", "client_secret": "s", "acr_values": "eidas1",
    }  # fmt: skip
    monkeypatch.setenv("SESAME_SECRET_KEY", "a-test-secret-key-that-is-long-enough-1234")
    monkeypatch.setenv("SESAME_CITIZENIDP_PROVIDERS", json.dumps([provider]))
    config = citizen_idp_config(load_settings().citizenidp)
    found = config.provider("franceconnect")
    assert found is not None and found.franceconnect and found.provider.acr_values == "eidas1"
    assert found.userinfo_claims() == ()  # nothing asked beyond sub by default
