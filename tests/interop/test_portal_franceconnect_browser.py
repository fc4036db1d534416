"""A citizen signs in with FranceConnect in a real browser on a phone-sized window: headless
Chromium (selenium, 412×915), a real ``sesame serve`` with a citizen provider in its settings
(``SESAME_CITIZENIDP_PROVIDERS``), and a real OpenID provider (panva's oidc-provider,
tests/support/oidcprovider.py, pairwise subjects and ``acr``). A refused consent shows the
refusal page; then the provider signs the person in, the welcome form asks for a username and
the terms, and the person lands on "My account". axe-core finds no WCAG 2.1 A/AA violation on
the log-in page with its button, the refusal page, the welcome form and My account. Screenshots
go to ``$SESAME_ARTIFACTS/portal``.

The refused consent is answered by the provider's test script from a cookie (``deny``); the
sign-in goes through the provider's own log-in and consent pages (its ``pages`` cookie).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.interop.conftest import Server, launch
from tests.interop.test_console_browser import _wait_for_web
from tests.interop.test_portal_browser import ARTIFACTS, axe_source, axe_violations, chromium_driver  # noqa: F401
from tests.support.oidcprovider import openid_provider
from tests.support.ports import free_tcp_port

SECRET = "client-secret-for-tests-only"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def fc_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, str]]:
    workdir = tmp_path_factory.mktemp("franceconnect")
    web_port = free_tcp_port()
    base = f"http://127.0.0.1:{web_port}"
    client: dict[str, object] = {
        "client_id": "sesame-citizens",
        "client_secret": SECRET,
        "redirect_uris": [f"{base}/idp/callback"],
        "post_logout_redirect_uris": [f"{base}/login"],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
        "subject_type": "pairwise",
    }
    with openid_provider(workdir, [client]) as issuer:
        provider = {
            "slug": "franceconnect", "name": "FranceConnect", "franceconnect": True, "issuer": issuer,
            "client_id": "sesame-citizens", "client_secret": SECRET, "acr_values": "eidas1",
        }  # fmt: skip
        srv = launch(
            workdir,
            f"sqlite:///{workdir / 'portal.db'}",
            SESAME_WEB_ENABLED="true",
            SESAME_WEB_PORT=str(web_port),
            SESAME_PORTAL_PUBLIC_URL=base,
            SESAME_MAIL_OUTBOX=str(workdir / "outbox"),
            SESAME_CITIZENIDP_PROVIDERS=json.dumps([provider]),
        )
        try:
            _wait_for_web(base)
            yield srv, base, issuer
        finally:
            srv.proc.terminate()
            srv.proc.wait(timeout=30)


def test_a_citizen_signs_in_with_franceconnect_and_the_pages_pass_axe(
    fc_server: tuple[Server, str, str],
    chromium_driver: object,  # noqa: F811 - the fixture imported above
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.wait import WebDriverWait

    _, base, issuer = fc_server
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

    def at_provider(**cookies: str) -> None:
        """What the person will do at the provider: its test script reads these cookies."""
        driver.get(issuer + "/.well-known/openid-configuration")
        driver.delete_all_cookies()
        for name, value in cookies.items():
            driver.add_cookie({"name": name, "value": value, "path": "/"})

    at_provider(who="marianne@example.fr", deny="1")
    driver.get(base + "/login")
    check("franceconnect-login")
    button = driver.find_element(By.CSS_SELECTOR, "a.idp-button[href='/idp/franceconnect']")
    assert button.text == "Identify yourself with FranceConnect"
    button.click()
    at("/idp/callback")
    assert "refused to share your identity" in driver.find_element(By.TAG_NAME, "main").text
    check("franceconnect-refused")

    at_provider(pages="1")  # the provider's own log-in and consent pages this time
    driver.get(base + "/login")
    WebDriverWait(driver, 10).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, "a.idp-button[href='/idp/franceconnect']")
    )[0].click()
    email = WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "email"))[0]
    email.send_keys("marianne@example.fr")
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.NAME, "allow"))[0].click()
    at("/idp/welcome")
    check("franceconnect-welcome")
    username = driver.find_element(By.ID, "username")
    username.clear()
    username.send_keys("marianne")
    driver.find_element(By.ID, "terms").click()
    driver.find_element(By.CSS_SELECTOR, "form[action='/idp/welcome'] button[type=submit]").click()
    at("/account")
    assert "marianne@" in driver.find_element(By.TAG_NAME, "main").text
    check("franceconnect-account")

    assert {name: v for name, v in found.items() if v} == {}
