"""The FastAPI application factory."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from portal import health


def create_app(*, engine: AsyncEngine, title: str = "Sésame") -> FastAPI:
    """The web app; routers per feature are collected here."""
    app = FastAPI(title=title, docs_url="/api/docs", openapi_url="/api/openapi.json", redoc_url=None)
    app.state.engine = engine
    app.include_router(health.router)
    return app
