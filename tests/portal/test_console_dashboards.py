"""The console's dashboards through the app: the numbers on the pages — read back from their
tables and JSON data blocks with real parsers (``html.parser``, ``json``, ``csv``) — equal what the
seeded set of sessions and decisions implies (tests/accounts/statsworld.py computes it from the
seed, never from the code under test); each role's reach (a commune admin and another commune:
404); CSV downloads; the htmx fragment does not keep a session alive."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html.parser import HTMLParser

import pytest
from sqlalchemy import select

from accounts import admins, partners
from accounts.models import AdminRole, Commune, Site
from tests.accounts.statsworld import DAYS, NOW, World, seed
from tests.conftest import TEST_REALM
from tests.portal.conftest import PASSWORD, Browser, Clock
from tests.portal.console import ConsolePage, sign_in, sign_out

REGION, DIE, SUPPORT = "region@test.example", "die@test.example", "support@test.example"
PERIOD = f"since={DAYS[0].isoformat()}&until={DAYS[-1].isoformat()}"
#: coordinates for three sites of four: the map has a marker for those only
COORDINATES = {"Médiathèque": (44.933, 4.892), "Place": (44.753, 5.370), "Gare": (44.750, 5.365)}


class Tables(HTMLParser):
    """Every table with an id, as rows of cell texts (header cells included), and every
    ``<script type="application/json">`` data block and ``data-series`` attribute by id, parsed
    with ``json``."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.data: dict[str, object] = {}
        self.texts: dict[str, str] = {}  # elements with an id that hold only text (<dd id=…>)
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._block: str | None = None
        self._text_id: str | None = None
        self._buffer: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "table" and values.get("id"):
            self._table = values["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []
        elif tag == "script" and values.get("type") == "application/json":
            self._block, self._buffer = values["id"], []
        if values.get("data-series"):
            self.data[values["id"]] = json.loads(values["data-series"])
        if tag == "dd" and values.get("id"):
            self._text_id, self._buffer = values["id"], []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "script" and self._block:
            self.data[self._block] = json.loads("".join(self._buffer))
            self._block = None
        elif tag == "dd" and self._text_id:
            self.texts[self._text_id] = "".join(self._buffer).strip()
            self._text_id = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._block or self._text_id:
            self._buffer.append(data)

    def body(self, table: str) -> list[list[str]]:
        return self.tables[table][1:]  # without the header row


def mib(octets: int) -> str:
    return f"{round(octets / 2**20, 1):,.1f}"


@dataclass
class Seeded:
    world: World
    communes: dict[int | None, str]  # ids → names
    sites: dict[int | None, str]


@pytest.fixture
async def seeded(browser: Browser, clock: Clock) -> Seeded:
    clock.now = NOW
    portal = browser.portal
    async with portal.transaction() as session:
        region = await portal.region(session)
        world = await seed(session, region, portal.hasher)
        for site in await session.scalars(select(Site)):
            if site.name in COORDINATES:
                site.latitude, site.longitude = COORDINATES[site.name]
        die = await session.get_one(Commune, world.die)
        for email, role, commune in (
            (REGION, AdminRole.REGION_ADMIN, None),
            (DIE, AdminRole.COMMUNE_ADMIN, die),
            (SUPPORT, AdminRole.SUPPORT, None),
        ):
            await admins.create_admin(
                session, hasher=portal.hasher, email=email, role=role, commune=commune, password=PASSWORD
            )
        partner = await partners.add_partner(
            session, box=portal.box, home_realm=TEST_REALM, name="liguria", realms=["liguria.example"],
            servers=[partners.HomeServerSpec(host="192.0.2.10", secret="liguria-secret-1")],
        )  # fmt: skip
        await partners.record_health(
            session,
            server_id=partner.servers[0].id,
            state="dead",
            at=datetime(2026, 3, 3, 11, 58, tzinfo=UTC),
        )
        communes: dict[int | None, str] = {c.id: c.name for c in await session.scalars(select(Commune))}
        sites: dict[int | None, str] = {s.id: s.name for s in await session.scalars(select(Site))}
    return Seeded(world=world, communes=communes, sites=sites)


async def _page(browser: Browser, path: str) -> Tables:
    response = await browser.get(path)
    assert response.status_code == 200, response.text
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    page = ConsolePage(response.text)
    assert page.inline_styles == 0
    return Tables(response.text)


def _open_expected(seeded: Seeded, commune: int | None = None) -> dict[tuple[str, str], int]:
    return {
        (seeded.communes[c], seeded.sites[s] if s else "no known site"): n
        for (c, s), n in seeded.world.open_now().items()
        if commune is None or c == commune
    }


async def test_the_network_now_shows_what_the_seed_implies(browser: Browser, seeded: Seeded) -> None:
    await sign_in(browser, REGION)
    page = await _page(browser, "/console/dashboards")
    world = seeded.world
    open_now = _open_expected(seeded)
    assert {(c, s): int(n) for c, s, n in page.body("open-sessions")} == open_now
    assert int(page.texts["open-total"]) == sum(open_now.values())
    minutes = world.minutes()
    assert int(page.texts["accepted-total"]) == sum(a for a, _ in minutes.values())
    assert int(page.texts["refused-total"]) == sum(r for _, r in minutes.values())
    # the chart's data and its table say the same, minute by minute
    expected = [(m.strftime("%H:%M"), a, r) for m, (a, r) in sorted(minutes.items())]
    assert [(t, int(a), int(r)) for t, a, r in page.body("minutes-table")] == expected
    chart = page.data["minutes-chart"]
    assert isinstance(chart, dict)
    assert chart["t"] == [int(m.timestamp()) for m in sorted(minutes)]
    assert list(zip(chart["accepted"], chart["refused"], strict=True)) == [(a, r) for _, a, r in expected]
    # one marker per site with coordinates, with its open sessions
    markers = page.data["map-data"]
    assert isinstance(markers, list)
    assert sorted((m["lat"], m["lon"]) for m in markers) == sorted(COORDINATES.values())
    by_site = {s: n for (_, s), n in open_now.items()}
    assert {m["name"].split(" (")[0]: m["open"] for m in markers} == {
        s: by_site.get(s, 0) for s in COORDINATES
    }
    # the partners' home servers, as the RADIUS processes last saw them
    assert page.body("home-servers") == [["liguria", "udp 192.0.2.10:1812", "dead", "2026-03-03 11:58 UTC"]]


def _place_names(seeded: Seeded, place: tuple[object, ...]) -> tuple[str, ...]:
    """A place key of statsworld (commune, or commune and site) as the tables name it."""
    commune, *site = place
    return (seeded.communes[commune], *(seeded.sites[s] if s else "no known site" for s in site))  # type: ignore[index]


@pytest.mark.parametrize("level", ["commune", "site"])
async def test_the_history_shows_what_the_seed_implies(browser: Browser, seeded: Seeded, level: str) -> None:
    await sign_in(browser, REGION)
    page = await _page(browser, f"/console/dashboards/history?{PERIOD}&level={level}")
    world = seeded.world
    width = 2 if level == "commune" else 3  # day, commune[, site]
    usage = world.usage(level)
    shown = {tuple(row[:width]): tuple(row[width:]) for row in page.body("usage-table")}
    assert len(shown) == len(page.body("usage-table")) == len(usage)
    assert shown == {
        (day.isoformat(), *_place_names(seeded, tuple(place))): (str(c), str(p), mib(i), mib(o))  # type: ignore[attr-defined]
        for (day, *place), (c, p, i, o) in usage.items()
    }
    region = world.usage("region")
    assert int(page.texts["connections-total"]) == sum(c for c, *_ in region.values())
    # the charts: one point per day of the period, the region's own people (not a sum of places)
    chart = page.data["history-data"]
    assert isinstance(chart, dict)
    days = [(d,) for d in DAYS]
    assert chart["usage"]["connections"] == [region[d][0] for d in days]
    assert chart["usage"]["people"] == [region[d][1] for d in days]
    assert chart["usage"]["octets_out"] == [region[d][3] for d in days]
    refusals = world.refusals(level)
    assert {tuple(row[:-1]): int(row[-1]) for row in page.body("refusals-table")} == {
        (day.isoformat(), *_place_names(seeded, tuple(rest[:-1])), rest[-1]): n  # type: ignore[attr-defined]
        for (day, *rest), n in refusals.items()
    }
    by_region = world.refusals("region")
    assert int(page.texts["refused-total"]) == sum(by_region.values())
    series = chart["refusals"]
    assert {
        (day, reason): series["counts"][series["reasons"].index(reason)][DAYS.index(day)]  # type: ignore[arg-type]
        for (day, reason) in by_region
    } == dict(by_region)


async def test_the_csv_downloads_hold_the_tables(browser: Browser, seeded: Seeded) -> None:
    await sign_in(browser, REGION)
    response = await browser.get(f"/console/dashboards/history.csv?{PERIOD}&level=site")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))
    assert rows[0] == ["date", "commune", "site", "connections", "people", "octets_in", "octets_out"]
    expected = {}
    for (day, commune, site), numbers in seeded.world.usage("site").items():
        assert isinstance(day, date) and isinstance(commune, int) and (site is None or isinstance(site, int))
        expected[(day.isoformat(), seeded.communes[commune], seeded.sites[site] if site else "")] = numbers
    assert {(r[0], r[1], r[2]): tuple(int(v) for v in r[3:]) for r in rows[1:]} == expected
    response = await browser.get(f"/console/dashboards/history.csv?{PERIOD}&table=refusals")
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8"), newline="")))
    assert rows[0] == ["date", "commune", "site", "reason", "count"]
    assert sum(int(r[4]) for r in rows[1:]) == sum(seeded.world.refusals("commune").values())


