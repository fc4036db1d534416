"""``/api/v1/vouchers`` on SQLite and PostgreSQL: a commune admin's batches within their commune
(another commune's is 404), what support sees (batches, never codes), revocation, the audit, and
the PDF read back — its codes by ``pdftotext``, its QR codes by ``zbarimg`` — pointing at the
portal's voucher page with each code."""

from __future__ import annotations

import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from accounts import vouchers
from accounts.admins import Reach
from accounts.models import AuditEntry
from tests.conftest import IN_CI
from tests.portal.conftest import NOW, PUBLIC_URL, Browser, World, bearer, token


def run(*command: str) -> str:
    """A tool's output (the tests' reading of the sheet: quick, so run in place)."""
    return subprocess.run(command, capture_output=True, text=True, check=True).stdout


def read_sheet(data: bytes, folder: Path) -> tuple[str, list[str], int]:
    """The PDF's text, what its QR codes say, and its number of pages."""
    sheet = folder / "sheet.pdf"
    sheet.write_bytes(data)
    text = run(need("pdftotext"), str(sheet), "-")
    run(need("pdftoppm"), "-r", "150", "-png", str(sheet), str(folder / "page"))
    pages = sorted(folder.glob("page*.png"))
    return text, run(need("zbarimg"), "-q", "--raw", *map(str, pages)).split(), len(pages)


def need(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        message = f"{tool} is needed (Debian: zbar-tools, poppler-utils)"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return found


def _body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "label": "Conseil municipal du 8 décembre",
        "count": 12,
        "valid_from": NOW.isoformat(),
        "valid_until": (NOW + timedelta(days=2)).isoformat(),
        "duration_minutes": 120,
        "data_megabytes": 500,
        "max_devices": 2,
    }
    body.update(overrides)
    return body


async def test_a_commune_admin_makes_and_prints_a_batch_of_their_commune(
    browser: Browser, world: World, tmp_path: Path
) -> None:
    valence = bearer(await token(browser, "valence@test.example"))
    made = await browser.post("/api/v1/vouchers", json=_body(site_ids=[world.site_a]), headers=valence)
    assert made.status_code == 201, made.text
    batch = made.json()
    assert batch["commune_id"] == world.commune_a and batch["site_ids"] == [world.site_a]
    assert batch["count"] == 12 and batch["remaining"] == 12 and batch["used"] == 0
    assert batch["created_by"] == "valence@test.example" and "codes" not in batch

    pdf = await browser.get(f"/api/v1/vouchers/{batch['id']}/pdf", headers=valence)
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["cache-control"] == "no-store"
    text, scanned, pages = read_sheet(pdf.content, tmp_path)
    async with browser.portal.transaction() as session:
        stored = await vouchers.get_batch(session, reach=Reach(), batch_id=batch["id"])
        codes = [
            code for _n, code in await vouchers.batch_codes(session, box=browser.portal.box, batch=stored)
        ]
    assert len(codes) == 12 and all(code in text for code in codes)
    assert "Valence" in text and "Conseil municipal" in text and "Data: 500 MB" in text
    assert pages == 2  # ten tickets a page
    assert sorted(scanned) == sorted(f"{PUBLIC_URL}/voucher?code={code}" for code in codes)

    revoked = await browser.post(f"/api/v1/vouchers/{batch['id']}/revoke", headers=valence)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None
    assert (await browser.get(f"/api/v1/vouchers/{batch['id']}/pdf", headers=valence)).status_code == 409
    async with browser.portal.transaction() as session:
        actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
        entries = (await session.scalars(select(AuditEntry))).all()
    assert [a for a in actions if a.startswith("voucher_batch.")] == [
        "voucher_batch.create",
        "voucher_batch.print",
        "voucher_batch.revoke",
    ]
    assert all(code not in (e.after or "") + (e.before or "") for e in entries for code in codes)


async def test_the_reach_ends_at_the_commune(browser: Browser, world: World) -> None:
    valence = bearer(await token(browser, "valence@test.example"))
    region = bearer(await token(browser, "region@test.example"))
    support = bearer(await token(browser, "support@test.example"))
    nice = await browser.post(
        "/api/v1/vouchers", json=_body(commune_id=world.commune_b, count=2), headers=region
    )
    regional = await browser.post("/api/v1/vouchers", json=_body(count=1), headers=region)
    assert nice.status_code == regional.status_code == 201
    assert nice.json()["commune_id"] == world.commune_b and regional.json()["commune_id"] is None
    ours = await browser.post("/api/v1/vouchers", json=_body(count=1), headers=valence)
    assert ours.json()["commune_id"] == world.commune_a  # theirs without saying so
    # another commune's batch, site or commune: the same 404 as a missing one
    for path in (f"/api/v1/vouchers/{nice.json()['id']}", f"/api/v1/vouchers/{regional.json()['id']}",
                 "/api/v1/vouchers/999999", f"/api/v1/vouchers/{nice.json()['id']}/pdf"):  # fmt: skip
        assert (await browser.get(path, headers=valence)).status_code == 404, path
    assert (
        await browser.post(f"/api/v1/vouchers/{nice.json()['id']}/revoke", headers=valence)
    ).status_code == 404
    for body in (
        _body(site_ids=[world.site_b]),
        _body(commune_id=world.commune_b),
        _body(commune_ids=[world.commune_b]),
    ):
        assert (await browser.post("/api/v1/vouchers", json=body, headers=valence)).status_code == 404
    listed = (await browser.get("/api/v1/vouchers", headers=valence)).json()
    assert [b["id"] for b in listed["items"]] == [ours.json()["id"]] and listed["total"] == 1
    assert (await browser.get("/api/v1/vouchers", headers=region)).json()["total"] == 3
    # support reads the batches, never prints them
    assert (await browser.get("/api/v1/vouchers", headers=support)).json()["total"] == 3
    assert (
        await browser.get(f"/api/v1/vouchers/{ours.json()['id']}/pdf", headers=support)
    ).status_code == 403
    # a region's batch cannot name a site of one commune and a commune's batch another's
    mixed = _body(commune_id=world.commune_a, site_ids=[world.site_b])
    assert (await browser.post("/api/v1/vouchers", json=mixed, headers=region)).status_code == 422


@pytest.mark.parametrize(
    "change",
    [
        {"count": 0},
        {"count": 501},
        {"label": ""},
        {"label": "a\nb"},
        {"label": "x" * 121},
        {"valid_from": "2026-12-08T09:00:00"},  # naive
        {"valid_until": NOW.isoformat()},
        {"duration_minutes": 1},
        {"max_devices": 11},
        {"data_megabytes": 0},
        {"site_ids": list(range(1, 102))},
        {"surprise": 1},
    ],
)
async def test_what_the_api_refuses(browser: Browser, world: World, change: dict[str, object]) -> None:
    valence = bearer(await token(browser, "valence@test.example"))
    response = await browser.post("/api/v1/vouchers", json=_body(**change), headers=valence)
    assert response.status_code == 422, response.text
