"""The admin API: OAuth 2 tokens, roles and the isolation of communes, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import time
from collections.abc import Sequence
from datetime import timedelta

import pytest
from joserfc import jwt
from joserfc.jwk import OctKey
from sqlalchemy import select

from accounts import admins, network, vouchers
from accounts.disconnect import CoaKind, CoaOutcome, CoaResult, CoaTarget
from accounts.models import AccountingSession, AccountStatus, AdminRole, AuditEntry, AuthRecord, Commune, Nas
from accounts.users import create_account
from portal.api.auth import token_keys
from tests.portal.conftest import NOW, PASSWORD, Browser, World, bearer, token


async def test_password_and_client_credentials_grants(browser: Browser, world: World) -> None:
    response = await browser.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": "valence@test.example", "password": PASSWORD},
    )
    body = response.json()
    assert body["token_type"] == "Bearer" and body["expires_in"] == 900
    assert "network:write" in body["scope"] and "accounts:read" not in body["scope"]
    wrong = await browser.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": "valence@test.example", "password": "nope"},
    )
    unknown = await browser.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": "who@test.example", "password": "nope"},
    )
    assert wrong.status_code == unknown.status_code == 400 and wrong.json()["error"] == "invalid_grant"
    assert (await browser.post("/api/v1/auth/token", data={"grant_type": "implicit"})).json()["error"] == (
        "unsupported_grant_type"
    )
    basic = base64.b64encode(f"{world.client_id}:{world.client_secret}".encode()).decode()
    by_basic = await browser.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic {basic}"},
    )
    assert by_basic.status_code == 200
    by_form = await browser.post(
        "/api/v1/auth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": world.client_id,
            "client_secret": world.client_secret,
        },
    )
    assert by_form.status_code == 200
    sites = await browser.get("/api/v1/sites", headers=bearer(by_form.json()["access_token"]))
    assert [s["id"] for s in sites.json()["items"]] == [world.site_a]  # a commune client sees its commune
    bad = await browser.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": world.client_id, "client_secret": "x" * 43},
    )
    assert bad.status_code == 401 and bad.json()["error"] == "invalid_client"


async def test_admin_log_in_is_rate_limited(browser: Browser, world: World) -> None:
    statuses = [
        (await browser.post(
            "/api/v1/auth/token",
            data={"grant_type": "password", "username": "region@test.example", "password": "wrong"},
        )).status_code
        for _ in range(7)
    ]  # fmt: skip
    assert statuses == [400] * 5 + [429] * 2


async def test_tokens_are_refused_when_missing_tampered_expired_foreign_or_revoked(
    browser: Browser, world: World
) -> None:
    assert (await browser.get("/api/v1/sites")).status_code == 401
    good = await token(browser, "region@test.example")
    assert (await browser.get("/api/v1/sites", headers=bearer(good))).status_code == 200
    head, payload, signature = good.split(".")
    tampered = f"{head}.{payload}.{signature[:-2]}{'AA' if signature[-2:] != 'AA' else 'BB'}"
    keys = token_keys(browser.portal)
    expired = keys.issue(
        subject="admin:1", role=AdminRole.REGION_ADMIN, commune_id=None, version=0, now=time.time() - 3600
    )
    claims = keys.read(good, now=time.time())
    assert claims is not None
    foreign_key = OctKey.import_key(browser.portal.box.digest(b"admin-jwt", purpose="admin-jwt").encode())
    wrong_audience = jwt.encode({"alg": "HS256"}, claims | {"aud": "another-api"}, foreign_key)
    unsigned = (
        jwt.encode({"alg": "none"}, claims, None, algorithms=["none"])
        if False
        else head + "." + payload + "."
    )
    for bad in (tampered, expired, wrong_audience, unsigned, "not-a-jwt"):
        response = await browser.get("/api/v1/sites", headers=bearer(bad))
        assert response.status_code == 401, bad
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert (await browser.post("/api/v1/auth/revoke", data={"token": good})).status_code == 200
    assert (await browser.get("/api/v1/sites", headers=bearer(good))).status_code == 401
    other = await token(browser, "region@test.example")
    async with browser.portal.transaction() as session:
        await admins.revoke_all(session, admin=await admins.find_admin(session, "region@test.example"))
    assert (await browser.get("/api/v1/sites", headers=bearer(other))).status_code == 401


# -- isolation: a systematic matrix over every endpoint and method -------------------------------


def requests_on(world: World) -> list[tuple[str, str, dict[str, object] | None]]:
    """(method, path, json) for everything of commune B, and writes into it."""
    return [
        ("GET", f"/api/v1/communes/{world.commune_b}", None),
        ("GET", f"/api/v1/sites/{world.site_b}", None),
        ("PATCH", f"/api/v1/sites/{world.site_b}", {"address": "changed"}),
        ("DELETE", f"/api/v1/sites/{world.site_b}", None),
        ("POST", "/api/v1/sites", {"commune_id": world.commune_b, "name": "Intrus"}),
        ("GET", f"/api/v1/access-points/{world.ap_b}", None),
        ("PATCH", f"/api/v1/access-points/{world.ap_b}", {"secret": "stolen-secret-123"}),
        ("DELETE", f"/api/v1/access-points/{world.ap_b}", None),
        (
            "POST",
            "/api/v1/access-points",
            {"site_id": world.site_b, "name": "rogue", "address": "10.9.0.1", "secret": "rogue-secret-1"},
        ),
    ]


async def test_a_commune_admin_gets_nothing_of_another_commune(browser: Browser, world: World) -> None:
    valence = bearer(await token(browser, "valence@test.example"))
    for method, path, body in requests_on(world):
        response = await browser.request(method, path, json=body, headers=valence)
        assert response.status_code == 404, (method, path, response.text)
    for path, key in (
        ("/api/v1/communes", world.commune_b),
        ("/api/v1/sites", world.site_b),
        ("/api/v1/access-points", world.ap_b),
    ):
        listed = (await browser.get(path, headers=valence)).json()
        assert key not in [item["id"] for item in listed["items"]] and listed["total"] == 1, path
    filtered = await browser.get(f"/api/v1/sites?commune_id={world.commune_b}", headers=valence)
    assert filtered.json()["items"] == []
    created = await browser.post(
        "/api/v1/communes", json={"name": "Lyon", "insee_code": "69123"}, headers=valence
    )
    assert created.status_code == 403
    # nothing of B changed
    async with browser.portal.transaction() as session:
        ap_b = await session.get(Nas, world.ap_b)
        assert ap_b is not None and network.nas_secret(browser.portal.box, ap_b) == b"secret-b-123"
    # their own commune works
    mine = await browser.patch(
        f"/api/v1/sites/{world.site_a}", json={"address": "Place Charles-Huguenel"}, headers=valence
    )
    assert mine.status_code == 200 and mine.json()["address"] == "Place Charles-Huguenel"


@pytest.mark.parametrize("email", ["support@test.example", "auditor@test.example"])
async def test_support_and_auditor_cannot_change_the_network(
    browser: Browser, world: World, email: str
) -> None:
    who = bearer(await token(browser, email))
    assert (await browser.get(f"/api/v1/access-points/{world.ap_b}", headers=who)).status_code == 200
    for method, path, body in requests_on(world):
        if method != "GET":
            response = await browser.request(method, path, json=body, headers=who)
            assert response.status_code == 403, (method, path)
            assert 'error="insufficient_scope"' in response.headers["www-authenticate"]


async def test_the_shared_secret_is_write_only_and_audited_masked(browser: Browser, world: World) -> None:
    region = bearer(await token(browser, "region@test.example"))
    created = await browser.post(
        "/api/v1/access-points",
        json={
            "site_id": world.site_a,
            "name": "ap-new",
            "address": "2001:db8::/64",
            "secret": "brand-new-secret-1",
        },
        headers=region,
    )
    assert created.status_code == 201 and "brand-new-secret-1" not in created.text
    ap = created.json()["id"]
    rotated = await browser.patch(
        f"/api/v1/access-points/{ap}", json={"secret": "rotated-secret-99"}, headers=region
    )
    assert rotated.status_code == 200 and "rotated-secret-99" not in rotated.text
    assert "secret" not in (await browser.get(f"/api/v1/access-points/{ap}", headers=region)).json()
    async with browser.portal.transaction() as session:
        nas = await session.get(Nas, ap)
        assert nas is not None and network.nas_secret(browser.portal.box, nas) == b"rotated-secret-99"
        entries = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
    actions = [(e.actor, e.action) for e in entries]
    assert ("region@test.example", "access_point.create") in actions
    assert ("region@test.example", "access_point.update") in actions
    assert not any("rotated-secret-99" in (e.after or "") or "brand-new" in (e.after or "") for e in entries)


async def test_validation_conflicts_and_pages(browser: Browser, world: World) -> None:
    region = bearer(await token(browser, "region@test.example"))
    bad = await browser.post("/api/v1/communes", json={"name": "X", "insee_code": "ABCDE"}, headers=region)
    assert bad.status_code == 422 and "INSEE" in bad.json()["detail"]
    extra = await browser.post(
        "/api/v1/sites", json={"commune_id": world.commune_a, "name": "Y", "colour": "red"}, headers=region
    )
    assert extra.status_code == 422 and extra.json()["detail"][0]["loc"] == ["body", "colour"]
    dup = await browser.post(
        "/api/v1/sites", json={"commune_id": world.commune_a, "name": "Médiathèque"}, headers=region
    )
    assert dup.status_code == 409
    busy = await browser.delete(f"/api/v1/sites/{world.site_a}", headers=region)
    assert busy.status_code == 409  # it still has an access point
    assert (await browser.get("/api/v1/sites?limit=101", headers=region)).status_code == 422
    page = (await browser.get("/api/v1/sites?limit=1&offset=1", headers=region)).json()
    assert page["total"] == 2 and len(page["items"]) == 1 and page["limit"] == 1 and page["offset"] == 1


# -- accounts, sessions, audit -----------------------------------------------------------------------


class FakeAccessPoint:
    """Answers Disconnect-Requests with an ACK (the real NAS exchange is tested in tests/interop)."""

    def __init__(self) -> None:
        self.targets: list[CoaTarget] = []

    async def __call__(
        self, target: CoaTarget, *, kind: CoaKind, extra: Sequence[tuple[str, str | int]] = ()
    ) -> CoaResult:
        self.targets.append(target)
        return CoaResult(outcome=CoaOutcome.ACK, detail="ACK")


async def add_session(
    browser: Browser, world: World, key: str, *, commune: str, account_id: int | None
) -> int:
    site, commune_id, ap = (
        (world.site_a, world.commune_a, world.ap_a)
        if commune == "a"
        else (world.site_b, world.commune_b, world.ap_b)
    )
    async with browser.portal.transaction() as session:
        row = AccountingSession(
            acctsessionid=key, acctuniqueid=key.ljust(32, "0"), nasipaddress="10.1.0.1", username="citizen",
            account_id=account_id, site_id=site, commune_id=commune_id, nas_id=ap, acctstarttime=NOW,
            callingstationid="AA-BB-CC-00-11-22",
        )  # fmt: skip
        session.add(row)
        await session.flush()
        return row.radacctid


async def test_accounts_for_support_but_not_for_a_commune_admin(browser: Browser, world: World) -> None:
    async with browser.portal.transaction() as session:
        citizen = await create_account(
            session, hasher=browser.portal.hasher, region=await browser.portal.region(session),
            username="citizen", email="citizen@example.fr", password=None, verified=False,
        )  # fmt: skip
        citizen.status = AccountStatus.LOCKED
        citizen_id = citizen.id
    support = bearer(await token(browser, "support@test.example"))
    found = (await browser.get("/api/v1/accounts?q=CITI", headers=support)).json()
    assert [a["identity"] for a in found["items"]] == ["citizen@wifi.test.example"]
    assert "password" not in str(found)
    unlocked = await browser.post(f"/api/v1/accounts/{citizen_id}/unlock", headers=support)
    assert unlocked.status_code == 200 and unlocked.json()["status"] == "active"
    assert (await browser.post(f"/api/v1/accounts/{citizen_id}/unlock", headers=support)).status_code == 409
    resent = await browser.post(f"/api/v1/accounts/{citizen_id}/resend-verification", headers=support)
    assert resent.status_code == 202 and (await browser.mails())[-1]["To"] == "citizen@example.fr"
    # support neither disables nor deletes (deletion pseudonymises for good): region admins do
    for method, action in (("POST", "/disable"), ("POST", "/enable"), ("DELETE", "")):
        refused = await browser.request(method, f"/api/v1/accounts/{citizen_id}{action}", headers=support)
        assert refused.status_code == 403, (method, action)
    valence = bearer(await token(browser, "valence@test.example"))
    assert (await browser.get("/api/v1/accounts", headers=valence)).status_code == 403
    auditor = bearer(await token(browser, "auditor@test.example"))
    assert (await browser.get(f"/api/v1/accounts/{citizen_id}", headers=auditor)).status_code == 200
    assert (await browser.post(f"/api/v1/accounts/{citizen_id}/disable", headers=auditor)).status_code == 403
    # every change is in the audit log, which the auditor reads and support cannot
    log = (await browser.get("/api/v1/audit?actor=support@test.example", headers=auditor)).json()
    assert [e["action"] for e in log["items"]] == ["account.resend_verification", "account.unlock"]
    assert log["items"][1]["before"] == {"status": "locked"} and log["items"][1]["after"] == {
        "status": "active"
    }
    assert (await browser.get("/api/v1/audit", headers=support)).status_code == 403
    region = bearer(await token(browser, "region@test.example"))
    deleted = await browser.delete(f"/api/v1/accounts/{citizen_id}", headers=region)
    assert deleted.status_code == 204
    assert (await browser.get(f"/api/v1/accounts/{citizen_id}", headers=support)).status_code == 404


async def test_sessions_are_scoped_and_disconnected_through_the_access_point(
    browser: Browser, world: World
) -> None:
    mine = await add_session(browser, world, "sess-a", commune="a", account_id=None)
    theirs = await add_session(browser, world, "sess-b", commune="b", account_id=None)
    valence = bearer(await token(browser, "valence@test.example"))
    listed = (await browser.get("/api/v1/sessions?open=true", headers=valence)).json()
    assert [s["id"] for s in listed["items"]] == [mine] and listed["total"] == 1
    assert (await browser.get(f"/api/v1/sessions?commune_id={world.commune_b}", headers=valence)).json()[
        "items"
    ] == []
    assert (await browser.get(f"/api/v1/sessions/{theirs}", headers=valence)).status_code == 404
    assert (await browser.post(f"/api/v1/sessions/{theirs}/disconnect", headers=valence)).status_code == 404
    assert (
        await browser.post(f"/api/v1/sessions/{mine}/disconnect", headers=valence)
    ).status_code == 503  # no CoA
    access_point = FakeAccessPoint()
    browser.portal.coa = access_point
    done = await browser.post(f"/api/v1/sessions/{mine}/disconnect", headers=valence)
    assert done.status_code == 200 and done.json()["outcome"] == "ack"
    assert [t.address for t in access_point.targets] == ["10.1.0.1"]
    region = bearer(await token(browser, "region@test.example"))
    both = (await browser.get("/api/v1/sessions", headers=region)).json()
    assert {s["id"] for s in both["items"]} == {mine, theirs}
    assert next(s for s in both["items"] if s["id"] == mine)["disconnect_requested_at"] is not None


async def test_policies_per_commune_and_site_within_reach(browser: Browser, world: World) -> None:
    valence = bearer(await token(browser, "valence@test.example"))
    set_ = await browser.patch(
        f"/api/v1/policies/communes/{world.commune_a}",
        json={"session_timeout": 7200, "daily_time_limit": 3600},
        headers=valence,
    )
    assert set_.status_code == 200 and set_.json()["session_timeout"] == 7200
    site = await browser.patch(
        f"/api/v1/policies/sites/{world.site_a}", json={"bandwidth_down_kbps": 8000}, headers=valence
    )
    assert site.json()["bandwidth_down_kbps"] == 8000 and site.json()["session_timeout"] is None
    cleared = await browser.patch(
        f"/api/v1/policies/communes/{world.commune_a}", json={"daily_time_limit": None}, headers=valence
    )
    assert cleared.json() == set_.json() | {"daily_time_limit": None}
    assert (
        await browser.patch(
            f"/api/v1/policies/communes/{world.commune_b}", json={"session_timeout": 1}, headers=valence
        )
    ).status_code == 404
    assert (await browser.get(f"/api/v1/policies/sites/{world.site_b}", headers=valence)).status_code == 404
    bad = await browser.patch(
        f"/api/v1/policies/communes/{world.commune_a}", json={"session_timeout": -1}, headers=valence
    )
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["body", "session_timeout"]
    auditor = bearer(await token(browser, "auditor@test.example"))
    log = (await browser.get("/api/v1/audit?action=policy.update", headers=auditor)).json()
    assert log["total"] == 3 and log["items"][-1]["after"]["session_timeout"] == 7200


async def test_daily_statistics_per_commune(browser: Browser, world: World) -> None:
    async with browser.portal.transaction() as session:
        for key, site, commune, start, octets, account in (
            ("s1", world.site_a, world.commune_a, NOW, 1000, 1),
            ("s2", world.site_a, world.commune_a, NOW + timedelta(hours=1), 500, 1),
            ("s3", world.site_a, world.commune_a, NOW - timedelta(days=1), 7, 2),
            ("s4", world.site_b, world.commune_b, NOW, 99, 3),
        ):
            session.add(
                AccountingSession(
                    acctsessionid=key, acctuniqueid=key.ljust(32, "0"), nasipaddress="10.1.0.1",
                    site_id=site, commune_id=commune, acctstarttime=start, acctinputoctets=octets,
                    acctoutputoctets=2 * octets, username=f"u{account}",
                )
            )  # fmt: skip
        for reply, site in (
            ("Access-Reject", world.site_a),
            ("Access-Accept", world.site_a),
            ("Access-Reject", world.site_b),
        ):
            session.add(
                AuthRecord(username="u", reply=reply, authdate=NOW, site_id=site, method="pap", reason="x")
            )
    valence = bearer(await token(browser, "valence@test.example"))
    day = NOW.date()
    response = await browser.get(
        f"/api/v1/stats/daily?since={day - timedelta(days=1)}&until={day}", headers=valence
    )
    assert response.status_code == 200
    assert response.json() == [
        {
            "day": str(day - timedelta(days=1)),
            "sessions": 1,
            "accounts": 0,
            "octets_in": 7,
            "octets_out": 14,
            "refused": 0,
        },
        {"day": str(day), "sessions": 2, "accounts": 0, "octets_in": 1500, "octets_out": 3000, "refused": 1},
    ]
    other = await browser.get(
        f"/api/v1/stats/daily?since={day}&until={day}&commune_id={world.commune_b}", headers=valence
    )
    assert other.status_code == 404
    region = bearer(await token(browser, "region@test.example"))
    everything = (await browser.get(f"/api/v1/stats/daily?since={day}&until={day}", headers=region)).json()
    assert everything[0]["sessions"] == 3 and everything[0]["refused"] == 2
    assert (
        await browser.get(f"/api/v1/stats/daily?since={day}&until={day - timedelta(days=1)}", headers=region)
    ).status_code == 422


# -- every route, systematically ---------------------------------------------------------------------


async def test_every_route_keeps_commune_b_from_a_commune_a_admin(browser: Browser, world: World) -> None:
    """For every admin route and method (read from the app, so a new route is covered or this test
    fails), a commune admin of A, aiming at B's things, gets nothing of B and changes nothing of B."""
    session_b = await add_session(browser, world, "sess-b", commune="b", account_id=None)
    async with browser.portal.transaction() as session:  # a voucher batch of commune B
        batch_b, _codes = await vouchers.create_batch(
            session, box=browser.portal.box, region=await browser.portal.region(session),
            commune=await session.get_one(Commune, world.commune_b), created_by="region@test.example",
            now=NOW, spec=vouchers.BatchSpec(
                label="Gare", count=1, valid_from=NOW, valid_until=NOW + timedelta(days=1),
                duration=timedelta(hours=1),
            ),
        )  # fmt: skip
    ids = {
        "commune_id": world.commune_b,
        "site_id": world.site_b,
        "ap_id": world.ap_b,
        "session_id": session_b,
        "account_id": 1,  # accounts are regional: a commune admin has no accounts scope at all
        "kind": "certificate",  # nor their enrolled devices (credentials, certificates)
        "device_id": 1,
        "admin_id": 1,  # admins and clients are the region's: no scope for a commune admin
        "client_pk": 1,
        "partner_id": 1,  # partners are the region's: no scope for a commune admin
        "pattern": "liguria.example",
        "server_id": 1,
        "search_id": 1,  # judicial requisitions are the auditor's alone: no scope for a commune admin
        "dataset": "sites",
        "form": "json",
        "batch_id": batch_b.id,
    }
    bodies: dict[str, dict[str, object]] = {
        "/api/v1/communes": {"name": "Lyon", "insee_code": "69123"},
        "/api/v1/sites": {"commune_id": world.commune_b, "name": "Intrus"},
        "/api/v1/access-points": {
            "site_id": world.site_b,
            "name": "rogue",
            "address": "10.9.0.1",
            "secret": "rogue-secret-1",
        },
        "/api/v1/sites/{site_id}": {"address": "changed"},
        "/api/v1/access-points/{ap_id}": {"secret": "stolen-secret-123"},
        "/api/v1/policies/communes/{commune_id}": {"session_timeout": 1},
        "/api/v1/policies/sites/{site_id}": {"session_timeout": 1},
        "/api/v1/onboarding/region": {"ssids": ["Intrus"]},
        "/api/v1/onboarding/communes/{commune_id}": {"ssids": ["Intrus"]},
        "/api/v1/admins": {
            "email": "mole@test.example", "role": "commune_admin", "commune_id": world.commune_b,
            "password": "a long passphrase 2026",
        },
        "/api/v1/admins/{admin_id}": {"active": False},
        "/api/v1/clients": {"name": "mole", "role": "commune_admin", "commune_id": world.commune_b},
        "/api/v1/sites/{site_id}/handoff": {"handoff": "none"},
        "/api/v1/communes/{commune_id}/sponsorship": {
            "enabled": True, "sponsors": [{"name": "Mole", "email": "mole@test.example"}],
        },
        "/api/v1/partners": {
            "name": "rogue", "realms": ["rogue.example"],
            "servers": [{"host": "192.0.2.66", "secret": "rogue-secret-1"}],
        },
        "/api/v1/partners/{partner_id}": {"transit": True},
        "/api/v1/partners/{partner_id}/realms": {"pattern": "*"},
        "/api/v1/partners/{partner_id}/servers": {"host": "192.0.2.66", "secret": "rogue-secret-1"},
        "/api/v1/partners/{partner_id}/servers/{server_id}": {"require_message_authenticator": False},
        "/api/v1/vouchers": {
            "label": "Intrus", "count": 1, "valid_from": NOW.isoformat(),
            "valid_until": (NOW + timedelta(days=1)).isoformat(), "duration_minutes": 60,
            "commune_id": world.commune_b, "site_ids": [world.site_b],
        },
        "/api/v1/requisitions": {
            "kind": "ip", "value": "10.2.0.5",
            "since": "2026-11-21T00:00:00Z", "until": "2026-11-22T00:00:00Z",
        },
    }  # fmt: skip
    period_of_b: dict[str, str | int] = {
        "since": str(NOW.date()),
        "until": str(NOW.date()),
        "commune_id": world.commune_b,
    }
    queries: dict[str, dict[str, str | int]] = dict.fromkeys(
        (
            "/api/v1/stats/daily", "/api/v1/stats/history", "/api/v1/stats/history.csv",
            "/api/v1/stats/refusals", "/api/v1/stats/refusals.csv", "/api/v1/opendata/{dataset}.{form}",
        ),
        period_of_b,
    ) | {
        "/api/v1/stats/live/sessions": {"commune_id": world.commune_b},
        "/api/v1/stats/live/authentications": {"site_id": world.site_b},
    }  # fmt: skip
    valence = bearer(await token(browser, "valence@test.example"))
    paths = browser.app.openapi()["paths"]
    routes = [
        (route_path, method.upper())
        for route_path, operations in paths.items()
        if route_path.startswith("/api/v1/") and "/auth/" not in route_path
        for method in operations
    ]
    assert len(routes) >= 25
    checked = 0
    for route_path, method in routes:
        path = route_path
        for name, value in ids.items():
            path = path.replace("{" + name + "}", str(value))
        assert "{" not in path, f"no id of commune B for {route_path}: add it to this test"
        variants = [dict(queries.get(route_path, {}))]
        if method == "GET" and route_path in (
            "/api/v1/sites",
            "/api/v1/sessions",
            "/api/v1/access-points",
        ):
            variants.append({"commune_id": world.commune_b, "site_id": world.site_b})
        for params in variants:
            response = await browser.request(
                method, path, headers=valence, json=bodies.get(route_path), params=params
            )
            where = (method, route_path, params, response.status_code, response.text[:200])
            if response.status_code < 300:
                assert method == "GET", where
                text = response.text
                for leak in ("Nice", "Gare", "ap-b", "10.2.0.0/24", f'"commune_id":{world.commune_b},'):
                    assert leak not in text, (leak, where)
                if "/sessions" in route_path:
                    assert f'"id":{session_b},' not in text, where
            else:
                assert response.status_code in (403, 404), where
        checked += 1
    assert checked >= 25
    async with browser.portal.transaction() as session:
        ap_b = await session.get(Nas, world.ap_b)
        assert ap_b is not None and network.nas_secret(browser.portal.box, ap_b) == b"secret-b-123"
        assert (await session.scalars(select(AuditEntry))).all() == []  # nothing was changed


