"""A guest's voucher in a real browser on a phone (headless Chromium emulating a 390×844 screen): through
a simulated CoovaChilli redirect, then the ticket's QR code link (``/voucher?code=…``) with the
code filled in, axe-core clean, the terms accepted, handed off to the controller; the real
``radclient`` then gets the token accepted, with the voucher's Session-Timeout."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from accounts import vouchers
from accounts.models import Site
from accounts.network import ensure_home_region
from accounts.secretbox import SecretBox
from sesame.db import create_engine, create_sessionmaker
from sesame.dburl import normalize_database_url
from sesame.settings import PLACEHOLDER_SECRET_KEY
from tests.interop.conftest import REALM, SECRET, Server, launch, need_tool, wait_until_served
from tests.interop.test_portal_browser import (
    CLIENT_MAC,
    UAM_SECRET,
    Controller,
    axe_source,
    axe_violations,
    chilli_decode,
    chromium_driver,
    uam_redirect,
)
from tests.support.ports import free_tcp_port

pytestmark = pytest.mark.slow
__all__ = ["chromium_driver"]  # the module's browser (phone-sized), a fixture of its own module


@pytest.fixture(scope="module")
def guest_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    need_tool("radclient")
    workdir = tmp_path_factory.mktemp("guest")
    web_port = free_tcp_port()
    base = f"http://127.0.0.1:{web_port}"
    srv = launch(
        workdir,
        f"sqlite:///{workdir / 'guest.db'}",
        SESAME_WEB_ENABLED="true",
        SESAME_WEB_PORT=str(web_port),
        SESAME_PORTAL_PUBLIC_URL=base,
        SESAME_REGION_NAME="Région Sud",
    )
    try:
        srv.cli("commune", "add", "Valence", "--insee", "26362")
        srv.cli("site", "add", "Médiathèque", "--commune", "Valence")
        srv.cli("nas", "add", "chilli-ap", "--ip", "127.0.0.1", "--secret", SECRET, "--site", "Médiathèque")
        srv.cli("nas", "handoff", "chilli-ap", "--handoff", "coovachilli", "--uam-secret", UAM_SECRET)
        wait_until_served(srv)
        yield srv, base
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=30)


def make_voucher(srv: Server) -> str:
    async def go() -> str:
        engine = create_engine(normalize_database_url(srv.env["SESAME_DATABASE_URL"]))
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                region = await ensure_home_region(session, realm=REALM, name="Région Sud")
                site = (await session.scalars(select(Site).where(Site.name == "Médiathèque"))).one()
                now = datetime.now(UTC)
                _batch, codes = await vouchers.create_batch(
                    session, box=SecretBox(PLACEHOLDER_SECRET_KEY), region=region, commune=None,
                    spec=vouchers.BatchSpec(
                        label="Salon du livre", count=1, valid_from=now - timedelta(minutes=5),
                        valid_until=now + timedelta(days=1), duration=timedelta(minutes=45), sites=[site],
                    ),
                    created_by="test", now=now,
                )  # fmt: skip
                return codes[0]
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_a_guest_scans_the_ticket_on_a_phone_and_connects(
    guest_server: tuple[Server, str], chromium_driver: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.wait import WebDriverWait

    srv, base = guest_server
    driver: WebDriver = chromium_driver  # type: ignore[assignment]
    driver.set_script_timeout(30)
    # a phone: headless Chromium's window is at least 500 px wide, the device metrics are not
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True},
    )
    axe = axe_source()
    code = make_voucher(srv)
    controller = Controller()
    threading.Thread(target=controller.serve_forever, daemon=True).start()
    try:
        driver.get(f"{base}/lang/fr?next=/login")
        driver.get(uam_redirect(base, controller.port))
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "a[href='/voucher']"))
        assert driver.execute_script("return window.innerWidth") == 390
        # the ticket's QR code: the portal's voucher page with the code in the query string
        driver.get(f"{base}/voucher?code={code}")
        field = WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "code"))
        assert field.get_attribute("value") == code
        assert axe_violations(driver, axe) == []
        # without the terms: the form says so, still accessible
        driver.find_element(By.CSS_SELECTOR, "form[action='/voucher'] button[type=submit]").click()
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".summary"))
        assert axe_violations(driver, axe) == []
        driver.find_element(By.ID, "terms").click()
        driver.find_element(By.CSS_SELECTOR, "form[action='/voucher'] button[type=submit]").click()
        deadline = time.monotonic() + 10
        while not controller.logons and time.monotonic() < deadline:
            time.sleep(0.05)
        assert controller.logons, driver.page_source
        assert urlsplit(driver.current_url).port == controller.port
        logon = controller.logons[-1]
        assert logon["username"].startswith("voucher~") and logon["username"].endswith(f"@{REALM}")
        token = chilli_decode(logon["password"])
        request = (
            f'User-Name = "{logon["username"]}"\nUser-Password = "{token}"\n'
            f'Calling-Station-Id = "{CLIENT_MAC}"\nMessage-Authenticator = 0x00\n'
        )
        accepted = srv.radclient(request, timeout=5)
        assert "Received Access-Accept" in accepted, accepted
        timeout = int(accepted.split("Session-Timeout = ", 1)[1].split()[0])
        assert 2600 < timeout <= 2700  # the voucher's 45 minutes from this first use
    finally:
        controller.shutdown()
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
