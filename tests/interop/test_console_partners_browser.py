"""A region admin's partners pages in a real browser, end to end (issue 18): headless Chromium
(selenium) against a real ``sesame serve`` with federation on, and a real FreeRADIUS 3.2 playing
the Ligurian region's home server (127.0.0.2), run by the test.

The region admin adds the partner "liguria" with its realm and that home server from the console;
radclient asks Sésame for a Ligurian visitor and is accepted through FreeRADIUS, and the partner's
page, refreshed until it does, says the server is alive and since when. FreeRADIUS stops: the next
visitor's request goes unanswered, the server becomes a zombie and, its Status-Server probes
unanswered for the zombie period, dead — which the page says; FreeRADIUS starts again and its
probes' answers bring the server back to alive. The dashboard's list of home servers leads to the
partner's page; the partner is removed after its confirmation page. The shared secret is in no
page; axe-core finds no WCAG 2.1 A/AA violation. The probe cadence is the interop tests' fast one
(``FAST_FEDERATION``: a 1.5 s response window, probes every 0.5 s, dead after 3 s).
Screenshots go to ``$SESAME_ARTIFACTS/console``; with ``SESAME_DOCS_SCREENSHOTS=1`` the list's
also replaces docs/console/partners.png (docs/console.md, "For the region").
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.interop.conftest import FAST_FEDERATION, SECRET, Server, launch, need_tool, radclient, received
from tests.interop.peers import FreeRadiusPeer
from tests.interop.test_console_browser import ARTIFACTS, _wait_for_web
from tests.interop.test_portal_browser import axe_source, axe_violations, chromium_driver  # noqa: F401 - a fixture
from tests.support.ports import free_tcp_port

DOCS = Path(__file__).resolve().parents[2] / "docs" / "console"
EMAIL, PASSWORD = "federation@region-sud.example", "the region's network team 2026"
LIGURIA = "liguria.example"
PARTNER_SECRET = "liguria-console-secret-7"
MARIO_PASSWORD = "pizza margherita"
SESAME_SOURCE = "127.0.0.5"  # what Sésame proxies from: the FreeRADIUS knows it by that address

pytestmark = pytest.mark.slow


@dataclass
class Federation:
    sesame: Server
    home: FreeRadiusPeer
    base: str


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    need_tool("radclient")  # CI: a failure, not a skip
    need_tool("freeradius")
    workdir = tmp_path_factory.mktemp("console-partners")
    home = FreeRadiusPeer(
        workdir / "liguria-home",
        host="127.0.0.2",
        secret=PARTNER_SECRET,
        users={"mario": MARIO_PASSWORD},
        clients={SESAME_SOURCE: PARTNER_SECRET},
    )
    web_port = free_tcp_port()
    base = f"http://127.0.0.1:{web_port}"
    with contextlib.ExitStack() as stack:
        stack.enter_context(home)
        sesame = launch(
            workdir,
            f"sqlite:///{workdir / 'partners.db'}",
            **FAST_FEDERATION,
            SESAME_FEDERATION_SOURCE_ADDRESS=SESAME_SOURCE,
            SESAME_WEB_ENABLED="true",
            SESAME_WEB_PORT=str(web_port),
            SESAME_PORTAL_PUBLIC_URL=base,
            SESAME_MAIL_OUTBOX=str(workdir / "outbox"),
            SESAME_REGION_NAME="Région Sud",
        )
        stack.callback(_stop, sesame)
        sesame.cli("commune", "add", "Nice", "--insee", "06088")
        sesame.cli("site", "add", "Promenade", "--commune", "Nice")
        sesame.cli("nas", "add", "ap-nice", "--ip", "127.0.0.1", "--secret", SECRET, "--site", "Promenade")
        sesame.cli("admin", "create", EMAIL, "--role", "region_admin", "--password", "-", input=PASSWORD)
        _wait_for_web(base)
        yield Federation(sesame=sesame, home=home, base=base)


def _stop(sesame: Server) -> None:
    sesame.proc.terminate()
    sesame.proc.wait(timeout=30)


def _visitor(fed: Federation, *, timeout: float = 2.0, retries: int = 1) -> str | None:
    """What Sésame answers the access point for a Ligurian visitor (None: no answer; radclient
    refuses ``-r 0``: one try is ``retries=1``)."""
    attributes = (
        f'User-Name = "mario@{LIGURIA}"\nUser-Password = "{MARIO_PASSWORD}"\nMessage-Authenticator = 0x00\n'
    )
    return received(radclient(fed.sesame.auth_port, SECRET, attributes, timeout=timeout, retries=retries))


def _accepted_once_loaded(fed: Federation) -> None:
    """The partner added from the console is loaded by the RADIUS process within a poll or two:
    until then the visitor's realm is unknown and refused."""
    deadline = time.monotonic() + 60
    answer = None
    while time.monotonic() < deadline:
        answer = _visitor(fed, timeout=3.0)
        if answer == "Access-Accept":
            return
        time.sleep(0.3)
    raise AssertionError(
        f"the visitor was never accepted (last answer: {answer})\n" + fed.sesame.log.read_text()[-3000:]
    )