async def test_region_admins_manage_admins_and_clients(browser: Browser, world: World) -> None:
    region = bearer(await token(browser, "region@test.example"))
    created = await browser.post(
        "/api/v1/admins",
        json={"email": "Nice@Test.example", "role": "commune_admin", "commune_id": world.commune_b,
              "password": "a long passphrase 2026"},
        headers=region,
    )  # fmt: skip
    assert created.status_code == 201 and created.json()["email"] == "nice@test.example"
    nice_id = created.json()["id"]
    nice_token = await token(browser, "nice@test.example", "a long passphrase 2026")
    assert (await browser.get(f"/api/v1/sites/{world.site_b}", headers=bearer(nice_token))).status_code == 200
    moved = await browser.patch(
        f"/api/v1/admins/{nice_id}", json={"commune_id": world.commune_a}, headers=region
    )
    assert moved.status_code == 200 and moved.json()["commune_id"] == world.commune_a
    assert (
        await browser.get("/api/v1/sites", headers=bearer(nice_token))
    ).status_code == 401  # old token gone
    demoted = await browser.patch(f"/api/v1/admins/{nice_id}", json={"role": "auditor"}, headers=region)
    assert demoted.json()["commune_id"] is None and demoted.json()["role"] == "auditor"
    bad = await browser.patch(f"/api/v1/admins/{nice_id}", json={"role": "commune_admin"}, headers=region)
    assert bad.status_code == 422
    auditor = bearer(await token(browser, "auditor@test.example"))
    listed = (await browser.get("/api/v1/admins", headers=auditor)).json()
    assert "nice@test.example" in [a["email"] for a in listed["items"]] and "password" not in str(listed)
    assert (
        await browser.post("/api/v1/clients", json={"name": "x", "role": "auditor"}, headers=auditor)
    ).status_code == 403
    client = await browser.post(
        "/api/v1/clients", json={"name": "Monitoring", "role": "auditor"}, headers=region
    )
    assert client.status_code == 201
    secret, client_id = client.json()["client_secret"], client.json()["client_id"]
    assert secret not in (await browser.get("/api/v1/clients", headers=region)).text
    machine = await browser.post(
        "/api/v1/auth/token",
        data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
    )
    machine_token = bearer(machine.json()["access_token"])
    assert (await browser.get("/api/v1/audit", headers=machine_token)).status_code == 200
    disabled = await browser.post(f"/api/v1/clients/{client.json()['id']}/disable", headers=region)
    assert disabled.status_code == 200 and disabled.json()["active"] is False
    assert (await browser.get("/api/v1/audit", headers=machine_token)).status_code == 401
    valence = bearer(await token(browser, "valence@test.example"))
    assert (await browser.get("/api/v1/admins", headers=valence)).status_code == 403
