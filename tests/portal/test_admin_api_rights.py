"""The rights table (``accounts.admins.RIGHTS``) is what the API does: every endpoint under
``/api/v1``, read from the app's OpenAPI schema, with every role, on SQLite and PostgreSQL. A scope the role
lacks is 403; a scope it holds gets past the check (whatever the answer then: 2xx, 404, 409, 422 —
never 401 or 403). A new endpoint without an entry in :data:`NEEDS` fails
:func:`test_every_endpoint_is_in_the_table`; the documentation's copy of the table is checked too."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from accounts import admins
from accounts.admins import (
    EXPORT_ACCOUNTS,
    HELP_ACCOUNTS,
    READ_ACCOUNTS,
    READ_ADMINS,
    READ_AUDIT,
    READ_NETWORK,
    READ_PARTNERS,
    READ_SESSIONS,
    READ_STATS,
    RIGHTS,
    SEARCH_RECORDS,
    WRITE_ACCOUNTS,
    WRITE_ADMINS,
    WRITE_NETWORK,
    WRITE_PARTNERS,
    WRITE_SESSIONS,
)
from accounts.models import AdminRole
from tests.portal.conftest import NOW, Browser, World, bearer, citizen_and_partner, token
from tests.portal.test_admin_api import FakeAccessPoint, add_session

DOC = Path(__file__).resolve().parents[2] / "docs" / "admin-api.md"
REGION = True  # the scope, and the whole region (a commune admin is refused even with the scope)

#: (method, path) → (the scope it needs, whether it needs the whole region); None: no token needed
NEEDS: dict[tuple[str, str], tuple[str, bool] | None] = {
    ("POST", "/api/v1/auth/token"): None,
    ("POST", "/api/v1/auth/revoke"): None,
    ("GET", "/api/v1/communes"): (READ_NETWORK, False),
    ("GET", "/api/v1/communes/{commune_id}"): (READ_NETWORK, False),
    ("POST", "/api/v1/communes"): (WRITE_NETWORK, REGION),
    ("GET", "/api/v1/sites"): (READ_NETWORK, False),
    ("GET", "/api/v1/sites/{site_id}"): (READ_NETWORK, False),
    ("POST", "/api/v1/sites"): (WRITE_NETWORK, False),
    ("PATCH", "/api/v1/sites/{site_id}"): (WRITE_NETWORK, False),
    ("DELETE", "/api/v1/sites/{site_id}"): (WRITE_NETWORK, False),
    ("PUT", "/api/v1/sites/{site_id}/handoff"): (WRITE_NETWORK, False),
    ("GET", "/api/v1/access-points"): (READ_NETWORK, False),
    ("GET", "/api/v1/access-points/{ap_id}"): (READ_NETWORK, False),
    ("POST", "/api/v1/access-points"): (WRITE_NETWORK, False),
    ("PATCH", "/api/v1/access-points/{ap_id}"): (WRITE_NETWORK, False),
    ("DELETE", "/api/v1/access-points/{ap_id}"): (WRITE_NETWORK, False),
    ("GET", "/api/v1/policies/communes/{commune_id}"): (READ_NETWORK, False),
    ("PATCH", "/api/v1/policies/communes/{commune_id}"): (WRITE_NETWORK, False),
    ("GET", "/api/v1/policies/sites/{site_id}"): (READ_NETWORK, False),
    ("PATCH", "/api/v1/policies/sites/{site_id}"): (WRITE_NETWORK, False),
    ("GET", "/api/v1/onboarding/region"): (READ_NETWORK, False),
    ("PATCH", "/api/v1/onboarding/region"): (WRITE_NETWORK, REGION),
    ("GET", "/api/v1/onboarding/communes/{commune_id}"): (READ_NETWORK, False),
    ("PUT", "/api/v1/onboarding/communes/{commune_id}"): (WRITE_NETWORK, False),
    ("POST", "/api/v1/vouchers"): (WRITE_NETWORK, False),
    ("GET", "/api/v1/vouchers"): (READ_NETWORK, False),
    ("GET", "/api/v1/vouchers/{batch_id}"): (READ_NETWORK, False),
    ("POST", "/api/v1/vouchers/{batch_id}/revoke"): (WRITE_NETWORK, False),
    ("GET", "/api/v1/vouchers/{batch_id}/pdf"): (WRITE_NETWORK, False),
    ("GET", "/api/v1/communes/{commune_id}/sponsorship"): (WRITE_NETWORK, False),
    ("PUT", "/api/v1/communes/{commune_id}/sponsorship"): (WRITE_NETWORK, False),
    ("GET", "/api/v1/accounts"): (READ_ACCOUNTS, False),
    ("GET", "/api/v1/accounts/export.csv"): (EXPORT_ACCOUNTS, REGION),
    ("GET", "/api/v1/accounts/{account_id}"): (READ_ACCOUNTS, False),
    ("GET", "/api/v1/accounts/{account_id}/devices"): (READ_ACCOUNTS, False),
    ("GET", "/api/v1/accounts/{account_id}/enrolled-devices"): (READ_ACCOUNTS, False),
    ("POST", "/api/v1/accounts/{account_id}/enrolled-devices/{kind}/{device_id}/revoke"): (
        HELP_ACCOUNTS,
        False,
    ),
    ("POST", "/api/v1/accounts/{account_id}/unlock"): (HELP_ACCOUNTS, False),
    ("POST", "/api/v1/accounts/{account_id}/resend-verification"): (HELP_ACCOUNTS, False),
    ("POST", "/api/v1/accounts/{account_id}/disable"): (WRITE_ACCOUNTS, False),
    ("POST", "/api/v1/accounts/{account_id}/enable"): (WRITE_ACCOUNTS, False),
    ("DELETE", "/api/v1/accounts/{account_id}"): (WRITE_ACCOUNTS, False),
    ("GET", "/api/v1/sessions"): (READ_SESSIONS, False),
    ("GET", "/api/v1/sessions/{session_id}"): (READ_SESSIONS, False),
    ("POST", "/api/v1/sessions/{session_id}/disconnect"): (WRITE_SESSIONS, False),
    ("GET", "/api/v1/stats/daily"): (READ_STATS, False),
    ("GET", "/api/v1/stats/history"): (READ_STATS, False),
    ("GET", "/api/v1/stats/history.csv"): (READ_STATS, False),
    ("GET", "/api/v1/stats/refusals"): (READ_STATS, False),
    ("GET", "/api/v1/stats/refusals.csv"): (READ_STATS, False),
    ("GET", "/api/v1/stats/live/sessions"): (READ_STATS, False),
    ("GET", "/api/v1/stats/live/authentications"): (READ_STATS, False),
    ("GET", "/api/v1/opendata/schemas/{dataset}.json"): (READ_STATS, False),
    ("GET", "/api/v1/opendata/{dataset}.{form}"): (READ_STATS, False),
    ("GET", "/api/v1/audit"): (READ_AUDIT, False),
    ("POST", "/api/v1/requisitions"): (SEARCH_RECORDS, REGION),
    ("GET", "/api/v1/requisitions/{search_id}/export"): (SEARCH_RECORDS, REGION),
    ("GET", "/api/v1/admins"): (READ_ADMINS, REGION),
    ("POST", "/api/v1/admins"): (WRITE_ADMINS, REGION),
    ("PATCH", "/api/v1/admins/{admin_id}"): (WRITE_ADMINS, REGION),
    ("GET", "/api/v1/clients"): (READ_ADMINS, REGION),
    ("POST", "/api/v1/clients"): (WRITE_ADMINS, REGION),
    ("POST", "/api/v1/clients/{client_pk}/disable"): (WRITE_ADMINS, REGION),
    ("GET", "/api/v1/partners"): (READ_PARTNERS, REGION),
    ("GET", "/api/v1/partners/{partner_id}"): (READ_PARTNERS, REGION),
    ("POST", "/api/v1/partners"): (WRITE_PARTNERS, REGION),
    ("PATCH", "/api/v1/partners/{partner_id}"): (WRITE_PARTNERS, REGION),
    ("DELETE", "/api/v1/partners/{partner_id}"): (WRITE_PARTNERS, REGION),
    ("POST", "/api/v1/partners/{partner_id}/realms"): (WRITE_PARTNERS, REGION),
    ("DELETE", "/api/v1/partners/{partner_id}/realms/{pattern}"): (WRITE_PARTNERS, REGION),
    ("POST", "/api/v1/partners/{partner_id}/servers"): (WRITE_PARTNERS, REGION),
    ("PATCH", "/api/v1/partners/{partner_id}/servers/{server_id}"): (WRITE_PARTNERS, REGION),
    ("DELETE", "/api/v1/partners/{partner_id}/servers/{server_id}"): (WRITE_PARTNERS, REGION),
}

#: the routes that need a period
PERIODS = {
    "/api/v1/stats/daily", "/api/v1/stats/history", "/api/v1/stats/history.csv", "/api/v1/stats/refusals",
    "/api/v1/stats/refusals.csv", "/api/v1/opendata/{dataset}.{form}",
}  # fmt: skip

EMAILS = {
    AdminRole.REGION_ADMIN: "region@test.example",
    AdminRole.COMMUNE_ADMIN: "valence@test.example",
    AdminRole.SUPPORT: "support@test.example",
    AdminRole.AUDITOR: "auditor@test.example",
}


def api_routes(browser: Browser) -> dict[tuple[str, str], dict[str, Any]]:
    """(method, path) → operation, for every route under /api/v1, from the app's OpenAPI schema
    (FastAPI builds it from the routes; no admin API router is left out of the schema)."""
    return {
        (method.upper(), path): operation
        for path, operations in browser.app.openapi()["paths"].items()
        if path.startswith("/api/v1/")
        for method, operation in operations.items()
    }


async def test_every_endpoint_is_in_the_table(browser: Browser) -> None:
    routes = api_routes(browser).keys()
    assert routes - NEEDS.keys() == set(), "a new endpoint: say in NEEDS which scope it needs"
    assert NEEDS.keys() - routes == set(), "an endpoint is gone: remove it from NEEDS"
    needed = {need[0] for need in NEEDS.values() if need is not None}
    assert needed == set(admins.MEANINGS), "every scope is needed by some endpoint, and only those"


def test_the_documentation_carries_the_rights_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    found = re.search(r"<!-- rights table: .*? -->\n(.*?)<!-- end of rights table -->", text, re.S)
    assert found, "docs/admin-api.md lost its rights table markers"
    assert found.group(1) == admins.rights_table(), "regenerate it: python -m accounts.admins"


def test_support_may_not_disable_or_delete_accounts() -> None:
    assert RIGHTS[AdminRole.SUPPORT] >= {READ_ACCOUNTS, HELP_ACCOUNTS, WRITE_SESSIONS}
    assert WRITE_ACCOUNTS not in RIGHTS[AdminRole.SUPPORT]
    assert not any(scope.endswith(":write") for scope in RIGHTS[AdminRole.AUDITOR])


def _allowed(role: AdminRole, need: tuple[str, bool]) -> bool:
    scope, region_wide = need
    return scope in RIGHTS[role] and not (region_wide and role == AdminRole.COMMUNE_ADMIN)


@pytest.mark.parametrize("role", list(AdminRole), ids=lambda r: r.value)
async def test_every_endpoint_with_every_role(browser: Browser, world: World, role: AdminRole) -> None:
    """Each endpoint once, aimed at things of the caller's commune (Valence); reads first, then
    changes (an empty JSON object where a body is read: 422 once past the scope check), deletions
    last, so that what is read is still there."""
    portal = browser.portal
    portal.coa = FakeAccessPoint()
    citizen, partner = await citizen_and_partner(portal)
    async with portal.transaction() as session:
        # an admin whose tokens may be revoked by the PATCH (not the caller)
        other = await admins.find_admin(
            session, "support@test.example" if role != AdminRole.SUPPORT else "auditor@test.example"
        )
        ids = {
            "commune_id": world.commune_a, "site_id": world.site_a, "ap_id": world.ap_a,
            "account_id": citizen.id, "admin_id": other.id, "client_pk": 1, "partner_id": partner.id,
            "pattern": "liguria.example", "server_id": partner.servers[0].id, "search_id": 1,
            "dataset": "communes",
            "form": "csv", "kind": "password", "device_id": 1,
        }  # fmt: skip
    ids["session_id"] = await add_session(browser, world, "sess-a", commune="a", account_id=None)
    who = bearer(await token(browser, EMAILS[role]))
    order = {"GET": 0, "POST": 1, "PUT": 1, "PATCH": 1, "DELETE": 2}
    routes = api_routes(browser)
    outcomes = []
    for method, route in sorted(routes, key=lambda r: (order[r[0]], "/accounts/" in r[1], r[1])):
        need = NEEDS[(method, route)]
        if need is None:
            continue
        path = route
        for name, value in ids.items():
            path = path.replace("{" + name + "}", str(value))
        params = {"since": str(NOW.date()), "until": str(NOW.date())} if route in PERIODS else {}
        body: dict[str, object] | None = {} if "requestBody" in routes[(method, route)] else None
        response = await browser.request(method, path, headers=who, json=body, params=params)
        outcomes.append((method, route, response.status_code))
        where = (role.value, method, route, response.status_code, response.text[:200])
        if _allowed(role, need):
            assert response.status_code not in (401, 403), where
            assert response.status_code < 500, where
        else:
            assert response.status_code == 403, where
            assert 'error="insufficient_scope"' in response.headers["www-authenticate"], where
    assert len(outcomes) == len([n for n in NEEDS.values() if n is not None])
