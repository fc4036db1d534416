"""The console's navigation: each entry names the scope it needs (a scope of
:data:`accounts.admins.RIGHTS`), so a role never sees a link to a page it may not open. Pages
added later (search, dashboards, requisitions…) add their entry here, with the scope their
router checks: the same scope both hides the link and guards the page.
"""

from __future__ import annotations

from dataclasses import dataclass

from accounts.admins import (
    READ_ACCOUNTS,
    READ_AUDIT,
    READ_NETWORK,
    READ_PARTNERS,
    READ_SESSIONS,
    READ_STATS,
    SEARCH_RECORDS,
    WRITE_ADMINS,
    WRITE_NETWORK,
)
from portal.console.session import Staff


@dataclass(frozen=True, slots=True, kw_only=True)
class NavItem:
    path: str
    label: str  # the English source string: translated where shown
    scope: str | None = None  # None: every signed-in staff member
    region_wide: bool = False  # only for those whose reach is the whole region


def _(message: str) -> str:
    """Marks a label for extraction (pybabel); the layout translates it."""
    return message


NAV: tuple[NavItem, ...] = (
    NavItem(path="/console", label=_("My reach"), scope=READ_NETWORK),
    NavItem(path="/console/dashboards", label=_("Dashboards"), scope=READ_STATS),
    NavItem(path="/console/citizens", label=_("Find a citizen"), scope=READ_ACCOUNTS),
    NavItem(path="/console/audit", label=_("Audit log"), scope=READ_AUDIT),
    NavItem(path="/console/requisitions", label=_("Judicial requisition"), scope=SEARCH_RECORDS),
    NavItem(path="/console/partners", label=_("Partners"), scope=READ_PARTNERS, region_wide=True),
    NavItem(path="/console/security", label=_("Sign-in and security")),
    NavItem(path="/console/region", label=_("Region settings"), scope=WRITE_ADMINS, region_wide=True),
    NavItem(path="/console/region/communes", label=_("Communes"), scope=WRITE_NETWORK, region_wide=True),
    NavItem(path="/console/region/staff", label=_("Staff accounts"), scope=WRITE_ADMINS, region_wide=True),
    NavItem(path="/console/region/clients", label=_("Service clients"), scope=WRITE_ADMINS, region_wide=True),
)


def allowed(item: NavItem, staff: Staff) -> bool:
    if item.scope is not None and not staff.may(item.scope):
        return False
    return not item.region_wide or staff.reach.region_wide


def navigation(staff: Staff) -> list[NavItem]:
    """The entries this staff member may open, in order."""
    return [item for item in NAV if allowed(item, staff)]


#: a commune's own pages (portal/console/templates/commune/_nav.html): the path after
#: ``/console/communes/<id>``, the label, the scope the page's router checks
COMMUNE_SECTION: tuple[NavItem, ...] = (
    NavItem(path="", label=_("Sites"), scope=READ_NETWORK),
    NavItem(path="/access-points", label=_("Access points"), scope=READ_NETWORK),
    NavItem(path="/policy", label=_("Policies"), scope=READ_NETWORK),
    NavItem(path="/branding", label=_("Branding"), scope=WRITE_NETWORK),
    NavItem(path="/vouchers", label=_("Vouchers"), scope=READ_NETWORK),
    NavItem(path="/sponsorship", label=_("Sponsored access"), scope=WRITE_NETWORK),
    NavItem(path="/sessions", label=_("Sessions"), scope=READ_SESSIONS),
    NavItem(path="/statistics", label=_("Statistics"), scope=READ_STATS),
)


def commune_section(staff: Staff, commune_id: int) -> list[NavItem]:
    """The commune's pages this staff member may open, with their full paths."""
    return [
        NavItem(path=f"/console/communes/{commune_id}{item.path}", label=item.label, scope=item.scope)
        for item in COMMUNE_SECTION
        if allowed(item, staff)
    ]
