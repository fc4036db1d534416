"""The dashboards map's background (``SESAME_CONSOLE_MAP_TILES``, portal/maptiles.py) wired end to
end but for the browser (tests/interop/test_console_maptiles_browser.py): a bad template or
attribution stops the settings — and ``sesame check`` — with a line naming the setting; the
dashboards page carries the template in the map's data- attributes; the console's CSP allows
images from that tile server only, and from nowhere else when none is set."""

from __future__ import annotations

import dataclasses
from html.parser import HTMLParser

import pytest

from accounts import admins, network
from accounts.models import AdminRole
from portal.maptiles import tile_source
from sesame.cli import main
from sesame.compose import build_portal
from sesame.db import create_engine
from sesame.settings import SettingsError, get_settings, load_settings
from tests.portal.conftest import PASSWORD, Browser
from tests.portal.console import sign_in

REGION = "region@test.example"
TILES = "https://tiles.region.example/osm/{z}/{x}/{y}.png"


@pytest.mark.parametrize(
    ("name", "value", "said"),
    [
        ("SESAME_CONSOLE_MAP_TILES", "http://tile.openstreetmap.example/{z}/{x}/{y}.png", "must be https://"),
        ("SESAME_CONSOLE_MAP_TILES", "https://tiles.example/{z}/{x}.png", "{y} is missing"),
        ("SESAME_CONSOLE_MAP_TILES", "javascript:alert({z}{x}{y})", "not a plain https://"),
        ("SESAME_CONSOLE_MAP_TILES", "https://[fd00::1]/{z}/{x}/{y}.png", "IPv6"),
        ("SESAME_CONSOLE_MAP_TILES", "https://t-{s}.example/{z}/{x}/{y}.png", "{s} may only be"),
        ("SESAME_CONSOLE_MAP_ATTRIBUTION", "<img src=x onerror=alert(1)>", "plain text"),
        ("SESAME_CONSOLE_MAP_ATTRIBUTION", "© OSM\ncontributors", "plain text"),
        ("SESAME_CONSOLE_MAP_ATTRIBUTION", "x" * 201, "at most 200"),
    ],
)
def test_a_bad_setting_is_refused_with_a_line_naming_it(
    settings_env: None, monkeypatch: pytest.MonkeyPatch, name: str, value: str, said: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as refused:
        load_settings(environment="development")
    assert str(refused.value).startswith(f"invalid setting {name}: ")
    assert said in str(refused.value)


def test_sesame_check_refuses_a_bad_template(
    settings_env: None, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SESAME_ENVIRONMENT", "development")
    monkeypatch.setenv("SESAME_CONSOLE_MAP_TILES", "https://tiles.example/{z}/{x}.png")
    get_settings.cache_clear()
    assert main(["check"]) == 2
    assert "SESAME_CONSOLE_MAP_TILES" in capsys.readouterr().err


def test_the_settings_reach_the_portal(settings_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    assert load_settings(environment="development").console.map_tiles == ""
    monkeypatch.setenv("SESAME_CONSOLE_MAP_TILES", f"  {TILES} ")
    monkeypatch.setenv("SESAME_CONSOLE_MAP_ATTRIBUTION", "© OpenStreetMap contributors & Région")
    settings = load_settings(environment="development")
    assert settings.console.map_tiles == TILES
    portal = build_portal(settings, engine=create_engine("sqlite+aiosqlite://"))
    assert portal.config.map_tiles == tile_source(TILES, attribution="© OpenStreetMap contributors & Région")


class _Map(HTMLParser):
    def __init__(self, html: str) -> None:
        super().__init__()
        self.attributes: dict[str, str] | None = None
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if dict(attrs).get("id") == "map":
            self.attributes = {k: v or "" for k, v in attrs}


def _img_src(policy: str) -> list[str]:
    [directive] = [d.split() for d in policy.split(";") if d.split()[:1] == ["img-src"]]
    return directive[1:]


async def _dashboards(browser: Browser) -> tuple[dict[str, str], list[str]]:
    response = await browser.get("/console/dashboards")
    assert response.status_code == 200, response.text
    found = _Map(response.text).attributes
    assert found is not None
    return found, _img_src(response.headers["content-security-policy"])


@pytest.fixture
async def signed_in(browser: Browser) -> Browser:
    portal = browser.portal
    async with portal.transaction() as session:
        region = await portal.region(session)
        commune = await network.add_commune(session, region=region, name="Valence", insee_code="26362")
        where = network.Coordinates(latitude=44.933, longitude=4.892)
        await network.add_site(session, commune=commune, name="Médiathèque", coordinates=where)
        await admins.create_admin(
            session, hasher=portal.hasher, email=REGION, role=AdminRole.REGION_ADMIN, commune=None,
            password=PASSWORD,
        )  # fmt: skip
    assert (await sign_in(browser, REGION)).status_code == 303
    return browser


@pytest.mark.parametrize(
    ("template", "allowed"),
    [
        (TILES, ["https://tiles.region.example"]),
        ("https://{s}.tiles.region.example/{z}/{x}/{y}.png", ["https://*.tiles.region.example"]),
        ("http://10.20.0.5:8080/{z}/{x}/{y}.png", ["http://10.20.0.5:8080"]),
        ("/tiles/{z}/{x}/{y}.png", []),  # behind the same reverse proxy: 'self' already
    ],
)
async def test_the_tile_server_alone_is_added_to_the_dashboards_img_src(
    signed_in: Browser, template: str, allowed: list[str]
) -> None:
    portal = signed_in.portal
    tiles = tile_source(template, attribution="© Région")
    portal.config = dataclasses.replace(portal.config, map_tiles=tiles)
    attributes, img_src = await _dashboards(signed_in)
    assert attributes["data-tiles"] == template and attributes["data-attribution"] == "© Région"
    assert img_src == ["'self'", "data:", *allowed]
    # the other pages of the console draw no map: images from this server only
    other = await signed_in.get("/console/security")
    assert _img_src(other.headers["content-security-policy"]) == ["'self'", "data:"]


async def test_without_a_tile_server_the_console_loads_images_from_itself_only(signed_in: Browser) -> None:
    assert signed_in.portal.config.map_tiles is None
    attributes, img_src = await _dashboards(signed_in)
    assert "data-tiles" not in attributes and "data-attribution" not in attributes
    assert img_src == ["'self'", "data:"]
    for path in ("/console", "/console/security", "/console/dashboards/history", "/console/sites/999"):
        response = await signed_in.get(path)
        assert _img_src(response.headers["content-security-policy"]) == ["'self'", "data:"], path
    # the portal's own pages keep https: for a commune's logo
    assert "https:" in _img_src((await signed_in.get("/login")).headers["content-security-policy"])
