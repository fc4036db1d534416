"""The partners' pages of the console through the app, as a browser uses them (issue 18): a region
admin lists the partner regions with their home servers' health, adds a partner with a realm and
a home server, changes its settings, realms and servers, removes it — each change through the
``accounts.partners`` services and audited under the API's action names with their email; an
auditor reads the same pages without a form; a commune admin and support get the one 404 on every
page and action; bad and hostile input is a translated message (never a 500), and no shared
secret is ever in a page."""

from __future__ import annotations

import json
import re
from typing import Any

from fastapi.routing import APIRoute
from sqlalchemy import select

from accounts import partners
from accounts.models import AuditEntry, HomeServer, Partner
from portal.console import homeservers
from portal.console import partners as partner_pages
from tests.conftest import TEST_REALM
from tests.portal.conftest import NOW, PASSWORD, Browser, World, citizen_and_partner
from tests.portal.console import ConsolePage, sign_in

REGION, VALENCE = "region@test.example", "valence@test.example"
SUPPORT, AUDITOR = "support@test.example", "auditor@test.example"
LIGURIA_SECRET = "liguria-secret-1"  # the partner of citizen_and_partner
NEW_SECRET = "a-new-secret-for-genova"


async def _page(browser: Browser, path: str) -> ConsolePage:
    response = await browser.get(path)
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return ConsolePage(response.text)


async def _audit(browser: Browser, action: str) -> list[AuditEntry]:
    async with browser.portal.transaction() as session:
        query = select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        return list((await session.scalars(query)).all())


async def _partner(browser: Browser, name: str) -> Partner | None:
    async with browser.portal.transaction() as session:
        try:
            return await partners.get_partner(session, name_or_id=name)
        except Exception:
            return None


def _no_secret(text: str) -> None:
    for secret in (LIGURIA_SECRET, NEW_SECRET, "piemonte-secret-1"):
        assert secret not in text


SERVER = {
    "host": "192.0.2.20", "transport": "udp", "port": "", "secret": "piemonte-secret-1", "tls_name": "",
    "priority": "0", "acct_port": "", "require_message_authenticator": "yes",
}  # fmt: skip


async def test_a_region_admin_adds_a_partner_with_a_realm_and_a_home_server(
    browser: Browser, world: World
) -> None:
    await sign_in(browser, REGION)
    home = await _page(browser, "/console/security")
    assert "/console/partners" in home.nav
    listing = await _page(browser, "/console/partners")
    assert "/console/partners/new" in listing.links
    fields = SERVER | {
        "name": "piemonte", "display_name": "Regione Piemonte",
        "realms": "Piemonte.Example\r\n\r\n*.piemonte.example", "accept_requests": "yes",
    }  # fmt: skip
    added = await browser.submit("/console/partners", fields, page="/console/partners/new")
    assert added.status_code == 303, added.text
    partner = await _partner(browser, "piemonte")
    assert partner is not None
    assert added.headers["location"] == f"/console/partners/{partner.id}?done=created"
    assert sorted(r.pattern for r in partner.realms) == ["*.piemonte.example", "piemonte.example"]
    assert (partner.display_name, partner.accept_requests, partner.transit) == (
        "Regione Piemonte",
        True,
        False,
    )
    (server,) = partner.servers
    assert (server.host, server.port, server.transport, server.state) == (
        "192.0.2.20",
        1812,
        "udp",
        "unknown",
    )
    assert partners.home_server_secret(browser.portal.box, server) == b"piemonte-secret-1"
    shown = await browser.get(added.headers["location"])
    assert shown.status_code == 200 and "The partner was added." in shown.text
    page = ConsolePage(shown.text)
    assert page.h1 == "Regione Piemonte (piemonte)" and page.row_headers == ["192.0.2.20:1812"]
    assert "Unknown: not used yet" in shown.text
    _no_secret(shown.text)
    (entry,) = await _audit(browser, "partner.create")
    assert entry.actor == REGION and entry.target == f"partner:{partner.id}"
    after = json.loads(entry.after or "")
    assert "secrets" in after and after["realms"] == ["*.piemonte.example", "piemonte.example"]
    _no_secret(str(entry.after))
    listing = await _page(browser, "/console/partners")
    assert listing.row_headers == ["192.0.2.20:1812"] and f"/console/partners/{partner.id}" in listing.links


