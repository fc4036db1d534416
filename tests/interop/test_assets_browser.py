"""The front-end libraries work from this server alone, in a real browser with no way out.

A tiny demo page (``assets_demo/``: a template using ``asset_url``/``asset_integrity``, its script
and style) is served with the vendored files by uvicorn on 127.0.0.1. Headless Chromium opens it
with every other host unreachable: names resolve to nothing but 127.0.0.1
(``--host-resolver-rules``) and anything not on loopback goes to a "proxy" that refuses
connections (``--proxy-server``; loopback bypasses proxies). Then htmx swaps a fragment fetched
from the server, uPlot draws both series on its canvas, and Leaflet shows a marker per site from
its own images — under a policy allowing scripts, styles and images from this server only, with
no violation, every resource loaded from this server. The screenshot lands in
``$SESAME_ARTIFACTS/console/assets-demo.png``.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape

from portal import assets
from tests.interop.test_portal_browser import need_browser
from tests.support.ports import free_tcp_port

pytestmark = pytest.mark.slow

DEMO = Path(__file__).resolve().parent / "assets_demo"
ARTIFACTS = Path(os.environ.get("SESAME_ARTIFACTS", "test-artifacts")) / "console"
#: as strict as a console page can be: nothing inline, nothing from elsewhere
POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
    "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
SITES = [
    {"name": "Médiathèque", "lat": 44.9334, "lon": 4.8924},
    {"name": "Mairie", "lat": 44.9330, "lon": 4.8870},
    {"name": "Piscine", "lat": 44.9200, "lon": 4.9100},
]
SERIES = {
    "t": [1_796_000_000 + 60 * i for i in range(10)],
    "accepted": [12, 15, 11, 18, 22, 19, 25, 21, 17, 20],
    "refused": [1, 0, 2, 1, 3, 0, 1, 2, 0, 1],
}


def demo_app(fragments: list[dict[str, str]]) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)
    app.include_router(assets.router)
    env = Environment(loader=FileSystemLoader(DEMO), autoescape=select_autoescape(default=True))
    assets.vendored().install(env)

    @app.get("/")
    async def page() -> HTMLResponse:
        html = env.get_template("demo.html").render(sites=SITES, series=SERIES)
        return HTMLResponse(html, headers={"Content-Security-Policy": POLICY})

    @app.get("/demo.js")
    async def script() -> Response:
        return Response((DEMO / "demo.js").read_bytes(), media_type="text/javascript")

    @app.get("/demo.css")
    async def style() -> Response:
        return Response((DEMO / "demo.css").read_bytes(), media_type="text/css")

    @app.get("/fragment")
    async def fragment(request: Request) -> HTMLResponse:
        fragments.append(dict(request.headers))
        return HTMLResponse('<p id="swapped">Open sessions: <strong>42</strong></p>')

    return app


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, list[dict[str, str]]]]:
    fragments: list[dict[str, str]] = []
    port = free_tcp_port()
    server = uvicorn.Server(
        uvicorn.Config(demo_app(fragments), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        for _ in range(300):
            if server.started:
                break
            time.sleep(0.05)
        assert server.started, "the demo server did not start"
        yield f"http://127.0.0.1:{port}", fragments
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def offline_chromium() -> Iterator[object]:
    """Chromium that can reach 127.0.0.1 and nothing else."""
    chromium, driver_path = need_browser()
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    # a "proxy" that refuses every connection: bound, never listening
    refuser = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    refuser.bind(("127.0.0.1", 0))
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--window-size=800,1000",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        f"--proxy-server=http://127.0.0.1:{refuser.getsockname()[1]}",
    ):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()
        refuser.close()


def test_the_browser_reaches_nothing_but_loopback(offline_chromium: object) -> None:
    """The isolation the next test relies on: a name and an IP literal elsewhere both fail."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.remote.webdriver import WebDriver

    driver: WebDriver = offline_chromium  # type: ignore[assignment]
    for url in ("https://unpkg.com/htmx.org", "http://93.184.215.14/"):
        try:
            driver.get(url)
        except WebDriverException:
            continue  # chromedriver reported the network error itself
        assert driver.execute_script("return location.href").startswith("chrome-error://"), url


