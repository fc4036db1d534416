"""The dashboards map over an operator's tile server, in a real browser: headless Chromium
(selenium) against a real ``sesame serve`` started with ``SESAME_CONSOLE_MAP_TILES`` naming a tiny
tile server that this test runs on 127.0.0.1. The map asks that server for tiles (its log says
which), draws them, shows the configured attribution as text, and the page's CSP — which allows
images from that server and no other — reports no violation; axe-core finds no WCAG 2.1 A/AA
violation. Without the setting, tests/interop/test_console_dashboards_browser.py shows the map
with no tile at all.
"""

from __future__ import annotations

import re
import struct
import threading
import zlib
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.interop.conftest import Server, launch
from tests.interop.test_console_browser import ARTIFACTS, _wait_for_web
from tests.interop.test_portal_browser import axe_source, axe_violations, chromium_driver  # noqa: F401 - a fixture
from tests.support.ports import free_tcp_port

EMAIL, PASSWORD = "reseau@region-sud.example", "a long walk in Valence 2026"
ATTRIBUTION = "© Région Sud & OpenStreetMap contributors"  # "&" shown as written, not read as HTML

pytestmark = pytest.mark.slow


def _png(size: int = 256, rgb: tuple[int, int, int] = (214, 230, 209)) -> bytes:
    """A plain tile: one colour, as a PNG (signature, IHDR, IDAT, IEND)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" + bytes(rgb) * size
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * size, 9))
        + chunk(b"IEND", b"")
    )


class TileServer(ThreadingHTTPServer):
    """Answers every ``/tiles/<z>/<x>/<y>.png`` with the same tile and writes down what it was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.tile = _png()
        super().__init__(("127.0.0.1", 0), _TileHandler)


class _TileHandler(BaseHTTPRequestHandler):
    server: TileServer

    def do_GET(self) -> None:
        self.server.asked.append(self.path)
        if not re.fullmatch(r"/tiles/\d+/\d+/\d+\.png", self.path):
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", str(len(self.server.tile)))
        self.end_headers()
        self.wfile.write(self.server.tile)

    def log_message(self, format: str, *args: object) -> None:
        pass  # the list above is the log


@pytest.fixture(scope="module")
def tiles() -> Iterator[TileServer]:
    server = TileServer()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def tiled_server(tmp_path_factory: pytest.TempPathFactory, tiles: TileServer) -> Iterator[tuple[Server, str]]:
    workdir = tmp_path_factory.mktemp("maptiles")
    web_port = free_tcp_port()
    base = f"http://127.0.0.1:{web_port}"
    srv = launch(
        workdir,
        f"sqlite:///{workdir / 'maptiles.db'}",
        SESAME_WEB_ENABLED="true",
        SESAME_WEB_PORT=str(web_port),
        SESAME_PORTAL_PUBLIC_URL=base,
        SESAME_MAIL_OUTBOX=str(workdir / "outbox"),
        SESAME_REGION_NAME="Région Sud",
        SESAME_CONSOLE_MAP_TILES=f"http://127.0.0.1:{tiles.server_address[1]}/tiles/{{z}}/{{x}}/{{y}}.png",
        SESAME_CONSOLE_MAP_ATTRIBUTION=ATTRIBUTION,
    )
    try:
        srv.cli("commune", "add", "Valence", "--insee", "26362")
        srv.cli("site", "add", "Médiathèque", "--commune", "Valence", "--lat", "44.933", "--lon", "4.892")
        srv.cli("site", "add", "Gare", "--commune", "Valence", "--lat", "44.928", "--lon", "4.893")
        srv.cli("admin", "create", EMAIL, "--role", "region_admin", "--password", "-", input=PASSWORD)
        _wait_for_web(base)
        yield srv, base
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=30)


def test_the_map_draws_the_configured_tile_servers_tiles(
    tiled_server: tuple[Server, str],
    tiles: TileServer,
    chromium_driver: object,  # noqa: F811 - the fixture imported above
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.wait import WebDriverWait

    _, base = tiled_server
    driver: WebDriver = chromium_driver  # type: ignore[assignment]
    driver.set_window_size(1000, 900)
    driver.set_script_timeout(30)
    tile_origin = f"http://127.0.0.1:{tiles.server_address[1]}"
    recorder = driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {
            "source": "window.cspViolations = [];"
            "document.addEventListener('securitypolicyviolation', e => window.cspViolations.push("
            "  e.effectiveDirective + ' ' + (e.blockedURI || 'inline')));"
        },
    )
    try:
        driver.get(base + "/console/login")
        driver.find_element(By.ID, "email").send_keys(EMAIL)
        driver.find_element(By.ID, "password").send_keys(PASSWORD)
        driver.find_element(By.CSS_SELECTOR, "form[action='/console/login'] button[type=submit]").click()
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.CSS_SELECTOR, "nav.main-nav"))
        driver.get(base + "/console/dashboards")
        loaded = "#map .leaflet-tile-loaded"
        WebDriverWait(driver, 20).until(lambda d: d.find_elements(By.CSS_SELECTOR, loaded))
        # the tile server was asked for tiles of the map's zoom, and only for tiles
        asked = list(tiles.asked)
        assert asked and all(re.fullmatch(r"/tiles/\d+/\d+/\d+\.png", path) for path in asked), asked
        shown = driver.find_elements(By.CSS_SELECTOR, "#map img.leaflet-tile")
        sources = [img.get_attribute("src") or "" for img in shown]
        assert sources and all(src.startswith(tile_origin + "/tiles/") for src in sources), sources
        assert len(driver.find_elements(By.CSS_SELECTOR, "#map .leaflet-marker-icon")) == 2
        # the attribution, as the plain text configured (no link to Leaflet's site either)
        credit = driver.find_element(By.CSS_SELECTOR, "#map .leaflet-control-attribution")
        assert credit.text == ATTRIBUTION
        assert credit.find_elements(By.TAG_NAME, "a") == []
        # no CSP violation: the policy allows that tile server's images, and it says so exactly
        assert driver.execute_script("return window.cspViolations") == []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        sites_map = driver.find_element(By.ID, "map")
        driver.execute_script("arguments[0].scrollIntoView();", sites_map)
        sites_map.screenshot(str(Path(ARTIFACTS) / "dashboards-map-tiles.png"))
        assert axe_violations(driver, axe_source()) == []
        # the recorder works: an image from elsewhere is refused and reported
        driver.execute_script(
            "const i = document.createElement('img'); i.src = 'http://127.0.0.2:9/x.png';"
            "document.body.appendChild(i);"
        )
        WebDriverWait(driver, 5).until(lambda d: d.execute_script("return window.cspViolations.length"))
        assert driver.execute_script("return window.cspViolations") == ["img-src http://127.0.0.2:9/x.png"]
    finally:
        driver.execute_cdp_cmd(
            "Page.removeScriptToEvaluateOnNewDocument", {"identifier": recorder["identifier"]}
        )
