"""End to end in a real browser: headless Chromium (Debian ``chromium`` + ``chromium-driver``,
installed by ``.ci/run``) signs up on the portal, verifies the email, comes through a simulated
CoovaChilli UAM redirect, and lands on the controller's logon URL with a token that the real
``radclient`` then gets accepted with — once.

The simulated controller is a small HTTP server on 127.0.0.1: it records the ``/logon`` request
and decodes the password as CoovaChilli does (``pw XOR MD5(challenge || uamsecret)``), written
here independently of ``portal.handoff``. Screenshots of the main pages in fr, it and en are kept
in ``$SESAME_ARTIFACTS`` (default ``test-artifacts/portal``).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import threading
import time
from collections.abc import Iterator
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest

from tests.conftest import IN_CI
from tests.interop.conftest import SECRET, Server, launch, need_tool, wait_until_served
from tests.support.ports import free_tcp_port

UAM_SECRET = "uam-shared-secret"
CHALLENGE = bytes(range(16)).hex()
CLIENT_MAC = "AA-BB-CC-12-34-56"
ARTIFACTS = Path(os.environ.get("SESAME_ARTIFACTS", "test-artifacts")) / "portal"

pytestmark = pytest.mark.slow


def need_browser() -> tuple[str, str]:
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if chromium is None or driver is None:
        message = "chromium and chromedriver (Debian chromium, chromium-driver) are needed"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return chromium, driver


class Controller(ThreadingHTTPServer):
    """A CoovaChilli stand-in: remembers each /logon query."""

    def __init__(self) -> None:
        self.logons: list[dict[str, str]] = []
        super().__init__(("127.0.0.1", 0), _ControllerHandler)

    @property
    def port(self) -> int:
        return int(self.server_address[1])


class _ControllerHandler(BaseHTTPRequestHandler):
    server: Controller

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/logon":
            self.server.logons.append({k: v[0] for k, v in parse_qs(url.query).items()})
        body = b"<!doctype html><title>controller</title><h1>Logon received</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


def uam_redirect(base: str, controller_port: int) -> str:
    """The URL CoovaChilli redirects a new client to, signed with ``md`` as chilli does."""
    params = [
        ("res", "notyet"),
        ("uamip", "127.0.0.1"),
        ("uamport", str(controller_port)),
        ("challenge", CHALLENGE),
        ("called", "00-11-22-33-44-55"),
        ("mac", CLIENT_MAC),
        ("ip", "10.1.0.23"),
        ("nasid", "chilli-ap"),
        ("sessionid", "5f3a2b1c00000001"),
        ("userurl", "https://example.org/"),  # plain http would not be passed on (accounts.weburl)
    ]
    url = f"{base}/hotspot?" + "&".join(f"{k}={quote(v, safe='-_.!~*')}" for k, v in params)
    md = hashlib.md5((url + UAM_SECRET).encode()).hexdigest().upper()
    return f"{url}&md={md}"


def chilli_decode(hex_password: str) -> str:
    """What CoovaChilli does with ``password=``: XOR each byte with MD5(challenge || uamsecret)."""
    key = hashlib.md5(bytes.fromhex(CHALLENGE) + UAM_SECRET.encode()).digest()
    raw = bytes.fromhex(hex_password)
    return bytes(b ^ key[i % 16] for i, b in enumerate(raw)).decode()


@pytest.fixture(scope="module")
def portal_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    need_tool("radclient")
    workdir = tmp_path_factory.mktemp("portal")
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
    )
    try:
        srv.cli("commune", "add", "Valence", "--insee", "26362")
        srv.cli("site", "add", "Médiathèque", "--commune", "Valence")
        srv.cli("nas", "add", "chilli-ap", "--ip", "127.0.0.1", "--secret", SECRET, "--site", "Médiathèque")
        srv.cli("nas", "handoff", "chilli-ap", "--handoff", "coovachilli", "--uam-secret", UAM_SECRET)
        srv.cli(
            "brand", "set", "--commune", "Valence", "--color", "#7a1f5c", "--welcome", "Bienvenue à Valence"
        )
        wait_until_served(srv)
        yield srv, base
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=30)


@pytest.fixture
def chrome(chromium_driver: object, portal_server: tuple[Server, str]) -> object:
    """The module's browser, as a new visitor: no cookie of another test (its log-in, language),
    whatever order the tests run in."""
    from selenium.webdriver.remote.webdriver import WebDriver

    driver: WebDriver = chromium_driver  # type: ignore[assignment]
    _, base = portal_server
    driver.get(f"{base}/healthz")
    driver.delete_all_cookies()
    return driver


@pytest.fixture(scope="module")
def chromium_driver() -> Iterator[object]:
    chromium, driver_path = need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=412,915"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def code_from_outbox(outbox: Path, to: str) -> str:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        for path in sorted(outbox.glob("*.eml"), reverse=True):
            message = message_from_bytes(path.read_bytes(), policy=policy.default)
            if message["To"] == to:
                found = re.search(r"\b(\d{6})\b", message.get_body().get_content())  # type: ignore[union-attr]
                assert found
                return found.group(1)
        time.sleep(0.1)
    raise AssertionError(f"no mail to {to}")


def test_sign_up_verify_and_hand_off_to_coovachilli_then_radius_accepts_the_token_once(
    portal_server: tuple[Server, str], chrome: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.wait import WebDriverWait

    srv, base = portal_server
    driver: WebDriver = chrome  # type: ignore[assignment]
    controller = Controller()
    thread = threading.Thread(target=controller.serve_forever, daemon=True)
    thread.start()
    try:
        driver.get(f"{base}/lang/en?next=/login")
        driver.get(uam_redirect(base, controller.port))
        assert "Bienvenue à Valence" in driver.page_source  # the commune's branding
        assert driver.find_element(By.ID, "remember")  # the controller told us the device's MAC
        driver.find_element(By.LINK_TEXT, "Create an account").click()
        driver.find_element(By.ID, "username").send_keys("camille")
        driver.find_element(By.ID, "email").send_keys("camille@example.fr")
        driver.find_element(By.ID, "password").send_keys("a long walk in Valence")
        driver.find_element(By.ID, "terms").click()
        driver.find_element(By.CSS_SELECTOR, "form[action='/signup'] button[type=submit]").click()
        WebDriverWait(driver, 10).until(lambda d: urlsplit(d.current_url).path == "/verify")
        driver.find_element(By.ID, "code").send_keys(
            code_from_outbox(srv.workdir / "outbox", "camille@example.fr")
        )
        driver.find_element(By.CSS_SELECTOR, "form[action='/verify'] button[type=submit]").click()
        # verified: /connect mints a token and redirects to the controller's logon URL
        deadline = time.monotonic() + 10
        while not controller.logons and time.monotonic() < deadline:
            time.sleep(0.05)
        assert controller.logons, driver.page_source
        logon = controller.logons[-1]
        assert urlsplit(driver.current_url).port == controller.port
        assert logon["username"] == "camille@wifi.interop.example"
        # chilli percent-decodes userurl a second time (redir.c, redir_urldecode), and so must we
        assert unquote(logon["userurl"]) == "https://example.org/"
        token = chilli_decode(logon["password"])
        assert re.fullmatch(r"[A-Za-z0-9_-]{24}", token)
        request = (
            f'User-Name = "{logon["username"]}"\nUser-Password = "{token}"\n'
            f'Calling-Station-Id = "{CLIENT_MAC}"\nMessage-Authenticator = 0x00\n'
        )
        first = srv.radclient(request)
        assert "Access-Accept" in first, first
        second = srv.radclient(request)
        assert "Access-Reject" in second, second  # single use
    finally:
        controller.shutdown()


@pytest.mark.parametrize("language", ["fr", "it", "en"])
def test_screenshots_of_the_main_pages(
    portal_server: tuple[Server, str], chrome: object, language: str
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.wait import WebDriverWait

    _, base = portal_server
    driver: WebDriver = chrome  # type: ignore[assignment]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.delete_all_cookies()
    driver.get(f"{base}/lang/{language}?next=/login")
    for path in ("/login", "/signup", "/forgot", "/privacy"):
        driver.get(base + path)
        assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
        assert driver.find_element(By.TAG_NAME, "h1").text
        driver.save_screenshot(str(ARTIFACTS / f"{path.strip('/')}-{language}.png"))
    # a bad sign-up shows its errors next to the fields, in the language of the page
    driver.get(base + "/signup")
    driver.find_element(By.CSS_SELECTOR, "form[action='/signup'] button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".summary"))
    errors = driver.find_elements(By.CSS_SELECTOR, ".field .error, .check .error")
    assert len(errors) == 4
    assert driver.find_element(By.ID, "username").get_attribute("aria-invalid") == "true"
    driver.save_screenshot(str(ARTIFACTS / f"signup-errors-{language}.png"))


@pytest.mark.parametrize("language", ["fr", "it", "en"])
def test_screenshots_of_a_new_account(
    portal_server: tuple[Server, str], chrome: object, language: str
) -> None:
    """Sign up in each language: the verification page, then my account, with a device."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.wait import WebDriverWait

    srv, base = portal_server
    driver: WebDriver = chrome  # type: ignore[assignment]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    driver.delete_all_cookies()
    driver.get(f"{base}/lang/{language}?next=/signup")
    email = f"screen-{language}@example.fr"
    driver.find_element(By.ID, "username").send_keys(f"screen-{language}")
    driver.find_element(By.ID, "email").send_keys(email)
    driver.find_element(By.ID, "password").send_keys("a long walk in Valence")
    driver.find_element(By.ID, "terms").click()
    driver.find_element(By.CSS_SELECTOR, "form[action='/signup'] button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: urlsplit(d.current_url).path == "/verify")
    driver.save_screenshot(str(ARTIFACTS / f"verify-{language}.png"))
    driver.find_element(By.ID, "code").send_keys(code_from_outbox(srv.workdir / "outbox", email))
    driver.find_element(By.CSS_SELECTOR, "form[action='/verify'] button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: urlsplit(d.current_url).path == "/account")
    srv.cli(
        "device", "remember", f"screen-{language}", "--mac", "02-00-5E-10-00-" + language.encode().hex()[:2]
    )
    driver.refresh()
    assert f"screen-{language}@wifi.interop.example" in driver.page_source
    assert driver.find_element(By.TAG_NAME, "html").get_attribute("lang") == language
    driver.save_screenshot(str(ARTIFACTS / f"account-{language}.png"))


def axe_source() -> str:
    """axe-core (Deque's accessibility engine), pinned in package-lock.json, installed by scripts/test
    with ``npm ci`` into node_modules/."""
    default = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
    path = Path(os.environ.get("SESAME_AXE_JS", str(default)))
    if not path.is_file():
        message = f"axe-core is needed for the accessibility test ({path}; scripts/test installs it: npm ci)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path.read_text()


def axe_violations(driver: Any, axe: str) -> list[str]:
    """The WCAG 2.1 A/AA violations axe-core finds on the driver's page, one line each
    ("rule: target, target"; ["axe failed: …"] when axe itself fails)."""
    driver.execute_script(axe)
    result = driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];"
        "axe.run(document, {runOnly: {type: 'tag', values: tags}})"
        ".then(r => done(r.violations.map("
        "  v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))))"
        ".catch(e => done(['axe failed: ' + e]));"
    )
    return list(result)


