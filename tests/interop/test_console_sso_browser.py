"""Single sign-on to the console in a real browser: headless Chromium (selenium), a real
``sesame serve`` with an OpenID provider in its settings (``SESAME_SSO_PROVIDERS``), and a real
provider (panva's oidc-provider, tests/support/oidcprovider.py). A commune admin clicks "Sign in
with …" on the sign-in page, the provider signs them in, and they land on the console with
Sésame's role and commune; an unknown email gets the refusal page. axe-core finds no WCAG 2.1
A/AA violation on the sign-in page with its buttons, the refusal page and the landing page.
Screenshots go to ``$SESAME_ARTIFACTS/console``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.interop.conftest import Server, launch
from tests.interop.test_console_browser import ARTIFACTS, _wait_for_web
from tests.interop.test_portal_browser import axe_source, axe_violations, chromium_driver  # noqa: F401 - a fixture
from tests.support.oidcprovider import openid_provider
from tests.support.ports import free_tcp_port

EMAIL, SECRET = "mairie@valence.example", "client-secret-for-tests-only"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sso_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, str]]:
    workdir = tmp_path_factory.mktemp("console-sso")
    web_port = free_tcp_port()
    base = f"http://127.0.0.1:{web_port}"
    client: dict[str, object] = {
        "client_id": "sesame",
        "client_secret": SECRET,
        "redirect_uris": [f"{base}/console/sso/callback"],
        "grant_types": ["authorization_code"],
        "response_types": ["code"],
    }
    with openid_provider(workdir, [client]) as issuer:
        provider = {"slug": "agents", "name": "Agents SSO", "issuer": issuer, "client_id": "sesame"}
        srv = launch(
            workdir,
            f"sqlite:///{workdir / 'console.db'}",
            SESAME_WEB_ENABLED="true",
            SESAME_WEB_PORT=str(web_port),
            SESAME_PORTAL_PUBLIC_URL=base,
            SESAME_MAIL_OUTBOX=str(workdir / "outbox"),
            SESAME_SSO_PROVIDERS=json.dumps([{**provider, "client_secret": SECRET}]),
        )
        try:
            srv.cli("commune", "add", "Valence", "--insee", "26362")
            srv.cli("commune", "add", "Nice", "--insee", "06088")
            role = ("--role", "commune_admin", "--commune", "Valence")
            srv.cli("admin", "create", EMAIL, *role, "--password", "-", input="an unused password 2026")
            _wait_for_web(base)
            yield srv, base, issuer
        finally:
            srv.proc.terminate()
            srv.proc.wait(timeout=30)


def test_a_commune_admin_signs_in_with_the_provider_and_the_pages_pass_axe(
    sso_server: tuple[Server, str, str],
    chromium_driver: object,  # noqa: F811 - the fixture imported above
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.wait import WebDriverWait

    _, base, issuer = sso_server
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

    def as_person(email: str) -> None:
        """Who the provider will sign in: its test script reads the ``who`` cookie."""
        driver.get(issuer + "/.well-known/openid-configuration")
        driver.delete_all_cookies()
        driver.add_cookie({"name": "who", "value": email, "path": "/"})

    as_person("nobody-here@valence.example")
    driver.get(base + "/console/login")
    check("sso-signin")
    driver.find_element(By.CSS_SELECTOR, "a.button[href='/console/sso/agents']").click()
    at("/console/sso/callback")
    assert "No staff account" in driver.find_element(By.CSS_SELECTOR, "[role=alert]").text
    check("sso-refused")

    as_person(EMAIL)
    driver.get(base + "/console/login")
    button = driver.find_element(By.CSS_SELECTOR, "a.button[href='/console/sso/agents']")
    assert button.text == "Sign in with Agents SSO"
    button.click()
    at("/console")  # through the provider, the callback's page, and on by itself
    assert [a.text for a in driver.find_elements(By.CSS_SELECTOR, "table tbody th a")] == ["Valence"]
    check("sso-home")

    assert {name: v for name, v in found.items() if v} == {}
