import re

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.app import create_app
from sesame.db import create_engine
from sesame.startup import metrics_app


def client(engine: AsyncEngine) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(engine=engine)), base_url="http://t"
    )


async def test_health_and_readiness_with_a_database(engine: AsyncEngine) -> None:
    async with client(engine) as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        ready = await http.get("/readyz")
        assert ready.status_code == 200 and ready.json() == {"status": "ready", "database": "ok"}


async def test_readiness_fails_when_the_database_is_unreachable() -> None:
    engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/nowhere")
    try:
        async with client(engine) as http:
            assert (await http.get("/healthz")).status_code == 200
            ready = await http.get("/readyz")
            assert ready.status_code == 503
            assert ready.json() == {"status": "unavailable", "database": "unreachable"}
    finally:
        await engine.dispose()


async def test_the_openapi_document_is_served(engine: AsyncEngine) -> None:
    async with client(engine) as http:
        document = await http.get("/api/openapi.json")
        assert document.status_code == 200 and document.json()["openapi"].startswith("3.")
        assert "/healthz" in document.json()["paths"]


async def test_the_api_docs_load_only_from_this_server_under_a_strict_policy(engine: AsyncEngine) -> None:
    async with client(engine) as http:
        page = await http.get("/api/docs")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        header = page.headers["content-security-policy"]
        policy = dict(part.strip().split(" ", 1) for part in header.split(";"))
        assert policy["default-src"] == "'none'"
        assert policy["script-src"] == "'self'" and policy["style-src"] == "'self'"
        assert policy["connect-src"] == "'self'" and policy["frame-ancestors"] == "'none'"
        assert "unsafe" not in header
        # every script has a src (no inline code), and every URL in the page is on this server
        assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page.text) == []
        urls = re.findall(r'(?:src|href|data-openapi-url)="([^"]*)"', page.text)
        assert len(urls) == 5 and all(u.startswith("/") and not u.startswith("//") for u in urls), urls
        types = {
            "js": ("text/javascript", "application/javascript"),
            "css": ("text/css",),
            "png": ("image/png",),
            "json": ("application/json",),
        }
        for url in urls:
            asset = await http.get(url)
            assert asset.status_code == 200 and asset.content, url
            assert asset.headers["content-type"].split(";")[0] in types[url.rsplit(".", 1)[-1]], url
        for elsewhere in ("index.html", "swagger-initializer.js", "..%2Fapp.py", "oauth2-redirect.html"):
            assert (await http.get(f"/api/docs/{elsewhere}")).status_code == 404, elsewhere
        assert (await http.get("/api/redoc")).status_code == 404
        assert (await http.get("/docs")).status_code == 404


async def test_metrics_are_not_served_on_the_web_port(engine: AsyncEngine) -> None:
    async with client(engine) as http:
        assert (await http.get("/metrics")).status_code == 404


async def test_the_metrics_listener_serves_metrics_behind_its_bearer_token() -> None:
    token = "bWV0cmljcy10b2tlbi1mb3ItdGVzdHM"
    transport = httpx.ASGITransport(app=metrics_app(token=token))
    async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        assert (await http.get("/metrics")).status_code == 401
        assert (await http.get("/metrics", headers={"Authorization": token})).status_code == 401
        wrong = await http.get("/metrics", headers={"Authorization": "Bearer " + token.upper()})
        assert wrong.status_code == 401
        scraped = await http.get("/metrics", headers={"Authorization": f"Bearer {token}"})
        assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
        assert "sesame_radius_decisions" in scraped.text
        assert (await http.get("/healthz", headers={"Authorization": f"Bearer {token}"})).status_code == 404
    open_transport = httpx.ASGITransport(app=metrics_app())  # loopback only: no token
    async with httpx.AsyncClient(transport=open_transport, base_url="http://t") as http:
        assert (await http.get("/metrics")).status_code == 200