def test_the_pages_pass_axe_wcag_2_1_aa(portal_server: tuple[Server, str], chrome: object) -> None:
    """Every main page, including a form with errors and the logged-in pages, has no WCAG 2.1 A/AA
    violation that axe-core can detect (it cannot judge everything: wording, focus order)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.wait import WebDriverWait

    srv, base = portal_server
    driver: WebDriver = chrome  # type: ignore[assignment]
    axe = axe_source()

    def violations() -> list[str]:
        result = axe_violations(driver, axe)
        return list(result)

    driver.set_script_timeout(30)
    driver.delete_all_cookies()
    found: dict[str, list[str]] = {}
    driver.get(f"{base}/lang/fr?next=/login")
    for path in ("/login", "/signup", "/forgot", "/reset", "/terms", "/privacy"):
        driver.get(base + path)
        found[path] = violations()
    driver.get(base + "/signup")
    driver.find_element(By.CSS_SELECTOR, "form[action='/signup'] button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".summary"))
    found["/signup (errors)"] = violations()
    driver.find_element(By.ID, "username").send_keys("axe-check")
    driver.find_element(By.ID, "email").send_keys("axe@example.fr")
    driver.find_element(By.ID, "password").send_keys("a long walk in Valence")
    driver.find_element(By.ID, "terms").click()
    driver.find_element(By.CSS_SELECTOR, "form[action='/signup'] button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: urlsplit(d.current_url).path == "/verify")
    found["/verify"] = violations()
    driver.find_element(By.ID, "code").send_keys(code_from_outbox(srv.workdir / "outbox", "axe@example.fr"))
    driver.find_element(By.CSS_SELECTOR, "form[action='/verify'] button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: urlsplit(d.current_url).path == "/account")
    srv.cli("device", "remember", "axe-check", "--mac", "02-00-5E-10-00-AA")
    driver.refresh()
    found["/account"] = violations()
    for path in ("/account/password", "/account/delete"):
        driver.get(base + path)
        found[path] = violations()
    assert {path: v for path, v in found.items() if v} == {}
    # the harness can fail: an input without a label planted in the page is caught
    driver.execute_script("document.querySelector('main').appendChild(document.createElement('input'))")
    assert any(v.startswith("label:") for v in violations())


def test_the_api_docs_render_from_this_server_with_no_csp_violation(
    portal_server: tuple[Server, str], chrome: object
) -> None:
    """Swagger UI renders the admin API under the page's strict policy, every file from this server."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.wait import WebDriverWait

    _, base = portal_server
    driver: WebDriver = chrome  # type: ignore[assignment]
    # listens before any script of the page runs (DevTools scripts are not subject to the page's CSP)
    recorder = driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {
            "source": "window.cspViolations = [];"
            "document.addEventListener('securitypolicyviolation', e => window.cspViolations.push("
            "  e.effectiveDirective + ' ' + (e.blockedURI || 'inline')));"
        },
    )
    try:
        driver.get(f"{base}/api/docs")
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, ".opblock"))
        shown = " ".join(e.text for e in driver.find_elements(By.CSS_SELECTOR, ".opblock-summary-path"))
        assert "/api/v1/auth/token" in shown
        assert "Sésame" in driver.find_element(By.CSS_SELECTOR, ".info .title").text
        assert driver.execute_script("return window.cspViolations") == []
        loaded = driver.execute_script(
            "return performance.getEntriesByType('resource').map(r => r.name)"
            ".concat([document.location.href])"
        )
        assert len(loaded) >= 5 and all(url.startswith(base + "/") for url in loaded), loaded
        # the recorder works: an inline script planted in the page is refused and reported
        driver.execute_script(
            "const s = document.createElement('script'); s.textContent = 'window.ran = 1';"
            "document.body.appendChild(s);"
        )
        WebDriverWait(driver, 5).until(lambda d: d.execute_script("return window.cspViolations.length"))
        assert driver.execute_script("return window.cspViolations") == ["script-src-elem inline"]
        assert driver.execute_script("return window.ran") is None
    finally:
        driver.execute_cdp_cmd(
            "Page.removeScriptToEvaluateOnNewDocument", {"identifier": recorder["identifier"]}
        )
