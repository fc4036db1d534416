"""SMS sign-up end to end (issue 19): a real ``sesame serve`` sending through a real Kannel
(bearerbox, smsbox, ``fakesmsc`` as the SMS centre: tests/support/kannel.py), headless Chromium on a
phone-sized window signs up with a mobile number, reads the code from what fakesmsc received,
confirms it, and the new account logs in — on the portal, and over RADIUS with radclient (PAP).
The SMS pages pass axe-core's WCAG 2.1 A/AA checks."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.interop.conftest import SECRET, Server, launch, need_tool, wait_until_served
from tests.interop.test_portal_browser import (  # noqa: F401
    ARTIFACTS,
    axe_source,
    axe_violations,
    chromium_driver,
)
from tests.support.kannel import PASSWORD, USERNAME, Kannel, running_kannel
from tests.support.ports import free_tcp_port

pytestmark = pytest.mark.slow
NUMBER = "+33612345678"
ACCOUNT_PASSWORD = "a long walk in Valence"


@pytest.fixture(scope="module")
def kannel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Kannel]:
    with running_kannel(tmp_path_factory.mktemp("kannel")) as running:
        yield running


@pytest.fixture(scope="module")
def sms_portal(tmp_path_factory: pytest.TempPathFactory, kannel: Kannel) -> Iterator[tuple[Server, str]]:
    need_tool("radclient")
    workdir = tmp_path_factory.mktemp("smsportal")
    web_port = free_tcp_port()
    base = f"http://127.0.0.1:{web_port}"
    srv = launch(
        workdir,
        f"sqlite:///{workdir / 'portal.db'}",
        SESAME_WEB_ENABLED="true",
        SESAME_WEB_PORT=str(web_port),
        SESAME_PORTAL_PUBLIC_URL=base,
        SESAME_MAIL_OUTBOX=str(workdir / "outbox"),
        SESAME_REGION_NAME="Région Sud",
        SESAME_SMS_ENABLED="true",
        SESAME_SMS_KANNEL_URL=kannel.sendsms_url,
        SESAME_SMS_KANNEL_USERNAME=USERNAME,
        SESAME_SMS_KANNEL_PASSWORD=PASSWORD,
        SESAME_SMS_COUNTRIES="FR,IT",
    )
    try:
        srv.cli("commune", "add", "Valence", "--insee", "26362")
        srv.cli("site", "add", "Médiathèque", "--commune", "Valence")
        srv.cli("nas", "add", "ap", "--ip", "127.0.0.1", "--secret", SECRET, "--site", "Médiathèque")
        wait_until_served(srv)
        yield srv, base
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=30)


def test_sign_up_by_sms_through_kannel_then_log_in_on_the_portal_and_over_radius(
    sms_portal: tuple[Server, str],
    kannel: Kannel,
    chromium_driver: object,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.wait import WebDriverWait

    srv, base = sms_portal
    driver: WebDriver = chromium_driver  # type: ignore[assignment]
    axe = axe_source()
    driver.get(f"{base}/healthz")
    driver.delete_all_cookies()
    driver.get(f"{base}/lang/en?next=/signup")
    driver.find_element(By.LINK_TEXT, "Sign up with a mobile number").click()
    WebDriverWait(driver, 10).until(lambda d: urlsplit(d.current_url).path == "/signup/phone")
    assert axe_violations(driver, axe) == []
    driver.find_element(By.ID, "username").send_keys("lucia")
    driver.find_element(By.ID, "phone").send_keys("06 12 34 56 78")
    driver.find_element(By.ID, "password").send_keys(ACCOUNT_PASSWORD)
    driver.find_element(By.ID, "terms").click()
    before = len(kannel.messages())
    driver.find_element(By.CSS_SELECTOR, "form[action='/signup/phone'] button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: urlsplit(d.current_url).path == "/verify/phone")
    assert "+33 6 •• •• •• 78" in driver.page_source
    assert axe_violations(driver, axe) == []
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / "verify-phone-en.png"))
    received = kannel.wait_for(NUMBER, after=before)
    assert received.sender == "Wi-Fi" and "Région Sud" in received.text
    found = re.search(r"\b(\d{6})\b", received.text)
    assert found, received.text
    driver.find_element(By.ID, "code").send_keys(found.group(1))
    driver.find_element(By.CSS_SELECTOR, "form[action='/verify/phone'] button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: urlsplit(d.current_url).path == "/account")
    assert "lucia@wifi.interop.example" in driver.page_source
    # a new browser logs in with the account's username and password
    driver.delete_all_cookies()
    driver.get(f"{base}/login")
    driver.find_element(By.ID, "identity").send_keys("lucia")
    driver.find_element(By.ID, "password").send_keys(ACCOUNT_PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form[action='/login'] button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: urlsplit(d.current_url).path == "/account")
    # and over RADIUS: PAP with the password chosen at sign-up
    reply = srv.radclient(
        f'User-Name = "lucia@wifi.interop.example"\nUser-Password = "{ACCOUNT_PASSWORD}"\n'
        'Calling-Station-Id = "02-00-5E-10-00-01"\nMessage-Authenticator = 0x00\n'
    )
    assert "Access-Accept" in reply, reply


def test_the_forgotten_password_pages_by_sms_pass_axe(
    sms_portal: tuple[Server, str],
    chromium_driver: object,  # noqa: F811
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.wait import WebDriverWait

    _, base = sms_portal
    driver: WebDriver = chromium_driver  # type: ignore[assignment]
    axe = axe_source()
    for language in ("fr", "it"):
        driver.delete_all_cookies()
        driver.get(f"{base}/lang/{language}?next=/forgot/phone")
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
        assert axe_violations(driver, axe) == []
        driver.find_element(By.CSS_SELECTOR, "form[action='/forgot/phone'] button[type=submit]").click()
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".summary"))
        assert driver.find_element(By.ID, "phone").get_attribute("aria-invalid") == "true"
        assert axe_violations(driver, axe) == []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / f"forgot-phone-errors-{language}.png"))
        driver.get(f"{base}/signup/phone")
        assert axe_violations(driver, axe) == []
        driver.save_screenshot(str(ARTIFACTS / f"signup-phone-{language}.png"))
