"""Support's and the DPO's console pages through the app: each role opens exactly what
:data:`accounts.admins.RIGHTS` gives it (the rest is the same 404 as what does not exist); support
finds a citizen by a MAC in another notation, reads the refusals in words, unlocks, resends the
verification, forgets a device; the audit log filters, pages and masks; the requisition page
searches, is audited, and its export verifies with the real ``openssl cms -verify``; and every
reason code the RADIUS server can record has its sentence (read from the server's sources with
Python's own parser)."""

from __future__ import annotations

import ast
import io
import subprocess
import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from accounts import audit, authlog
from accounts.admins import HELP_ACCOUNTS, READ_ACCOUNTS, READ_AUDIT, RIGHTS, SEARCH_RECORDS, WRITE_ACCOUNTS
from accounts.credentials import create_device_credential
from accounts.models import (
    Account,
    AccountingSession,
    AccountStatus,
    AdminRole,
    AuditEntry,
    Device,
    DeviceCredential,
)
from accounts.recordsexport import CSV_NAME, JSON_NAME
from accounts.users import create_account, remember_device
from portal.console import reasons
from portal.i18n import Translator, load_catalogs
from tests.accounts.requisitions import Seeded, seed
from tests.portal.conftest import NOW, Browser, World
from tests.portal.console import ConsolePage, sign_in, sign_out
from tests.portal.test_admin_api_requisitions import ca_file, openssl_verify  # noqa: F401 - a fixture

ROOT = Path(__file__).resolve().parents[2]
EMAILS = {
    AdminRole.REGION_ADMIN: "region@test.example",
    AdminRole.COMMUNE_ADMIN: "valence@test.example",
    AdminRole.SUPPORT: "support@test.example",
    AdminRole.AUDITOR: "auditor@test.example",
}
MAC = "02:00:5e:aa:bb:01"


# -- every reason code has its sentence ------------------------------------------------------------


def recorded_reasons() -> set[str]:
    """Every reason code the RADIUS server's sources can write in a decision record: the string
    literals given to ``attempt.reject``, ``_refuse``, ``_refusal``, ``reason=`` of a refusal or an
    inner failure, the failure limiter's ``Block`` values, the inner phases' ``INNER_REASONS``."""
    found: set[str] = set()
    for path in sorted((ROOT / "radius").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Call):
                name = (
                    node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
                )
                position = {"reject": 0, "_refuse": 0, "_refusal": 1}.get(name)
                if position is not None and len(node.args) > position:
                    for leaf in ast.walk(node.args[position]):  # a literal, or a choice of two
                        if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str):
                            found.add(leaf.value)
                if name in ("Refused", "InnerFailure", "MethodEnded", "_refusal"):
                    for kw in node.keywords:
                        if kw.arg == "reason":
                            for leaf in ast.walk(kw.value):
                                if isinstance(leaf, ast.Constant) and isinstance(leaf.value, str):
                                    found.add(leaf.value)
            targets = node.targets if isinstance(node, ast.Assign) else []
            value = node.value if isinstance(node, ast.Assign) else None
            if (
                any(isinstance(t, ast.Attribute) and t.attr == "reason" for t in targets)
                and isinstance(value, ast.Constant)
                and isinstance(value.value, str)
            ):
                found.add(value.value)
            if isinstance(node, ast.ClassDef) and node.name == "Block":
                for item in node.body:
                    if isinstance(item, ast.Assign) and isinstance(item.value, ast.Constant):
                        found.add(str(item.value.value))
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "INNER_REASONS" for t in node.targets
            ):
                found |= {str(c.value) for c in ast.walk(node.value) if isinstance(c, ast.Constant)}
    found.discard("")  # a success's empty reason
    return found


def test_every_reason_the_radius_server_records_has_a_sentence() -> None:
    codes = recorded_reasons()
    # the reader finds what we know is there (it would find nothing if the sources moved)
    assert {
        "bad_password",
        "account_locked",
        "rate_limited",
        "tls_failed",
        "accepted",
        "eap_timeout",
    } <= codes
    missing = sorted(codes - set(reasons.SENTENCES))
    assert missing == [], f"reason codes without a sentence in portal/console/reasons.py: {missing}"
    assert all(s.strip().endswith(".") and s[0].isupper() for s in reasons.SENTENCES.values())
    assert len(set(reasons.SENTENCES.values())) == len(reasons.SENTENCES)  # each says something of its own


