import httpx
import pytest
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


@pytest.mark.parametrize("path", ["/api/openapi.json", "/api/docs"])
async def test_api_documentation_is_served(engine: AsyncEngine, path: str) -> None:
    async with client(engine) as http:
        assert (await http.get(path)).status_code == 200


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
