"""What every page with a form does: read the form once its CSRF token is checked, ask the
throttle, translate a password rule, and show a page with the branding of where the person is.

A request that cannot go on (an expired form, too many attempts) raises :class:`Refused`, a page
for logged-in people without a login :class:`LoginRequired`; one exception handler each
(installed by the app) answers them, so views do not repeat the same ``try`` or ``if``.
"""

from __future__ import annotations

import unicodedata
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.errors import InvalidInput
from accounts.models import Account
from accounts.passwords import (
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    RULE_COMMON,
    RULE_PERSONAL,
    RULE_TOO_LONG,
    RULE_TOO_SHORT,
    password_rule,
)
from portal.context import Look, Page, get_page, redirect, render
from portal.metrics import THROTTLED
from portal.security import CSRF_COOKIE, CSRF_FIELD

Errors = dict[str, str]


class LoginRequired(Exception):
    """The page is for a logged-in person, and the browser has no valid login."""


async def signed_in(page: Page, session: AsyncSession) -> Account:
    """The logged-in account, or :class:`LoginRequired` (answered by a redirect to the log-in page)."""
    account = await page.account(session)
    if account is None:
        raise LoginRequired
    return account


async def login_required_response(request: Request, exc: Exception) -> Response:
    """The exception handler for :class:`LoginRequired`."""
    return redirect(await get_page(request, request.app.state.portal), "/login")


class Refused(Exception):
    """The request cannot go on: a bad CSRF token, or too many attempts."""

    def __init__(self, status_code: int, message: str, retry_after: float = 0) -> None:
        self.status_code, self.message, self.retry_after = status_code, message, retry_after


async def read_form(page: Page) -> dict[str, str]:
    """The form's text fields, once its CSRF token is checked; a field no person types (a control
    character such as NUL, a lone surrogate, text that was not UTF-8 — read as U+FFFD — or a
    non-character) refuses the whole form with a translated 400, before any of it reaches a
    service or the database (PostgreSQL refuses NUL in text)."""
    form = await page.request.form()
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    if not page.portal.csrf.valid(page.request.cookies.get(CSRF_COOKIE), values.get(CSRF_FIELD)):
        raise Refused(400, page._("This form has expired. Please try again."))
    if not all(typeable(value) for value in values.values()):
        raise Refused(
            400,
            page._(
                "This form holds characters that cannot be used (control characters or unreadable "
                "text). Please type it again."
            ),
        )
    return values


def typeable(value: str) -> bool:
    """Whether a person could have typed ``value`` into a one-line field."""
    return not any(unicodedata.category(char) in ("Cc", "Cs") or char == "\ufffd" for char in value)


def client_address(page: Page) -> str:
    return page.request.client.host if page.request.client else "unknown"


async def check_throttle(page: Page, keys: dict[str, str]) -> None:
    wait = await page.portal.throttle.wait(keys)
    if wait > 0:
        THROTTLED.labels(page.request.url.path).inc()
        seconds = max(1, int(wait + 0.999))
        raise Refused(
            429,
            page.t.ngettext(
                "Too many attempts. Please wait %(num)d second and try again.",
                "Too many attempts. Please wait %(num)d seconds and try again.",
                seconds,
            ),
            retry_after=seconds,
        )


async def failed(page: Page, keys: dict[str, str]) -> None:
    await page.portal.throttle.failed(keys)


async def refused_response(request: Request, exc: Exception) -> Response:
    """The exception handler for :class:`Refused`: a page that says why, in the person's language."""
    assert isinstance(exc, Refused)
    page = await get_page(request, request.app.state.portal)
    headers = {"Retry-After": str(int(exc.retry_after))} if exc.retry_after else None
    return await show(
        page, "message.html", status_code=exc.status_code, headers=headers, heading=page._("Sorry"),
        message=exc.message, back=request.url.path,
    )  # fmt: skip


def password_error(page: Page, exc: InvalidInput) -> str:
    """The translated message of the password rule ``exc`` names (see :mod:`accounts.passwords`)."""
    rule = password_rule(exc)
    if rule == RULE_TOO_SHORT:
        return page._("A password has at least %(n)d characters.", n=MIN_PASSWORD_LENGTH)
    if rule == RULE_TOO_LONG:
        return page._("A password has at most %(n)d characters.", n=MAX_PASSWORD_LENGTH)
    if rule == RULE_PERSONAL:
        return page._("A password cannot contain your username or email.")
    if rule == RULE_COMMON:
        return page._("This password is too common: choose another.")
    return page._("Choose another password.")


async def show(page: Page, template: str, *, look: Look | None = None, **context: Any) -> HTMLResponse:
    """Render ``template`` with the branding of where the person is (read now unless given)."""
    if look is None:
        async with page.portal.transaction() as session:
            look = await page.look(session)
    return render(page, template, look=look, **context)
