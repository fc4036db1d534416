"""The staff console under ``/console`` (docs/console.md): server-rendered pages for the people
who run the network, on the same ``accounts`` services and rights (:data:`accounts.admins.RIGHTS`,
``Reach``) as the admin API.

* ``session.py``: the signed session cookie, idle timeout, lifetime, sign-out everywhere;
* ``signin.py``: password, TOTP second factor, recovery codes, enrolment, signing out;
* ``sso.py`` and ``oidc.py``: single sign-on through OpenID providers (authlib, joserfc);
* ``pages.py``: "My reach" (where every role lands), a commune's sites, security, region settings;
* ``dashboards.py`` (with ``dashdata.py``): the network now and its history, charts and tables;
* a commune's own pages: ``sites.py``, ``accesspoints.py``, ``policies.py``, ``branding.py`` (with
  the live preview of the portal's log-in page), ``sessions.py`` (disconnect), ``statistics.py``,
  ``vouchers.py`` (guests' voucher batches); ``sponsorship.py`` (sponsored access, its sponsors);
* ``support.py``: find a citizen, why they were refused (``reasons.py``: the codes in words),
  unlock, resend, disable, disconnect, forget a device;
* ``dpo.py``: the audit log and the judicial requisition with its signed export;
* ``partners.py`` and ``homeservers.py``: the federation's partners, their realms, their home
  servers and their health (region-wide);
* the region's: ``region.py`` (communes, service clients), ``staffadmin.py`` (staff accounts);
* ``nav.py``: the navigation by role; ``render.py``: templates, CSP, the 404 of everything unseen;
* ``templates/``, ``static/``: the console's own (nothing from a CDN, no inline script).

:func:`install` adds it all to the app.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from portal.console import (
    accesspoints,
    branding,
    dashboards,
    dpo,
    homeservers,
    pages,
    partners,
    policies,
    region,
    sessions,
    signin,
    sites,
    sponsorship,
    sso,
    staffadmin,
    statistics,
    support,
    vouchers,
)
from portal.console.render import STATIC, not_found
from portal.console.session import PATH, SESSION_COOKIE, SignInRequired, current_staff
from portal.context import get_page, redirect


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    """The answer to a console page asked for without a session: the sign-in page (the session
    cookie, if any, is dropped: it has idled out, expired or been revoked)."""
    page = await get_page(request, request.app.state.portal)
    had_session = SESSION_COOKIE in request.cookies
    target = "/console/login?bye=idle" if had_session else "/console/login"
    if request.headers.get("HX-Request") == "true":
        # htmx's refresh of a dashboard: a redirect would be followed by its request and the
        # sign-in page swapped into the dashboard; HX-Redirect makes the whole page go there
        response: Response = Response(status_code=200, headers={"HX-Redirect": target})
        response.delete_cookie(SESSION_COOKIE, path=PATH)
        return response
    response = redirect(page, target)
    response.delete_cookie(SESSION_COOKIE, path=PATH)  # a pending sign-in, if any, goes on
    return response


async def _no_such_page(request: Request, exc: Exception) -> Response:
    """An address under ``/console`` that no route answers: the console's one 404, the same page
    as an object that does not exist or is out of reach (with the navigation for a signed-in
    staff member). Elsewhere, and for the console's static files, FastAPI's own answer."""
    assert isinstance(exc, HTTPException)
    path = request.url.path
    inside = path == PATH or (path.startswith(f"{PATH}/") and not path.startswith(f"{PATH}/static/"))
    if exc.status_code != 404 or not inside:
        return await http_exception_handler(request, exc)
    page = await get_page(request, request.app.state.portal)
    try:
        staff = await current_staff(page)
    except SignInRequired:
        staff = None
    return not_found(page, staff)


def install(app: FastAPI) -> None:
    """The console's routers, static files and sign-in handler (the app has a portal)."""
    app.include_router(signin.router)
    app.include_router(sso.router)
    app.include_router(pages.router)
    app.include_router(dashboards.router)
    for module in (sites, accesspoints, policies, branding, vouchers, sponsorship, sessions, statistics):
        app.include_router(module.router)
    app.include_router(support.router)
    app.include_router(dpo.router)
    app.include_router(partners.router)
    app.include_router(homeservers.router)
    app.include_router(region.router)
    app.include_router(staffadmin.router)
    app.add_exception_handler(SignInRequired, _sign_in_required)
    app.add_exception_handler(HTTPException, _no_such_page)
    app.mount(f"{PATH}/static", StaticFiles(directory=STATIC), name="console-static")
