"""The console's main pages as each role sees them, in a real browser — the screenshots of
docs/console.md. Headless Chromium (selenium) against a real ``sesame serve`` whose database holds
a small demo network seeded around the present time: two communes, sites with coordinates, access
points, a fortnight of sessions, the last hour's decisions, and a citizen whose last attempts were
refused. A commune admin walks their commune's pages, support finds the citizen and reads why they
were refused, the auditor runs a judicial requisition and reads the audit log, and a staff member
opens the two-factor enrolment: each page shows what the seed implies, and axe-core finds no WCAG
2.1 A/AA violation on any.

Screenshots (1280×800) go to ``$SESAME_ARTIFACTS/console/docs``; with
``SESAME_DOCS_SCREENSHOTS=1`` they also replace those of docs/console/ (the dashboards' come from
tests/interop/test_console_dashboards_browser.py).
"""

from __future__ import annotations

import asyncio
import os
import random
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from accounts import network, users
from accounts.models import AccountingSession, AccountStatus, AuthRecord, Region
from accounts.passwords import Argon2Cost, PasswordHasher
from accounts.secretbox import SecretBox
from sesame.db import create_engine, create_sessionmaker, unit_of_work
from tests.conftest import TEST_SECRET_KEY
from tests.interop.conftest import Server, launch
from tests.interop.test_console_browser import _wait_for_web
from tests.interop.test_portal_browser import axe_source, axe_violations, chromium_driver  # noqa: F401 - a fixture
from tests.support.ports import free_tcp_port

ARTIFACTS = Path(os.environ.get("SESAME_ARTIFACTS", "test-artifacts")) / "console" / "docs"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "console"
STAFF_PASSWORD = "a long walk in Valence 2026"
REGION, VALENCE, SUPPORT, AUDITOR = (
    "reseau@region-sud.example", "dsi@mairie-valence.example", "support@region-sud.example",
    "dpo@region-sud.example",
)  # fmt: skip
CITIZEN, CITIZEN_EMAIL = "camille", "camille@example.fr"
CITIZEN_MAC, CITIZEN_IP = "3C-22-FB-11-4A-07", "10.40.1.23"
#: (commune, INSEE, site, postal address, latitude, longitude, access points, share of the sessions)
PLACES = [
    ("Valence", "26362", "Médiathèque", "place Huguenel", 44.9334, 4.8924, ("10.40.1.2", "10.40.1.3"), 0.45),
    ("Valence", "26362", "Mairie", "1 place de la Liberté", 44.9331, 4.8900, ("10.40.2.2",), 0.15),
    ("Valence", "26362", "Parc Jouvet", "avenue Gambetta", 44.9290, 4.8880, ("10.40.3.2",), 0.12),
    ("Die", "26113", "Place de la République", "rue Camille Buffardel", 44.7536, 5.3700, ("10.41.1.2",), 0.2),
    ("Die", "26113", "Gare", "avenue de la Division du Texas", 44.7505, 5.3655, ("10.41.2.2",), 0.08),
]  # fmt: skip
REFUSALS = ["bad_password", "bad_password", "account_locked"]

pytestmark = pytest.mark.slow


@dataclass(frozen=True)
class Demo:
    valence: int
    die: int
    citizen: int
    open_valence: int  # Valence's sessions open now


