"""Rendering the console's pages: the portal's Jinja2 stack and translations, the console's own
templates (``portal/console/templates``, then the portal's for the shared form macros), the
portal's strict Content-Security-Policy (no inline script at all: the console has none; scripts
come from the vendored files only; images from this server only, where the portal's pages allow a
commune's https:// logo — the dashboards add the map's tile server, when one is configured),
and the session's idle timer restarted by every page served.
"""

from __future__ import annotations

import functools
import secrets
from pathlib import Path
from typing import Any

from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, select_autoescape

from accounts.models import AdminRole
from portal.assets import vendored
from portal.console.nav import commune_section, navigation
from portal.console.session import Staff, refresh_session
from portal.context import TEMPLATES, Page, finish
from portal.i18n import LANGUAGES
from portal.security import CSRF_FIELD, content_security_policy

HERE = Path(__file__).resolve().parent
CONSOLE_TEMPLATES = HERE / "templates"
STATIC = HERE / "static"


@functools.cache
def environment() -> Environment:
    """The console's templates, then the portal's (the shared form macros), with the vendored
    front-end files' ``asset_url()`` and ``asset_integrity()`` (portal/assets.py) for the pages
    that use htmx, uPlot or Leaflet. Built at the first page, once the app checked the files."""
    env = Environment(
        loader=ChoiceLoader([FileSystemLoader(CONSOLE_TEMPLATES), FileSystemLoader(TEMPLATES)]),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    vendored().install(env)
    return env


def role_name(page: Page, role: AdminRole) -> str:
    names = {
        AdminRole.REGION_ADMIN: page._("Region admin"),
        AdminRole.COMMUNE_ADMIN: page._("Commune admin"),
        AdminRole.SUPPORT: page._("Support"),
        AdminRole.AUDITOR: page._("Auditor"),
    }
    return names[role]


def render(
    page: Page,
    template: str,
    *,
    staff: Staff | None = None,
    status_code: int = 200,
    images: tuple[str, ...] = (),
    **context: Any,
) -> HTMLResponse:
    """A console page; with ``staff``, the navigation of their role and a restarted idle timer.
    Its images come from this server only, and from ``images`` (the map's tile server) too."""
    nonce = secrets.token_urlsafe(12)
    html = (
        environment()
        .get_template(template)
        .render(
            **page.t.template_globals(),
            page=page,
            staff=staff,
            nav=navigation(staff) if staff is not None else [],
            commune_section=commune_section,
            role=role_name(page, staff.role) if staff is not None else "",
            current=page.request.url.path,
            languages={code: LANGUAGES[code] for code in page.portal.config.languages},
            region_name=page.portal.config.region_name,
            csrf_field=CSRF_FIELD,
            csrf_token=page.csrf_token,
            **context,
        )
    )
    response = HTMLResponse(html, status_code=status_code)
    response.headers["Content-Security-Policy"] = content_security_policy(nonce=nonce, images=images)
    response.headers["Cache-Control"] = "no-store"
    finish(page, response)
    if staff is not None:
        refresh_session(page, response)
    return response


def not_found(page: Page, staff: Staff | None) -> HTMLResponse:
    """The one answer for what does not exist *and* for what is outside the caller's reach or
    role: nothing tells the two apart."""
    return render(
        page,
        "notice.html",
        staff=staff,
        status_code=404,
        heading=page._("Not found"),
        message=page._("There is nothing at this address, or nothing you may see."),
    )
