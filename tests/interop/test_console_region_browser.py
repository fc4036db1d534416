"""A region admin's main tasks in a real browser, end to end (issue 18): headless Chromium
(selenium) against a real ``sesame serve``. The region admin signs in, adds a commune, then a
commune admin for it (with a first password), then a service client whose secret is shown once —
and that secret gets a token from the admin API; then the region requires a second factor (the
region admin's own session, opened without one, ends), and the new commune admin signs in with
that password, sets up TOTP as the region now requires, and sees their commune only, and none of
the region's pages. axe-core finds no WCAG 2.1 A/AA violation on any of the region's pages.
Screenshots go to ``$SESAME_ARTIFACTS/console``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from urllib.parse import urlsplit

import pytest

from accounts import twofactor
from tests.interop.conftest import Server, launch
from tests.interop.test_console_browser import ARTIFACTS, _wait_for_web
from tests.interop.test_portal_browser import axe_source, axe_violations, chromium_driver  # noqa: F401 - a fixture
from tests.support.ports import free_tcp_port

EMAIL, PASSWORD = "reseau@region-sud.example", "the region's long passphrase 2026"
MAYOR, MAYOR_PASSWORD = "dsi@annecy.example", "Annecy's first passphrase 2026"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def region_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    workdir = tmp_path_factory.mktemp("console-region")
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
        srv.cli("admin", "create", EMAIL, "--role", "region_admin", "--password", "-", input=PASSWORD)
        _wait_for_web(base)
        yield srv, base
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=30)


def _token_status(base: str, client_id: str, secret: str) -> int:
    """The admin API's answer to the client credentials grant (loopback only)."""
    body = urllib.parse.urlencode(
        {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    ).encode()
    request = urllib.request.Request(base + "/api/v1/auth/token", data=body, method="POST")  # loopback only
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:  # loopback only
            assert json.loads(answer.read())["access_token"]
            return int(answer.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_a_region_admin_adds_a_commune_its_admin_and_a_service_client(
    region_server: tuple[Server, str],
    chromium_driver: object,  # noqa: F811 - the fixture imported above
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.wait import WebDriverWait

    _, base = region_server
    driver: WebDriver = chromium_driver  # type: ignore[assignment]
    driver.set_script_timeout(30)
    axe = axe_source()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[str]] = {}

    def check(name: str) -> None:
        result = axe_violations(driver, axe)
        found[name] = list(result)
        driver.save_screenshot(str(ARTIFACTS / f"region-{name}.png"))

    def at(path: str) -> None:
        WebDriverWait(driver, 10).until(lambda d: urlsplit(d.current_url).path == path)

    def path_now() -> str:
        return urlsplit(driver.current_url).path

    def submit(action: str) -> None:
        driver.find_element(By.CSS_SELECTOR, f"form[action='{action}'] button[type=submit]").click()

    def sign_in(email: str, password: str) -> None:
        driver.get(base + "/console/login")
        driver.find_element(By.ID, "email").send_keys(email)
        driver.find_element(By.ID, "password").send_keys(password)
        submit("/console/login")

    driver.get(f"{base}/healthz")
    driver.delete_all_cookies()
    sign_in(EMAIL, PASSWORD)
    at("/console")
    driver.find_element(By.CSS_SELECTOR, "nav.main-nav a[href='/console/region']").click()
    at("/console/region")
    check("hub")

    # a commune
    driver.find_element(By.CSS_SELECTOR, "nav.main-nav a[href='/console/region/communes']").click()
    at("/console/region/communes")
    check("communes")
    driver.find_element(By.ID, "name").send_keys("Annecy")
    driver.find_element(By.ID, "insee_code").send_keys("74010")
    submit("/console/region/communes")
    WebDriverWait(driver, 10).until(lambda d: path_now().startswith("/console/communes/"))
    commune = path_now()
    assert driver.find_element(By.TAG_NAME, "h1").text.startswith("Annecy")
    driver.get(base + "/console/region/communes")
    rows = [th.text for th in driver.find_elements(By.CSS_SELECTOR, "tbody th[scope=row]")]
    assert rows == ["Annecy", "Valence"]

    # its commune admin, with a first password
    driver.get(base + "/console/region/staff")
    check("staff")
    driver.find_element(By.ID, "email").send_keys(MAYOR)
    Select(driver.find_element(By.ID, "role")).select_by_visible_text("Commune admin")
    Select(driver.find_element(By.ID, "commune_id")).select_by_visible_text("Annecy (74010)")
    driver.find_element(By.ID, "password").send_keys(MAYOR_PASSWORD)
    submit("/console/region/staff")
    WebDriverWait(driver, 10).until(lambda d: path_now().startswith("/console/region/staff/"))
    assert driver.find_element(By.TAG_NAME, "h1").text == MAYOR
    assert MAYOR_PASSWORD not in driver.page_source
    check("staff-member")

    # a service client: its secret shown once
    driver.get(base + "/console/region/clients")
    check("clients")
    driver.find_element(By.ID, "name").send_keys("Supervision")
    Select(driver.find_element(By.ID, "role")).select_by_visible_text("Auditor")
    submit("/console/region/clients")
    shown = WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "code#secret"))
    secret = shown[0].text
    client_id = driver.find_element(By.CSS_SELECTOR, "code#client-id").text
    assert client_id.startswith("sesame-") and len(secret) >= 40
    check("client-added")
    driver.find_element(By.LINK_TEXT, "Back to the service clients").click()
    at("/console/region/clients")
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "tbody th[scope=row]"))
    assert client_id in driver.page_source and secret not in driver.page_source
    assert _token_status(base, client_id, secret) == 200

    # the region now requires a second factor: this session, opened without one, ends
    driver.get(base + "/console/region")
    driver.find_element(By.ID, "require_two_factor").click()
    submit("/console/region")
    at("/console/login")

    # the new commune admin signs in with their password, sets up TOTP as the region requires,
    # and sees Annecy only, none of the region's pages
    sign_in(MAYOR, MAYOR_PASSWORD)
    at("/console/enrol")
    totp = driver.find_element(By.CSS_SELECTOR, ".secret code").text.replace(" ", "")
    driver.find_element(By.ID, "code").send_keys(twofactor.code_at(totp, datetime.now(UTC)))
    submit("/console/enrol")
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "ul.codes code"))
    driver.get(base + "/console")
    links = driver.find_elements(By.CSS_SELECTOR, "table tbody th a")
    assert [a.text for a in links] == ["Annecy"]
    assert urlsplit(links[0].get_attribute("href") or "").path == commune
    nav = [a.get_attribute("href") or "" for a in driver.find_elements(By.CSS_SELECTOR, "nav.main-nav a")]
    assert not [href for href in nav if "/console/region" in href]
    driver.get(base + "/console/region/staff")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Not found"
    assert MAYOR not in driver.find_element(By.TAG_NAME, "main").text
    assert {name: v for name, v in found.items() if v} == {}
