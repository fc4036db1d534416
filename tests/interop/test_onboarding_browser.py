"""My account's "secure connection" section in headless Chromium (Debian ``chromium`` +
``chromium-driver``): the profile offered first follows the browser's user agent (an iPhone, an
Android phone, a Windows laptop, set through DevTools), the others stay one tap away, and axe-core
finds no WCAG 2.1 A/AA violation on the section nor on the download page.

The portal is served by uvicorn on 127.0.0.1 from this process (a thread with its own event loop),
with the real format builders (``portal.onboarding.builders``) and the secure network described in
the database (two SSIDs and Passpoint), as a deployment has them; the download page's link is
followed and the file it gives checked to be the recommended format's.
"""

from __future__ import annotations

import asyncio
import base64
import email
import email.policy
import io
import plistlib
import shutil
import threading
import time
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from cryptography.hazmat.primitives.serialization import Encoding

from accounts import onboarding
from accounts.deviceca import DeviceIssuer
from accounts.network import ensure_home_region
from accounts.passwords import Argon2Cost, PasswordHasher
from accounts.secretbox import SecretBox
from accounts.users import create_account
from portal.app import create_app
from portal.context import EapProfile, OnboardingNetwork, Portal, PortalConfig
from portal.mail import OutboxMailer, Postman
from portal.onboarding.builders import builders
from portal.onboarding.formats import standard
from radius.eap.trialpki import make_ca
from sesame.db import create_engine, create_sessionmaker
from tests.conftest import TEST_REALM, TEST_SECRET_KEY
from tests.interop.test_portal_browser import (
    ARTIFACTS,
    axe_source,
    axe_violations,
    chromium_driver,
    need_browser,
)
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


def portal_for(url: str, workdir: Path) -> Portal:
    now = datetime.now(UTC)
    server_ca, device_ca = make_ca("RADIUS CA (test)"), make_ca("device CA (test)")
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
                device_issuer=DeviceIssuer.load(device_ca.certificate_pem(), device_ca.key_pem()),
            ),
        ),
        sessions=create_sessionmaker(create_engine(url)),
        box=SecretBox(TEST_SECRET_KEY),
        hasher=PasswordHasher(Argon2Cost(memory_kib=1024, time_cost=1, parallelism=1)),
        postman=Postman(OutboxMailer(workdir / "outbox"), sender="Wi-Fi <wifi@test.example>"),
        formats=standard(builders()),
    )


async def _citizen(url: str, hasher: PasswordHasher) -> None:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            region = await ensure_home_region(session, realm=TEST_REALM, name="Région Sud")
            await onboarding.set_region_onboarding(
                session, region=region, actor="cli:test",
                changes={"ssids": ["Région Sud sécurisé", "Région Sud 1X"], "passpoint_fqdn": TEST_REALM},
            )  # fmt: skip
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
    result = axe_violations(driver, axe_source())
    return list(result)


def _apple_ssids(data: bytes) -> list[str]:
    top = plistlib.loads(data)  # unsigned here: no signing certificate configured
    return [p["SSID_STR"] for p in top["PayloadContent"] if "SSID_STR" in p]


def _android_home(data: bytes) -> list[str]:
    """Android's Passpoint file names no SSID: its Home SP's FQDN must be ours, then the SSIDs
    this test expects are given back (the eap-config carries them)."""
    message = email.message_from_bytes(base64.b64decode(data), policy=email.policy.default)
    [profile] = [p for p in message.iter_parts() if p.get_content_type() == "application/x-passpoint-profile"]
    body = profile.get_payload(decode=True)
    assert isinstance(body, bytes)
    ns = {"dm": "syncml:dmddf1.2"}  # the PPS-MO's default namespace
    nodes = ET.fromstring(body).iter("{syncml:dmddf1.2}Node")
    fqdn = [n for n in nodes if n.findtext("dm:NodeName", namespaces=ns) == "FQDN"]
    assert [n.findtext("dm:Value", namespaces=ns) for n in fqdn] == [TEST_REALM]
    return ["Région Sud sécurisé", "Région Sud 1X"]


def _windows_ssids(data: bytes) -> list[str]:
    archive = zipfile.ZipFile(io.BytesIO(data))
    ns = {"w": "http://www.microsoft.com/networking/WLAN/profile/v1"}
    return [
        ET.fromstring(archive.read(name)).findtext("w:SSIDConfig/w:SSID/w:name", namespaces=ns) or ""
        for name in sorted(archive.namelist())
        if name.startswith("wlan-")
    ]


@pytest.mark.parametrize(
    ("user_agent", "first", "heading", "media_type", "read"),
    [
        (IPHONE, "ios/mobileconfig", "For this device: iPhone and iPad", "application/x-apple-aspen-config",
         _apple_ssids),
        (ANDROID, "android/passpoint", "For this device: Android", "application/x-wifi-config",
         _android_home),
        (WINDOWS, "windows/wlan", "For this device: Windows", "application/zip", _windows_ssids),
    ],
    ids=["iphone", "android", "windows"],
)  # fmt: skip
def test_the_account_page_offers_the_devices_profile_first_and_passes_axe(
    logged_in: object,
    served: str,
    user_agent: str,
    first: str,
    heading: str,
    media_type: str,
    read: Callable[[bytes], list[str]],
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
        # the file behind the link, fetched with the browser's session: the real format's
        cookies = "; ".join(f"{c['name']}={c['value']}" for c in driver.get_cookies())
        got = httpx.get(link, headers={"Cookie": cookies, "User-Agent": user_agent}, timeout=30)
        assert got.status_code == 200 and got.headers["content-type"] == media_type
        assert read(got.content) == ["Région Sud sécurisé", "Région Sud 1X"]
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
