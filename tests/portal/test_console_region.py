"""The region's console pages through the app, as a browser uses them: communes (list, add),
staff accounts (list, add, change, disable, sign out everywhere, reset a second factor, and the
rules that keep the region from locking itself out), service clients (add with the secret shown
once, disable) — audited under the API's action names with the region admin's email; every page
and form answered by the one 404 for every other role; bad and hostile input answered in words."""

from __future__ import annotations

import json
import re

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import select

from accounts import admins, twofactor
from accounts.models import Admin, AdminRole, AdminTotp, AuditEntry, Commune, ServiceClient
from portal.console import region, staffadmin
from tests.portal.conftest import NOW, PASSWORD, Browser, World
from tests.portal.console import ConsolePage, enrol, sign_in

REGION, VALENCE = "region@test.example", "valence@test.example"
SUPPORT, AUDITOR = "support@test.example", "auditor@test.example"


async def _page(browser: Browser, path: str) -> ConsolePage:
    response = await browser.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return ConsolePage(response.text)


async def _audit(browser: Browser, action: str) -> list[AuditEntry]:
    async with browser.portal.transaction() as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list((await session.scalars(query)).all())


async def _admin(browser: Browser, email: str) -> Admin:
    async with browser.portal.transaction() as session:
        admin = await session.scalar(select(Admin).where(Admin.email == email))
        assert admin is not None
        return admin


# -- communes -------------------------------------------------------------------------------------


async def test_a_region_admin_lists_and_adds_communes(browser: Browser, world: World) -> None:
    await sign_in(browser, REGION)
    page = await _page(browser, "/console/region/communes")
    assert page.row_headers == ["Nice", "Valence"]
    assert f"/console/communes/{world.commune_a}" in page.links
    assert "/console/region/communes" in page.nav
    for path in ("/console/region", "/console/region/communes", "/console/region/staff"):
        html = (await browser.get(path)).text
        assert re.findall(r'<a href="([^"]+)" aria-current="page"', html) == [path]  # one current entry
    added = await browser.submit("/console/region/communes", {"name": "Annecy", "insee_code": "74010"})
    assert added.status_code == 303, added.text
    async with browser.portal.transaction() as session:
        commune = await session.scalar(select(Commune).where(Commune.insee_code == "74010"))
        assert commune is not None and commune.name == "Annecy"
        new_id = commune.id
    assert added.headers["location"].endswith(f"/console/communes/{new_id}")
    page = await _page(browser, "/console/region/communes")
    assert page.row_headers == ["Annecy", "Nice", "Valence"]
    (entry,) = await _audit(browser, "commune.create")
    assert entry.actor == REGION and entry.commune_id == new_id and entry.target == f"commune:{new_id}"
    assert json.loads(entry.after or "") == {"id": new_id, "name": "Annecy", "insee_code": "74010"}
    # the same INSEE code twice, a code that is none, an empty or too long name: words, no 500
    for fields in (
        {"name": "Annecy-bis", "insee_code": "74010"},
        {"name": "Nowhere", "insee_code": "ABCDE"},
        {"name": "", "insee_code": "75056"},
        {"name": "x" * 5000, "insee_code": "75056"},
        {"name": "Paris", "insee_code": "7" * 5000},
    ):
        refused = await browser.submit("/console/region/communes", fields)
        assert refused.status_code == 400, (fields, refused.status_code)
        assert ConsolePage(refused.text).alerts, fields
    assert len(await _audit(browser, "commune.create")) == 1


async def test_the_commune_form_refuses_nul_and_a_missing_token(browser: Browser, world: World) -> None:
    await sign_in(browser, REGION)
    nul = await browser.submit("/console/region/communes", {"name": "Pa\x00ris", "insee_code": "75056"})
    assert nul.status_code == 400 and "\x00" not in nul.text
    forged = await browser.post("/console/region/communes", data={"name": "Paris", "insee_code": "75056"})
    assert forged.status_code == 400
    async with browser.portal.transaction() as session:
        assert await session.scalar(select(Commune).where(Commune.insee_code == "75056")) is None