async def _seed(url: str) -> Demo:
    """The demo network, around the present time (the live dashboards and the default periods)."""
    now = datetime.now(UTC).replace(microsecond=0)
    rng = random.Random(18)
    engine = create_engine(url.replace("sqlite:///", "sqlite+aiosqlite:///", 1))
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            region = await session.scalar(select(Region))
            assert region is not None
            hasher = PasswordHasher(Argon2Cost(memory_kib=1024, time_cost=1, parallelism=1))
            box = SecretBox(TEST_SECRET_KEY)
            communes: dict[str, int] = {}
            sites = []
            for n, (commune_name, insee, name, street, lat, lon, addresses, share) in enumerate(PLACES):
                if commune_name not in communes:
                    commune = await network.add_commune(
                        session, region=region, name=commune_name, insee_code=insee
                    )
                    communes[commune_name] = commune.id
                else:
                    commune = await network.find_commune(session, insee)
                site = await network.add_site(
                    session, commune=commune, name=name, address=f"{street}, {commune_name}",
                    coordinates=network.Coordinates(latitude=lat, longitude=lon),
                )  # fmt: skip
                aps = []
                for k, address in enumerate(addresses):
                    nas = await network.add_nas(
                        session, box=box, site=site, name=f"{name[:12]} AP{k + 1}", address=address,
                        secret=f"demo-secret-{n}-{k}-0123456789", vendor="unifi",
                    )  # fmt: skip
                    aps.append((nas.id, address))
                sites.append((commune.id, site.id, aps, share))
            people = []
            for n in range(40):
                account = await users.create_account(
                    session, hasher=hasher, region=region, username=f"person{n}",
                    email=f"person{n}@example.fr", password=None, verified=True,
                )  # fmt: skip
                people.append((account.id, account.username))
            citizen = await users.create_account(
                session, hasher=hasher, region=region, username=CITIZEN, email=CITIZEN_EMAIL,
                password=None, verified=True,
            )  # fmt: skip
            citizen.status = AccountStatus.LOCKED  # the reason of her last refusal
            citizen.created_at = now - timedelta(days=90)
            citizen.last_seen_at = now - timedelta(days=2)
            open_valence = 0
            for n in range(400):
                commune_id, site_id, aps, _ = rng.choices(sites, [s[3] for s in sites])[0]
                is_open = n < 30  # connected now, for the last three hours at most
                ago = (
                    timedelta(minutes=rng.randrange(180))
                    if is_open
                    else timedelta(minutes=rng.randrange(14 * 1440))
                )
                start = now - ago
                open_valence += is_open and commune_id == communes["Valence"]
                account_id, username = rng.choice(people)
                session.add(
                    AccountingSession(
                        acctsessionid=f"demo{n}", acctuniqueid=f"{n:032x}",
                        nasipaddress=rng.choice(aps)[1],
                        username=f"{username}@{region.realm}", acctstarttime=start,
                        acctstoptime=None if is_open else start + timedelta(minutes=rng.randrange(5, 120)),
                        acctinputoctets=rng.randrange(10**8), acctoutputoctets=rng.randrange(10**9),
                        account_id=account_id, site_id=site_id, commune_id=commune_id,
                        framedipaddress=f"10.40.{rng.randrange(1, 200)}.{rng.randrange(2, 250)}",
                        callingstationid=":".join(f"{rng.randrange(256):02x}" for _ in range(6)),
                    )
                )  # fmt: skip
            # the citizen: a connection two days ago, and this morning's refused attempts at the Médiathèque
            library = sites[0]
            yesterday = now - timedelta(days=2)
            session.add(
                AccountingSession(
                    acctsessionid="camille-1", acctuniqueid="c" * 32, nasipaddress=library[2][0][1],
                    username=f"{CITIZEN}@{region.realm}", acctstarttime=yesterday,
                    acctstoptime=yesterday + timedelta(minutes=47), acctinputoctets=81_234_567,
                    acctoutputoctets=912_345_678, account_id=citizen.id, site_id=library[1],
                    commune_id=library[0], callingstationid=CITIZEN_MAC, framedipaddress=CITIZEN_IP,
                )
            )  # fmt: skip
            # decisions are written in time order, as the RADIUS server does (the newest: the highest id)
            records: list[AuthRecord] = []
            for k, reason in enumerate(REFUSALS):
                records.append(
                    AuthRecord(
                        username=f"{CITIZEN}@{region.realm}", reply="Access-Reject",
                        authdate=now - timedelta(minutes=40 - 5 * k), callingstationid=CITIZEN_MAC,
                        nasipaddress=library[2][0][1], site_id=library[1], account_id=citizen.id,
                        nas_id=library[2][0][0],
                        method="pap", reason=reason,
                    )
                )  # fmt: skip
            # the last hour's decisions, for the live chart
            for _ in range(300):
                _, site_id, aps, _ = rng.choices(sites, [s[3] for s in sites])[0]
                nas_id, address = rng.choice(aps)
                accepted = rng.random() < 0.85
                records.append(
                    AuthRecord(
                        username=f"{rng.choice(people)[1]}@{region.realm}",
                        reply="Access-Accept" if accepted else "Access-Reject",
                        authdate=now - timedelta(seconds=rng.randrange(3600)), site_id=site_id, method="pap",
                        nas_id=nas_id, nasipaddress=address,
                        reason="accepted" if accepted else rng.choice(["bad_password", "unknown_user"]),
                    )
                )  # fmt: skip
            records.sort(key=lambda record: record.authdate)
            session.add_all(records)
            return Demo(
                valence=communes["Valence"],
                die=communes["Die"],
                citizen=citizen.id,
                open_valence=open_valence,
            )
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def demo_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str, Demo]]:
    workdir = tmp_path_factory.mktemp("screenshots")
    web_port = free_tcp_port()
    base = f"http://127.0.0.1:{web_port}"
    url = f"sqlite:///{workdir / 'demo.db'}"
    srv = launch(
        workdir,
        url,
        SESAME_WEB_ENABLED="true",
        SESAME_WEB_PORT=str(web_port),
        SESAME_PORTAL_PUBLIC_URL=base,
        SESAME_MAIL_OUTBOX=str(workdir / "outbox"),
        SESAME_REGION_NAME="Région Sud",
        SESAME_REALM="wifi.region-sud.example",
        SESAME_SECRET_KEY=TEST_SECRET_KEY,
        SESAME_ACCOUNTING_STALE_AFTER=str(10**9),  # the seed's open sessions have no interim update
    )
    try:
        demo = asyncio.run(_seed(url))
        for email, role, commune in (
            (REGION, "region_admin", None),
            (VALENCE, "commune_admin", "Valence"),
            (SUPPORT, "support", None),
            (AUDITOR, "auditor", None),
        ):
            where = ["--commune", commune] if commune else []
            srv.cli("admin", "create", email, "--role", role, *where, "--password", "-", input=STAFF_PASSWORD)
        _wait_for_web(base)
        yield srv, base, demo
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=30)


