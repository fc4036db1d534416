"""``GET /api/v1/accounts/export.csv``: the region admin's CSV of every account, streamed over
several pages, without a secret, formula cells neutralised, audited; the others are refused
(every role: tests/portal/test_admin_api_rights.py)."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from accounts import accountexport
from accounts.models import Account, AuditEntry
from accounts.users import create_account
from tests.portal.conftest import Browser, World, bearer, token


async def test_the_region_admin_exports_every_account_without_a_secret(
    browser: Browser, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    portal = browser.portal
    monkeypatch.setattr(accountexport, "PAGE", 2)  # several pages: the keyset pagination is walked
    async with portal.transaction() as session:
        region = await portal.region(session)
        for name, email in [
            ("anna", "anna@example.fr"),
            ("bruno", "-2+3@example.fr"),
            ("cleo", "cleo@example.fr"),
        ]:
            await create_account(
                session, hasher=portal.hasher, region=region, username=name, email=email,
                password="a long enough password", verified=True,
            )  # fmt: skip
        hashes = [h for h in (await session.scalars(select(Account.password_hash))).all() if h]
    response = await browser.get(
        "/api/v1/accounts/export.csv", headers=bearer(await token(browser, "region@test.example"))
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.headers["cache-control"] == "no-store"
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [row["username"] for row in rows] == ["anna", "bruno", "cleo"]
    assert rows[1]["email"] == "'-2+3@example.fr"
    assert rows[0]["has_password"] == "1" and rows[0]["legacy_password"] == "0"
    assert not any(h in response.text for h in hashes) and "argon2" not in response.text
    async with portal.transaction() as session:
        audited = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "accounts.export"))
        ).all()
    assert [entry.actor for entry in audited] == ["region@test.example"]


async def test_support_and_the_auditor_may_not_export(browser: Browser, world: World) -> None:
    for email in ("support@test.example", "auditor@test.example", "valence@test.example"):
        response = await browser.get(
            "/api/v1/accounts/export.csv", headers=bearer(await token(browser, email))
        )
        assert response.status_code == 403, email