async def test_the_page_in_french_and_italian(browser: Browser, world: World) -> None:
    await sign_in(browser, REGION)
    for language, words in (("fr", "Ajouter la commune"), ("it", "Aggiungi il comune")):
        response = await browser.get("/console/region/communes", headers={"Accept-Language": language})
        assert response.status_code == 200 and words in response.text, language
        refused = await browser.post(
            "/console/region/communes",
            data={"csrf_token": browser.csrf_token(response.text), "name": "X", "insee_code": "nope"},
            headers={"Accept-Language": language},
        )
        assert refused.status_code == 400 and words in refused.text


# -- staff accounts -------------------------------------------------------------------------------


async def test_a_region_admin_adds_a_commune_admin_who_then_signs_in(browser: Browser, world: World) -> None:
    await sign_in(browser, REGION)
    page = await _page(browser, "/console/region/staff")
    assert page.row_headers == [AUDITOR, REGION, SUPPORT, VALENCE]
    fields = {
        "email": "Mairie@Annecy.example", "role": "commune_admin", "commune_id": str(world.commune_a),
        "password": "a first long passphrase 2026",
    }  # fmt: skip
    added = await browser.submit("/console/region/staff", fields)
    assert added.status_code == 303, added.text
    created = await _admin(browser, "mairie@annecy.example")
    assert (created.role, created.commune_id, created.active) == (
        AdminRole.COMMUNE_ADMIN,
        world.commune_a,
        True,
    )
    assert added.headers["location"].endswith(f"/console/region/staff/{created.id}")
    member = await browser.get(f"/console/region/staff/{created.id}")
    assert member.status_code == 200 and "Never" in member.text
    assert created.password_hash is not None and created.password_hash not in member.text
    listing = await browser.get("/console/region/staff")
    assert "argon2" not in listing.text and "$" + "argon" not in listing.text
    (entry,) = await _audit(browser, "admin.create")
    assert entry.actor == REGION and entry.commune_id == world.commune_a
    after = json.loads(entry.after or "")
    assert "password" in after and after["email"] == "mairie@annecy.example"
    assert fields["password"] not in (entry.after or "")
    # they sign in and see their commune only
    other = Browser(
        transport=browser._transport, base_url=str(browser.base_url), headers={"Accept-Language": "en"}
    )
    async with other:
        other.portal, other.app, other.outbox = browser.portal, browser.app, browser.outbox
        signed = await sign_in(other, "mairie@annecy.example", fields["password"])
        assert signed.status_code == 303
        home = await _page(other, "/console")
        assert home.row_headers == ["Valence"]
        assert (await other.get("/console/region/staff")).status_code == 404


async def test_bad_and_hostile_staff_forms_are_refused_in_words(browser: Browser, world: World) -> None:
    await sign_in(browser, REGION)
    good = {
        "email": "new@test.example",
        "role": "support",
        "commune_id": "",
        "password": "a long passphrase 2026",
    }
    for changed in (
        {"email": "not an email"},
        {"email": "x" * 300 + "@test.example"},
        {"email": REGION},  # exists already
        {"role": "emperor"},
        {"role": ""},  # the form's "Choose a role": no default role, least of all region admin
        {"role": "commune_admin", "commune_id": ""},
        {"role": "commune_admin", "commune_id": "999999"},
        {"role": "commune_admin", "commune_id": "-1"},
        {"password": "short"},
        {"password": "p" * 5000},
    ):
        refused = await browser.submit("/console/region/staff", good | changed)
        assert refused.status_code == 400, (changed, refused.status_code, refused.text[:200])
        page = ConsolePage(refused.text)
        assert page.alerts, changed
        assert good["password"] not in refused.text and "p" * 5000 not in refused.text
    nul = await browser.submit("/console/region/staff", good | {"email": "a\x00b@test.example"})
    assert nul.status_code == 400
    # a support role with a commune sent: the commune is not kept (only a commune admin has one)
    done = await browser.submit("/console/region/staff", good | {"commune_id": str(world.commune_a)})
    assert done.status_code == 303
    assert (await _admin(browser, "new@test.example")).commune_id is None
    assert len(await _audit(browser, "admin.create")) == 1