def test_the_main_pages_of_each_role(
    demo_server: tuple[Server, str, Demo],
    chromium_driver: object,  # noqa: F811 - the fixture imported above
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.wait import WebDriverWait

    _, base, demo = demo_server
    driver: WebDriver = chromium_driver  # type: ignore[assignment]
    driver.execute_cdp_cmd(  # the page's viewport itself, whatever the window around it
        "Emulation.setDeviceMetricsOverride",
        {"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": False},
    )
    driver.set_script_timeout(30)
    axe = axe_source()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[str]] = {}

    def shot(name: str, at: str | None = None) -> None:
        """axe's findings, and the screenshot: of the page's top, or from the element ``at``."""
        found[name] = axe_violations(driver, axe)
        path = ARTIFACTS / f"{name}.png"
        if at is None:
            driver.execute_script("window.scrollTo(0, 0);")
        else:
            driver.execute_script("arguments[0].scrollIntoView();", driver.find_element(By.CSS_SELECTOR, at))
        driver.save_screenshot(str(path))
        if os.environ.get("SESAME_DOCS_SCREENSHOTS") == "1":
            shutil.copyfile(path, DOCS / f"{name}.png")

    def wait_for(selector: str) -> None:
        WebDriverWait(driver, 15).until(lambda d: d.find_elements(By.CSS_SELECTOR, selector))

    def heading() -> str:
        return driver.find_element(By.TAG_NAME, "h1").text

    def sign_in(email: str) -> None:
        driver.get(f"{base}/healthz")
        driver.delete_all_cookies()
        driver.get(base + "/console/login")
        driver.find_element(By.ID, "email").send_keys(email)
        driver.find_element(By.ID, "password").send_keys(STAFF_PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form[action='/console/login'] button[type=submit]").click()
        WebDriverWait(driver, 10).until(lambda d: d.current_url.rstrip("/").endswith("/console"))

    def open_page(path: str, ready: str) -> None:
        driver.get(base + path)
        wait_for(ready)

    # -- a commune admin: their commune and nothing else ------------------------------------------
    sign_in(VALENCE)
    wait_for("nav.main-nav")
    assert "Valence" in driver.find_element(By.TAG_NAME, "main").text
    assert "Die" not in driver.find_element(By.TAG_NAME, "main").text
    shot("home-commune")
    open_page(f"/console/communes/{demo.valence}", "main table")
    shown = driver.find_element(By.TAG_NAME, "main").text
    assert all(site in shown for _, _, site, *_ in PLACES[:3]) and "République" not in shown
    shot("commune-sites")
    open_page(f"/console/communes/{demo.valence}/access-points", "main table")
    addresses = [a for *_, found_at, _ in PLACES[:3] for a in found_at]
    assert all(a in driver.find_element(By.TAG_NAME, "main").text for a in addresses)
    shot("commune-access-points")
    open_page(f"/console/communes/{demo.valence}/branding", "iframe#preview")
    title = driver.find_element(By.ID, "title")
    title.clear()
    title.send_keys("Wi-Fi de Valence")
    colour = driver.find_element(By.ID, "color")
    colour.clear()
    colour.send_keys("#0b4f8a")
    WebDriverWait(driver, 15).until(
        lambda d: (
            "Wi-Fi%20de%20Valence" in (d.find_element(By.ID, "preview").get_attribute("src") or "")
            or "Wi-Fi+de+Valence" in (d.find_element(By.ID, "preview").get_attribute("src") or "")
        )
    )
    driver.switch_to.frame(driver.find_element(By.ID, "preview"))
    WebDriverWait(driver, 15).until(lambda d: "Wi-Fi de Valence" in d.find_element(By.TAG_NAME, "body").text)
    driver.switch_to.default_content()
    shot("commune-branding")
    open_page(f"/console/communes/{demo.valence}/sessions", "main table")
    rows = driver.find_elements(By.CSS_SELECTOR, "main table tbody tr")
    assert len(rows) == demo.open_valence > 0
    shot("commune-sessions")
    open_page(f"/console/communes/{demo.valence}/statistics", "main table")
    assert driver.find_elements(By.CSS_SELECTOR, "main table tbody tr")
    shot("commune-statistics")
    # another commune, even by its address: the console's one 404
    driver.get(f"{base}/console/communes/{demo.die}")
    wait_for("main h1")
    assert heading() == "Not found"

    # -- support: a citizen found by a device's MAC, and why they were refused -------------------
    sign_in(SUPPORT)
    driver.find_element(By.LINK_TEXT, "Find a citizen").click()
    wait_for("form[role=search]")
    driver.find_element(By.ID, "q").send_keys(CITIZEN_MAC.lower().replace("-", ":"))
    driver.find_element(By.CSS_SELECTOR, "form[role=search] button[type=submit]").click()
    wait_for("table tbody th a")
    [link] = driver.find_elements(By.CSS_SELECTOR, "table tbody th a")
    assert link.text.startswith(f"{CITIZEN}@")
    shot("support-search")
    link.click()
    wait_for("td.reason")
    codes = [cell.get_attribute("data-code") for cell in driver.find_elements(By.CSS_SELECTOR, "td.reason")]
    assert set(REFUSALS) <= set(codes)
    assert driver.find_element(By.ID, "status").text == "Locked"
    shot("support-citizen")
    open_page("/console/enrol", "main svg")
    assert re.search(r"([A-Z2-7]{4} ){3,}", driver.find_element(By.TAG_NAME, "main").text)
    shot("security-enrol")

    # -- the auditor (DPO): a judicial requisition, then the audit log ---------------------------
    sign_in(AUDITOR)
    driver.find_element(By.LINK_TEXT, "Judicial requisition").click()
    wait_for("form[action='/console/requisitions']")
    driver.find_element(By.ID, "kind-ip").click()
    driver.find_element(By.ID, "value").send_keys(CITIZEN_IP)
    now = datetime.now(UTC)
    for field, when in (("since", now - timedelta(days=7)), ("until", now)):
        element = driver.find_element(By.ID, field)
        driver.execute_script("arguments[0].value = arguments[1];", element, when.strftime("%Y-%m-%dT%H:%M"))
    driver.find_element(By.CSS_SELECTOR, "form[action='/console/requisitions'] button[type=submit]").click()
    wait_for("table.records tbody tr")
    assert CITIZEN in driver.find_element(By.CSS_SELECTOR, "table.records").text
    shot("dpo-requisition", at="#results")
    driver.find_element(By.LINK_TEXT, "Audit log").click()
    wait_for("table.audit tbody tr")
    actions = [cell.text for cell in driver.find_elements(By.CSS_SELECTOR, "table.audit tbody td code")]
    assert "requisition.search" in actions and "branding.update" not in actions  # the preview saves nothing
    shot("dpo-audit")

    assert found == {name: [] for name in found}, found
