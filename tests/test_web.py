import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.app import create_app
from sesame.db import create_engine


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
