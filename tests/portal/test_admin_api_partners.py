"""The admin API's partners (``/api/v1/partners``), on SQLite and PostgreSQL: region admins change
them, auditors read them, nobody else sees them; secrets are write-only; every change is audited."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import httpx
import pytest
from sqlalchemy import select

from accounts import admins, network, partners
from accounts.models import AdminRole, AuditEntry, HomeServer
from tests.conftest import TEST_REALM
from tests.portal.conftest import Browser

PASSWORD = "admin passphrase 2026"
SECRET = "liguria-shared-secret"
LIGURIA = {
    "name": "liguria",
    "display_name": "Regione Liguria",
    "realms": ["Liguria.Example", "*.liguria.example"],
    "servers": [
        {"host": "192.0.2.10", "secret": SECRET},
        {"host": "proxy.liguria.example", "transport": "radsec", "priority": 5},
    ],
    "transit": True,
}


@pytest.fixture
async def staff(browser: Browser) -> None:
    portal = browser.portal
    async with portal.transaction() as session:
        valence = await network.add_commune(
            session, region=await portal.region(session), name="Valence", insee_code="26362"
        )
        for email, role, commune in (
            ("region@test.example", AdminRole.REGION_ADMIN, None),
            ("valence@test.example", AdminRole.COMMUNE_ADMIN, valence),
            ("support@test.example", AdminRole.SUPPORT, None),
            ("auditor@test.example", AdminRole.AUDITOR, None),
        ):
            await admins.create_admin(
                session, hasher=portal.hasher, email=email, role=role, commune=commune, password=PASSWORD
            )


async def bearer(http: httpx.AsyncClient, email: str) -> dict[str, str]:
    response = await http.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": email, "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def _entries(browser: Browser) -> list[AuditEntry]:
    async with browser.portal.transaction() as session:
        return list((await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all())


async def test_a_region_admin_manages_partners_and_every_change_is_audited(
    browser: Browser, staff: None
) -> None:
    region = await bearer(browser, "region@test.example")
    created = await browser.post("/api/v1/partners", json=LIGURIA, headers=region)
    assert created.status_code == 201, created.text
    body = created.json()
    assert SECRET not in created.text and "secret" not in created.text
    assert body["realms"] == ["*.liguria.example", "liguria.example"]
    assert [(s["transport"], s["host"], s["port"], s["priority"], s["state"]) for s in body["servers"]] == [
        ("udp", "192.0.2.10", 1812, 0, "unknown"),
        ("radsec", "proxy.liguria.example", 2083, 5, "unknown"),
    ]
    assert (body["accept_requests"], body["transit"], body["forward_accounting"]) == (True, True, False)
    pid = body["id"]

    patched = await browser.patch(
        f"/api/v1/partners/{pid}", json={"transit": False, "display_name": ""}, headers=region
    )
    assert patched.status_code == 200 and patched.json()["transit"] is False
    assert patched.json()["display_name"] is None and patched.json()["accept_requests"] is True

    realm = await browser.post(
        f"/api/v1/partners/{pid}/realms", json={"pattern": "Genova.example"}, headers=region
    )
    assert realm.status_code == 201 and "genova.example" in realm.json()["realms"]
    gone = await browser.delete(f"/api/v1/partners/{pid}/realms/{quote('*.Liguria.example')}", headers=region)
    assert gone.status_code == 204

    server = await browser.post(
        f"/api/v1/partners/{pid}/servers",
        json={"host": "[2001:db8::10]", "port": 11812, "secret": "second-secret-2", "priority": 1},
        headers=region,
    )
    assert server.status_code == 201 and server.json()["host"] == "2001:db8::10"
    assert "second-secret-2" not in server.text
    udp_id = body["servers"][0]["id"]
    assert (
        await browser.delete(f"/api/v1/partners/{pid}/servers/{udp_id}", headers=region)
    ).status_code == 204

    shown = (await browser.get(f"/api/v1/partners/{pid}", headers=region)).json()
    assert shown["realms"] == ["genova.example", "liguria.example"]
    assert [(s["host"], s["priority"]) for s in shown["servers"]] == [
        ("2001:db8::10", 1),
        ("proxy.liguria.example", 5),
    ]
    async with browser.portal.transaction() as session:
        stored = await session.get(HomeServer, server.json()["id"])
        assert stored is not None
        assert partners.home_server_secret(browser.portal.box, stored) == b"second-secret-2"

    assert (await browser.delete(f"/api/v1/partners/{pid}", headers=region)).status_code == 204
    assert (await browser.get(f"/api/v1/partners/{pid}", headers=region)).status_code == 404

    entries = await _entries(browser)
    assert [(e.actor, e.action, e.target) for e in entries] == [
        ("region@test.example", action, f"partner:{pid}")
        for action in (
            "partner.create", "partner.update", "partner.realm.add", "partner.realm.remove",
            "partner.server.add", "partner.server.remove", "partner.delete",
        )
    ]  # fmt: skip
    logged = " ".join((e.before or "") + (e.after or "") for e in entries)
    assert SECRET not in logged and "second-secret-2" not in logged
    assert '"transit": true' in (entries[1].before or "") and '"transit": false' in (entries[1].after or "")
    assert '"pattern": "*.liguria.example"' in (entries[3].before or "")


async def test_refusals_map_to_4xx(browser: Browser, staff: None) -> None:
    region = await bearer(browser, "region@test.example")
    pid = (await browser.post("/api/v1/partners", json=LIGURIA, headers=region)).json()["id"]

    async def create(**changes: object) -> httpx.Response:
        return await browser.post("/api/v1/partners", json=LIGURIA | changes, headers=region)

    ours = await create(name="paca", realms=[TEST_REALM.upper()])
    assert ours.status_code == 422 and "our own realm" in ours.json()["detail"]
    assert (await create(name="paca", realms=["paca"])).status_code == 422
    taken = await create(name="paca", realms=["LIGURIA.example"])
    assert taken.status_code == 409 and "already routed to partner liguria" in taken.json()["detail"]
    assert (await create(realms=["other.example"])).status_code == 409  # the name
    short = await create(name="paca", realms=[], servers=[{"host": "192.0.2.1", "secret": "short"}])
    assert short.status_code == 422 and "8 to 128 bytes" in short.json()["detail"]
    no_secret = await create(name="paca", realms=[], servers=[{"host": "192.0.2.1"}])
    assert no_secret.status_code == 422 and "needs a shared secret" in no_secret.json()["detail"]
    none = await create(name="paca", servers=[])
    assert none.status_code == 422 and none.json()["detail"][0]["loc"] == ["body", "servers"]
    extra = await create(name="paca", colour="red")
    assert extra.status_code == 422 and extra.json()["detail"][0]["loc"] == ["body", "colour"]
    bad_transport = await create(name="paca", servers=[{"host": "192.0.2.1", "transport": "tcp"}])
    assert bad_transport.status_code == 422

    assert (await browser.get("/api/v1/partners/999999", headers=region)).status_code == 404
    assert (await browser.get(f"/api/v1/partners/{2**31}", headers=region)).status_code == 422
    assert (
        await browser.delete(f"/api/v1/partners/{pid}/realms/paca.example", headers=region)
    ).status_code == 404
    assert (await browser.delete(f"/api/v1/partners/{pid}/servers/999999", headers=region)).status_code == 404
    again = await browser.post(
        f"/api/v1/partners/{pid}/realms", json={"pattern": "liguria.example"}, headers=region
    )
    assert again.status_code == 409
    servers = (await browser.get(f"/api/v1/partners/{pid}", headers=region)).json()["servers"]
    first = await browser.delete(f"/api/v1/partners/{pid}/servers/{servers[0]['id']}", headers=region)
    assert first.status_code == 204
    last = await browser.delete(f"/api/v1/partners/{pid}/servers/{servers[1]['id']}", headers=region)
    assert last.status_code == 409 and "only home server" in last.json()["detail"]
    dup = await browser.post(
        f"/api/v1/partners/{pid}/servers", json={"host": "PROXY.liguria.example", "transport": "radsec"},
        headers=region,
    )  # fmt: skip
    assert dup.status_code == 409
    refused = [e.action for e in await _entries(browser)]
    assert refused == ["partner.create", "partner.server.remove"]  # nothing refused was written


async def test_lists_are_paginated_and_show_health(browser: Browser, staff: None) -> None:
    region = await bearer(browser, "region@test.example")
    for name in ("corse", "liguria", "paca"):
        body = LIGURIA | {"name": name, "realms": [f"{name}.example"]}
        assert (await browser.post("/api/v1/partners", json=body, headers=region)).status_code == 201
    at = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    async with browser.portal.transaction() as session:
        paca = await partners.get_partner(session, name_or_id="paca")
        await partners.record_health(session, server_id=paca.servers[0].id, state="dead", at=at)
    page = (await browser.get("/api/v1/partners?limit=2&offset=1", headers=region)).json()
    assert (page["total"], page["limit"], page["offset"]) == (3, 2, 1)
    assert [p["name"] for p in page["items"]] == ["liguria", "paca"]
    server = page["items"][1]["servers"][0]
    assert server["state"] == "dead" and server["state_changed_at"] == "2026-12-01T09:30:00Z"
    assert (await browser.get("/api/v1/partners?limit=101", headers=region)).status_code == 422


async def test_only_region_admins_change_partners_and_auditors_read_them(
    browser: Browser, staff: None
) -> None:
    region = await bearer(browser, "region@test.example")
    pid = (await browser.post("/api/v1/partners", json=LIGURIA, headers=region)).json()["id"]
    sid = (await browser.get(f"/api/v1/partners/{pid}", headers=region)).json()["servers"][0]["id"]
    values = {"partner_id": pid, "server_id": sid, "pattern": "liguria.example"}
    bodies = {
        "/api/v1/partners": LIGURIA | {"name": "rogue", "realms": ["rogue.example"]},
        "/api/v1/partners/{partner_id}": {"transit": False},
        "/api/v1/partners/{partner_id}/realms": {"pattern": "rogue.example"},
        "/api/v1/partners/{partner_id}/servers": {"host": "192.0.2.66", "secret": "rogue-secret-1"},
        "/api/v1/partners/{partner_id}/servers/{server_id}": {"require_message_authenticator": False},
    }
    routes = [
        (path, method.upper())
        for path, operations in browser.app.openapi()["paths"].items()
        if path.startswith("/api/v1/partners")
        for method in operations
    ]
    assert len(routes) == 10  # list, create, get, patch, delete, realm add/remove, server add/patch/remove
    auditor = await bearer(browser, "auditor@test.example")
    for email in ("valence@test.example", "support@test.example", "auditor@test.example"):
        headers = await bearer(browser, email)
        for path, method in routes:
            url = path.format(**values)
            response = await browser.request(method, url, json=bodies.get(path), headers=headers)
            if email == "auditor@test.example" and method == "GET":
                assert response.status_code == 200, (email, method, path)
                assert SECRET not in response.text
            else:
                assert response.status_code == 403, (email, method, path, response.text)
                assert 'scope="partners:' in response.headers["www-authenticate"]
    listed = (await browser.get("/api/v1/partners", headers=auditor)).json()
    assert [p["name"] for p in listed["items"]] == ["liguria"]
    assert [e.action for e in await _entries(browser)] == ["partner.create"]  # nothing else changed


async def test_one_home_server_may_be_let_reply_unsigned(browser: Browser, staff: None) -> None:
    """``require_message_authenticator`` per home server (issue 16): on by default, off for one
    legacy server only — what the RADIUS processes route with says so — audited."""
    region = await bearer(browser, "region@test.example")
    created = (await browser.post("/api/v1/partners", json=LIGURIA, headers=region)).json()
    pid, servers = created["id"], created["servers"]
    assert [s["require_message_authenticator"] for s in servers] == [True, True]
    legacy = servers[0]["id"]
    patched = await browser.patch(
        f"/api/v1/partners/{pid}/servers/{legacy}",
        json={"require_message_authenticator": False},
        headers=region,
    )
    assert patched.status_code == 200 and patched.json()["require_message_authenticator"] is False
    added = await browser.post(
        f"/api/v1/partners/{pid}/servers",
        json={"host": "192.0.2.11", "secret": "third-secret-3", "require_message_authenticator": False},
        headers=region,
    )
    assert added.status_code == 201 and added.json()["require_message_authenticator"] is False
    null = await browser.patch(
        f"/api/v1/partners/{pid}/servers/{legacy}",
        json={"require_message_authenticator": None},
        headers=region,
    )
    assert null.status_code == 422
    absent = await browser.patch(
        f"/api/v1/partners/{pid}/servers/999999", json={"require_message_authenticator": True}, headers=region
    )
    assert absent.status_code == 404
    async with browser.portal.transaction() as session:
        snapshot = await partners.federation_snapshot(session, box=browser.portal.box)
    required = {s.host: s.require_message_authenticator for p in snapshot.partners for s in p.servers}
    assert required == {"192.0.2.10": False, "192.0.2.11": False, "proxy.liguria.example": True}
    update = [e for e in await _entries(browser) if e.action == "partner.server.update"]
    assert len(update) == 1
    assert '"require_message_authenticator": false' in (update[0].after or "")
