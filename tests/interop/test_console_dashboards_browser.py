"""The console's dashboards in a real browser: headless Chromium (selenium) against a real ``sesame
serve`` whose database holds the seeded sessions and decisions of tests/accounts/statsworld.py.
The numbers the page renders — read from its tables as a person (or a screen reader) would — equal
what the seed implies, computed from the seed; each chart is drawn on a canvas; the map shows one
marker per site with coordinates; htmx refreshes the live numbers under the page's CSP; the
period form works from the keyboard; axe-core finds no WCAG 2.1 A/AA violation.

Screenshots go to ``$SESAME_ARTIFACTS/console``; with ``SESAME_DOCS_SCREENSHOTS=1`` the
dashboards' also replace those of docs/console/ (docs/console.md, "Dashboards").
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from accounts.models import Region, Site
from accounts.passwords import Argon2Cost, PasswordHasher
from sesame.db import create_engine, create_sessionmaker, unit_of_work
from tests.accounts.statsworld import DAYS, World, seed
from tests.interop.conftest import Server, launch
from tests.interop.test_console_browser import _wait_for_web
from tests.interop.test_portal_browser import axe_source, axe_violations, chromium_driver  # noqa: F401 - a fixture
from tests.support.ports import free_tcp_port

ARTIFACTS = Path(os.environ.get("SESAME_ARTIFACTS", "test-artifacts")) / "console"
DOCS = Path(__file__).resolve().parents[2] / "docs" / "console"
EMAIL, PASSWORD = "reseau@region-sud.example", "a long walk in Valence 2026"
COORDINATES = {"Médiathèque": (44.933, 4.892), "Place": (44.753, 5.370), "Gare": (44.750, 5.365)}

pytestmark = pytest.mark.slow


async def _seed(url: str) -> tuple[World, dict[int, str], dict[int, str]]:
    engine = create_engine(url.replace("sqlite:///", "sqlite+aiosqlite:///", 1))
    try:
        async with unit_of_work(create_sessionmaker(engine)) as session:
            region = await session.scalar(select(Region))
            assert region is not None
            hasher = PasswordHasher(Argon2Cost(memory_kib=1024, time_cost=1, parallelism=1))
            world = await seed(session, region, hasher)
            sites = list(await session.scalars(select(Site)))
            for site in sites:
                if site.name in COORDINATES:
                    site.latitude, site.longitude = COORDINATES[site.name]
            names = {world.valence: "Valence", world.die: "Die"}
            return world, names, {s.id: s.name for s in sites}
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def dashboards_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Server, str, World, dict[int, str], dict[int, str]]]:
    workdir = tmp_path_factory.mktemp("dashboards")
    web_port = free_tcp_port()
    base = f"http://127.0.0.1:{web_port}"
    url = f"sqlite:///{workdir / 'dashboards.db'}"
    srv = launch(
        workdir,
        url,
        SESAME_WEB_ENABLED="true",
        SESAME_WEB_PORT=str(web_port),
        SESAME_PORTAL_PUBLIC_URL=base,
        SESAME_MAIL_OUTBOX=str(workdir / "outbox"),
        SESAME_REGION_NAME="Région Sud",
        # the seed's open sessions began in March 2026: not closed as stale while the test runs
        SESAME_ACCOUNTING_STALE_AFTER=str(10**9),
    )
    try:
        srv.cli("admin", "create", EMAIL, "--role", "region_admin", "--password", "-", input=PASSWORD)
        world, communes, sites = asyncio.run(_seed(url))
        _wait_for_web(base)
        yield srv, base, world, communes, sites
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=30)


def test_dashboards_show_the_numbers_a_seeded_set_of_sessions_implies(
    dashboards_server: tuple[Server, str, World, dict[int, str], dict[int, str]],
    chromium_driver: object,  # noqa: F811 - the fixture imported above
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.select import Select
    from selenium.webdriver.support.wait import WebDriverWait

    _, base, world, communes, sites = dashboards_server
    driver: WebDriver = chromium_driver  # type: ignore[assignment]
    driver.set_window_size(1000, 1100)
    driver.set_script_timeout(30)
    axe = axe_source()
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    found: dict[str, list[str]] = {}

    def check(name: str) -> None:
        result = axe_violations(driver, axe)
        found[name] = list(result)
        shot = ARTIFACTS / f"{name}.png"
        driver.save_screenshot(str(shot))
        if os.environ.get("SESAME_DOCS_SCREENSHOTS") == "1" and name.endswith(("-now", "-history")):
            shutil.copyfile(shot, DOCS / f"{name}.png")

    def rows(table: str) -> list[list[str]]:
        return [
            [
                (cell.get_attribute("textContent") or "").strip()
                for cell in row.find_elements(By.CSS_SELECTOR, "th, td")
            ]
            for row in driver.find_elements(By.CSS_SELECTOR, f"#{table} tbody tr")
        ]

    driver.get(f"{base}/healthz")
    driver.delete_all_cookies()
    driver.get(base + "/console/login")
    driver.find_element(By.ID, "email").send_keys(EMAIL)
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form[action='/console/login'] button[type=submit]").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "nav.main-nav"))
    driver.find_element(By.CSS_SELECTOR, "nav.main-nav a[href='/console/dashboards']").click()

    # -- now: sessions open per site, the map, the per-minute chart --------------------------------
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#map .leaflet-marker-icon"))
    open_now = {
        (communes[c], sites[s] if s else "no known site"): n for (c, s), n in world.open_now().items() if c
    }
    assert {(c, s): int(n) for c, s, n in rows("open-sessions")} == open_now
    assert int(driver.find_element(By.ID, "open-total").text) == sum(world.open_now().values())
    markers = driver.find_elements(By.CSS_SELECTOR, "#map .leaflet-marker-icon")
    assert sorted(m.get_attribute("alt") or "" for m in markers) == sorted(
        f"{name} ({'Valence' if name == 'Médiathèque' else 'Die'}): "
        f"{sum(n for (_, s), n in open_now.items() if s == name)}"
        for name in COORDINATES
    )
    assert driver.find_element(By.CSS_SELECTOR, "#minutes-chart canvas").size["width"] > 0
    assert len(rows("minutes-table")) == 60
    # htmx replaces the live numbers (under the page's CSP) and the chart is drawn again
    driver.execute_script("document.getElementById('live').dataset.old = 'yes';")
    driver.find_element(By.CSS_SELECTOR, "button[hx-get^='/console/dashboards/live']").send_keys(Keys.ENTER)
    WebDriverWait(driver, 20).until(
        lambda d: d.execute_script("return document.getElementById('live').dataset.old === undefined;")
    )
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#minutes-chart canvas"))
    assert int(driver.find_element(By.ID, "open-total").text) == sum(world.open_now().values())
    check("dashboards-now")
    sites_map = driver.find_element(By.ID, "map")
    driver.execute_script("arguments[0].scrollIntoView();", sites_map)
    sites_map.screenshot(str(ARTIFACTS / "dashboards-map.png"))
    if os.environ.get("SESAME_DOCS_SCREENSHOTS") == "1":
        shutil.copyfile(ARTIFACTS / "dashboards-map.png", DOCS / "dashboards-map.png")

    # -- history: the period chosen in the form, from the keyboard ---------------------------------
    driver.find_element(By.CSS_SELECTOR, "nav.tabs a[href^='/console/dashboards/history']").click()
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "level"))
    for field, day in (("since", DAYS[0]), ("until", DAYS[-1])):
        driver.execute_script(
            "arguments[0].value = arguments[1];", driver.find_element(By.ID, field), day.isoformat()
        )
    Select(driver.find_element(By.ID, "level")).select_by_value("site")
    driver.find_element(By.CSS_SELECTOR, "form.period button[type=submit]").send_keys(Keys.ENTER)
    WebDriverWait(driver, 10).until(lambda d: "level=site" in d.current_url)
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#refusals-chart canvas"))
    usage = world.usage("site")
    assert {(r[0], r[1], r[2]): (int(r[3]), int(r[4])) for r in rows("usage-table")} == {
        (day.isoformat(), communes[c], sites[s] if s else "no known site"): (n, p)  # type: ignore[index, attr-defined]
        for (day, c, s), (n, p, _, _) in usage.items()
    }
    region = world.usage("region")
    assert int(driver.find_element(By.ID, "connections-total").text) == sum(c for c, *_ in region.values())
    assert int(driver.find_element(By.ID, "refused-total").text) == sum(world.refusals("region").values())
    for chart in ("usage-chart", "volume-chart", "refusals-chart"):
        assert driver.find_element(By.CSS_SELECTOR, f"#{chart} canvas").size["width"] > 0
    check("dashboards-history")
    driver.get(f"{base}/lang/fr?next=/console/dashboards")
    WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#map .leaflet-marker-icon"))
    assert driver.find_element(By.TAG_NAME, "h1").text == "Tableaux de bord"
    check("dashboards-now-fr")

    assert {name: v for name, v in found.items() if v} == {}