class _Page:
    """What :func:`portal.console.reasons.in_words` reads of a page: its translator."""

    def __init__(self, language: str) -> None:
        self.t = Translator(language, load_catalogs([language])[language])

    def _(self, message: str, **values: object) -> str:
        return self.t.gettext(message, **values)


@pytest.mark.parametrize("language", ["fr", "it"])
def test_every_sentence_is_translated_and_an_unknown_code_is_named(language: str) -> None:
    english, other = _Page("en"), _Page(language)
    for code, sentence in reasons.SENTENCES.items():
        assert reasons.in_words(english, code) == sentence  # type: ignore[arg-type]
        assert reasons.in_words(other, code) != sentence, (language, code)  # type: ignore[arg-type]
    assert "some_new_code" in reasons.in_words(other, "some_new_code")  # type: ignore[arg-type]


# -- the rights matrix ------------------------------------------------------------------------------


@pytest.fixture
async def citizen(browser: Browser, world: World) -> int:
    """A locked, unverified citizen with a remembered device and three refusals, then an accept."""
    portal = browser.portal
    async with portal.transaction() as session:
        account = await create_account(
            session, hasher=portal.hasher, region=await portal.region(session), username="lucie",
            email="lucie@example.fr", password="lucie's own passphrase 26", verified=False,
        )  # fmt: skip
        await remember_device(
            session, account=account, mac=MAC, label="Pixel", until=NOW + timedelta(days=30)
        )
        account.status = AccountStatus.LOCKED
        ident = account.id
    decisions = [
        authlog.Decision(
            authdate=NOW - timedelta(minutes=10 - i),
            username="lucie@" + portal.config.realm,
            reply="Access-Reject",
            method="pap",
            reason=reason,
            account_id=ident,
            callingstationid="02-00-5E-AA-BB-01",
            calledstationid="AA-BB-CC-00-00-01:Valence",
        )
        for i, reason in enumerate(("bad_password", "rate_limited", "account_locked"))
    ]
    async with portal.transaction() as session:
        await authlog.record_decisions(session, decisions)
    return ident


def pages(citizen: int) -> dict[str, tuple[str, str | None]]:
    """Every page and action of these two areas: (method and path, the scope it needs)."""
    c = f"/console/citizens/{citizen}"
    return {
        "GET /console/citizens?q=lucie": ("", READ_ACCOUNTS),
        f"GET {c}": ("", READ_ACCOUNTS),
        f"POST {c}/unlock": ("", HELP_ACCOUNTS),
        f"POST {c}/resend-verification": ("", HELP_ACCOUNTS),
        f"POST {c}/devices/forget": (f"mac={MAC}", HELP_ACCOUNTS),
        f"POST {c}/disable": ("", WRITE_ACCOUNTS),
        f"POST {c}/enable": ("", WRITE_ACCOUNTS),
        "GET /console/audit": ("", READ_AUDIT),
        "GET /console/requisitions": ("", SEARCH_RECORDS),
        "POST /console/requisitions": ("kind=ip&value=192.0.2.1", SEARCH_RECORDS),
    }


@pytest.mark.parametrize("role", list(AdminRole))
async def test_each_role_opens_exactly_what_its_rights_give(
    browser: Browser, world: World, citizen: int, role: AdminRole
) -> None:
    await sign_in(browser, EMAILS[role])
    for what, (fields, scope) in pages(citizen).items():
        method, path = what.split(" ", 1)
        if method == "GET":
            response = await browser.get(path)
        else:
            form = dict(pair.split("=", 1) for pair in fields.split("&") if pair)
            response = await browser.submit(path, form, page="/console/security")
        allowed = scope in RIGHTS[role]
        if allowed:
            assert response.status_code in (200, 303, 400), (role, what, response.status_code)
        else:
            assert response.status_code == 404, (role, what, response.status_code)
            assert ConsolePage(response.text).h1 == "Not found"
            assert "lucie" not in response.text
    home = ConsolePage((await browser.get("/console/security")).text)
    for path, scope in (
        ("/console/citizens", READ_ACCOUNTS),
        ("/console/audit", READ_AUDIT),
        ("/console/requisitions", SEARCH_RECORDS),
    ):
        assert (path in home.nav) == (scope in RIGHTS[role]), (role, path)