async def test_a_commune_admin_sees_their_commune_only(browser: Browser, seeded: Seeded) -> None:
    world = seeded.world
    await sign_in(browser, DIE)
    home = ConsolePage((await browser.get("/console")).text)
    assert "/console/dashboards" in home.nav
    page = await _page(browser, "/console/dashboards")
    assert {(c, s): int(n) for c, s, n in page.body("open-sessions")} == _open_expected(seeded, world.die)
    assert "home-servers" not in page.tables  # the federation is the region's
    markers = page.data["map-data"]
    assert isinstance(markers, list)
    assert {m["name"] for m in markers} == {"Place (Die)", "Gare (Die)"}
    history = await _page(browser, f"/console/dashboards/history?{PERIOD}")
    assert {row[1] for row in history.body("usage-table")} == {"Die"}
    die = {k: v for k, v in world.usage("commune").items() if k[1] == world.die}
    assert int(history.texts["connections-total"]) == sum(c for c, *_ in die.values())
    # another commune, by its id in any of the addresses: the console's one 404
    for path in (
        f"/console/dashboards?commune={world.valence}",
        f"/console/dashboards/live?commune={world.valence}",
        f"/console/dashboards/history?{PERIOD}&commune={world.valence}",
        f"/console/dashboards/history.csv?{PERIOD}&commune={world.valence}",
        "/console/dashboards?commune=99999",
        "/console/dashboards?commune=not-an-id",
    ):
        assert (await browser.get(path)).status_code == 404, path
    await sign_out(browser)
    await sign_in(browser, SUPPORT)  # no statistics in the support role's rights
    assert "/console/dashboards" not in ConsolePage((await browser.get("/console")).text).nav
    assert (await browser.get("/console/dashboards")).status_code == 404