async def test_settings_realms_and_home_servers_are_changed_and_audited(
    browser: Browser, world: World
) -> None:
    _, liguria = await citizen_and_partner(browser.portal)
    base = f"/console/partners/{liguria.id}"
    await sign_in(browser, REGION)
    saved = await browser.submit(
        base, {"display_name": "Liguria", "transit": "yes", "forward_accounting": "yes"}
    )
    assert saved.status_code == 303 and saved.headers["location"] == f"{base}?done=saved"
    realm = await browser.submit(f"{base}/realms", {"pattern": "*.Genova.example"}, page=base)
    assert realm.status_code == 303
    gone = await browser.submit(f"{base}/realms/remove", {"pattern": "liguria.example"}, page=base)
    assert gone.status_code == 303
    fields = SERVER | {
        "host": "RADSEC.Liguria.example", "transport": "radsec", "secret": "", "priority": "5",
        "tls_name": "radius.liguria.example", "require_message_authenticator": "",
    }  # fmt: skip
    server = await browser.submit(f"{base}/servers", fields, page=f"{base}/servers/new")
    assert server.status_code == 303, server.text
    loaded = await _partner(browser, "liguria")
    assert loaded is not None
    assert (loaded.display_name, loaded.accept_requests, loaded.transit, loaded.forward_accounting) == (
        "Liguria", False, True, True
    )  # fmt: skip
    assert [r.pattern for r in loaded.realms] == ["*.genova.example"]
    first, radsec = sorted(loaded.servers, key=lambda s: s.priority)
    assert (radsec.host, radsec.port, radsec.transport, radsec.tls_name) == (
        "radsec.liguria.example", 2083, "radsec", "radius.liguria.example"
    )  # fmt: skip
    assert partners.home_server_secret(browser.portal.box, radsec) == b"radsec"
    assert radsec.require_message_authenticator is False
    # the first server: Message-Authenticator no longer required, its secret rotated, never shown
    edit = await browser.get(f"{base}/servers/{first.id}")
    assert edit.status_code == 200 and 'name="host"' not in edit.text
    _no_secret(edit.text)
    changed = await browser.submit(f"{base}/servers/{first.id}", {"secret": NEW_SECRET})
    assert changed.status_code == 303
    async with browser.portal.transaction() as session:
        row = await session.get_one(HomeServer, first.id)
        assert row.require_message_authenticator is False
        assert partners.home_server_secret(browser.portal.box, row) == NEW_SECRET.encode()
    page = await browser.get(base)
    assert ConsolePage(page.text).row_headers == ["192.0.2.10:1812", "radsec.liguria.example:2083"]
    _no_secret(page.text)
    (update,) = await _audit(browser, "partner.server.update")
    assert "secret" in json.loads(update.after or "") and NEW_SECRET not in (update.after or "")
    # removing a server, then the partner, each after a confirmation page
    confirm = await browser.get(f"{base}/servers/{radsec.id}/delete")
    assert confirm.status_code == 200 and "radsec.liguria.example:2083" in confirm.text
    removed = await browser.submit(f"{base}/servers/{radsec.id}/delete", {}, page=base)
    assert removed.status_code == 303
    last = await browser.submit(f"{base}/servers/{first.id}/delete", {}, page=base)
    assert last.status_code == 400 and "only home server" in " ".join(ConsolePage(last.text).alerts)
    confirm = await browser.get(f"{base}/delete")
    assert (
        confirm.status_code == 200 and "Remove Liguria with its realms and its home server?" in confirm.text
    )
    deleted = await browser.submit(f"{base}/delete", {}, page=f"{base}/delete")
    assert deleted.status_code == 303 and deleted.headers["location"] == "/console/partners?done=deleted"
    assert await _partner(browser, "liguria") is None
    actions = [
        "partner.update", "partner.realm.add", "partner.realm.remove", "partner.server.add",
        "partner.server.update", "partner.server.remove", "partner.delete",
    ]  # fmt: skip
    for action in actions:
        entries = await _audit(browser, action)
        assert [e.actor for e in entries] == [REGION], action
        assert entries[0].target == f"partner:{liguria.id}"
        _no_secret(f"{entries[0].before} {entries[0].after}")
    assert json.loads((await _audit(browser, "partner.realm.remove"))[0].before or "") == {
        "pattern": "liguria.example"
    }


