"""Liveness and readiness probes for process supervisors and load balancers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncEngine

router = APIRouter(tags=["health"])
log = logging.getLogger(__name__)

READY_TIMEOUT_SECONDS = 2.0


def get_engine(request: Request) -> AsyncEngine:
    engine: AsyncEngine = request.app.state.engine
    return engine


EngineDep = Annotated[AsyncEngine, Depends(get_engine)]


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """The process is up and its event loop answers."""
    return {"status": "ok"}


def get_readiness(request: Request) -> Callable[[], str | None] | None:
    readiness: Callable[[], str | None] | None = request.app.state.readiness
    return readiness


ReadinessDep = Annotated[Callable[[], str | None] | None, Depends(get_readiness)]


def get_redis(request: Request) -> Callable[[], Awaitable[bool]] | None:
    redis: Callable[[], Awaitable[bool]] | None = request.app.state.redis
    return redis


RedisDep = Annotated[Callable[[], Awaitable[bool]] | None, Depends(get_redis)]


@router.get(
    "/readyz",
    responses={503: {"description": "the database is unreachable, or the RADIUS service does not answer"}},
)
async def readyz(engine: EngineDep, readiness: ReadinessDep, redis: RedisDep) -> JSONResponse:
    """The process can serve requests: the database answers a trivial query in time, and the
    RADIUS service (when this process runs one) answers the requests it receives.

    When a shared Redis is configured, ``"redis"`` says whether it answers (``ok`` or
    ``unreachable``) without changing the status: without it the limits fall back to each
    process's memory and everything keeps serving, and every host shares the one Redis, so failing
    readiness on it would take them all out of a load balancer at once (docs/operations.md)."""
    body = {"status": "ready", "database": "ok"}
    if redis is not None:
        body["redis"] = "ok" if await redis() else "unreachable"
    try:
        async with asyncio.timeout(READY_TIMEOUT_SECONDS), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
    except (TimeoutError, SQLAlchemyError, OSError) as exc:
        log.warning("readiness check failed: %s", type(exc).__name__)
        return JSONResponse({**body, "status": "unavailable", "database": "unreachable"}, status_code=503)
    if readiness is not None:
        problem = readiness()
        if problem is not None:
            log.warning("readiness check failed: %s", problem)
            return JSONResponse({**body, "status": "unavailable", "radius": problem}, status_code=503)
        body["radius"] = "ok"
    return JSONResponse(body)