async def test_a_region_admin_picks_a_commune_and_a_bad_period_is_refused(
    browser: Browser, seeded: Seeded
) -> None:
    world = seeded.world
    await sign_in(browser, REGION)
    page = await _page(browser, f"/console/dashboards?commune={world.valence}")
    assert {(c, s): int(n) for c, s, n in page.body("open-sessions")} == _open_expected(seeded, world.valence)
    for query in (
        "since=2026-03-05&until=2026-03-01",
        "since=2025-01-01&until=2026-03-01",
        "since=yesterday",
    ):
        response = await browser.get(f"/console/dashboards/history?{query}")
        assert response.status_code == 400, query
        assert ConsolePage(response.text).alerts


async def test_the_live_refresh_does_not_keep_a_session_alive(browser: Browser, seeded: Seeded) -> None:
    await sign_in(browser, REGION)
    response = await browser.get("/console/dashboards/live")
    assert response.status_code == 200
    assert "sesame_console" not in response.headers.get("set-cookie", "")
    assert int(Tables(response.text).texts["open-total"]) == sum(seeded.world.open_now().values())
    page = await browser.get("/console/dashboards")
    assert "sesame_console" in page.headers.get("set-cookie", "")  # a page does restart the timer


async def test_a_refresh_after_the_idle_timeout_sends_the_whole_page_to_sign_in(
    browser: Browser, seeded: Seeded, clock: Clock
) -> None:
    await sign_in(browser, REGION)
    assert (await browser.get("/console/dashboards")).status_code == 200
    clock.now = NOW + timedelta(minutes=31)  # the idle timeout is 30 minutes
    response = await browser.get("/console/dashboards/live", headers={"HX-Request": "true"})
    assert response.status_code == 200 and response.headers["hx-redirect"] == "/console/login?bye=idle"
    assert response.text == ""  # nothing for htmx to swap into the dashboard