async def test_the_health_of_each_home_server_is_said_in_words_with_since_when(
    browser: Browser, world: World
) -> None:
    _, liguria = await citizen_and_partner(browser.portal)
    async with browser.portal.transaction() as session:
        partner = await partners.get_partner(session, name_or_id=liguria.id)
        for host in ("192.0.2.11", "192.0.2.12", "192.0.2.13"):
            await partners.add_home_server(
                session, box=browser.portal.box, partner=partner,
                server=partners.HomeServerSpec(host=host, secret=LIGURIA_SECRET, priority=int(host[-2:])),
            )  # fmt: skip
        ids = {s.host: s.id for s in partner.servers}
    async with browser.portal.transaction() as session:
        for host, state in (("192.0.2.10", "alive"), ("192.0.2.11", "zombie"), ("192.0.2.12", "dead")):
            assert await partners.record_health(session, server_id=ids[host], state=state, at=NOW)
    await sign_in(browser, REGION)
    response = await browser.get("/console/partners")
    counts = {
        state: re.search(rf'<dd id="count-{state}">(\d+)</dd>', response.text) for state in partners_states()
    }
    assert {state: int(found.group(1)) for state, found in counts.items() if found} == {
        "alive": 1, "zombie": 1, "dead": 1, "unknown": 1
    }  # fmt: skip
    cells = re.findall(r'<td class="health">(.*?)</td>', response.text, flags=re.S)
    words = [re.sub(r"<[^>]+>|\s+", " ", cell).split(" since ")[0].strip() for cell in cells]
    assert words == ["Alive", "Zombie: not answering", "Dead", "Unknown: not used yet"]
    assert (
        response.text.count('<time datetime="2026-11-22T12:00:00+00:00">2026-11-22 12:00:00 UTC</time>') == 3
    )
    # the dashboard's list of home servers leads to the partner's page
    dashboard = await browser.get("/console/dashboards")
    assert f'href="/console/partners/{liguria.id}"' in dashboard.text


def partners_states() -> tuple[str, ...]:
    return ("alive", "zombie", "dead", "unknown")