async def test_a_missing_citizen_or_session_is_the_same_404(
    browser: Browser, world: World, citizen: int
) -> None:
    await sign_in(browser, EMAILS[AdminRole.SUPPORT])
    for path in ("/console/citizens/999999", "/console/citizens/abc", "/console/citizens/0"):
        assert (await browser.get(path)).status_code == 404
    other = await browser.submit(
        f"/console/citizens/{citizen}/sessions/999999/disconnect", {}, page="/console/security"
    )
    assert other.status_code == 404
    forged = await browser.post(f"/console/citizens/{citizen}/unlock", data={"csrf_token": "forged"})
    assert forged.status_code == 400  # the CSRF check comes first
    async with browser.portal.transaction() as session:
        assert (await session.get_one(Account, citizen)).status == AccountStatus.LOCKED


# -- support's task ---------------------------------------------------------------------------------


async def test_support_finds_by_mac_reads_the_refusals_in_words_and_helps(
    browser: Browser, world: World, citizen: int
) -> None:
    await sign_in(browser, EMAILS[AdminRole.SUPPORT])
    for notation in ("0200.5eaa.bb01", "02-00-5E-AA-BB-01", "lucie@example", "LUCIE"):
        found = ConsolePage((await browser.get("/console/citizens", params={"q": notation})).text)
        assert found.row_headers == [f"lucie@{browser.portal.config.realm}"], notation
    assert (
        ConsolePage((await browser.get("/console/citizens", params={"q": "0200.5eaa.bb02"})).text).row_headers
        == []
    )

    page = await browser.get(f"/console/citizens/{citizen}")
    assert page.status_code == 200
    for code in ("bad_password", "rate_limited", "account_locked"):
        assert reasons.SENTENCES[code].replace("'", "&#39;") in page.text
    assert "argon2" not in page.text and "$" not in page.text  # never a hash
    assert f'action="/console/citizens/{citizen}/disable"' not in page.text  # support may not disable

    done = await browser.submit(
        f"/console/citizens/{citizen}/unlock", {}, page=f"/console/citizens/{citizen}"
    )
    assert done.status_code == 303 and done.headers["location"].endswith("?done=unlocked")
    again = await browser.submit(
        f"/console/citizens/{citizen}/unlock", {}, page=f"/console/citizens/{citizen}"
    )
    assert again.headers["location"].endswith("?done=not-locked")
    sent = await browser.submit(
        f"/console/citizens/{citizen}/resend-verification", {}, page=f"/console/citizens/{citizen}"
    )
    assert sent.headers["location"].endswith("?done=sent")
    mail = (await browser.mails())[-1]
    assert mail["To"] == "lucie@example.fr"
    forgot = await browser.submit(
        f"/console/citizens/{citizen}/devices/forget", {"mac": "02-00-5E-AA-BB-01"}, page="/console/security"
    )
    assert forgot.headers["location"].endswith("?done=forgotten")
    async with browser.portal.transaction() as session:
        assert (await session.get_one(Account, citizen)).status == AccountStatus.ACTIVE
        assert await session.scalar(select(Device).where(Device.mac == MAC)) is None
        entries = (await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()
        # what support did to the citizen (their own sign-ins are audited too: staff.sign_in)
        done_by_support = [
            (e.actor, e.action)
            for e in entries
            if e.actor == EMAILS[AdminRole.SUPPORT] and not e.action.startswith("staff.")
        ]
        assert done_by_support == [
            (EMAILS[AdminRole.SUPPORT], "account.unlock"),
            (EMAILS[AdminRole.SUPPORT], "account.resend_verification"),
            (EMAILS[AdminRole.SUPPORT], "device.forget"),
        ]


async def test_a_region_admin_disables_and_enables(browser: Browser, world: World, citizen: int) -> None:
    await sign_in(browser, EMAILS[AdminRole.REGION_ADMIN])
    c = f"/console/citizens/{citizen}"
    assert (await browser.submit(f"{c}/disable", {}, page=c)).headers["location"].endswith("?done=disabled")
    page = ConsolePage((await browser.get(f"{c}?done=disabled")).text)
    assert page.h1 == f"lucie@{browser.portal.config.realm}"
    async with browser.portal.transaction() as session:
        assert (await session.get_one(Account, citizen)).status == AccountStatus.DISABLED
    assert (await browser.submit(f"{c}/enable", {}, page=c)).headers["location"].endswith("?done=enabled")
    async with browser.portal.transaction() as session:
        assert (await session.get_one(Account, citizen)).status == AccountStatus.ACTIVE


# -- the DPO's pages --------------------------------------------------------------------------------


async def test_the_audit_log_filters_pages_and_masks(browser: Browser, world: World) -> None:
    async with browser.portal.transaction() as session:
        for i in range(60):
            await audit.record(
                session, actor="cli:root", action="site.update", target=f"site:{i}",
                at=NOW - timedelta(hours=i),
            )  # fmt: skip
        await audit.record(
            session, actor="someone@test.example", action="client.rotate", target="client:x",
            after={"client_secret": "hunter2-the-secret", "name": "Valence IT"}, at=NOW,
        )  # fmt: skip
    await sign_in(browser, EMAILS[AdminRole.AUDITOR])
    first = await browser.get("/console/audit", params={"action": "site.update"})
    assert first.status_code == 200 and "60 entries" in first.text and "p=2" in first.text
    second = await browser.get("/console/audit", params={"action": "site.update", "p": "2"})
    assert second.text.count("<code>site.update</code>") == 10
    one = await browser.get("/console/audit", params={"target": "site:3"})
    assert "1 entry" in one.text
    window = await browser.get(
        "/console/audit",
        params={"actor": "cli:root", "since": "2026-11-22T00:00", "until": "2026-11-22T06:00"},
    )
    assert "6 entries" in window.text  # 06:00 … 11:00 (12:00 is excluded)
    masked = await browser.get("/console/audit", params={"action": "client.rotate"})
    assert "hunter2" not in masked.text and "client_secret: ***" in masked.text
    bad = await browser.get("/console/audit", params={"since": "yesterday"})
    assert bad.status_code == 400 and ConsolePage(bad.text).alerts


@pytest.fixture
async def seeded(browser: Browser, world: World) -> Seeded:
    portal = browser.portal
    async with portal.transaction() as session:
        return await seed(
            session, region=await portal.region(session), hasher=portal.hasher, box=portal.box,
            t=NOW - timedelta(days=1), commune_id=world.commune_a, site_id=world.site_a,
            other_commune_id=world.commune_b,
        )  # fmt: skip


async def test_the_dpo_searches_and_the_export_verifies_with_openssl(
    browser: Browser,
    seeded: Seeded,
    ca_file: Path,  # noqa: F811 - the fixture imported above
    tmp_path: Path,
) -> None:
    await sign_in(browser, EMAILS[AdminRole.AUDITOR])
    since, until = seeded.window
    fields = {"kind": "mac", "value": "0200.5e10.2030", "since": since.strftime("%Y-%m-%dT%H:%M"),
              "until": until.strftime("%Y-%m-%dT%H:%M")}  # fmt: skip
    response = await browser.submit("/console/requisitions", fields)
    assert response.status_code == 200, response.text
    assert "5 records" in response.text
    async with browser.portal.transaction() as session:
        [entry] = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "requisition.search"))
        ).all()
    assert (entry.actor, entry.target) == (EMAILS[AdminRole.AUDITOR], "mac:02:00:5e:10:20:30")
    link = f"/console/requisitions/{entry.id}/export"
    assert link in ConsolePage(response.text).links
    exported = await browser.get(link)
    assert exported.status_code == 200 and exported.headers["content-type"] == "application/zip"
    folder = tmp_path / "answer"
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        archive.extractall(folder)
    for name in (CSV_NAME, JSON_NAME):
        checked: subprocess.CompletedProcess[bytes] = openssl_verify(folder, name, ca_file)
        assert checked.returncode == 0, checked.stderr.decode()
    (folder / CSV_NAME).write_bytes((folder / CSV_NAME).read_bytes().replace(b"session", b"sessiom", 1))
    assert openssl_verify(folder, CSV_NAME, ca_file).returncode != 0

    refused = await browser.submit("/console/requisitions", fields | {"since": "", "value": "x"})
    assert refused.status_code == 400 and ConsolePage(refused.text).alerts
    wide = fields | {"since": (since - timedelta(days=40)).strftime("%Y-%m-%dT%H:%M")}
    too_wide = await browser.submit("/console/requisitions", wide)
    assert too_wide.status_code == 400 and "narrow it" in too_wide.text
    # another's search is not exported: not even a region admin, nor by the id
    await sign_out(browser)
    await sign_in(browser, EMAILS[AdminRole.REGION_ADMIN])
    assert (await browser.get(link)).status_code == 404