async def test_a_region_admin_changes_a_role_disables_and_signs_someone_out(
    browser: Browser, world: World
) -> None:
    valence = await _admin(browser, VALENCE)
    victim = Browser(
        transport=browser._transport, base_url=str(browser.base_url), headers={"Accept-Language": "en"}
    )
    async with victim:
        victim.portal, victim.app, victim.outbox = browser.portal, browser.app, browser.outbox
        await sign_in(victim, VALENCE)
        assert (await victim.get("/console")).status_code == 200
        await sign_in(browser, REGION)
        path = f"/console/region/staff/{valence.id}"
        # signed out everywhere: their session ends
        out = await browser.submit(f"{path}/sign-out", {}, page=path)
        assert out.status_code == 200 and "Every session and token they had has ended." in out.text
        assert (await victim.get("/console")).status_code == 303
        (revoked,) = await _audit(browser, "admin.revoke")
        assert revoked.actor == REGION and revoked.target == f"admin:{valence.id}"
        # Nice instead of Valence, then support, then disabled
        moved = await browser.submit(
            path, {"role": "commune_admin", "commune_id": str(world.commune_b), "active": "yes"}
        )
        assert moved.status_code == 200 and "Saved." in moved.text
        assert (await _admin(browser, VALENCE)).commune_id == world.commune_b
        await sign_in(victim, VALENCE)
        assert ConsolePage((await victim.get("/console")).text).row_headers == ["Nice"]
        support = await browser.submit(
            path, {"role": "support", "commune_id": str(world.commune_b), "active": "yes"}
        )
        assert support.status_code == 200
        changed = await _admin(browser, VALENCE)
        assert (changed.role, changed.commune_id) == (AdminRole.SUPPORT, None)
        disabled = await browser.submit(path, {"role": "support", "commune_id": ""})
        assert disabled.status_code == 200
        assert (await _admin(browser, VALENCE)).active is False
        refused = await sign_in(victim, VALENCE)
        assert refused.status_code != 303 or "/console/login" in refused.headers.get("location", "")
        assert (await victim.get("/console")).status_code == 303
    updates = await _audit(browser, "admin.update")
    assert [e.actor for e in updates] == [REGION] * 3
    assert json.loads(updates[0].before or "")["commune_id"] == world.commune_a
    assert json.loads(updates[-1].after or "")["active"] is False
    # nonsense choices: words, nothing changed
    for fields in (
        {"role": "commune_admin", "commune_id": "abc", "active": "yes"},
        {"role": "root", "active": "yes"},
        {"role": "commune_admin", "commune_id": str(2**40), "active": "yes"},
    ):
        wrong = await browser.submit(path, fields)
        assert wrong.status_code == 400 and ConsolePage(wrong.text).alerts, fields
    assert len(await _audit(browser, "admin.update")) == 3


async def test_the_region_is_never_left_without_an_active_region_admin(
    browser: Browser, world: World
) -> None:
    me = await _admin(browser, REGION)
    await sign_in(browser, REGION)
    path = f"/console/region/staff/{me.id}"
    for fields in ({"role": "region_admin"}, {"role": "auditor", "active": "yes"}):
        refused = await browser.submit(path, fields)
        assert refused.status_code == 400 and ConsolePage(refused.text).alerts, fields
    again = await _admin(browser, REGION)
    assert (again.role, again.active) == (AdminRole.REGION_ADMIN, True)
    # a second region admin: still, nobody demotes or disables themselves…
    async with browser.portal.transaction() as session:
        await admins.create_admin(
            session, hasher=browser.portal.hasher, email="second@test.example", role=AdminRole.REGION_ADMIN,
            password=PASSWORD,
        )  # fmt: skip
    second = await _admin(browser, "second@test.example")
    refused = await browser.submit(path, {"role": "region_admin"})
    assert refused.status_code == 400
    # …but one may disable the other; then the last one left stays
    done = await browser.submit(f"/console/region/staff/{second.id}", {"role": "region_admin"})
    assert done.status_code == 200 and (await _admin(browser, "second@test.example")).active is False
    assert [e.target for e in await _audit(browser, "admin.update")] == [f"admin:{second.id}"]
    # saving oneself unchanged is allowed, and ends one's own session (every token is revoked)
    mine = await browser.submit(path, {"role": "region_admin", "active": "yes"})
    assert mine.status_code == 303 and mine.headers["location"].startswith("/console/login")
    assert (await browser.get("/console/region/staff")).status_code == 303


