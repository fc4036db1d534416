"""My account's "secure connection" section in headless Chromium (Debian ``chromium`` +
``chromium-driver``): the profile offered first follows the browser's user agent (an iPhone, an
Android phone, a Windows laptop, set through DevTools), the others stay one tap away, and axe-core
finds no WCAG 2.1 A/AA violation on the section nor on the download page.

The portal is served by uvicorn on 127.0.0.1 from this process (a thread with its own event loop),
so that it can offer profile formats whose builders this test provides — the real format modules
are tested on their own; here only the page is.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import uvicorn
from cryptography.hazmat.primitives.serialization import Encoding

from accounts.deviceca import DeviceIssuer
from accounts.network import ensure_home_region
from accounts.passwords import Argon2Cost, PasswordHasher
from accounts.secretbox import SecretBox
from accounts.users import create_account
from portal.app import create_app
from portal.context import EapProfile, OnboardingNetwork, Portal, PortalConfig
from portal.mail import OutboxMailer, Postman
from portal.onboarding.formats import STANDARD, standard
from portal.onboarding.spec import ProfileSpec
from radius.eap.trialpki import make_ca
from sesame.db import create_engine, create_sessionmaker
from tests.conftest import TEST_REALM, TEST_SECRET_KEY
from tests.interop.test_portal_browser import ARTIFACTS, axe_source, chromium_driver, need_browser
from tests.support.ports import free_tcp_port

pytestmark = pytest.mark.slow
__all__ = ["chromium_driver"]  # the module's browser, shared with the portal's browser tests

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0"
)
PASSWORD = "a long walk in Valence"


def as_json(spec: ProfileSpec) -> bytes:
    return json.dumps({"ssids": list(spec.ssids), "server_names": list(spec.server_names)}).encode()


def portal_for(url: str, workdir: Path) -> Portal:
    now = datetime.now(UTC)
    server_ca, device_ca = make_ca("RADIUS CA (test)"), make_ca("device CA (test)")
    builders = {row.name: as_json for rows in STANDARD.values() for row in rows}
    return Portal(
        config=PortalConfig(
            realm=TEST_REALM,
            region_name="Région Sud",
            public_url="http://127.0.0.1",
            eap=EapProfile(
                ca_der=server_ca.certificate.public_bytes(Encoding.DER),
                ca_subject="CN=RADIUS CA (test)",
                ca_not_after=now + timedelta(days=3650),
                server_names=(f"radius.{TEST_REALM}",),
                methods=("peap/mschapv2", "eap-ttls/eap-mschapv2", "eap-tls"),
            ),
            onboarding=OnboardingNetwork(
                ssids=("Région Sud sécurisé",),
                device_issuer=DeviceIssuer.load(device_ca.certificate_pem(), device_ca.key_pem()),
            ),
        ),
        sessions=create_sessionmaker(create_engine(url)),
        box=SecretBox(TEST_SECRET_KEY),
        hasher=PasswordHasher(Argon2Cost(memory_kib=1024, time_cost=1, parallelism=1)),
        postman=Postman(OutboxMailer(workdir / "outbox"), sender="Wi-Fi <wifi@test.example>"),
        formats=standard(builders),
    )


async def _citizen(url: str, hasher: PasswordHasher) -> None:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            region = await ensure_home_region(session, realm=TEST_REALM, name="Région Sud")
            await create_account(
                session, hasher=hasher, region=region, username="camille", email="camille@example.fr",
                password=PASSWORD, verified=True,
            )  # fmt: skip
            await session.commit()
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[str]:
    need_browser()
    workdir = tmp_path_factory.mktemp("onboarding")
    shutil.copyfile(sqlite_template, workdir / "portal.db")
    url = f"sqlite+aiosqlite:///{workdir / 'portal.db'}"
    portal = portal_for(url, workdir)
    asyncio.run(_citizen(url, portal.hasher))
    port = free_tcp_port()
    app = create_app(engine=create_engine(url), portal=portal)
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "uvicorn did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="module")
def logged_in(chromium_driver: object, served: str) -> object:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.wait import WebDriverWait

    driver: WebDriver = chromium_driver  # type: ignore[assignment]
    driver.get(f"{served}/lang/en?next=/login")
    driver.find_element(By.ID, "identity").send_keys("camille")
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: urlsplit(d.current_url).path == "/account")
    return driver


def violations(driver: object) -> list[str]:
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(driver, WebDriver)
    driver.set_script_timeout(30)
    driver.execute_script(axe_source())
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];"
        "axe.run(document, {runOnly: {type: 'tag', values: tags}})"
        ".then(r => done(r.violations.map("
        "  v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))))"
        ".catch(e => done(['axe failed: ' + e]));"
    )
    return list(result)


@pytest.mark.parametrize(
    ("user_agent", "first", "heading"),
    [
        (IPHONE, "ios/mobileconfig", "For this device: iPhone and iPad"),
        (ANDROID, "android/passpoint", "For this device: Android"),
        (WINDOWS, "windows/wlan", "For this device: Windows"),
    ],
    ids=["iphone", "android", "windows"],
)
def test_the_account_page_offers_the_devices_profile_first_and_passes_axe(
    logged_in: object, served: str, user_agent: str, first: str, heading: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.wait import WebDriverWait

    driver: WebDriver = logged_in  # type: ignore[assignment]
    own = driver.execute_script("return navigator.userAgent")
    driver.execute_cdp_cmd("Network.setUserAgentOverride", {"userAgent": user_agent})
    try:
        driver.get(f"{served}/account")
        assert driver.execute_script("return navigator.userAgent") == user_agent
        section = driver.find_element(By.CSS_SELECTOR, "section.secure")
        buttons = section.find_elements(By.CSS_SELECTOR, "button[data-format]")
        assert buttons[0].get_attribute("data-format") == first
        assert buttons[0].is_displayed() and "secondary" not in (buttons[0].get_attribute("class") or "")
        assert section.find_element(By.CSS_SELECTOR, "h3").text == heading
        # the other platforms: folded, one tap away
        others = section.find_elements(By.CSS_SELECTOR, "details.platform")
        assert len(others) == 5 and not any(d.get_attribute("open") for d in others)
        platform = first.split("/")[0]
        hidden = [b for b in buttons if not (b.get_attribute("data-format") or "").startswith(f"{platform}/")]
        assert hidden and not any(b.is_displayed() for b in hidden)
        others[0].find_element(By.TAG_NAME, "summary").click()
        assert others[0].find_element(By.CSS_SELECTOR, "button[data-format]").is_displayed()
        assert violations(driver) == []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / f"secure-connection-{first.split('/')[0]}.png"))
        # the recommended profile: a page with its one-time link, accessible too
        driver.get(f"{served}/account")
        driver.find_element(By.CSS_SELECTOR, f"button[data-format='{first}']").click()
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "download"))
        link = driver.find_element(By.ID, "download").get_attribute("href") or ""
        assert urlsplit(link).path.startswith("/account/secure/download/")
        assert violations(driver) == []
    finally:
        driver.execute_cdp_cmd("Network.setUserAgentOverride", {"userAgent": own})


def test_axe_is_not_vacuous_here(logged_in: object, served: str) -> None:
    """The harness can fail on this page: a button without a name planted in the section is caught."""
    from selenium.webdriver.remote.webdriver import WebDriver

    driver: WebDriver = logged_in  # type: ignore[assignment]
    driver.get(f"{served}/account")
    driver.execute_script(
        "document.querySelector('section.secure').appendChild(document.createElement('button'))"
    )
    assert any(v.startswith("button-name:") for v in violations(driver))
