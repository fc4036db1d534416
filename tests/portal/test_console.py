"""The staff console through the app, as a browser uses it: sign-in with a password and TOTP,
recovery codes, the region's 2FA rule, CSRF, the idle timeout and lifetime at the test's clock,
signing out everywhere, and each role seeing only what it may (another commune's page: 404)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from http.cookies import SimpleCookie

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts import twofactor
from accounts.models import Admin, AuditEntry
from portal.app import create_app
from portal.context import Portal, PortalConfig
from tests.portal.conftest import PASSWORD, PUBLIC_URL, Browser, Clock, World, bearer, token
from tests.portal.console import ConsolePage, enrol, give_code, sign_in, sign_out

REGION, VALENCE, SUPPORT, AUDITOR = (
    "region@test.example",
    "valence@test.example",
    "support@test.example",
    "auditor@test.example",
)


@pytest.fixture
async def second(browser: Browser) -> AsyncIterator[Browser]:
    """Another browser on the same app (another device of the same person)."""
    async with Browser(
        transport=httpx.ASGITransport(app=browser.app, client=("203.0.113.9", 50000)),
        base_url=PUBLIC_URL,
        headers={"Accept-Language": "en"},
    ) as other:
        other.portal, other.app, other.outbox = browser.portal, browser.app, browser.outbox
        yield other


async def _home(browser: Browser) -> ConsolePage:
    response = await browser.get("/console")
    assert response.status_code == 200, response.headers.get("location")
    return ConsolePage(response.text)


def _signed_out(response: httpx.Response) -> bool:
    return response.status_code == 303 and response.headers["location"].startswith("/console/login")


async def test_a_password_sign_in_lands_on_my_reach_with_the_navigation_of_the_role(
    browser: Browser, world: World
) -> None:
    assert _signed_out(await browser.get("/console"))
    response = await sign_in(browser, REGION)
    assert response.status_code == 303 and response.headers["location"] == "/console"
    home = await _home(browser)
    assert home.h1 == "My reach"
    assert home.row_headers == ["Nice", "Valence"]
    assert home.nav == [
        "/console",
        "/console/dashboards",
        "/console/citizens",
        "/console/audit",
        "/console/partners",
        "/console/security",
        "/console/region",
        "/console/region/communes",
        "/console/region/staff",
        "/console/region/clients",
    ]
    assert home.scripts == 0 and home.inline_styles == 0
    csp = (await browser.get("/console")).headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    for email, links in (
        (SUPPORT, ["/console/citizens"]),  # statistics: not support's
        (
            AUDITOR,
            [
                "/console/dashboards",
                "/console/citizens",
                "/console/audit",
                "/console/requisitions",
                "/console/partners",
            ],
        ),
    ):
        await sign_out(browser)
        await sign_in(browser, email)
        page = await _home(browser)
        # no link to what the role may not open
        assert page.nav == ["/console", *links, "/console/security"]
        assert (await browser.get("/console/region")).status_code == 404


async def test_a_wrong_password_is_refused_then_throttled(browser: Browser, world: World) -> None:
    response = await sign_in(browser, REGION, "not the password")
    assert response.status_code == 400
    assert ConsolePage(response.text).alerts == ["Wrong email or password."]
    assert "sesame_console" not in response.headers.get("set-cookie", "")
    for _ in range(5):
        response = await sign_in(browser, REGION, "not the password")
    assert response.status_code == 429 and int(response.headers["retry-after"]) >= 1
    assert (await sign_in(browser, "nobody@test.example", "whatever it is")).status_code == 400


async def test_a_commune_admin_sees_their_commune_only_and_another_one_by_url_is_404(
    browser: Browser, world: World
) -> None:
    await sign_in(browser, VALENCE)
    home = await _home(browser)
    assert home.row_headers == ["Valence"]
    assert f"/console/communes/{world.commune_b}" not in home.links
    own = await browser.get(f"/console/communes/{world.commune_a}")
    assert own.status_code == 200 and ConsolePage(own.text).row_headers == ["Médiathèque"]
    other = await browser.get(f"/console/communes/{world.commune_b}")
    missing = await browser.get("/console/communes/999999")
    assert other.status_code == missing.status_code == 404
    assert ConsolePage(other.text).h1 == ConsolePage(missing.text).h1 == "Not found"
    assert "Nice" not in other.text and "Gare" not in other.text
    for junk in ("abc", "-1", "0", "99999999999", "1e3"):
        assert (await browser.get(f"/console/communes/{junk}")).status_code == 404
    assert (await browser.get("/console/region")).status_code == 404
    posted = await browser.submit("/console/region", {"require_two_factor": "yes"}, page="/console")
    assert posted.status_code == 404


async def test_totp_enrolment_then_sign_in_with_a_code_wrong_codes_refused(
    browser: Browser, world: World, clock: Clock
) -> None:
    await sign_in(browser, REGION)
    secret, codes = await enrol(browser)
    assert len(codes) == 10
    await sign_out(browser)

    response = await sign_in(browser, REGION)
    assert response.headers["location"] == "/console/login/code"
    assert _signed_out(await browser.get("/console"))  # the password alone opens nothing now
    wrong = await give_code(browser, f"{(int(twofactor.code_at(secret, clock.now)) + 1) % 10**6:06d}")
    assert wrong.status_code == 400 and ConsolePage(wrong.text).alerts == ["This code is not right."]
    clock.now += timedelta(seconds=30)  # the enrolment's code was this step's: the next step's code
    good = await give_code(browser, twofactor.code_at(secret, clock.now))
    assert good.status_code == 303 and good.headers["location"] == "/console"
    assert (await _home(browser)).h1 == "My reach"

    await sign_out(browser)  # the same code again, in the same step: refused
    await sign_in(browser, REGION)
    assert (await give_code(browser, twofactor.code_at(secret, clock.now))).status_code == 400


async def test_enrolling_from_a_session_asks_for_the_password_too(browser: Browser, world: World) -> None:
    """A session left open cannot put someone else's factor on the account (and lock its owner out)."""
    await sign_in(browser, VALENCE)
    form = await browser.get("/console/enrol")
    assert "password" in ConsolePage(form.text).inputs
    secret = ConsolePage(form.text).codes[0].replace(" ", "")
    code = twofactor.code_at(secret, browser.portal.now())
    wrong = await browser.post(
        "/console/enrol",
        data={"csrf_token": browser.csrf_token(form.text), "code": code, "password": "guess"},
    )
    assert wrong.status_code == 400 and ConsolePage(wrong.text).alerts == ["Your password is not right."]
    assert ConsolePage(wrong.text).codes[0].replace(" ", "") == secret  # the same enrolment goes on
    async with browser.portal.transaction() as session:
        admin = await session.scalar(select(Admin).where(Admin.email == VALENCE))
        assert admin is not None and not await twofactor.has_two_factor(session, admin=admin)
    _, codes = await enrol(browser)
    assert len(codes) == 10