async def test_support_forgets_an_enrolled_device_and_may_not_touch_another_citizens(
    browser: Browser, world: World, citizen: int
) -> None:
    portal = browser.portal
    async with portal.transaction() as session:
        lucie = await session.get_one(Account, citizen)
        other = await create_account(
            session, hasher=portal.hasher, region=await portal.region(session), username="marc",
            email="marc@example.fr", password=None, verified=True,
        )  # fmt: skip
        mine, _ = await create_device_credential(session, box=portal.box, account=lucie, label="Laptop")
        theirs, _ = await create_device_credential(session, box=portal.box, account=other, label="Phone")
        mine_id, theirs_id = mine.id, theirs.id
    await sign_in(browser, EMAILS[AdminRole.SUPPORT])
    c = f"/console/citizens/{citizen}"
    page = await browser.get(c)
    assert "Laptop" in page.text and "Phone" not in page.text
    assert "nt_hash" not in page.text
    # marc's credential through lucie's page: not found, and nothing revoked
    refused = await browser.submit(f"{c}/enrolled/forget", {"kind": "password", "id": str(theirs_id)}, page=c)
    assert refused.status_code == 404
    done = await browser.submit(f"{c}/enrolled/forget", {"kind": "password", "id": str(mine_id)}, page=c)
    assert done.headers["location"].endswith("?done=forgotten")
    async with portal.transaction() as session:
        assert (await session.get_one(DeviceCredential, mine_id)).revoked_at is not None
        assert (await session.get_one(DeviceCredential, theirs_id)).revoked_at is None
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.action == "device.forget").order_by(AuditEntry.id.desc())
        )
        assert entry is not None and entry.actor == EMAILS[AdminRole.SUPPORT]
    assert "Laptop" not in (await browser.get(c)).text


