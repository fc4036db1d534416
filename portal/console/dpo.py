"""The DPO's pages: the audit log, and the judicial requisition.

**The audit log** (``audit:read``: auditors and region admins) filtered by actor, action, target
and period, newest first, a page at a time; before and after as :mod:`accounts.audit` stored them
(secrets already masked when written, and masked again here should an older entry hold one).

**The requisition** (``records:search``: the auditor alone, :data:`accounts.admins.RIGHTS`): the
form runs :func:`accounts.requisition.search` — which audits who asked, when and what — and shows
the records; "download the signed export" answers the same zip as the API
(``records.csv``, ``requisition.json`` and a detached CMS signature of each), for the caller's own
searches only. Times in the form are UTC (said beside each field): a court's window is given to the
minute, and one zone for everyone avoids a summer-time hour counted twice.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from fastapi.responses import Response

from accounts import audit, requisition
from accounts.admins import READ_AUDIT, SEARCH_RECORDS
from accounts.errors import InvalidInput, NotFound
from accounts.requisition import Kind
from portal.console.pages import _id
from portal.console.render import not_found, render
from portal.console.session import StaffDep
from portal.context import Page, PageDep
from portal.forms import read_form, typeable

router = APIRouter(prefix="/console", include_in_schema=False)

PER_PAGE = 50
MAX_PAGE = 100_000


def _instant(raw: str) -> datetime | None:
    """A ``datetime-local`` field's value read as UTC, or None when empty; ValueError else."""
    text = raw.strip()
    if not text:
        return None
    value = datetime.fromisoformat(text)
    if value.tzinfo is not None:
        raise ValueError("no zone: the form's times are UTC")
    return value.replace(tzinfo=UTC)


def _shown(raw: str | None) -> str:
    """An entry's before/after as one line of ``key: value``, secrets masked."""
    if not raw:
        return ""
    try:
        values: Any = json.loads(raw)
    except ValueError:
        return ""
    if not isinstance(values, dict):
        return ""
    shown = audit.masked(values) or {}
    return ", ".join(
        f"{k}: {json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v}" for k, v in shown.items()
    )