def test_htmx_swaps_a_fragment_the_chart_draws_and_the_map_shows_its_markers_offline(
    served: tuple[str, list[dict[str, str]]], offline_chromium: object
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.wait import WebDriverWait

    base, fragments = served
    driver: WebDriver = offline_chromium  # type: ignore[assignment]
    recorder = driver.execute_cdp_cmd(
        "Page.addScriptToEvaluateOnNewDocument",
        {
            "source": "window.cspViolations = [];"
            "document.addEventListener('securitypolicyviolation', e => window.cspViolations.push("
            "  e.effectiveDirective + ' ' + (e.blockedURI || 'inline')));"
        },
    )
    try:
        driver.get(base + "/")
        WebDriverWait(driver, 20).until(
            lambda d: d.execute_script("return document.readyState") == "complete"
        )

        # htmx: the button fetches the fragment from this server and swaps it in
        driver.find_element(By.CSS_SELECTOR, "button[hx-get]").click()
        WebDriverWait(driver, 10).until(lambda d: d.find_elements(By.ID, "swapped"))
        assert driver.find_element(By.ID, "slot").text == "Open sessions: 42"
        assert len(fragments) == 1 and fragments[0].get("hx-request") == "true"

        # uPlot: its canvas holds both series' strokes, in their colours
        counts = driver.execute_script(
            "const c = document.querySelector('#chart canvas');"
            "const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            "let green = 0, red = 0;"
            "for (let i = 0; i < px.length; i += 4) {"
            "  const [r, g, b, a] = [px[i], px[i + 1], px[i + 2], px[i + 3]];"
            "  if (a > 200 && r < 60 && g > 100 && b < 60) green++;"
            "  if (a > 200 && r > 150 && g < 60 && b < 60) red++;"
            "}"
            "return [c.width, green, red];"
        )
        width, green, red = counts
        assert width > 0 and green > 100 and red > 100, counts
        assert driver.execute_script("return window.demoChart.data[1].length") == len(SERIES["accepted"])

        # Leaflet: one marker per site, each its image from this server, loaded; no tile fetched
        markers = driver.find_elements(By.CSS_SELECTOR, "#map .leaflet-marker-icon")
        assert sorted(m.get_attribute("title") or "" for m in markers) == sorted(
            str(s["name"]) for s in SITES
        )
        icon = assets.vendored().url("leaflet/images/marker-icon.png")
        for marker in markers:
            assert (marker.get_attribute("src") or "").removeprefix(base) in (
                icon,
                assets.vendored().url("leaflet/images/marker-icon-2x.png"),
            )
            assert (
                driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", marker) > 0
            )
        assert driver.find_elements(By.CSS_SELECTOR, "#map .leaflet-tile") == []

        # nothing refused, nothing from elsewhere
        assert driver.execute_script("return window.cspViolations") == []
        loaded = driver.execute_script("return performance.getEntriesByType('resource').map(r => r.name)")
        assert all(url.startswith(base + "/") for url in loaded), loaded
        vendored = {base + a.url for a in assets.vendored() if a.name.endswith((".js", ".css"))}
        assert vendored <= set(loaded)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "assets-demo.png"))

        # the recorder works: a style attribute planted in the page is refused and reported
        driver.execute_script("document.getElementById('slot').innerHTML = '<p style=\"color: red\">x</p>'")
        WebDriverWait(driver, 5).until(lambda d: d.execute_script("return window.cspViolations.length"))
        assert driver.execute_script("return window.cspViolations") == ["style-src-attr inline"]
    finally:
        driver.execute_cdp_cmd(
            "Page.removeScriptToEvaluateOnNewDocument", {"identifier": recorder["identifier"]}
        )
