"""The console's isolation matrix (issue 18), as the API's (tests/portal/test_admin_api_rights.py):
**every** route of the app under ``/console`` — pages, actions, htmx fragments, CSV downloads —
as each role, with the things of two communes, on SQLite and PostgreSQL.

Two communes, A and B, each with a site (on the map), an access point, branding, two open sessions,
a citizen whose connections and decisions are there (a remembered device, an enrolled one), a
commune admin and a service client of its own; the region's partner with a home server; staff of
every role, the commune admin being A's. Each route of :data:`ROUTES` is requested with A's
things, then with B's, by each role:

* a route the role may not use (its scope, or the whole region's reach), or B's things asked for
  by A's commune admin, is the console's one 404 — the same ``<main>`` as an address that does
  not exist —, its body names nothing of either commune, and nothing changed: every table of the
  database as it was (the audit log included), no Disconnect-Request sent, no mail;
* everything else answers as the route does (200, or 303 after a change: the positive control,
  so the matrix can fail), and no answer to A's commune admin names anything of B.

A POST carries a valid CSRF token (the same token then works for the positive control), so a 404
comes from the role and reach checks, never from CSRF. A route of the app under ``/console``
missing from :data:`ROUTES` fails :func:`test_every_console_route_is_in_the_matrix`, which says
the line to add; a path parameter the seed does not give (``{name}``) fails saying so.

Then: A's own forms given B's things; and every page A's admin may open reads the same, byte for
byte, whatever B gains (non-interference: not even a count of B's reaches A's pages).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select
from starlette.routing import Mount, Route

from accounts import admins, authlog, network, partners, requisition, vouchers
from accounts.admins import (
    HELP_ACCOUNTS,
    READ_ACCOUNTS,
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
    Reach,
)
from accounts.credentials import create_device_credential
from accounts.models import AccountingSession, AccountStatus, AdminRole, Base, Commune
from accounts.recordsexport import RecordsSigner
from accounts.users import create_account, remember_device
from radius.eap.trialpki import make_ca, make_signer
from tests.portal.conftest import NOW, PASSWORD, Browser
from tests.portal.console import ConsolePage, sign_in
from tests.portal.test_admin_api import FakeAccessPoint

OK = frozenset({200, 303})


@dataclass(frozen=True, slots=True)
class Row:
    """What a route needs, and how the matrix asks for it.

    ``scope``: the scope its router checks, or its scopes (None: any signed-in staff member);
    ``region``: only a whole region's reach may; ``queries``: the query strings it is asked with
    (each once); ``form``: a POST's fields (a change the 404 must not make); ``ok``: what the role
    that may gets; ``last``: asked after the others (it deletes); ``ends``: asked at the very end
    (it ends the session of the staff member it answers, who lands on the sign-in page); ``open``:
    the sign-in flow (before any session: no commune's thing, no reach), asked as each role all
    the same, each answer checked to name nothing of a commune; ``alias``: ``name=other``, the
    path's ``{name}`` filled with the commune's ``other`` (another of its things).

    In ``queries`` and ``form``, ``{commune_id}``, ``{site_id}``, ``{ap_id}``, ``{session_id}`` are
    the commune's things (a request naming one is A's or B's), the rest the commune's citizen,
    names and addresses (:meth:`Place.values`).
    """

    scope: str | tuple[str, ...] | None
    region: bool = False
    queries: tuple[str, ...] = ("",)
    form: str = ""
    ok: frozenset[int] = OK
    last: bool = False
    ends: bool = False
    open: bool = False
    alias: str = ""


CITIZEN = "/console/citizens/{account_id}"
AP_FORM = "address={ap_address}&secret=stolen-secret-99&coa_port=3799&require_message_authenticator=yes"
NEW_AP = (
    "site_id={site_id}&name=intrus-{n}&address=198.18.{n}.1&secret=intrus-secret-1&vendor=other"
    "&coa_port=3799&require_message_authenticator=yes"
)
HISTORY = "since={day}&until={day}&level=site"

#: every route under /console: "METHOD path" → its row (a route added to the console adds one)
ROUTES: dict[str, Row] = {
    # the sign-in flow
    "GET /console/login": Row(None, open=True),
    "POST /console/login": Row(None, open=True, form="email={staff_email}&password=not-the-password"),
    "GET /console/login/code": Row(None, open=True),
    "POST /console/login/code": Row(None, open=True, form="code=000000"),
    "GET /console/enrol": Row(None, open=True),
    "POST /console/enrol": Row(None, open=True, form="code=000000&password=not-the-password"),
    "POST /console/logout": Row(None, open=True),
    "POST /console/logout-everywhere": Row(None, open=True),
    "GET /console/sso/callback": Row(None, open=True, queries=("", "state=forged&code=forged")),
    "GET /console/sso/{slug}": Row(None, open=True),
    # My reach, a commune, the staff member's security, the region's rule
    "GET /console": Row(READ_NETWORK),
    "GET /console/communes/{commune_id}": Row(READ_NETWORK),
    "GET /console/security": Row(None),
    "POST /console/security/recovery-codes": Row(None, form="code=000000", ok=frozenset({400})),
    "GET /console/region": Row(WRITE_ADMINS, region=True),
    "POST /console/region": Row(WRITE_ADMINS, region=True, form="require_two_factor=yes", ends=True),
    # dashboards: the page, its htmx fragment, the history and its CSV files
    "GET /console/dashboards": Row(READ_STATS, queries=("commune={commune_id}", "")),
    "GET /console/dashboards/live": Row(READ_STATS, queries=("commune={commune_id}", "")),
    "GET /console/dashboards/history": Row(
        READ_STATS, queries=(f"commune={{commune_id}}&{HISTORY}", HISTORY)
    ),
    "GET /console/dashboards/history.csv": Row(
        READ_STATS,
        queries=(
            f"commune={{commune_id}}&table=usage&{HISTORY}",
            f"commune={{commune_id}}&table=refusals&{HISTORY}",
            f"table=usage&{HISTORY}",
            f"table=refusals&{HISTORY}",
        ),
    ),
    # a commune's own pages
    "GET /console/communes/{commune_id}/sites/new": Row(WRITE_NETWORK),
    "POST /console/communes/{commune_id}/sites": Row(WRITE_NETWORK, form="name=Intrus&address=ici"),
    "GET /console/sites/{site_id}": Row(WRITE_NETWORK),
    "POST /console/sites/{site_id}": Row(WRITE_NETWORK, form="name={site_name}&address=changed"),
    "GET /console/communes/{commune_id}/access-points": Row(READ_NETWORK),
    "GET /console/communes/{commune_id}/access-points/new": Row(WRITE_NETWORK),
    "POST /console/communes/{commune_id}/access-points": Row(WRITE_NETWORK, form=NEW_AP),
    "GET /console/access-points/{ap_id}": Row(WRITE_NETWORK),
    "POST /console/access-points/{ap_id}": Row(WRITE_NETWORK, form=AP_FORM),
    "GET /console/access-points/{ap_id}/delete": Row(WRITE_NETWORK),
    "POST /console/access-points/{ap_id}/delete": Row(WRITE_NETWORK, last=True),
    "GET /console/communes/{commune_id}/policy": Row(READ_NETWORK),
    "POST /console/communes/{commune_id}/policy": Row(WRITE_NETWORK, form="session_timeout=60"),
    "GET /console/sites/{site_id}/policy": Row(READ_NETWORK),
    "POST /console/sites/{site_id}/policy": Row(WRITE_NETWORK, form="idle_timeout=60"),
    "GET /console/communes/{commune_id}/branding": Row(WRITE_NETWORK),
    "POST /console/communes/{commune_id}/branding": Row(WRITE_NETWORK, form="title=Pris&color=#000000"),
    "GET /console/communes/{commune_id}/branding/preview": Row(WRITE_NETWORK, queries=("", "title=Draft")),
    "GET /console/communes/{commune_id}/sessions": Row(READ_SESSIONS),
    "POST /console/sessions/{session_id}/disconnect": Row(WRITE_SESSIONS),
    "GET /console/communes/{commune_id}/statistics": Row(READ_STATS),
    # support: a citizen (of the region, not of a commune) and their connections in a commune
    "GET /console/citizens": Row(READ_ACCOUNTS, queries=("q={username}", "q={mac}")),
    f"GET {CITIZEN}": Row(READ_ACCOUNTS),
    f"POST {CITIZEN}/unlock": Row(HELP_ACCOUNTS),
    f"POST {CITIZEN}/resend-verification": Row(HELP_ACCOUNTS),
    f"POST {CITIZEN}/devices/forget": Row(HELP_ACCOUNTS, form="mac={mac}"),
    f"POST {CITIZEN}/enrolled/forget": Row(HELP_ACCOUNTS, form="kind=password&id={credential_id}"),
    f"POST {CITIZEN}/disable": Row(WRITE_ACCOUNTS),
    f"POST {CITIZEN}/enable": Row(WRITE_ACCOUNTS),
    f"POST {CITIZEN}/sessions/{{session_id}}/disconnect": Row(
        (WRITE_SESSIONS, READ_ACCOUNTS), alias="session_id=citizen_session_id"
    ),
    # the DPO
    "GET /console/audit": Row(READ_AUDIT, queries=("", "target=site:{site_id}")),
    "GET /console/requisitions": Row(SEARCH_RECORDS),
    "POST /console/requisitions": Row(
        SEARCH_RECORDS, form="kind=ip&value={framed_ip}&since={since}&until={until}"
    ),
    "GET /console/requisitions/{search_id}/export": Row(SEARCH_RECORDS),
    # the region's: communes, service clients, staff accounts
    "GET /console/region/communes": Row(WRITE_NETWORK, region=True),
    "POST /console/region/communes": Row(
        WRITE_NETWORK, region=True, form="name=Intrusville{n}&insee_code=7510{n}"
    ),
    "GET /console/region/clients": Row(WRITE_ADMINS, region=True),
    "POST /console/region/clients": Row(
        WRITE_ADMINS, region=True, form="name=Intrus&role=commune_admin&commune_id={commune_id}"
    ),
    "POST /console/region/clients/{client_pk}/disable": Row(WRITE_ADMINS, region=True),
    "GET /console/region/staff": Row(WRITE_ADMINS, region=True),
    "POST /console/region/staff": Row(
        WRITE_ADMINS,
        region=True,
        form=(
            "email=intrus{n}@test.example&role=commune_admin&commune_id={commune_id}"
            "&password=intrus passphrase 2026"
        ),
    ),
    "GET /console/region/staff/{admin_id}": Row(WRITE_ADMINS, region=True),
    "POST /console/region/staff/{admin_id}": Row(
        WRITE_ADMINS, region=True, form="role=region_admin&active=yes"
    ),
    "POST /console/region/staff/{admin_id}/sign-out": Row(WRITE_ADMINS, region=True),
    "POST /console/region/staff/{admin_id}/reset-two-factor": Row(WRITE_ADMINS, region=True),
    # the federation's partners and their home servers
    "GET /console/partners": Row(READ_PARTNERS, region=True),
    "GET /console/partners/new": Row(WRITE_PARTNERS, region=True),
    "POST /console/partners": Row(
        WRITE_PARTNERS,
        region=True,
        form=("name=intrus{n}&realms=intrus{n}.example&host=192.0.2.2{n}&secret=intrus-secret-1&port=1812"),
    ),
    "GET /console/partners/{partner_id}": Row(READ_PARTNERS, region=True),
    "POST /console/partners/{partner_id}": Row(
        WRITE_PARTNERS, region=True, form="display_name=Pris&accept_requests=yes"
    ),
    "POST /console/partners/{partner_id}/realms": Row(
        WRITE_PARTNERS, region=True, form="pattern=more{n}.example"
    ),
    "POST /console/partners/{partner_id}/realms/remove": Row(
        WRITE_PARTNERS, region=True, form="pattern={pattern}"
    ),
    "GET /console/partners/{partner_id}/servers/new": Row(WRITE_PARTNERS, region=True),
    "POST /console/partners/{partner_id}/servers": Row(
        WRITE_PARTNERS, region=True, form="host=192.0.2.3{n}&secret=intrus-secret-1&port=1812"
    ),
    "GET /console/partners/{partner_id}/servers/{server_id}": Row(WRITE_PARTNERS, region=True),
    "POST /console/partners/{partner_id}/servers/{server_id}": Row(
        WRITE_PARTNERS, region=True, form="secret=stolen-secret-99&require_message_authenticator=yes"
    ),
    "GET /console/partners/{partner_id}/servers/{server_id}/delete": Row(WRITE_PARTNERS, region=True),
    "POST /console/partners/{partner_id}/servers/{server_id}/delete": Row(
        WRITE_PARTNERS, region=True, last=True
    ),
    # a commune's guest vouchers
    "GET /console/communes/{commune_id}/vouchers": Row(READ_NETWORK),
    "POST /console/communes/{commune_id}/vouchers": Row(
        WRITE_NETWORK,
        form=(
            "label=Intrus{n}&count=1&valid_from={voucher_from}&valid_until={voucher_until}"
            "&duration_minutes=60&max_devices=1&site={site_id}"
        ),
    ),
    "GET /console/communes/{commune_id}/vouchers/{batch_id}/pdf": Row(WRITE_NETWORK),
    "POST /console/communes/{commune_id}/vouchers/{batch_id}/revoke": Row(WRITE_NETWORK),
    # a commune's sponsored access (its sponsors' addresses: network:write to read them too)
    "GET /console/communes/{commune_id}/sponsorship": Row(WRITE_NETWORK),
    "POST /console/communes/{commune_id}/sponsorship": Row(
        WRITE_NETWORK, form="enabled=yes&sponsors=intrus{n}%40evil.example"
    ),
    "GET /console/partners/{partner_id}/delete": Row(WRITE_PARTNERS, region=True),
    "POST /console/partners/{partner_id}/delete": Row(WRITE_PARTNERS, region=True, last=True),
}

#: what a request names that belongs to a commune (the rest is the region's or a citizen's)
PLACE_KEYS = ("commune_id", "site_id", "ap_id", "session_id", "admin_id", "client_pk", "batch_id")
#: the mounts under /console (no route of their own: files)
MOUNTS = {"/console/static"}
MISSING = "999999"
NOWHERE = "/console/no-such-page"

EMAILS = {
    AdminRole.REGION_ADMIN: "region@test.example",
    AdminRole.COMMUNE_ADMIN: "commune-a@test.example",
    AdminRole.SUPPORT: "support@test.example",
    AdminRole.AUDITOR: "auditor@test.example",
}


# -- the routes ---------------------------------------------------------------------------------------


def console_routes(routes: Sequence[object], prefix: str = "") -> Iterator[tuple[str, str]]:
    """("METHOD path", kind) for every route of the app under /console, through included routers
    (FastAPI 0.165 keeps an included router as one entry holding the original and its prefix)."""
    for route in routes:
        inner = getattr(route, "original_router", None)
        if inner is not None:
            context = getattr(route, "include_context", None)
            yield from console_routes(inner.routes, prefix + getattr(context, "prefix", ""))
            continue
        path = prefix + getattr(route, "path", "")
        if not path.startswith("/console"):
            continue
        if isinstance(route, Mount):
            yield path, "mount"
        elif isinstance(route, APIRoute | Route):
            for method in sorted((route.methods or set()) - {"HEAD"}):
                yield f"{method} {path}", "route"
        else:
            yield path, type(route).__name__


def test_every_console_route_is_in_the_matrix(browser: Browser) -> None:
    found = dict(console_routes(browser.app.routes))
    routes = {key for key, kind in found.items() if kind == "route"}
    missing = sorted(routes - ROUTES.keys())
    assert missing == [], (
        "a console route without its row in ROUTES; add, with the scope its router checks:\n"
        + (
            "\n".join(
                f'    "{key}": Row(SCOPE),  # region=True, form="…", queries=(…,) as it needs'
                for key in missing
            )
        )
    )
    assert sorted(ROUTES.keys() - routes) == [], "rows of ROUTES for routes that are gone: remove them"
    assert {key for key, kind in found.items() if kind == "mount"} == MOUNTS
    assert set(found.values()) <= {"route", "mount"}, found
    assert all(k.split(" ", 1)[0] in ("GET", "POST") for k in routes), "a method the matrix does not ask"


# -- two communes and their staff ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Place:
    """A commune's things and what identifies them in a page."""

    n: int
    commune_id: int
    site_id: int
    ap_id: int
    session_id: int
    citizen_session_id: int
    account_id: int
    credential_id: int
    admin_id: int  # a commune admin of the commune (not the one signed in)
    client_pk: int  # a service client of the commune
    batch_id: int  # a batch of guest vouchers of the commune
    names: dict[str, str]

    def values(self, shared: dict[str, str]) -> dict[str, str]:
        """What a route's, query's or form's ``{name}`` is filled with: the commune's things, then
        the region's (``shared``: the auditor's search, a partner, its home server and realm)."""
        since, until = NOW - timedelta(hours=3), NOW
        ids = {
            "n": self.n, "commune_id": self.commune_id, "site_id": self.site_id, "ap_id": self.ap_id,
            "session_id": self.session_id, "citizen_session_id": self.citizen_session_id,
            "account_id": self.account_id, "credential_id": self.credential_id, "admin_id": self.admin_id,
            "client_pk": self.client_pk, "batch_id": self.batch_id, "slug": "nowhere",
            "day": NOW.date().isoformat(),
            "staff_email": EMAILS[AdminRole.SUPPORT], "since": since.strftime("%Y-%m-%dT%H:%M"),
            "until": until.strftime("%Y-%m-%dT%H:%M"),
            "voucher_from": (NOW + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
            "voucher_until": (NOW + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M"),
        }  # fmt: skip
        return shared | {key: str(value) for key, value in ids.items()} | self.names

    def identifying(self) -> list[str]:
        """What names this commune's things, citizen included (never in another's page)."""
        return list(self.names.values())


@dataclass
class Matrix:
    a: Place
    b: Place
    shared: dict[str, str]
    secrets: list[str] = field(default_factory=list)


NAMES = {
    1: {"commune": "Alphaville", "insee": "26362", "site_name": "Alpha-Mediatheque", "address": "1 rue Alpha",
        "ap_name": "alpha-borne", "ap_address": "10.11.0.0/24", "username": "alphacitizen",
        "email": "alpha.citizen@example.fr", "mac": "02:00:5e:11:00:01", "calling": "02-00-5E-11-00-02",
        "framed_ip": "100.11.0.7", "title": "Alphaville sans fil", "deputy": "deputy.alpha@test.example",
        "client": "Alphaville IT desk"},
    2: {"commune": "Zedbourg", "insee": "05179", "site_name": "Zed-Gare", "address": "9 quai Zed",
        "ap_name": "zed-borne", "ap_address": "10.66.0.0/24", "username": "zedcitizen",
        "email": "zed.citizen@example.fr", "mac": "02:00:5e:66:00:01", "calling": "02-00-5E-66-00-02",
        "framed_ip": "100.66.0.7", "title": "Zedbourg libre", "deputy": "deputy.zed@test.example",
        "client": "Zedbourg IT desk"},
}  # fmt: skip


@pytest.fixture
async def matrix(browser: Browser) -> Matrix:
    portal = browser.portal
    portal.coa = FakeAccessPoint()
    ca = make_ca("Matrix records CA")
    signer = make_signer(ca, "Matrix connection records")
    portal.config = replace(portal.config, records_signer=RecordsSigner(signer.certificate, signer.key))
    places: list[Place] = []
    async with portal.transaction() as session:
        region = await portal.region(session)
        communes = []
        for n, names in NAMES.items():
            commune = await network.add_commune(
                session, region=region, name=names["commune"], insee_code=names["insee"]
            )
            site = await network.add_site(
                session, commune=commune, name=names["site_name"], address=names["address"],
                coordinates=network.Coordinates(latitude=44.9 + n, longitude=4.9 + n),
            )  # fmt: skip
            ap = await network.add_nas(
                session, box=portal.box, site=site, name=names["ap_name"], address=names["ap_address"],
                secret=f"secret-of-{names['ap_name']}",
            )  # fmt: skip
            await network.set_branding(session, commune=commune, values={"title": names["title"]})
            citizen = await create_account(
                session, hasher=portal.hasher, region=region, username=names["username"],
                email=names["email"], password=None, verified=False,
            )  # fmt: skip
            citizen.status = AccountStatus.LOCKED
            await remember_device(session, account=citizen, mac=names["mac"], label="Phone", until=None)
            credential, _ = await create_device_credential(
                session, box=portal.box, account=citizen, label="Laptop"
            )
            rows = [
                AccountingSession(
                    acctsessionid=f"{names['ap_name']}-{k}",
                    acctuniqueid=f"{names['ap_name']}-{k}".ljust(32, "0"),
                    nasipaddress=names["ap_address"].split("/")[0],
                    username=citizen.identity,
                    account_id=citizen.id,
                    site_id=site.id,
                    commune_id=commune.id,
                    nas_id=ap.id,
                    acctstarttime=NOW - timedelta(hours=1),
                    callingstationid=names["calling"],
                    framedipaddress=names["framed_ip"],
                )
                for k in (1, 2)
            ]
            session.add_all(rows)
            await session.flush()
            await authlog.record_decisions(
                session,
                [
                    authlog.Decision(
                        authdate=NOW - timedelta(minutes=m),
                        username=citizen.identity,
                        reply=reply,
                        method="pap",
                        reason=reason,
                        nas_id=ap.id,
                        site_id=site.id,
                        account_id=citizen.id,
                        callingstationid=names["calling"],
                        nasipaddress=names["ap_address"].split("/")[0],
                    )
                    for m, reply, reason in (
                        (30, "Access-Reject", "bad_password"),
                        (20, "Access-Accept", "ok"),
                    )
                ],
            )
            deputy = await admins.create_admin(
                session, hasher=portal.hasher, email=names["deputy"], role=AdminRole.COMMUNE_ADMIN,
                commune=commune, password=PASSWORD,
            )  # fmt: skip
            client, _ = await admins.create_client(
                session, box=portal.box, name=names["client"], role=AdminRole.COMMUNE_ADMIN, commune=commune
            )
            batch, _codes = await vouchers.create_batch(
                session, box=portal.box, region=region, commune=commune, created_by=names["deputy"], now=NOW,
                spec=vouchers.BatchSpec(
                    label=f"Desk {names['commune']}", count=2, valid_from=NOW,
                    valid_until=NOW + timedelta(days=1), duration=timedelta(hours=2),
                ),
            )  # fmt: skip
            communes.append(commune)
            places.append(
                Place(
                    n=n,
                    commune_id=commune.id,
                    site_id=site.id,
                    ap_id=ap.id,
                    session_id=rows[0].radacctid,
                    citizen_session_id=rows[1].radacctid,
                    account_id=citizen.id,
                    credential_id=credential.id,
                    admin_id=deputy.id,
                    client_pk=client.id,
                    batch_id=batch.id,
                    names=dict(names),
                )
            )
        for role, email in EMAILS.items():
            await admins.create_admin(
                session, hasher=portal.hasher, email=email, role=role,
                commune=communes[0] if role == AdminRole.COMMUNE_ADMIN else None, password=PASSWORD,
            )  # fmt: skip
        found = requisition.criteria(
            kind=requisition.Kind.IP, value=NAMES[2]["framed_ip"], since=NOW - timedelta(hours=3), until=NOW,
            limits=portal.config.requisition,
        )  # fmt: skip
        outcome = await requisition.search(
            session, box=portal.box, criteria=found, limits=portal.config.requisition,
            actor=EMAILS[AdminRole.AUDITOR], reach=Reach(commune_id=None), now=portal.now(),
        )  # fmt: skip
        partner = await partners.add_partner(
            session, box=portal.box, home_realm=portal.config.realm, name="liguria",
            realms=["liguria.example"],
            servers=[partners.HomeServerSpec(host="192.0.2.10", secret="liguria-secret-1")],
        )  # fmt: skip
        shared = {
            "search_id": str(outcome.search_id), "partner_id": str(partner.id),
            "server_id": str(partner.servers[0].id), "pattern": "liguria.example",
        }  # fmt: skip
    secrets = [f"secret-of-{names['ap_name']}" for names in NAMES.values()] + ["liguria-secret-1"]
    return Matrix(a=places[0], b=places[1], shared=shared, secrets=secrets)


# -- asking ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Ask:
    """One request of the matrix, and what it should get."""

    key: str
    method: str
    url: str
    form: dict[str, str] | None
    place: str  # "A", "B", or "" when the request names no commune's thing
    row: Row

    def __str__(self) -> str:
        return f"{self.method} {self.url} {self.form or ''} ({self.key}, {self.place or 'no commune'})"


def _fill(template: str, values: dict[str, str]) -> str:
    def value(found: re.Match[str]) -> str:
        name = found.group(1)
        assert name in values, f"{{{name}}} in {template!r}: seed the thing and give it in Place.values"
        return values[name]

    return re.sub(r"\{([a-z_]+)\}", value, template)


def _names_a_place(*templates: str) -> bool:
    return any("{" + key + "}" in template for template in templates for key in PLACE_KEYS)


def asks(matrix: Matrix) -> list[Ask]:
    """Every row, with A's things then B's (once when the request names no commune's thing)."""
    seen: set[tuple[str, str, str]] = set()
    out: list[Ask] = []
    for key, row in ROUTES.items():
        method, template = key.split(" ", 1)
        for query in row.queries:
            for name, place in (("A", matrix.a), ("B", matrix.b)):
                values = place.values(matrix.shared)
                if row.alias:
                    alias, other = row.alias.split("=")
                    values[alias] = values[other]
                url = _fill(template, values) + (f"?{_fill(query, values)}" if query else "")
                form = dict(parse_qsl(_fill(row.form, values))) if method == "POST" else None
                if (method, url, repr(form)) in seen:
                    continue
                seen.add((method, url, repr(form)))
                bound = _names_a_place(template, query, row.form)
                out.append(Ask(key, method, url, form, name if bound else "", row))
    return out


def expected_to_pass(role: AdminRole, ask: Ask) -> bool:
    """Whether the role gets the route's answer (else the one 404)."""
    row = ask.row
    needed = (row.scope,) if isinstance(row.scope, str) else row.scope or ()
    may = set(needed) <= RIGHTS[role]
    region_wide = role != AdminRole.COMMUNE_ADMIN
    if row.region and not region_wide:
        return False
    return may and (region_wide or ask.place != "B")


@asynccontextmanager
async def signed_in(browser: Browser, role: AdminRole) -> AsyncIterator[tuple[Browser, str]]:
    """A browser of its own signed in as the role, and its CSRF token."""
    client = Browser(
        transport=browser._transport, base_url=str(browser.base_url), headers={"Accept-Language": "en"}
    )
    async with client:
        client.portal, client.app, client.outbox = browser.portal, browser.app, browser.outbox
        assert (await sign_in(client, EMAILS[role])).status_code == 303
        page = await client.get("/console/security")
        assert page.status_code == 200
        yield client, client.csrf_token(page.text)


async def send(client: Browser, csrf: str, ask: Ask) -> httpx.Response:
    if ask.method == "GET":
        return await client.get(ask.url)
    return await client.post(ask.url, data={"csrf_token": csrf, **(ask.form or {})})


def main_of(html: str) -> str:
    found = re.search(r'<main id="main" tabindex="-1">(.*?)</main>', html, re.S)
    assert found, html[:300]
    return found.group(1)


async def snapshot(browser: Browser) -> dict[str, list[str]]:
    """Every row of every table (the audit log, sessions, secrets' ciphertexts included)."""
    async with browser.portal.transaction() as session:
        return {
            table.name: sorted(repr(tuple(row)) for row in (await session.execute(select(table))).all())
            for table in Base.metadata.sorted_tables
        }


def changed(before: dict[str, list[str]], after: dict[str, list[str]]) -> list[str]:
    return [name for name in before if before[name] != after[name]]


# -- the matrix -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("role", list(AdminRole), ids=lambda r: r.value)
async def test_every_route_as_each_role_with_each_communes_things(
    browser: Browser, matrix: Matrix, role: AdminRole
) -> None:
    """Every row of :data:`ROUTES`, with A's things and B's: first all the role may not get (the
    one 404, naming nothing of either commune, nothing changed), then all it may (the route's
    answer; A's admin's never naming B; no answer to anyone showing a shared secret)."""
    portal = browser.portal
    coa = portal.coa
    assert isinstance(coa, FakeAccessPoint)
    everything = asks(matrix)
    staff_asks = [ask for ask in everything if not ask.row.open]
    refused = [ask for ask in staff_asks if not expected_to_pass(role, ask)]
    answered = [ask for ask in staff_asks if expected_to_pass(role, ask)]
    answered.sort(key=lambda ask: (ask.row.ends, ask.row.last))  # stable: the table's order
    a_names, b_names = matrix.a.identifying(), matrix.b.identifying()

    def names_nothing(ask: Ask, response: httpx.Response, names: list[str]) -> None:
        text = response.text
        shown = [name for name in names + matrix.secrets if name in text]
        assert shown == [], (role.value, str(ask), response.status_code, shown)

    async with signed_in(browser, role) as (client, csrf):
        # the one 404: an address that does not exist, signed in, and signed out (as htmx's
        # fragment answers, without the navigation); an object that does not exist gets the same
        nowhere = await client.get(NOWHERE)
        nowhere_signed_out = await browser.get(NOWHERE)
        assert nowhere.status_code == nowhere_signed_out.status_code == 404
        assert ConsolePage(nowhere.text).h1 == ConsolePage(nowhere_signed_out.text).h1 == "Not found"
        the_404s = {main_of(nowhere.text), main_of(nowhere_signed_out.text)}
        missing = await client.get(f"/console/communes/{MISSING}")
        missing_fragment = await client.get(f"/console/dashboards/live?commune={MISSING}")
        assert missing.status_code == missing_fragment.status_code == 404
        assert (main_of(missing.text), main_of(missing_fragment.text)) == (
            main_of(nowhere.text),
            main_of(nowhere_signed_out.text),
        )

        # 1. what the role may not get: 404, naming nothing, changing nothing
        before = await snapshot(browser)
        outbox = sorted(browser.outbox.glob("*.eml")) if browser.outbox.exists() else []
        for ask in refused:
            response = await send(client, csrf, ask)
            assert response.status_code == 404, (
                role.value,
                str(ask),
                response.status_code,
                response.text[:300],
            )
            assert main_of(response.text) in the_404s, (role.value, str(ask))
            names_nothing(ask, response, a_names + b_names)
            if ask.method == "POST":
                after = await snapshot(browser)
                assert changed(before, after) == [], (role.value, str(ask), "changed the database")
        assert changed(before, await snapshot(browser)) == [], (role.value, "a GET changed the database")
        assert coa.targets == [], (role.value, "a refused request sent a Disconnect-Request")
        await portal.postman.drain()
        assert (sorted(browser.outbox.glob("*.eml")) if browser.outbox.exists() else []) == outbox

        # 2. what it may: the route's own answer (the control that the 404s above mean something)
        for ask in answered:
            response = await send(client, csrf, ask)
            location = urlsplit(response.headers.get("location", "")).path
            assert ask.row.ends or not location.startswith("/console/login"), (role.value, str(ask), location)
            assert response.status_code in ask.row.ok, (
                role.value,
                str(ask),
                response.status_code,
                response.text[:300],
            )
            if role == AdminRole.COMMUNE_ADMIN:
                names_nothing(ask, response, b_names)
            else:
                names_nothing(ask, response, [])
    assert len(refused) + len(answered) == len(staff_asks)
    # the token the refused POSTs carried is good: the role's own POSTs went through with it
    assert any(ask.method == "POST" and 400 not in ask.row.ok for ask in answered), role.value
    if role == AdminRole.COMMUNE_ADMIN:  # A's things, and never B's
        assert {ask.place for ask in answered} <= {"A", ""} and {ask.place for ask in refused} >= {"B"}
    if role == AdminRole.REGION_ADMIN:  # every route under its scope, for both communes
        assert {ask.place for ask in answered} >= {"A", "B"}


@pytest.mark.parametrize("role", list(AdminRole), ids=lambda r: r.value)
async def test_the_sign_in_flow_names_nothing_of_a_commune(
    browser: Browser, matrix: Matrix, role: AdminRole
) -> None:
    """The sign-in routes hold no commune's thing: asked as each role (each POST from a browser of
    its own: signing out ends it), they answer without a server error and name nothing."""
    open_asks = [ask for ask in asks(matrix) if ask.row.open]
    assert open_asks
    for ask in open_asks:
        async with signed_in(browser, role) as (client, csrf):
            response = await send(client, csrf, ask)
        assert response.status_code < 500, (role.value, str(ask), response.status_code)
        shown = [
            n for n in matrix.a.identifying() + matrix.b.identifying() + matrix.secrets if n in response.text
        ]
        assert shown == [], (role.value, str(ask), shown)


# -- one's own page, another's things in the form ---------------------------------------------------------


async def test_ones_own_pages_with_another_communes_things_in_the_form(
    browser: Browser, matrix: Matrix
) -> None:
    """A's pages and A's citizen, with B's site, B's access point's range, B's citizen's connection,
    device or credential in the fields: refused (400 for a form of the commune's pages, the one
    404 for a citizen's thing that is not theirs), naming nothing of B, changing nothing."""
    a, b = matrix.a, matrix.b
    coa = browser.portal.coa
    assert isinstance(coa, FakeAccessPoint)
    mixed = {
        AdminRole.COMMUNE_ADMIN: [
            (f"/console/communes/{a.commune_id}/access-points", {
                "site_id": str(b.site_id), "name": "intrus", "address": "198.18.9.1",
                "secret": "intrus-secret-1", "vendor": "other", "coa_port": "3799",
            }, 400),
            (f"/console/access-points/{a.ap_id}", {"address": "10.66.0.5", "coa_port": "3799"}, 400),
        ],
        AdminRole.SUPPORT: [
            (f"/console/citizens/{a.account_id}/sessions/{b.citizen_session_id}/disconnect", {}, 404),
            (f"/console/citizens/{a.account_id}/devices/forget", {"mac": b.names["mac"]}, 404),
            (f"/console/citizens/{a.account_id}/enrolled/forget",
             {"kind": "password", "id": str(b.credential_id)}, 404),
        ],
    }  # fmt: skip
    for role, posts in mixed.items():
        async with signed_in(browser, role) as (client, csrf):
            for path, fields, status in posts:
                before = await snapshot(browser)
                response = await client.post(path, data={"csrf_token": csrf, **fields})
                assert response.status_code == status, (
                    role.value,
                    path,
                    response.status_code,
                    response.text[:300],
                )
                shown = [name for name in b.identifying() + matrix.secrets if name in response.text]
                assert shown == [], (role.value, path, shown)
                assert changed(before, await snapshot(browser)) == [], (role.value, path)
    assert coa.targets == []


async def test_an_address_under_the_console_that_no_route_answers_is_its_one_404(browser: Browser) -> None:
    """The console's 404 for an address no route answers (as for an object out of reach); the
    rest of the app, and the console's static files, keep FastAPI's own answer."""
    for path in (NOWHERE, "/console/communes/1/nothing", "/console/communes/"):
        response = await browser.get(path)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert ConsolePage(response.text).h1 == "Not found", path
        assert "default-src" in response.headers["content-security-policy"]
    for path in ("/no-such-page", "/api/v1/no-such-thing", "/console/static/no-such-file.css", "/consoles"):
        response = await browser.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"detail": "Not Found"}, path


async def test_what_a_commune_admin_sees_does_not_depend_on_another_commune(
    browser: Browser, matrix: Matrix
) -> None:
    """Each page, fragment and CSV A's admin may open reads the same, byte for byte, after B gains
    a site on the map, an access point, open sessions, accepted and refused attempts, and a new
    name: nothing of B reaches A's pages, not even as a count."""
    pages = [
        ask
        for ask in asks(matrix)
        if ask.method == "GET" and not ask.row.open and expected_to_pass(AdminRole.COMMUNE_ADMIN, ask)
    ]
    assert len(pages) > 20 and {ask.place for ask in pages} == {"A", ""}
    async with signed_in(browser, AdminRole.COMMUNE_ADMIN) as (client, csrf):
        seen = {ask.url: (await send(client, csrf, ask)).text for ask in pages}
        portal = browser.portal
        async with portal.transaction() as session:
            b = await session.get_one(Commune, matrix.b.commune_id)
            b.name = "Zedbourg-les-Bains"
            site = await network.add_site(
                session,
                commune=b,
                name="Zed-Plage",
                coordinates=network.Coordinates(latitude=43.1, longitude=6.2),
            )
            ap = await network.add_nas(
                session,
                box=portal.box,
                site=site,
                name="zed-plage",
                address="10.67.0.0/24",
                secret="zed-plage-123",
            )
            session.add_all(
                AccountingSession(
                    acctsessionid=f"zed-plage-{k}",
                    acctuniqueid=f"zed-plage-{k}".ljust(32, "0"),
                    nasipaddress="10.67.0.1",
                    username=f"zed{k}",
                    site_id=site.id,
                    commune_id=b.id,
                    nas_id=ap.id,
                    acctstarttime=NOW - timedelta(minutes=10 + k),
                    acctinputoctets=10**6,
                    acctoutputoctets=10**7,
                )
                for k in range(3)
            )
            await authlog.record_decisions(
                session,
                [
                    authlog.Decision(
                        authdate=NOW - timedelta(minutes=k),
                        username=f"zed{k}",
                        reply=reply,
                        method="pap",
                        reason=reason,
                        nas_id=ap.id,
                        site_id=site.id,
                    )
                    for k, (reply, reason) in enumerate(
                        [("Access-Accept", "ok"), ("Access-Reject", "bad_password")] * 3
                    )
                ],
            )
        for ask in pages:
            again = await send(client, csrf, ask)
            assert again.text == seen[ask.url], (str(ask), "changed with B's things")
