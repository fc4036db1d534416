"""The staff console in a real browser: headless Chromium (selenium) against a real ``sesame
serve``. A region admin signs in with a password, sets up TOTP from the enrolment page — the
secret read from the page as a person would copy it, the code computed with pyotp as a phone
would —, signs out, and signs in again with password and code; axe-core finds no WCAG 2.1 A/AA
violation on the sign-in, code, enrolment, recovery-codes and landing pages, and none in French.
Screenshots go to ``$SESAME_ARTIFACTS/console``.
"""

from __future__ import annotations

import os
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from accounts import twofactor
from tests.interop.conftest import Server, launch
from tests.interop.test_portal_browser import axe_source, axe_violations, chromium_driver  # noqa: F401 - a fixture
from tests.support.ports import free_tcp_port

ARTIFACTS = Path(os.environ.get("SESAME_ARTIFACTS", "test-artifacts")) / "console"
EMAIL, PASSWORD = "reseau@region-sud.example", "a long walk in Valence 2026"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def console_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    workdir = tmp_path_factory.mktemp("console")
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
    )
    try:
        srv.cli("commune", "add", "Valence", "--insee", "26362")
        srv.cli("site", "add", "Médiathèque", "--commune", "Valence")
        srv.cli("admin", "create", EMAIL, "--role", "region_admin", "--password", "-", input=PASSWORD)
        _wait_for_web(base)
        yield srv, base
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=30)


def _wait_for_web(base: str) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as answer:  # loopback only
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the web port did not answer")


def test_sign_in_with_password_and_totp_and_the_pages_pass_axe(
    console_server: tuple[Server, str],
    chromium_driver: object,  # noqa: F811 - the fixture imported above
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.wait import WebDriverWait

    _, base = console_server
    driver: WebDriver = chromium_driver  # type: ignore[assignment]
    driver.set_script_timeout(30)
    axe = axe_source()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[str]] = {}

    def check(name: str) -> None:
        result = axe_violations(driver, axe)
        found[name] = list(result)
        driver.save_screenshot(str(ARTIFACTS / f"{name}.png"))

    def at(path: str) -> None:
        WebDriverWait(driver, 10).until(lambda d: urlsplit(d.current_url).path == path)

    def sign_in() -> None:
        driver.get(base + "/console/login")
        driver.find_element(By.ID, "email").send_keys(EMAIL)
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form[action='/console/login'] button[type=submit]").click()

    driver.get(f"{base}/healthz")
    driver.delete_all_cookies()
    driver.get(base + "/console")
    at("/console/login")  # no session: the sign-in page
    check("signin")
    driver.find_element(By.ID, "email").send_keys(EMAIL)
    driver.find_element(By.ID, "password").send_keys("not the password")
    driver.find_element(By.CSS_SELECTOR, "form[action='/console/login'] button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[role=alert]"))
    check("signin-error")

    sign_in()
    at("/console")
    check("home")
    assert [a.text for a in driver.find_elements(By.CSS_SELECTOR, "table tbody th a")] == ["Valence"]

    driver.get(base + "/console/enrol")
    check("enrol")
    qr = driver.find_element(By.CSS_SELECTOR, "figure.qr svg")
    assert qr.size["width"] >= 100  # drawn: an SVG the browser lays out, from no other server
    secret = driver.find_element(By.CSS_SELECTOR, ".secret code").text.replace(" ", "")
    driver.find_element(By.ID, "password").send_keys(PASSWORD)  # enrolling from a session: asked
    driver.find_element(By.ID, "code").send_keys(twofactor.code_at(secret, datetime.now(UTC)))
    driver.find_element(By.CSS_SELECTOR, "form[action='/console/enrol'] button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "ul.codes code"))
    assert len(driver.find_elements(By.CSS_SELECTOR, "ul.codes code")) == 10
    check("recovery-codes")

    driver.find_element(By.CSS_SELECTOR, "form[action='/console/logout'] button").click()
    at("/console/login")
    sign_in()
    at("/console/login/code")
    check("code")
    # the next step's code: accepted within the drift, and after the step the enrolment used
    next_step = datetime.now(UTC) + timedelta(seconds=twofactor.STEP)
    driver.find_element(By.ID, "code").send_keys(twofactor.code_at(secret, next_step))
    driver.find_element(By.CSS_SELECTOR, "form[action='/console/login/code'] button[type=submit]").click()
    at("/console")
    driver.get(base + "/console/security")
    check("security")
    driver.get(f"{base}/lang/fr?next=/console")
    at("/console")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Mon périmètre"
    check("home-fr")

    assert {name: v for name, v in found.items() if v} == {}
