"""Sponsored access in a real browser on a phone (headless Chromium emulating a 390×844 screen): through
a simulated CoovaChilli redirect, the visitor asks a named sponsor (axe-core clean), waits; the
sponsor approves from the mailed link (another client); the waiting page's script notices and the
visitor is handed off to the controller with the day's voucher — no click in between."""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import select

from accounts import sponsorship
from accounts.models import Commune
from accounts.network import ensure_home_region
from sesame.db import create_engine, create_sessionmaker
from sesame.dburl import normalize_database_url
from tests.interop.conftest import REALM, SECRET, Server, launch, wait_until_served
from tests.interop.test_portal_browser import (
    UAM_SECRET,
    Controller,
    axe_source,
    axe_violations,
    chromium_driver,
    uam_redirect,
)
from tests.support.ports import free_tcp_port

pytestmark = pytest.mark.slow
__all__ = ["chromium_driver"]  # the module's browser (phone-sized), a fixture of its own module

SPONSOR = "anne.martin@valence.example"


@pytest.fixture(scope="module")
def sponsor_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    workdir = tmp_path_factory.mktemp("sponsor")
    web_port = free_tcp_port()
    base = f"http://127.0.0.1:{web_port}"
    srv = launch(
        workdir,
        f"sqlite:///{workdir / 'sponsor.db'}",
        SESAME_WEB_ENABLED="true",
        SESAME_WEB_PORT=str(web_port),
        SESAME_PORTAL_PUBLIC_URL=base,
        SESAME_REGION_NAME="Région Sud",
        SESAME_MAIL_OUTBOX=str(workdir / "outbox"),
    )
    try:
        srv.cli("commune", "add", "Valence", "--insee", "26362")
        srv.cli("site", "add", "Médiathèque", "--commune", "Valence")
        srv.cli("nas", "add", "chilli-ap", "--ip", "127.0.0.1", "--secret", SECRET, "--site", "Médiathèque")
        srv.cli("nas", "handoff", "chilli-ap", "--handoff", "coovachilli", "--uam-secret", UAM_SECRET)
        turn_on(srv)
        wait_until_served(srv)
        yield srv, base
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=30)


def turn_on(srv: Server) -> None:
    async def go() -> None:
        engine = create_engine(normalize_database_url(srv.env["SESAME_DATABASE_URL"]))
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                await ensure_home_region(session, realm=REALM, name="Région Sud")
                commune = (await session.scalars(select(Commune).where(Commune.name == "Valence"))).one()
                await sponsorship.configure(
                    session, commune=commune, enabled=True,
                    sponsors=sponsorship.parse_sponsors(f"Anne Martin <{SPONSOR}>"), now=datetime.now(UTC),
                )  # fmt: skip
        finally:
            await engine.dispose()

    asyncio.run(go())


def link_from_outbox(outbox: Path) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for path in sorted(outbox.glob("*.eml"), reverse=True):
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
            if message["To"] == SPONSOR:
                body = message.get_body().get_content()  # type: ignore[union-attr]
                found = re.search(r"(https?://\S+/sponsor/decide/[A-Za-z0-9_-]+)", body)
                assert found
                return found.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no mail to {SPONSOR}")


def test_a_visitor_asks_on_a_phone_and_is_let_in_once_approved(
    sponsor_server: tuple[Server, str], chromium_driver: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.wait import WebDriverWait

    srv, base = sponsor_server
    driver: WebDriver = chromium_driver  # type: ignore[assignment]
    driver.set_script_timeout(30)
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": 390, "height": 844, "deviceScaleFactor": 3, "mobile": True},
    )
    axe = axe_source()
    controller = Controller()
    threading.Thread(target=controller.serve_forever, daemon=True).start()
    try:
        driver.get(f"{base}/lang/fr?next=/login")
        driver.get(uam_redirect(base, controller.port))
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "a[href='/sponsor']"))
        driver.find_element(By.CSS_SELECTOR, "a[href='/sponsor']").click()
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "sponsor-0"))
        assert "a•••@valence.example" in driver.page_source and SPONSOR not in driver.page_source
        assert axe_violations(driver, axe) == []
        # nothing chosen: the form says so, still accessible
        driver.find_element(By.CSS_SELECTOR, "form[action='/sponsor'] button[type=submit]").click()
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".summary"))
        assert axe_violations(driver, axe) == []
        driver.find_element(By.ID, "sponsor-0").click()
        driver.find_element(By.ID, "note").send_keys("Jeanne, conseil de quartier")
        driver.find_element(By.ID, "terms").click()
        driver.find_element(By.CSS_SELECTOR, "form[action='/sponsor'] button[type=submit]").click()
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "sponsor-wait"))
        assert axe_violations(driver, axe) == []
        # the sponsor, elsewhere, opens the mailed link and lets them in
        link = link_from_outbox(srv.workdir / "outbox")
        with httpx.Client() as sponsor:
            page = sponsor.get(link)
            assert page.status_code == 200 and "Jeanne, conseil de quartier" in page.text
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
            assert token
            assert (
                sponsor.post(link, data={"csrf_token": token.group(1), "decision": "approve"}).status_code
                == 200
            )
        # the waiting page's script notices, the portal logs the visitor in and hands off
        deadline = time.monotonic() + 30
        while not controller.logons and time.monotonic() < deadline:
            time.sleep(0.1)
        assert controller.logons, driver.page_source
        assert urlsplit(driver.current_url).port == controller.port
        assert controller.logons[-1]["username"].startswith("voucher~")
    finally:
        controller.shutdown()
        driver.execute_cdp_cmd("Emulation.clearDeviceMetricsOverride", {})
