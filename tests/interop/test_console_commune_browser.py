"""A commune admin's main task in a real browser, end to end (issue 18): headless Chromium
(selenium) against a real ``sesame serve``. The commune admin signs in with a password, sets up
TOTP, signs in again with password and code, adds a site and an access point at 127.0.0.5 (its
secret generated and read from the page, as a person would copy it), then ``radclient`` sending
from 127.0.0.5 with that secret is accepted, the access points page says so (the decision
record), and the session its accounting starts is listed and counted. The branding page's preview
is the portal's log-in page, re-rendered as a field changes. axe-core finds no WCAG 2.1 A/AA
violation on any of the commune's pages. Screenshots go to ``$SESAME_ARTIFACTS/console``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import pytest

from accounts import twofactor
from tests.interop.conftest import PASSWORD as CITIZEN_PASSWORD
from tests.interop.conftest import REALM, Server, launch, need_tool, received
from tests.interop.conftest import radclient as send
from tests.interop.test_console_browser import ARTIFACTS, _wait_for_web
from tests.interop.test_portal_browser import axe_source, axe_violations, chromium_driver  # noqa: F401 - a fixture
from tests.support.ports import free_tcp_port

EMAIL, PASSWORD = "dsi@valence.example", "the town hall's long passphrase 2026"
AP_ADDRESS = "127.0.0.5"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def commune_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    need_tool("radclient")  # CI: a failure, not a skip
    workdir = tmp_path_factory.mktemp("console-commune")
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
        srv.cli("commune", "add", "Nice", "--insee", "06088")
        role = ("--role", "commune_admin", "--commune", "Valence")
        srv.cli("admin", "create", EMAIL, *role, "--password", "-", input=PASSWORD)
        srv.cli("user", "add", "alice", "--email", "alice@example.fr", "--password", CITIZEN_PASSWORD)
        _wait_for_web(base)
        yield srv, base
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=30)


def _accepted_from(srv: Server, secret: str) -> str:
    """radclient's output for alice's PAP request sent from the access point's address, once the
    server has loaded the new access point (it reloads the table within seconds: until then a
    request from an unknown address is dropped unanswered, and radclient sends it again)."""
    attributes = (
        f'User-Name = "alice@{REALM}"\nUser-Password = "{CITIZEN_PASSWORD}"\n'
        f"Message-Authenticator = 0x00\nPacket-Src-IP-Address = {AP_ADDRESS}\n"
    )
    deadline = time.monotonic() + 20
    output = ""
    while time.monotonic() < deadline:
        output = send(srv.auth_port, secret, attributes, timeout=1.0, retries=1)
        if received(output) is not None:
            return output
    return output


def test_a_commune_admin_adds_a_site_and_an_access_point_then_radclient_is_accepted(
    commune_server: tuple[Server, str],
    chromium_driver: object,  # noqa: F811 - the fixture imported above
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.wait import WebDriverWait

    srv, base = commune_server
    driver: WebDriver = chromium_driver  # type: ignore[assignment]
    driver.set_script_timeout(30)
    axe = axe_source()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[str]] = {}

    def check(name: str) -> None:
        result = axe_violations(driver, axe)
        found[name] = list(result)
        driver.save_screenshot(str(ARTIFACTS / f"commune-{name}.png"))

    def at(path: str) -> None:
        WebDriverWait(driver, 10).until(lambda d: urlsplit(d.current_url).path == path)

    def submit(action: str) -> None:
        driver.find_element(By.CSS_SELECTOR, f"form[action='{action}'] button[type=submit]").click()

    def sign_in() -> None:
        driver.get(base + "/console/login")
        driver.find_element(By.ID, "email").send_keys(EMAIL)
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        submit("/console/login")

    # password, then TOTP set up from the enrolment page, then password + code
    driver.get(f"{base}/healthz")
    driver.delete_all_cookies()
    sign_in()
    at("/console")
    driver.get(base + "/console/enrol")
    secret = driver.find_element(By.CSS_SELECTOR, ".secret code").text.replace(" ", "")
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.ID, "code").send_keys(twofactor.code_at(secret, datetime.now(UTC)))
    submit("/console/enrol")
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "ul.codes code"))
    driver.find_element(By.CSS_SELECTOR, "form[action='/console/logout'] button").click()
    at("/console/login")
    sign_in()
    at("/console/login/code")
    next_step = datetime.now(UTC) + timedelta(seconds=twofactor.STEP)
    driver.find_element(By.ID, "code").send_keys(twofactor.code_at(secret, next_step))
    submit("/console/login/code")
    at("/console")
    links = driver.find_elements(By.CSS_SELECTOR, "table tbody th a")
    assert [a.text for a in links] == ["Valence"]  # Nice is not within reach
    commune = urlsplit(links[0].get_attribute("href") or "").path
    links[0].click()
    at(commune)

    # a site
    driver.find_element(By.LINK_TEXT, "Add a site").click()
    at(f"{commune}/sites/new")
    check("site-form")
    driver.find_element(By.ID, "name").send_keys("Gare")
    driver.find_element(By.ID, "address").send_keys("Place de la gare")
    submit(f"{commune}/sites")
    at(commune)
    assert [th.text for th in driver.find_elements(By.CSS_SELECTOR, "tbody th[scope=row]")] == ["Gare"]
    check("sites")

    # an access point at 127.0.0.5, its secret generated and shown once
    driver.find_element(By.LINK_TEXT, "Access points").click()
    at(f"{commune}/access-points")
    driver.find_element(By.LINK_TEXT, "Add an access point").click()
    check("access-point-form")
    Select(driver.find_element(By.ID, "site_id")).select_by_visible_text("Gare")
    driver.find_element(By.ID, "name").send_keys("valence-gare-1")
    driver.find_element(By.ID, "address").send_keys(AP_ADDRESS)
    submit(f"{commune}/access-points")
    # the form has an input of the same id: wait for the page that shows the generated secret
    shown = WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "code#secret"))
    shared = shown[0].text
    assert len(shared) == 32
    check("access-point-added")

    # the access point's requests: radclient from its address with its secret is accepted
    output = _accepted_from(srv, shared)
    assert received(output) == "Access-Accept", output
    wrong = send(srv.auth_port, "not-the-secret-1", 'User-Name = "alice"\n', retries=1)
    assert "Sent Access-Request" in wrong and received(wrong) is None, wrong  # sent, and unanswered

    # and the console says it is sending requests (the decision records are written in batches)
    def seen(d: WebDriver) -> bool:
        d.get(base + f"{commune}/access-points")
        return "Accepted" in d.find_element(By.TAG_NAME, "tbody").text

    WebDriverWait(driver, 15, poll_frequency=0.5).until(seen)
    assert shared not in driver.page_source
    check("access-points")

    # the branding's preview is the portal's log-in page, re-rendered as the title is typed
    driver.find_element(By.LINK_TEXT, "Branding").click()
    at(f"{commune}/branding")
    check("branding")
    driver.find_element(By.ID, "title").send_keys("Wi-Fi de Valence")
    frame = driver.find_element(By.ID, "preview")
    WebDriverWait(driver, 10).until(lambda d: "title=" in (frame.get_attribute("src") or ""))
    driver.switch_to.frame(frame)
    WebDriverWait(driver, 10).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "header .site").text == "Wi-Fi de Valence"
    )
    assert driver.find_elements(By.CSS_SELECTOR, "form[action='/login'] #identity")
    driver.switch_to.default_content()
    submit(f"{commune}/branding")
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[role=status]"))

    # alice's session, started by the access point's accounting, is listed open and counted
    start = (
        f'User-Name = "alice@{REALM}"\nAcct-Status-Type = Start\nAcct-Session-Id = "gare-0001"\n'
        f"Calling-Station-Id = 02-00-00-00-00-05\nFramed-IP-Address = 10.5.0.9\n"
        f"NAS-IP-Address = {AP_ADDRESS}\nPacket-Src-IP-Address = {AP_ADDRESS}\n"
    )
    answer = send(srv.acct_port, shared, start, command="acct", timeout=1.0, retries=3)
    assert received(answer) == "Accounting-Response", answer

    def listed(d: WebDriver) -> bool:
        d.get(base + f"{commune}/sessions")
        return bool(d.find_elements(By.CSS_SELECTOR, "tbody th[scope=row]"))

    WebDriverWait(driver, 15, poll_frequency=0.5).until(listed)
    assert driver.find_element(By.CSS_SELECTOR, "tbody th[scope=row]").text.startswith("alice")
    check("sessions")
    driver.get(f"{base}{commune}/statistics")
    assert driver.find_element(By.CSS_SELECTOR, "tbody td.num").text == "1"  # one session today
    check("statistics")
    driver.get(f"{base}{commune}/policy")
    check("policy")
    assert {name: v for name, v in found.items() if v} == {}