async def test_a_recovery_code_signs_in_once(browser: Browser, world: World) -> None:
    await sign_in(browser, SUPPORT)
    _, codes = await enrol(browser)
    await sign_out(browser)
    await sign_in(browser, SUPPORT)
    assert (await give_code(browser, codes[3])).headers["location"] == "/console"
    security = await browser.get("/console/security")
    assert "9 recovery codes left." in security.text
    await sign_out(browser)
    await sign_in(browser, SUPPORT)
    assert (await give_code(browser, codes[3])).status_code == 400


async def test_the_region_can_require_2fa_of_every_password_sign_in(
    browser: Browser, second: Browser, world: World
) -> None:
    await sign_in(second, AUDITOR)  # a session opened on a password alone, before the rule
    assert (await second.get("/console")).status_code == 200
    await sign_in(browser, REGION)
    saved = await browser.submit("/console/region", {"require_two_factor": "yes"})
    assert _signed_out(saved)  # its author had no second factor either
    assert _signed_out(await second.get("/console"))
    async with browser.portal.transaction() as session:
        audited = select(AuditEntry).where(AuditEntry.action == "region.require_two_factor")
        entry = await session.scalar(audited)
        assert entry is not None and entry.actor == REGION

    response = await sign_in(second, AUDITOR)
    assert response.headers["location"] == "/console/enrol"
    assert _signed_out(await second.get("/console"))  # enrolment first, before any page
    _, codes = await enrol(second)
    assert len(codes) == 10
    assert (await _home(second)).h1 == "My reach"


async def test_every_post_needs_its_csrf_token(browser: Browser, world: World) -> None:
    await browser.get("/console/login")
    refused = await browser.post("/console/login", data={"email": REGION, "password": PASSWORD})
    assert refused.status_code == 400 and "sesame_console" not in refused.headers.get("set-cookie", "")
    await sign_in(browser, REGION)
    forged = await browser.post("/console/logout-everywhere", data={"csrf_token": "0" * 32})
    assert forged.status_code == 400
    refused = await browser.post("/console/region", data={"require_two_factor": "yes"})
    assert refused.status_code == 400
    async with browser.portal.transaction() as session:
        admin = await session.scalar(select(Admin).where(Admin.email == REGION))
        assert admin is not None and admin.token_version == 0
        assert (await browser.portal.region(session)).require_two_factor is False
    assert (await browser.get("/console")).status_code == 200


async def test_idle_timeout_and_lifetime_at_the_tests_clock(
    browser: Browser, world: World, clock: Clock
) -> None:
    await sign_in(browser, VALENCE)
    for _ in range(3):  # each page restarts the 30-minute idle timer
        clock.now += timedelta(minutes=29)
        assert (await browser.get("/console")).status_code == 200
    clock.now += timedelta(minutes=31)
    idle = await browser.get("/console")
    assert _signed_out(idle) and idle.headers["location"] == "/console/login?bye=idle"

    await sign_in(browser, VALENCE)
    for _ in range(12 * 3 - 1):  # busy all day: the session still ends 12 hours after sign-in
        clock.now += timedelta(minutes=20)
        assert (await browser.get("/console")).status_code == 200
    clock.now += timedelta(minutes=21)
    assert _signed_out(await browser.get("/console"))