async def test_the_api_keeps_the_same_rule(browser: Browser, world: World) -> None:
    from tests.portal.conftest import bearer, token

    me = await _admin(browser, REGION)
    access = await token(browser, REGION)
    refused = await browser.patch(f"/api/v1/admins/{me.id}", json={"active": False}, headers=bearer(access))
    assert refused.status_code == 409, refused.text
    demoted = await browser.patch(f"/api/v1/admins/{me.id}", json={"role": "auditor"}, headers=bearer(access))
    assert demoted.status_code == 409
    assert (await _admin(browser, REGION)).active is True


async def test_a_lost_second_factor_is_reset_by_a_region_admin(browser: Browser, world: World) -> None:
    valence = await _admin(browser, VALENCE)
    other = Browser(
        transport=browser._transport, base_url=str(browser.base_url), headers={"Accept-Language": "en"}
    )
    async with other:
        other.portal, other.app, other.outbox = browser.portal, browser.app, browser.outbox
        await sign_in(other, VALENCE)
        await enrol(other)
    await sign_in(browser, REGION)
    listing = await browser.get("/console/region/staff")
    assert listing.status_code == 200
    path = f"/console/region/staff/{valence.id}"
    page = await browser.get(path)
    assert "reset-two-factor" in page.text and "Set up" in page.text
    async with browser.portal.transaction() as session:
        row = await session.scalar(select(AdminTotp).where(AdminTotp.admin_id == valence.id))
        assert row is not None
        assert row.secret_ciphertext not in page.text and row.secret_ciphertext not in listing.text
    reset = await browser.submit(f"{path}/reset-two-factor", {}, page=path)
    assert reset.status_code == 200 and "Not set up" in reset.text
    async with browser.portal.transaction() as session:
        assert (
            await twofactor.has_two_factor(session, admin=await session.get_one(Admin, valence.id)) is False
        )
    (entry,) = await _audit(browser, "admin.reset_two_factor")
    assert entry.actor == REGION and json.loads(entry.before or "") == {"two_factor": True}
    # one's own factor is not reset from here (the security page asks for a code)
    me = await _admin(browser, REGION)
    mine = await browser.submit(
        f"/console/region/staff/{me.id}/reset-two-factor", {}, page="/console/region/staff"
    )
    assert mine.status_code == 400 and ConsolePage(mine.text).alerts


# -- service clients ------------------------------------------------------------------------------


async def test_a_service_client_is_added_with_its_secret_shown_once_then_disabled(
    browser: Browser, world: World
) -> None:
    await sign_in(browser, REGION)
    page = await _page(browser, "/console/region/clients")
    assert page.row_headers == ["Valence IT"]
    fields = {"name": "Supervision", "role": "auditor", "commune_id": ""}
    created = await browser.submit("/console/region/clients", fields)
    assert created.status_code == 200, created.text
    client_id, secret = ConsolePage(created.text).codes
    assert client_id.startswith("sesame-") and len(secret) >= 40
    listing = await browser.get("/console/region/clients")
    assert secret not in listing.text and client_id in listing.text
    (entry,) = await _audit(browser, "client.create")
    assert entry.actor == REGION and secret not in (entry.after or "")
    assert "secret" in json.loads(entry.after or "")
    # the secret works with the admin API, until the client is disabled
    grant = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    assert (await browser.post("/api/v1/auth/token", data=grant)).status_code == 200
    async with browser.portal.transaction() as session:
        client = await session.scalar(select(ServiceClient).where(ServiceClient.client_id == client_id))
        assert client is not None and client.role == AdminRole.AUDITOR and client.commune_id is None
        pk = client.id
    off = await browser.submit(f"/console/region/clients/{pk}/disable", {}, page="/console/region/clients")
    assert off.status_code == 303
    assert (await browser.post("/api/v1/auth/token", data=grant)).status_code in (400, 401)
    (disabled,) = await _audit(browser, "client.disable")
    assert disabled.actor == REGION and disabled.target == f"client:{client_id}"
    # a commune admin's client needs a commune; bad input is refused in words
    for changed in (
        {"role": "commune_admin", "commune_id": ""},
        {"role": "commune_admin", "commune_id": "123456"},
        {"name": ""},
        {"name": "n" * 500},
        {"role": "god"},
        {"role": ""},
    ):
        refused = await browser.submit("/console/region/clients", fields | changed)
        assert refused.status_code == 400 and ConsolePage(refused.text).alerts, changed
    valence = await browser.submit(
        "/console/region/clients", fields | {"role": "commune_admin", "commune_id": str(world.commune_a)}
    )
    assert valence.status_code == 200
    assert len(await _audit(browser, "client.create")) == 2
    for path in ("/console/region/staff/999999", "/console/region/staff/abc", "/console/region/staff/0"):
        assert (await browser.get(path)).status_code == 404, path
    for path in ("/console/region/staff/999999", "/console/region/staff/99999999999/sign-out"):
        gone = await browser.submit(path, {"role": "support"}, page="/console/region/staff")
        assert gone.status_code == 404, path
    missing = await browser.submit(
        "/console/region/clients/999999/disable", {}, page="/console/region/clients"
    )
    assert missing.status_code == 404


