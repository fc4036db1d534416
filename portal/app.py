"""The FastAPI application factory."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncEngine

from portal import (
    api,
    apidocs,
    assets,
    captive,
    citizenidp,
    console,
    eapprofile,
    health,
    hotspot,
    myaccount,
    opendata,
    pages,
    smspages,
    sponsorpages,
    voucherlogin,
)
from portal.api.common import install_error_handlers
from portal.context import Portal
from portal.forms import LoginRequired, Refused, login_required_response, refused_response
from portal.onboarding import routes as onboarding
from portal.security import security_headers

STATIC = Path(__file__).resolve().parent / "static"


def create_app(
    *,
    engine: AsyncEngine,
    portal: Portal | None = None,
    title: str = "Sésame",
    readiness: Callable[[], str | None] | None = None,
    redis: Callable[[], Awaitable[bool]] | None = None,
) -> FastAPI:
    """The web app: health probes always; the captive portal's pages and API when ``portal`` is given.

    ``readiness``: what else ``/readyz`` asks (the RADIUS service, from the composition root):
    None when it serves, else why not. ``redis``: whether the shared Redis answers, which
    ``/readyz`` reports without failing on it (None: no Redis configured).
    """
    # FastAPI's own documentation pages load Swagger UI and ReDoc from CDNs: apidocs serves its own
    app = FastAPI(title=title, docs_url=None, redoc_url=None, openapi_url=apidocs.OPENAPI_URL)
    app.state.engine = engine
    app.state.readiness = readiness
    app.state.redis = redis
    app.include_router(health.router)
    app.include_router(apidocs.router)
    assets.vendored()  # the front-end files are all there (else AssetsMissing, before anything serves)
    app.include_router(assets.router)
    if portal is not None:
        app.state.portal = portal
        app.include_router(pages.router)
        app.include_router(voucherlogin.router)
        app.include_router(sponsorpages.router)  # 404 unless the hotspot's commune offers it
        app.include_router(smspages.router)  # 404 unless the region offers SMS
        app.include_router(myaccount.router)
        app.include_router(citizenidp.router)
        app.include_router(onboarding.router)
        app.include_router(hotspot.router)
        app.include_router(captive.router)
        if portal.config.eap is not None:  # the secure network's CA and server name, for profiles
            app.include_router(eapprofile.router)
        app.include_router(api.router)
        app.include_router(opendata.router)  # 404 unless the region publishes its open data
        console.install(app)
        install_error_handlers(app)
        app.add_exception_handler(Refused, refused_response)
        app.add_exception_handler(LoginRequired, login_required_response)
        app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.middleware("http")(security_headers)
    return app