def test_a_region_admin_adds_a_partner_and_watches_its_home_server_live_and_die(
    federation: Federation,
    chromium_driver: object,  # noqa: F811 - the fixture imported above
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.wait import WebDriverWait

    base, home = federation.base, federation.home
    driver: WebDriver = chromium_driver  # type: ignore[assignment]
    driver.set_window_size(1000, 1100)
    driver.set_script_timeout(30)
    axe = axe_source()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[str]] = {}

    def check(name: str) -> None:
        found[name] = list(axe_violations(driver, axe))
        shot = ARTIFACTS / f"partners-{name}.png"
        driver.save_screenshot(str(shot))
        if os.environ.get("SESAME_DOCS_SCREENSHOTS") == "1" and name == "list":
            shutil.copyfile(shot, DOCS / "partners.png")
        assert PARTNER_SECRET not in driver.page_source

    def at(path: str) -> None:
        WebDriverWait(driver, 10).until(lambda d: urlsplit(d.current_url).path == path)

    def submit(action: str) -> None:
        driver.find_element(By.CSS_SELECTOR, f"form[action='{action}'] button[type=submit]").click()

    def health(d: WebDriver) -> str:
        """The first home server's health in words, from the page loaded afresh."""
        d.get(d.current_url.split("?")[0])
        cells = d.find_elements(By.CSS_SELECTOR, "#servers td.health .badge")
        return cells[0].text if cells else ""

    def becomes(*words: str, within: float = 40) -> str:
        WebDriverWait(driver, within, poll_frequency=0.5).until(lambda d: health(d) in words)
        return health(driver)

    driver.get(f"{base}/healthz")
    driver.delete_all_cookies()
    driver.get(base + "/console/login")
    driver.find_element(By.ID, "email").send_keys(EMAIL)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    submit("/console/login")
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "nav.main-nav"))
    driver.find_element(By.CSS_SELECTOR, "nav.main-nav a[href='/console/partners']").click()
    at("/console/partners")
    assert driver.find_element(By.ID, "count-alive").text == "0"
    check("empty-list")

    # the partner, its realm and its home server: the FreeRADIUS at 127.0.0.2
    driver.find_element(By.LINK_TEXT, "Add a partner").click()
    at("/console/partners/new")
    driver.find_element(By.ID, "name").send_keys("liguria")
    driver.find_element(By.ID, "display_name").send_keys("Regione Liguria")
    driver.find_element(By.ID, "realms").send_keys(LIGURIA)
    driver.find_element(By.ID, "host").send_keys("127.0.0.2")
    Select(driver.find_element(By.ID, "transport")).select_by_value("udp")
    driver.find_element(By.ID, "port").send_keys(str(home.auth_port))
    driver.find_element(By.ID, "acct_port").send_keys(str(home.acct_port))
    driver.find_element(By.ID, "secret").send_keys(PARTNER_SECRET)
    check("new")
    submit("/console/partners")
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[role=status]"))
    partner_path = urlsplit(driver.current_url).path
    assert partner_path.startswith("/console/partners/")
    assert driver.find_element(By.TAG_NAME, "h1").text == "Regione Liguria (liguria)"
    row = driver.find_element(By.CSS_SELECTOR, "#servers tbody th[scope=row]").text
    assert row == f"127.0.0.2:{home.auth_port}"
    assert [c.text for c in driver.find_elements(By.CSS_SELECTOR, ".realms code")] == [LIGURIA]
    assert health(driver) == "Unknown: not used yet"
    check("partner")

    # a visitor proxied to it and accepted: the server is alive, and the page says since when
    _accepted_once_loaded(federation)
    assert becomes("Alive") == "Alive"
    since = driver.find_element(By.CSS_SELECTOR, "#servers td.health time")
    assert (since.get_attribute("datetime") or "").endswith("+00:00")
    check("alive")
    driver.get(base + "/console/partners")
    assert driver.find_element(By.ID, "count-alive").text == "1"
    check("list")

    # FreeRADIUS stops: the visitor's request goes unanswered, the server is a zombie, then dead
    home.stop()
    driver.get(base + partner_path)
    assert _visitor(federation, timeout=4.0) is None
    assert becomes("Zombie: not answering", "Dead") in ("Zombie: not answering", "Dead")
    assert becomes("Dead") == "Dead"
    driver.get(base + "/console/partners")
    assert driver.find_element(By.ID, "count-dead").text == "1"
    assert driver.find_element(By.ID, "count-alive").text == "0"
    check("dead")

    # it starts again: its Status-Server probes are answered and it is alive again
    home.restart()
    driver.get(base + partner_path)
    assert becomes("Alive") == "Alive"
    assert _visitor(federation, timeout=3.0) == "Access-Accept"

    # the home server's settings page, and the dashboard's link to the partner
    driver.find_element(By.CSS_SELECTOR, "#servers td a").click()  # its "Edit" link
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "require_message_authenticator"))
    assert driver.find_element(By.ID, "secret").get_attribute("value") == ""
    check("server")
    driver.get(base + "/console/dashboards")
    link = WebDriverWait(driver, 10).until(
        lambda d: d.find_elements(By.CSS_SELECTOR, f"#home-servers a[href='{partner_path}']")
    )
    link[0].click()
    at(partner_path)

    # removed after its confirmation page
    driver.find_element(By.LINK_TEXT, "Remove this partner…").click()
    at(f"{partner_path}/delete")
    check("delete")
    submit(f"{partner_path}/delete")
    at("/console/partners")
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "[role=status]"))
    assert "No partner yet." in driver.find_element(By.TAG_NAME, "main").text
    assert all(not violations for violations in found.values()), found
