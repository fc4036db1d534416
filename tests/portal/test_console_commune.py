"""The commune's own pages of the console through the app, as a browser uses them: sites, access
points (with what each last sent), policies, branding and its preview, sessions and disconnect,
statistics — as the commune's admin and as a region admin; and every one of these pages and
actions, with another commune's ids, answered by the one 404 (a walk over all the routes)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

from fastapi.routing import APIRoute
from sqlalchemy import select

from accounts.authlog import Decision, record_decisions
from accounts.models import AccessPolicy, AuditEntry, Branding, Nas, Site
from portal.console import accesspoints, branding, policies, sessions, sites, statistics
from tests.portal.conftest import NOW, Browser, World
from tests.portal.console import ConsolePage, sign_in
from tests.portal.test_admin_api import FakeAccessPoint, add_session

REGION, VALENCE = "region@test.example", "valence@test.example"


async def _page(browser: Browser, path: str) -> ConsolePage:
    response = await browser.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return ConsolePage(response.text)


async def _audit(browser: Browser, action: str) -> list[AuditEntry]:
    async with browser.portal.transaction() as session:
        return list((await session.scalars(select(AuditEntry).where(AuditEntry.action == action))).all())


async def test_a_commune_admin_adds_and_edits_a_site(browser: Browser, world: World) -> None:
    await sign_in(browser, VALENCE)
    page = await _page(browser, f"/console/communes/{world.commune_a}")
    assert f"/console/communes/{world.commune_a}/sites/new" in page.links
    form = f"/console/communes/{world.commune_a}/sites/new"
    added = await browser.submit(
        f"/console/communes/{world.commune_a}/sites", {"name": "Mairie", "address": "1 place"}, page=form
    )
    assert added.status_code == 303, added.text
    page = await _page(browser, f"/console/communes/{world.commune_a}")
    assert page.row_headers == ["Mairie", "Médiathèque"]
    twice = await browser.submit(f"/console/communes/{world.commune_a}/sites", {"name": "mairie"}, page=form)
    assert twice.status_code == 400 and ConsolePage(twice.text).alerts
    async with browser.portal.transaction() as session:
        site = await session.scalar(select(Site).where(Site.name == "Mairie"))
        assert site is not None and site.address == "1 place"
        site_id = site.id
    saved = await browser.submit(
        f"/console/sites/{site_id}", {"name": "Hôtel de ville", "address": "", "wifi4eu_network_id": ""}
    )
    assert saved.status_code == 303
    async with browser.portal.transaction() as session:
        site = await session.get_one(Site, site_id)
        assert (site.name, site.address) == ("Hôtel de ville", None)
    (created,) = await _audit(browser, "site.create")
    (updated,) = await _audit(browser, "site.update")
    assert created.actor == updated.actor == VALENCE
    assert created.commune_id == world.commune_a


async def test_access_points_show_their_last_decision_and_a_generated_secret_once(
    browser: Browser, world: World
) -> None:
    async with browser.portal.transaction() as session:
        await record_decisions(
            session,
            [
                Decision(
                    authdate=NOW - timedelta(hours=1), username="alice", reply="Access-Reject", method="pap",
                    reason="bad_password", nas_id=world.ap_a, site_id=world.site_a,
                ),
                Decision(
                    authdate=NOW - timedelta(minutes=5), username="bob", reply="Access-Accept", method="pap",
                    reason="ok", nas_id=world.ap_a, site_id=world.site_a,
                ),
            ],
        )  # fmt: skip
    await sign_in(browser, VALENCE)
    listing = await browser.get(f"/console/communes/{world.commune_a}/access-points")
    assert listing.status_code == 200
    page = ConsolePage(listing.text)
    assert page.row_headers == ["ap-a"]
    assert "Accepted" in listing.text and "(ok)" in listing.text and "11:55:00" in listing.text
    form = f"/console/communes/{world.commune_a}/access-points/new"
    fields = {
        "site_id": str(world.site_a), "name": "ap-mairie", "address": "10.1.1.5", "secret": "",
        "vendor": "other", "coa_port": "3799", "require_message_authenticator": "yes",
    }  # fmt: skip
    created = await browser.submit(f"/console/communes/{world.commune_a}/access-points", fields, page=form)
    assert created.status_code == 200, created.text
    secret = ConsolePage(created.text).codes[0]
    assert len(secret) == 32
    listing = await browser.get(f"/console/communes/{world.commune_a}/access-points")
    assert ConsolePage(listing.text).row_headers == ["ap-a", "ap-mairie"]
    assert "None in the last 7 days" in listing.text
    async with browser.portal.transaction() as session:
        nas = await session.scalar(select(Nas).where(Nas.shortname == "ap-mairie"))
        assert nas is not None and nas.handoff == "none"
        assert browser.portal.box.open(nas.secret_ciphertext, purpose="nas-secret") == secret.encode()
        ap_id = nas.id
    edit = await browser.get(f"/console/access-points/{ap_id}")
    assert edit.status_code == 200 and secret not in edit.text
    assert 'name="handoff"' not in edit.text  # the hand-off is the region's to set
    (entry,) = await _audit(browser, "access_point.create")
    assert secret not in str(entry.after) and entry.commune_id == world.commune_a
    # another commune's site is refused as a choice, the form kept without the secret
    refused = await browser.submit(
        f"/console/communes/{world.commune_a}/access-points",
        fields | {"site_id": str(world.site_b), "name": "ap-x", "secret": "typed-secret-1"},
        page=form,
    )
    assert refused.status_code == 400 and "typed-secret-1" not in refused.text
    saved = await browser.submit(
        f"/console/access-points/{ap_id}", {"address": "10.1.1.6", "secret": "", "coa_port": "3800"}
    )
    assert saved.status_code == 303
    confirm = await browser.get(f"/console/access-points/{ap_id}/delete")
    assert confirm.status_code == 200 and "ap-mairie" in confirm.text
    gone = await browser.submit(f"/console/access-points/{ap_id}/delete", {})
    assert gone.status_code == 303
    async with browser.portal.transaction() as session:
        assert await session.get(Nas, ap_id) is None
    assert [e.actor for e in await _audit(browser, "access_point.delete")] == [VALENCE]


async def test_policies_of_the_commune_and_of_a_site(browser: Browser, world: World) -> None:
    await sign_in(browser, VALENCE)
    path = f"/console/communes/{world.commune_a}/policy"
    saved = await browser.submit(path, {"session_timeout": "7200", "daily_time_limit": ""})
    assert saved.status_code == 200 and 'value="7200"' in saved.text
    site = await browser.submit(f"/console/sites/{world.site_a}/policy", {"bandwidth_down_kbps": "8000"})
    assert site.status_code == 200
    wrong = await browser.submit(path, {"session_timeout": "two hours"})
    assert wrong.status_code == 400 and ConsolePage(wrong.text).alerts
    async with browser.portal.transaction() as session:
        rows = {(r.commune_id, r.site_id): r for r in (await session.scalars(select(AccessPolicy))).all()}
    assert rows[(world.commune_a, None)].session_timeout == 7200
    assert rows[(world.commune_a, None)].daily_time_limit is None
    assert rows[(None, world.site_a)].bandwidth_down_kbps == 8000
    assert [e.target for e in await _audit(browser, "policy.update")] == [
        f"commune:{world.commune_a}",
        f"site:{world.site_a}",
    ]


async def test_branding_is_saved_and_previewed_with_the_portals_own_login_page(
    browser: Browser, world: World
) -> None:
    await sign_in(browser, VALENCE)
    path = f"/console/communes/{world.commune_a}/branding"
    page = await browser.get(path)
    assert page.status_code == 200
    assert f'src="{path}/preview"' in page.text  # the preview frame, of the saved branding
    fields = {
        "title": "Valence Wi-Fi", "logo_url": "https://www.valence.fr/logo.png", "color": "#0A7E3C",
        "welcome_text": "Bienvenue\nà la médiathèque", "terms_text": "",
    }  # fmt: skip
    saved = await browser.submit(path, fields)
    assert saved.status_code == 200, saved.text
    async with browser.portal.transaction() as session:
        row = await session.scalar(select(Branding).where(Branding.commune_id == world.commune_a))
        assert row is not None and (row.title, row.color) == ("Valence Wi-Fi", "#0a7e3c")
        assert row.welcome_text == "Bienvenue\nà la médiathèque" and row.terms_version is None
    with_terms = await browser.submit(path, fields | {"terms_text": "Article 1"})
    assert with_terms.status_code == 200
    async with browser.portal.transaction() as session:
        row = await session.scalar(select(Branding).where(Branding.commune_id == world.commune_a))
        assert row is not None and (row.terms_version or "").startswith("commune-26362-")
    first, second = await _audit(browser, "branding.update")
    assert first.actor == second.actor == VALENCE and "Article 1" in (second.after or "")
    refused = await browser.submit(path, fields | {"logo_url": "http://tracker.example/x.png"})
    assert refused.status_code == 400 and ConsolePage(refused.text).alerts
    # the preview: the portal's log-in template with the draft, framed by the console only
    preview = await browser.get(f"{path}/preview", params={"title": "Brouillon", "color": "#112233"})
    assert preview.status_code == 200
    login = await browser.get("/login")
    assert 'action="/login"' in preview.text and 'action="/login"' in login.text
    assert "<title>Log in · Brouillon</title>" in preview.text
    assert "--brand: #112233" in preview.text
    assert "frame-ancestors 'self'" in preview.headers["content-security-policy"]
    assert preview.headers["x-frame-options"] == "SAMEORIGIN"
    assert "frame-ancestors 'none'" in login.headers["content-security-policy"]
    hostile = await browser.get(
        f"{path}/preview", params={"color": "red;}</style>", "logo_url": "javascript:x"}
    )
    assert hostile.status_code == 200 and "--brand" not in hostile.text and "javascript:" not in hostile.text


async def test_open_sessions_are_listed_and_disconnected_through_the_access_point(
    browser: Browser, world: World
) -> None:
    mine = await add_session(browser, world, "sess-a", commune="a", account_id=None)
    await add_session(browser, world, "sess-b", commune="b", account_id=None)
    await sign_in(browser, VALENCE)
    path = f"/console/communes/{world.commune_a}/sessions"
    listing = await browser.get(path)
    assert listing.status_code == 200 and ConsolePage(listing.text).row_headers == ["citizen"]
    unavailable = await browser.submit(f"/console/sessions/{mine}/disconnect", {}, page=path)
    assert unavailable.status_code == 503
    access_point = FakeAccessPoint()
    browser.portal.coa = access_point
    done = await browser.submit(f"/console/sessions/{mine}/disconnect", {}, page=path)
    assert done.status_code == 200 and "The access point ended the session." in done.text
    assert [t.attributes[0] for t in access_point.targets] == [("Acct-Session-Id", "sess-a")]
    (entry,) = await _audit(browser, "session.disconnect")
    assert json.loads(entry.after or "") == {"outcome": "ack", "detail": "ACK"}
    assert entry.commune_id == world.commune_a


async def test_statistics_of_the_commune_per_day(browser: Browser, world: World) -> None:
    await add_session(browser, world, "sess-a", commune="a", account_id=None)
    await add_session(browser, world, "sess-b", commune="b", account_id=None)
    await sign_in(browser, VALENCE)
    page = await _page(browser, f"/console/communes/{world.commune_a}/statistics")
    assert page.row_headers == [NOW.date().isoformat(), "Total"]
    wrong = await browser.get(
        f"/console/communes/{world.commune_a}/statistics",
        params={"since": "2026-12-01", "until": "2026-01-01"},
    )
    assert wrong.status_code == 400 and ConsolePage(wrong.text).alerts


def _routes(*, commune: int, site: int, ap: int, session: int) -> list[tuple[str, str]]:
    """Every page and action of the commune's section, with the given ids."""
    return [
        ("GET", f"/console/communes/{commune}"),
        ("GET", f"/console/communes/{commune}/sites/new"),
        ("POST", f"/console/communes/{commune}/sites"),
        ("GET", f"/console/sites/{site}"),
        ("POST", f"/console/sites/{site}"),
        ("GET", f"/console/communes/{commune}/access-points"),
        ("GET", f"/console/communes/{commune}/access-points/new"),
        ("POST", f"/console/communes/{commune}/access-points"),
        ("GET", f"/console/access-points/{ap}"),
        ("POST", f"/console/access-points/{ap}"),
        ("GET", f"/console/access-points/{ap}/delete"),
        ("POST", f"/console/access-points/{ap}/delete"),
        ("GET", f"/console/communes/{commune}/policy"),
        ("POST", f"/console/communes/{commune}/policy"),
        ("GET", f"/console/sites/{site}/policy"),
        ("POST", f"/console/sites/{site}/policy"),
        ("GET", f"/console/communes/{commune}/branding"),
        ("POST", f"/console/communes/{commune}/branding"),
        ("GET", f"/console/communes/{commune}/branding/preview"),
        ("GET", f"/console/communes/{commune}/sessions"),
        ("POST", f"/console/sessions/{session}/disconnect"),
        ("GET", f"/console/communes/{commune}/statistics"),
    ]