async def test_hostile_query_strings_are_refused_before_any_query(browser: Browser, world: World) -> None:
    await sign_in(browser, EMAILS[AdminRole.AUDITOR])
    for url in (
        "/console/citizens?q=al%00ice",
        "/console/citizens?q=%ED%A0%80",  # a lone surrogate, as UTF-8 cannot carry it
        "/console/audit?actor=root%00",
        "/console/audit?target=account:%07",
    ):
        response = await browser.get(url)
        assert response.status_code == 400, (url, response.status_code)


async def test_an_open_connection_is_listed_and_its_disconnection_asked_for(
    browser: Browser, world: World, citizen: int
) -> None:
    """Without RADIUS in this app the page says disconnecting is not available; a connection that
    ended, or another citizen's, is refused (ended: said; another's: 404)."""
    async with browser.portal.transaction() as session:
        rows = [
            AccountingSession(
                acctsessionid=f"s{i}", acctuniqueid=f"u{i}", nasipaddress="10.1.0.1", account_id=owner,
                acctstarttime=NOW - timedelta(minutes=5), acctstoptime=stop,
                callingstationid="02-00-5E-AA-BB-01",
                framedipaddress=f"100.64.0.{i + 1}", commune_id=world.commune_a, site_id=world.site_a,
            )
            for i, (owner, stop) in enumerate(((citizen, None), (citizen, NOW), (None, None)))
        ]  # fmt: skip
        session.add_all(rows)
        await session.flush()
        open_id, ended_id, other_id = (r.radacctid for r in rows)
    await sign_in(browser, EMAILS[AdminRole.SUPPORT])
    c = f"/console/citizens/{citizen}"
    page = await browser.get(c)
    assert "100.64.0.1" in page.text and "100.64.0.2" not in page.text  # the open one only
    asked = await browser.submit(f"{c}/sessions/{open_id}/disconnect", {}, page=c)
    assert asked.headers["location"].endswith("?done=no-coa")
    ended = await browser.submit(f"{c}/sessions/{ended_id}/disconnect", {}, page=c)
    assert ended.headers["location"].endswith("?done=ended")
    other = await browser.submit(f"{c}/sessions/{other_id}/disconnect", {}, page=c)
    assert other.status_code == 404