@router.get("/audit")
async def audit_log(
    page: PageDep,
    staff: StaffDep,
    actor: str = "",
    action: str = "",
    target: str = "",
    since: str = "",
    until: str = "",
    p: str = "1",
) -> Response:
    if not staff.may(READ_AUDIT):
        return not_found(page, staff)
    filters = {"actor": actor.strip()[:254], "action": action.strip()[:64], "target": target.strip()[:120],
               "since": since.strip()[:32], "until": until.strip()[:32]}  # fmt: skip
    number = int(p) if p.isascii() and p.isdigit() and 0 < len(p) <= 6 and 0 < int(p) <= MAX_PAGE else 1
    error = None
    try:
        if not all(typeable(value) for value in filters.values()):
            raise ValueError("a NUL or a broken character reaches no query")
        start, end = _instant(filters["since"]), _instant(filters["until"])
    except ValueError:
        start = end = None
        error = page._("Give the period's times as shown: year-month-day and hour:minute (UTC).")
    rows: list[dict[str, Any]] = []
    total = 0
    if error is None:
        async with page.portal.transaction() as session:
            entries, total = await audit.list_entries(
                session, reach=staff.reach, limit=PER_PAGE, offset=(number - 1) * PER_PAGE,
                actor=filters["actor"] or None, action=filters["action"] or None,
                target=filters["target"] or None, since=start, until=end,
            )  # fmt: skip
            rows = [
                {"at": e.at, "actor": e.actor, "action": e.action, "target": e.target,
                 "before": _shown(e.before), "after": _shown(e.after)}
                for e in entries
            ]  # fmt: skip
    pages = max(1, -(-total // PER_PAGE))
    query = urlencode({k: v for k, v in filters.items() if v})
    return render(
        page, "dpo/audit.html", staff=staff, status_code=400 if error else 200, rows=rows, total=total,
        number=number, pages=pages, filters=filters, query=query, error=error,
    )  # fmt: skip


# -- the judicial requisition ------------------------------------------------------------------------


def _kinds(page: Page) -> list[tuple[str, str]]:
    return [
        (Kind.IP.value, page._("IP address")),
        (Kind.MAC.value, page._("MAC address")),
        (Kind.IDENTITY.value, page._("Identity (username@realm)")),
        (Kind.PSEUDONYM.value, page._("Pseudonym of a deleted account")),
    ]


@router.get("/requisitions")
async def requisition_form(page: PageDep, staff: StaffDep) -> Response:
    if not staff.may(SEARCH_RECORDS):
        return not_found(page, staff)
    form = {"kind": Kind.IP.value, "value": "", "since": "", "until": ""}
    return render(
        page, "dpo/requisition.html", staff=staff, kinds=_kinds(page), form=form, outcome=None, error=None
    )


@router.post("/requisitions")
async def run_requisition(page: PageDep, staff: StaffDep) -> Response:
    raw = await read_form(page)
    if not staff.may(SEARCH_RECORDS):
        return not_found(page, staff)
    form = {k: raw.get(k, "").strip()[:253] for k in ("kind", "value", "since", "until")}
    portal, limits = page.portal, page.portal.config.requisition

    def again(error: str) -> Response:
        return render(
            page, "dpo/requisition.html", staff=staff, status_code=400, kinds=_kinds(page), form=form,
            outcome=None, error=error,
        )  # fmt: skip

    try:
        kind = Kind(form["kind"])
        since, until = _instant(form["since"]), _instant(form["until"])
    except ValueError:
        return again(page._("Choose what to search and give the window as shown (UTC)."))
    if since is None or until is None or not form["value"]:
        return again(page._("Give what to search, and the window's start and end."))
    try:
        criteria = requisition.criteria(
            kind=kind, value=form["value"], since=since, until=until, limits=limits
        )
    except InvalidInput as exc:
        return again(page._("The search cannot be run: %(why)s", why=str(exc)))
    async with portal.transaction() as session:
        outcome = await requisition.search(
            session, box=portal.box, criteria=criteria, limits=limits, actor=staff.actor, reach=staff.reach,
            now=portal.now(),
        )  # fmt: skip
    if outcome.too_many:  # the search is audited all the same (committed above)
        return again(
            page._(
                "More than %(num)d records match: narrow the window or the criteria.", num=limits.max_records
            )
        )
    return render(
        page, "dpo/requisition.html", staff=staff, kinds=_kinds(page), form=form, outcome=outcome,
        error=None, can_export=portal.config.records_signer is not None,
    )  # fmt: skip


@router.get("/requisitions/{search_id}/export")
async def export(page: PageDep, staff: StaffDep, search_id: str) -> Response:
    """The signed zip of one of the caller's own searches (as ``GET /api/v1/requisitions/…/export``)."""
    ident = _id(search_id)
    if ident is None or not staff.may(SEARCH_RECORDS):
        return not_found(page, staff)
    portal, signer = page.portal, page.portal.config.records_signer
    if signer is None:
        return render(
            page, "notice.html", staff=staff, status_code=409, heading=page._("No signing certificate"),
            message=page._("No records-signing certificate is configured: exports are refused."),
        )  # fmt: skip
    try:
        async with portal.transaction() as session:
            answer = await requisition.export(
                session, box=portal.box, search_id=ident, limits=portal.config.requisition, signer=signer,
                actor=staff.actor, reach=staff.reach, now=portal.now(),
            )  # fmt: skip
    except NotFound:
        return not_found(page, staff)
    except InvalidInput as exc:
        return render(
            page, "notice.html", staff=staff, status_code=409, heading=page._("The export cannot be made"),
            message=str(exc),
        )  # fmt: skip
    return Response(
        answer.zip_bytes,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="requisition-{ident}.zip"',
            "Cache-Control": "no-store",
        },
    )