def test_the_walk_covers_every_route_of_the_commune_pages() -> None:
    """A route added without its place in the walk below fails here."""
    declared = {
        (method, re.sub(r"\{[a-z_]+\}", "{id}", route.path))
        for module in (sites, accesspoints, policies, branding, sessions, statistics)
        for route in module.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    walked = {
        (method, path.replace("/1", "/{id}")) for method, path in _routes(commune=1, site=1, ap=1, session=1)
    }
    assert declared <= walked


async def test_another_communes_ids_are_404_on_every_page_and_action(browser: Browser, world: World) -> None:
    """Valence's admin, with Nice's commune, site, access point and session: the one 404, and
    nothing changed; the region admin opens the same pages."""
    theirs = await add_session(browser, world, "sess-b", commune="b", account_id=None)
    browser.portal.coa = FakeAccessPoint()
    routes = _routes(commune=world.commune_b, site=world.site_b, ap=world.ap_b, session=theirs)
    await sign_in(browser, VALENCE)
    token_page = await browser.get(f"/console/communes/{world.commune_a}/policy")
    csrf = browser.csrf_token(token_page.text)
    data = {
        "csrf_token": csrf,
        "name": "pris",
        "site_id": str(world.site_b),
        "address": "10.2.0.9",
        "secret": "",
    }
    for method, path in routes:
        response = await browser.request(method, path, data=data if method == "POST" else None)
        assert response.status_code == 404, (method, path, response.status_code)
        assert "Nice" not in response.text and "Gare" not in response.text and "ap-b" not in response.text
    async with browser.portal.transaction() as session:
        assert await session.get(Nas, world.ap_b) is not None
        assert (await session.get_one(Site, world.site_b)).name == "Gare"
        assert (await session.scalars(select(AccessPolicy))).all() == []
        assert (await session.scalars(select(Branding))).all() == []
    assert await _audit(browser, "session.disconnect") == []
    # the region admin sees every commune the same way
    other = Browser(
        transport=browser._transport, base_url=str(browser.base_url), headers={"Accept-Language": "en"}
    )
    async with other:
        other.portal, other.app, other.outbox = browser.portal, browser.app, browser.outbox
        await sign_in(other, REGION)
        for method, path in routes:
            if method == "GET":
                response = await other.get(path)
                assert response.status_code == 200, (path, response.status_code)


async def test_a_region_admin_sets_an_access_points_hand_off_under_the_weburl_rule(
    browser: Browser, world: World
) -> None:
    await sign_in(browser, REGION)
    form = f"/console/communes/{world.commune_b}/access-points/new"
    page = await browser.get(form)
    assert 'name="handoff"' in page.text and 'name="handoff_options"' in page.text
    fields = {
        "site_id": str(world.site_b), "name": "gare-controller", "address": "10.2.1.0/28",
        "secret": "s3cret-gare-1", "vendor": "other", "coa_port": "3799",
        "require_message_authenticator": "yes", "handoff": "form_post",
    }  # fmt: skip
    unsafe = await browser.submit(
        f"/console/communes/{world.commune_b}/access-points",
        fields | {"handoff_options": "login_url=http://evil.example/login"},
        page=form,
    )
    assert unsafe.status_code == 400 and ConsolePage(unsafe.text).alerts
    assert "s3cret-gare-1" not in unsafe.text
    done = await browser.submit(
        f"/console/communes/{world.commune_b}/access-points",
        fields | {"handoff_options": "login_url=https://controller.gare.example/login\r\ndone_url=/"},
        page=form,
    )
    assert done.status_code == 200 and ConsolePage(done.text).codes == []  # its secret was typed
    async with browser.portal.transaction() as session:
        nas = await session.scalar(select(Nas).where(Nas.shortname == "gare-controller"))
        assert nas is not None and nas.handoff == "form_post"
        assert json.loads(nas.handoff_options or "") == {
            "done_url": "/",
            "login_url": "https://controller.gare.example/login",
        }
    (entry,) = await _audit(browser, "access_point.create")
    assert entry.actor == REGION and entry.commune_id == world.commune_b