# -- everyone else: the one 404 ---------------------------------------------------------------------


def _routes(*, admin: int, client: int) -> list[tuple[str, str]]:
    return [
        ("GET", "/console/region/communes"),
        ("POST", "/console/region/communes"),
        ("GET", "/console/region/staff"),
        ("POST", "/console/region/staff"),
        ("GET", f"/console/region/staff/{admin}"),
        ("POST", f"/console/region/staff/{admin}"),
        ("POST", f"/console/region/staff/{admin}/sign-out"),
        ("POST", f"/console/region/staff/{admin}/reset-two-factor"),
        ("GET", "/console/region/clients"),
        ("POST", "/console/region/clients"),
        ("POST", f"/console/region/clients/{client}/disable"),
    ]


def test_the_walk_covers_every_route_of_the_region_pages() -> None:
    declared = {
        (method, re.sub(r"\{[a-z_]+\}", "{id}", route.path))
        for module in (region, staffadmin)
        for route in module.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    walked = {(method, path.replace("/1", "/{id}")) for method, path in _routes(admin=1, client=1)}
    assert declared == walked


@pytest.mark.parametrize("email", [VALENCE, SUPPORT, AUDITOR])
async def test_every_other_role_gets_the_one_404_and_changes_nothing(
    browser: Browser, world: World, email: str
) -> None:
    target = await _admin(browser, REGION)
    async with browser.portal.transaction() as session:
        client = await session.scalar(select(ServiceClient).where(ServiceClient.client_id == world.client_id))
        assert client is not None
        client_pk = client.id
    await sign_in(browser, email)
    csrf = browser.csrf_token((await browser.get("/console/security")).text)
    data = {
        "csrf_token": csrf, "name": "Pirate", "insee_code": "75056", "email": "pirate@test.example",
        "role": "region_admin", "commune_id": "", "password": "a long passphrase 2026", "active": "",
    }  # fmt: skip
    for method, path in _routes(admin=target.id, client=client_pk):
        response = await browser.request(method, path, data=data if method == "POST" else None)
        assert response.status_code == 404, (email, method, path, response.status_code)
        assert REGION not in response.text and world.client_id not in response.text
    page = ConsolePage((await browser.get("/console/security")).text)
    assert not [link for link in page.nav if link.startswith("/console/region")]
    async with browser.portal.transaction() as session:
        assert (
            await session.scalars(select(AuditEntry).where(~AuditEntry.action.startswith("staff.")))
        ).all() == []
        assert await session.scalar(select(Commune).where(Commune.insee_code == "75056")) is None
        assert await session.scalar(select(Admin).where(Admin.email == "pirate@test.example")) is None
        assert (await session.get_one(ServiceClient, client_pk)).active is True
        assert (await session.get_one(Admin, target.id)).token_version == target.token_version
    assert NOW  # the clock stood still
