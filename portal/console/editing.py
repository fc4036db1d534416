"""What the commune pages' forms share: reading a path's id, a form with multi-line fields, the
commune a page is about (within reach, else the one 404), and a domain error in plain words.

Every change goes through the ``accounts`` service the admin API calls, with the same audit
action names, so the audit log reads the same whichever front end made a change.
"""

from __future__ import annotations

from dataclasses import dataclass

from accounts.errors import Conflict, DomainError, InvalidInput
from accounts.models import Commune
from portal.context import Page
from portal.forms import Refused, typeable
from portal.security import CSRF_COOKIE, CSRF_FIELD

MAX_ID = 2**31 - 1


def ident(raw: str) -> int | None:
    """A path's id, or None (then 404, like a missing object: never a validation error)."""
    if raw.isascii() and raw.isdigit() and 0 < len(raw) <= 10 and int(raw) <= MAX_ID:
        return int(raw)
    return None


async def read(page: Page, *, multiline: tuple[str, ...] = ()) -> dict[str, str]:
    """The form's text fields once its CSRF token is checked (as :func:`portal.forms.read_form`),
    where the ``multiline`` fields (a ``<textarea>``) may also hold line breaks and tabs."""
    form = await page.request.form()
    values = {key: value for key, value in form.items() if isinstance(value, str)}
    if not page.portal.csrf.valid(page.request.cookies.get(CSRF_COOKIE), values.get(CSRF_FIELD)):
        raise Refused(400, page._("This form has expired. Please try again."))
    for key, value in values.items():
        text = value.replace("\r", "").replace("\n", "").replace("\t", "") if key in multiline else value
        if not typeable(text):
            raise Refused(
                400,
                page._(
                    "This form holds characters that cannot be used (control characters or unreadable "
                    "text). Please type it again."
                ),
            )
    return values


@dataclass(frozen=True, slots=True, kw_only=True)
class CommuneRef:
    """The commune a page is about, for its heading and its section's navigation."""

    id: int
    name: str
    insee_code: str


def ref(commune: Commune) -> CommuneRef:
    return CommuneRef(id=commune.id, name=commune.name, insee_code=commune.insee_code)


def problem(page: Page, error: DomainError) -> str:
    """A refused change in words: a domain error's message may be shown (accounts/errors.py)."""
    if isinstance(error, Conflict):
        return page._("This conflicts with what exists: %(detail)s", detail=str(error))
    if isinstance(error, InvalidInput):
        return page._("This cannot be saved: %(detail)s", detail=str(error))
    return str(error)


def number(raw: str | None) -> int | str | None:
    """A form's number field: an int, None when empty, or the text itself (the caller refuses it)."""
    text = (raw or "").strip()
    if not text:
        return None
    return int(text) if text.isascii() and text.isdigit() and len(text) <= 19 else text