async def test_bad_and_hostile_input_is_a_translated_message_and_no_secret_is_echoed(
    browser: Browser, world: World
) -> None:
    _, liguria = await citizen_and_partner(browser.portal)
    base = f"/console/partners/{liguria.id}"
    await sign_in(browser, REGION)
    new = "/console/partners/new"
    partner = SERVER | {"name": "piemonte", "realms": "piemonte.example", "secret": "typed-secret-99"}
    refusals = {
        "our own realm": partner | {"realms": TEST_REALM.upper()},
        "under our realm": partner | {"realms": f"*.{TEST_REALM}"},
        "a realm of liguria": partner | {"realms": "LIGURIA.example"},
        "a name": partner | {"name": "Pié monte"},
        "a taken name": partner | {"name": "liguria", "realms": ""},
        "a URL for a host": partner | {"host": "http://evil.example/"},
        "a host with a space": partner | {"host": "evil host.example"},
        "a port": partner | {"port": "1812; DROP"},
        "a port too high": partner | {"port": "70000"},
        "a priority": partner | {"priority": "-1"},
        "a short secret": partner | {"secret": "short"},
        "no UDP secret": partner | {"secret": ""},
        "a transport": partner | {"transport": "tcp"},
        "a TLS name over UDP": partner | {"tls_name": "radius.example"},
        "RadSec by address": partner | {"transport": "radsec", "tls_name": ""},
        "a huge host": partner | {"host": "a" * 100_000},
        "a huge secret": partner | {"secret": "s" * 100_000},
        "too many realms": partner | {"realms": "\n".join(f"r{i}.example" for i in range(101))},
    }
    for what, fields in refusals.items():
        response = await browser.submit("/console/partners", fields, page=new)
        assert response.status_code == 400, (what, response.status_code, response.text[:300])
        alerts = ConsolePage(response.text).alerts
        assert alerts and alerts[0].startswith(("This cannot be saved", "This conflicts")), (what, alerts)
        assert "typed-secret-99" not in response.text and "s" * 1000 not in response.text
    assert await _partner(browser, "piemonte") is None
    # in French, the message is French
    form = await browser.get(new, headers={"Accept-Language": "fr"})
    french = await browser.post(
        "/console/partners",
        data={"csrf_token": browser.csrf_token(form.text), **(partner | {"host": "evil host"})},
        headers={"Accept-Language": "fr"},
    )
    assert french.status_code == 400 and ConsolePage(french.text).alerts[0].startswith(
        "Impossible d'enregistrer"
    )
    # control characters, NUL, an unreadable character: refused before any service
    token = browser.csrf_token((await browser.get(base)).text).encode()
    for raw in (
        b"liguria%00.example",
        b"bad%07",
        b"%ED%A0%80",
        b"%FF%FE",
    ):  # NUL, BEL, a surrogate, not UTF-8
        refused = await browser.post(
            f"{base}/realms",
            content=b"csrf_token=" + token + b"&pattern=" + raw,
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert refused.status_code == 400, (raw, refused.status_code)
    for pattern in ("", "x", "liguria.example", "a..example", TEST_REALM, "é" * 300):
        response = await browser.submit(f"{base}/realms", {"pattern": pattern}, page=base)
        assert response.status_code == 400 and ConsolePage(response.text).alerts, pattern
    missing = await browser.submit(f"{base}/realms/remove", {"pattern": "nowhere.example"}, page=base)
    assert missing.status_code == 400 and ConsolePage(missing.text).alerts
    server = await browser.submit(
        f"{base}/servers", SERVER | {"host": "192.0.2.10"}, page=f"{base}/servers/new"
    )
    assert server.status_code == 400
    assert "already has home server" in server.text and "piemonte-secret-1" not in server.text
    wrong = await browser.submit(f"{base}", {"display_name": "x" * 121})
    assert wrong.status_code == 400 and ConsolePage(wrong.text).alerts
    (first,) = (await _partner(browser, "liguria") or liguria).servers
    short = await browser.submit(f"{base}/servers/{first.id}", {"secret": "short"})
    assert (
        short.status_code == 400 and ConsolePage(short.text).alerts and "short" not in _values_of(short.text)
    )
    # a form without its CSRF token changes nothing
    forged = await browser.post(f"{base}/delete", data={})
    assert forged.status_code == 400
    assert await _partner(browser, "liguria") is not None
    for action in (
        "partner.create",
        "partner.update",
        "partner.realm.add",
        "partner.server.add",
        "partner.delete",
    ):
        assert await _audit(browser, action) == [], action


def _values_of(html: str) -> str:
    return " ".join(re.findall(r'value="([^"]*)"', html))


def _routes(*, partner: int, server: int) -> list[tuple[str, str]]:
    """Every page and action of the partners' pages, with the given ids."""
    return [
        ("GET", "/console/partners"),
        ("GET", "/console/partners/new"),
        ("POST", "/console/partners"),
        ("GET", f"/console/partners/{partner}"),
        ("POST", f"/console/partners/{partner}"),
        ("POST", f"/console/partners/{partner}/realms"),
        ("POST", f"/console/partners/{partner}/realms/remove"),
        ("GET", f"/console/partners/{partner}/delete"),
        ("POST", f"/console/partners/{partner}/delete"),
        ("GET", f"/console/partners/{partner}/servers/new"),
        ("POST", f"/console/partners/{partner}/servers"),
        ("GET", f"/console/partners/{partner}/servers/{server}"),
        ("POST", f"/console/partners/{partner}/servers/{server}"),
        ("GET", f"/console/partners/{partner}/servers/{server}/delete"),
        ("POST", f"/console/partners/{partner}/servers/{server}/delete"),
    ]


#: what an auditor (partners:read) may open: the list and a partner's page, without a form
READ = {("GET", "/console/partners"), ("GET", "/console/partners/{id}")}


def test_the_walk_covers_every_route_of_the_partners_pages() -> None:
    """A route added without its place in the walks below fails here."""
    declared = {
        (method, re.sub(r"\{[a-z_]+\}", "{id}", route.path))
        for module in (partner_pages, homeservers)
        for route in module.router.routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    walked = {(method, path.replace("/1", "/{id}")) for method, path in _routes(partner=1, server=1)}
    assert declared == walked


async def test_other_roles_get_the_one_404_and_an_auditor_reads_without_a_form(
    browser: Browser, world: World
) -> None:
    _, liguria = await citizen_and_partner(browser.portal)
    server_id = liguria.servers[0].id
    routes = _routes(partner=liguria.id, server=server_id)
    data_of = {
        "name": "rogue",
        "realms": "rogue.example",
        "pattern": "rogue.example",
        "display_name": "Rogue",
    }
    for email in (VALENCE, SUPPORT, AUDITOR):
        other = Browser(
            transport=browser._transport, base_url=str(browser.base_url), headers={"Accept-Language": "en"}
        )
        async with other:
            other.portal, other.app, other.outbox = browser.portal, browser.app, browser.outbox
            await sign_in(other, email)
            security = await _page(other, "/console/security")
            assert ("/console/partners" in security.nav) is (email == AUDITOR)
            csrf = other.csrf_token((await other.get("/console/security")).text)
            for method, path in routes:
                generic = (method, re.sub(r"/\d+", "/{id}", path))
                data = {"csrf_token": csrf, **data_of, **SERVER} if method == "POST" else None
                response = await other.request(method, path, data=data)
                if email == AUDITOR and generic in READ:
                    assert response.status_code == 200, (email, method, path, response.status_code)
                    assert '<form method="post" action="/console/partners' not in response.text
                    assert "liguria" in response.text.lower()
                    _no_secret(response.text)
                else:
                    assert response.status_code == 404, (email, method, path, response.status_code)
                    assert "liguria" not in response.text.lower() and "192.0.2.10" not in response.text
    loaded = await _partner(browser, "liguria")
    assert loaded is not None and [r.pattern for r in loaded.realms] == ["liguria.example"]
    assert len(loaded.servers) == 1 and loaded.display_name is None
    assert await _partner(browser, "rogue") is None
    async with browser.portal.transaction() as session:
        assert (
            await session.scalars(select(AuditEntry).where(AuditEntry.action.like("partner.%")))
        ).all() == []
    # a partner that does not exist, or a path that is no id, is the same 404 for the region admin
    await sign_in(browser, REGION)
    missing = (
        "/console/partners/999999", "/console/partners/liguria", "/console/partners/99999999999",
        f"/console/partners/{liguria.id}/servers/999999", f"/console/partners/{liguria.id}/servers/x",
    )  # fmt: skip
    for path in missing:
        response = await browser.get(path)
        assert response.status_code == 404, path


async def test_the_console_audits_a_new_partner_as_the_api_does(browser: Browser, world: World) -> None:
    """The same partner added through the API and through the console: the two audit entries say
    the same (but for the name, the realm and the ids), so the log reads the same either way."""
    await sign_in(browser, REGION)
    token = await browser.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": REGION, "password": PASSWORD}
    )
    api = await browser.post(
        "/api/v1/partners",
        json={
            "name": "viaapi", "display_name": "Same", "realms": ["viaapi.example"],
            "servers": [{"host": "192.0.2.20", "secret": "piemonte-secret-1", "priority": 3}],
        },
        headers={"Authorization": f"Bearer {token.json()['access_token']}"},
    )  # fmt: skip
    assert api.status_code == 201, api.text
    fields = SERVER | {
        "name": "viaconsole",
        "display_name": "Same",
        "realms": "viaconsole.example",
        "priority": "3",
    }
    fields["accept_requests"] = "yes"
    console = await browser.submit("/console/partners", fields, page="/console/partners/new")
    assert console.status_code == 303
    by_api, by_console = await _audit(browser, "partner.create")
    assert by_api.actor == by_console.actor == REGION

    def comparable(entry: AuditEntry) -> dict[str, object]:
        after: dict[str, Any] = json.loads(entry.after or "")
        for key in ("id", "name", "realms"):
            after.pop(key)
        for server in after["servers"]:
            server.pop("id")
        return after

    assert comparable(by_api) == comparable(by_console)
