"""Support and the DPO at work in a real browser: headless Chromium (selenium) against a real
``sesame serve`` answering real radclient requests.

* **Support** finds a citizen by a device's MAC written the Cisco way, reads why the last attempts
  were refused — wrong passwords sent by radclient, then "locked" once the account is locked —
  in words, unlocks them, and radclient's next request with the right password is accepted.
* **The DPO** runs a judicial requisition for that MAC, downloads the signed export from the page
  (Chromium saves it), and both signatures verify with the real ``openssl cms -verify`` against
  the CA that ``sesame requisition make-signer`` wrote; the search is in the audit log.

axe-core finds no WCAG 2.1 A/AA violation on any of these pages. Screenshots go to
``$SESAME_ARTIFACTS/console``.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine

from accounts.models import Account, AccountStatus
from accounts.recordsexport import CSV_NAME, JSON_NAME, SIGNATURE_SUFFIX
from accounts.users import set_status
from portal.console.reasons import SENTENCES
from sesame.db import create_sessionmaker
from tests.interop.conftest import PASSWORD, REALM, Server, add_valence, launch, received
from tests.interop.test_console_browser import ARTIFACTS, _wait_for_web
from tests.interop.test_portal_browser import axe_source, axe_violations, chromium_driver  # noqa: F401 - a fixture
from tests.support.ports import free_tcp_port

pytestmark = pytest.mark.slow

SUPPORT, AUDITOR = "aide@region-sud.example", "dpo@region-sud.example"
STAFF_PASSWORD = "a long walk in Valence 2026"
DEVICE = "02-00-5E-30-00-01"  # as the access point writes it
CISCO = "0200.5e30.0001"  # as support reads it from a sticker


def pap(password: str) -> str:
    return (
        f'User-Name = "alice@{REALM}"\nUser-Password = "{password}"\n'
        f'Calling-Station-Id = "{DEVICE}"\nCalled-Station-Id = "AA-BB-CC-00-00-01:Valence"\n'
        "Message-Authenticator = 0x00\n"
    )


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, Path]]:
    workdir = tmp_path_factory.mktemp("console-support")
    pki = workdir / "pki"
    made = subprocess.run(
        [sys.executable, "-m", "sesame", "requisition", "make-signer", str(pki)],
        env={k: v for k, v in os.environ.items() if not k.startswith("SESAME_")}
        | {"SESAME_ENVIRONMENT": "development"},
        cwd=workdir, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    web_port = free_tcp_port()
    base = f"http://127.0.0.1:{web_port}"
    srv = launch(
        workdir,
        f"sqlite:///{workdir / 'console.db'}",
        SESAME_WEB_ENABLED="true",
        SESAME_WEB_PORT=str(web_port),
        SESAME_PORTAL_PUBLIC_URL=base,
        SESAME_MAIL_OUTBOX=str(workdir / "outbox"),
        SESAME_REGION_NAME="Région Sud",
        SESAME_REQUISITION_SIGNING_CERTIFICATE=str(pki / "records-signer.pem"),
        SESAME_REQUISITION_SIGNING_KEY=str(pki / "records-signer.key"),
    )
    try:
        add_valence(srv)
        for email, role in ((SUPPORT, "support"), (AUDITOR, "auditor")):
            srv.cli("admin", "create", email, "--role", role, "--password", "-", input=STAFF_PASSWORD)
        _wait_for_web(base)
        yield srv, base, pki / "records-ca.pem"
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=30)


def lock_alice(database: Path) -> None:
    """What locks an account is not RADIUS's business (it never locks on wrong passwords, by
    design: tests/interop/test_lockout.py): the account service sets the state, as an operator's
    tool would."""

    async def lock() -> None:
        engine = create_async_engine(f"sqlite+aiosqlite:///{database}")
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                alice = await session.scalar(select(Account).where(Account.username == "alice"))
                assert alice is not None
                await set_status(session, account=alice, status=AccountStatus.LOCKED)
        finally:
            await engine.dispose()

    asyncio.run(lock())


def until_answered(srv: Server, password: str, wanted: str, message: str = "") -> str:
    """radclient until the server answers ``wanted`` (its account cache follows the database
    within a couple of seconds)."""
    deadline = time.monotonic() + 20
    while True:
        out = srv.radclient(pap(password))
        if received(out) == wanted and message in out:
            return out
        assert time.monotonic() < deadline, out
        time.sleep(0.5)


def test_support_unlocks_by_mac_and_the_dpo_exports_a_signed_requisition(
    served: tuple[Server, str, Path],
    chromium_driver: object,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.wait import WebDriverWait

    srv, base, records_ca = served
    started = datetime.now(UTC)
    # refusals: two wrong passwords, then — the account locked — the right one
    for guess in ("not my password", "still not it"):
        assert received(srv.radclient(pap(guess))) == "Access-Reject"
    lock_alice(srv.workdir / "console.db")
    until_answered(srv, PASSWORD, "Access-Reject", "Ce compte est bloqué")  # the region's language

    driver: WebDriver = chromium_driver  # type: ignore[assignment]
    driver.set_script_timeout(30)
    axe = axe_source()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[str]] = {}

    def check(name: str) -> None:
        result = axe_violations(driver, axe)
        found[name] = list(result)
        driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))

    def sign_in(email: str) -> None:
        driver.get(f"{base}/healthz")
        driver.delete_all_cookies()
        driver.get(base + "/console/login")
        driver.find_element(By.ID, "email").send_keys(email)
        driver.find_element(By.ID, "password").send_keys(STAFF_PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form[action='/console/login'] button[type=submit]").click()
        WebDriverWait(driver, 10).until(lambda d: d.current_url.rstrip("/").endswith("/console"))

    # -- support -----------------------------------------------------------------------------------
    sign_in(SUPPORT)
    driver.find_element(By.LINK_TEXT, "Find a citizen").click()
    check("support-search")
    driver.find_element(By.ID, "q").send_keys(CISCO)
    driver.find_element(By.CSS_SELECTOR, "form[role=search] button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "table tbody th a"))
    check("support-found")
    [link] = driver.find_elements(By.CSS_SELECTOR, "table tbody th a")
    assert link.text == f"alice@{REALM}"
    link.click()

    def reasons_shown(d: WebDriver) -> list[str]:
        shown = [
            cell.get_attribute("data-code") or "" for cell in d.find_elements(By.CSS_SELECTOR, "td.reason")
        ]
        if "account_locked" not in shown:
            d.refresh()  # decisions are written in batches: the page is read again until they are
        return shown

    WebDriverWait(driver, 20, poll_frequency=0.5).until(lambda d: "account_locked" in reasons_shown(d))
    cells = driver.find_elements(By.CSS_SELECTOR, "td.reason")
    texts = {cell.get_attribute("data-code"): cell.text for cell in cells}
    assert texts["account_locked"] == SENTENCES["account_locked"]
    assert texts["bad_password"] == SENTENCES["bad_password"]
    assert driver.find_element(By.ID, "status").text == "Locked"
    check("support-citizen")
    driver.find_element(By.XPATH, "//form[contains(@action, '/unlock')]/button").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "status").text == "Active")
    assert "The account is unlocked." in driver.find_element(By.CSS_SELECTOR, "[role=status]").text
    check("support-unlocked")
    until_answered(srv, PASSWORD, "Access-Accept")

    # -- the DPO -----------------------------------------------------------------------------------
    sign_in(AUDITOR)
    driver.find_element(By.LINK_TEXT, "Judicial requisition").click()
    check("dpo-requisition")
    driver.find_element(By.ID, "kind-mac").click()
    driver.find_element(By.ID, "value").send_keys(DEVICE)
    for field, when in (("since", started - timedelta(hours=1)), ("until", started + timedelta(hours=1))):
        element = driver.find_element(By.ID, field)  # a datetime-local: its value as the picker sets it
        driver.execute_script("arguments[0].value = arguments[1];", element, when.strftime("%Y-%m-%dT%H:%M"))
    driver.find_element(By.CSS_SELECTOR, "form[action='/console/requisitions'] button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "export"))
    rows = driver.find_elements(By.CSS_SELECTOR, "table.records tbody tr")
    assert len(rows) >= 4  # the four decisions at least (and the connection, if accounted)
    check("dpo-results")

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    driver.execute_cdp_cmd(
        "Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)}
    )
    driver.find_element(By.ID, "export").click()
    deadline = time.monotonic() + 20
    while not list(downloads.glob("requisition-*.zip")):
        assert time.monotonic() < deadline, list(downloads.iterdir())
        time.sleep(0.2)
    [archive] = list(downloads.glob("requisition-*.zip"))
    folder = tmp_path / "export"
    with zipfile.ZipFile(archive) as opened:
        opened.extractall(folder)
    for name in (CSV_NAME, JSON_NAME):
        checked = subprocess.run(
            ["openssl", "cms", "-verify", "-binary", "-inform", "DER",
             "-in", str(folder / (name + SIGNATURE_SUFFIX)), "-content", str(folder / name),
             "-CAfile", str(records_ca), "-out", "/dev/null"],
            capture_output=True, text=True, check=False, timeout=60,
        )  # fmt: skip
        assert checked.returncode == 0, checked.stderr
        assert "Verification successful" in checked.stderr
    assert "account_locked" in (folder / CSV_NAME).read_text(encoding="utf-8")

    driver.find_element(By.LINK_TEXT, "Audit log").click()
    check("dpo-audit")
    actions = [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "table.audit tbody td code")]
    assert "requisition.search" in actions and "requisition.export" in actions and "account.unlock" in actions

    assert found == {name: [] for name in found}, found