async def test_sign_out_everywhere_ends_every_session_and_api_token(
    browser: Browser, second: Browser, world: World
) -> None:
    await sign_in(browser, REGION)
    await sign_in(second, REGION)
    api_token = await token(second, REGION)
    assert (await second.get("/api/v1/communes", headers=bearer(api_token))).status_code == 200
    kept = second.cookies.get("sesame_console", path="/console")
    assert kept

    response = await browser.submit("/console/logout-everywhere", {}, page="/console/security")
    assert response.headers["location"] == "/console/login?bye=2"
    assert _signed_out(await browser.get("/console"))
    assert _signed_out(await second.get("/console"))
    second.cookies.set("sesame_console", kept, domain="portal.test", path="/console")  # a copy kept aside
    assert _signed_out(await second.get("/console"))
    assert (await second.get("/api/v1/communes", headers=bearer(api_token))).status_code == 401
    await sign_in(browser, REGION)
    assert (await browser.get("/console")).status_code == 200


async def test_cookies_are_httponly_strict_on_the_console_path_and_secure_over_https(
    engine: AsyncEngine, portal: Portal, world: World
) -> None:
    https = Portal(
        config=PortalConfig(realm=portal.config.realm, region_name="Région", public_url="https://portal.test"),
        sessions=portal.sessions, box=portal.box, hasher=portal.hasher, postman=portal.postman,
        clock=portal.clock,
    )  # fmt: skip
    app = create_app(engine=engine, portal=https)
    async with Browser(
        transport=httpx.ASGITransport(app=app, client=("198.51.100.8", 50000)), base_url="https://portal.test"
    ) as client:
        client.portal = https
        response = await sign_in(client, REGION)
    cookies = SimpleCookie()
    for header in response.headers.get_list("set-cookie"):
        cookies.load(header)
    session = cookies["sesame_console"]
    assert session["httponly"] and session["secure"] and session["samesite"].lower() == "strict"
    assert session["path"] == "/console"


async def test_the_console_speaks_the_portals_languages(browser: Browser, world: World) -> None:
    for language, heading in (
        ("fr", "Connexion à la console des équipes"),
        ("it", "Accesso alla console del personale"),
    ):
        page = ConsolePage((await browser.get("/console/login", headers={"Accept-Language": language})).text)
        assert page.h1 == heading
    await sign_in(browser, VALENCE)
    home = await browser.get("/console", headers={"Accept-Language": "fr"})
    assert ConsolePage(home.text).h1 == "Mon périmètre" and "Administrateur de commune" in home.text


async def test_wrong_codes_are_throttled_and_the_pending_step_expires(
    browser: Browser, world: World, clock: Clock
) -> None:
    await sign_in(browser, AUDITOR)
    secret, _ = await enrol(browser)
    await sign_out(browser)
    await sign_in(browser, AUDITOR)
    clock.now += timedelta(seconds=30)
    wrong = f"{(int(twofactor.code_at(secret, clock.now)) + 1) % 10**6:06d}"
    for _ in range(5):
        assert (await give_code(browser, wrong)).status_code == 400
    refused = await give_code(browser, twofactor.code_at(secret, clock.now))  # right, but too soon
    assert refused.status_code == 429 and int(refused.headers["retry-after"]) >= 1

    clock.now += timedelta(minutes=6)  # past the pending step's five minutes
    late = await browser.get("/console/login/code")
    assert late.status_code == 303 and late.headers["location"] == "/console/login"


async def test_the_idle_timeout_is_a_setting(
    engine: AsyncEngine,
    portal: Portal,
    world: World,
    clock: Clock,
    settings_env: None,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``SESAME_PORTAL_CONSOLE_IDLE_MINUTES`` reaches the portal the composition root builds."""
    from sesame.compose import build_portal
    from sesame.settings import Settings

    monkeypatch.setenv("SESAME_PORTAL_CONSOLE_IDLE_MINUTES", "10")
    monkeypatch.setenv("SESAME_PORTAL_CONSOLE_HOURS", "2")
    monkeypatch.setenv("SESAME_ENVIRONMENT", "development")
    built = build_portal(Settings(), engine)
    assert (built.config.console_idle, built.config.console_lifetime) == (600.0, 7200.0)
    short = Portal(
        config=PortalConfig(
            realm=portal.config.realm, region_name="Région", public_url=PUBLIC_URL, console_idle=600
        ),
        sessions=portal.sessions, box=portal.box, hasher=portal.hasher, postman=portal.postman, clock=clock,
    )  # fmt: skip
    async with Browser(
        transport=httpx.ASGITransport(
            app=create_app(engine=engine, portal=short), client=("198.51.100.9", 1)
        ),
        base_url=PUBLIC_URL,
    ) as client:
        client.portal = short
        await sign_in(client, REGION)
        clock.now += timedelta(minutes=9)
        assert (await client.get("/console")).status_code == 200
        clock.now += timedelta(minutes=11)
        assert _signed_out(await client.get("/console"))
