"""The commune's voucher page of the console, as a browser uses it (SQLite and PostgreSQL): a
commune admin makes a batch for one site, downloads its sheet, revokes it; another commune's
batch is the one 404; support sees the batches but neither the form nor the sheet."""

from __future__ import annotations

from sqlalchemy import select

from accounts import vouchers
from accounts.admins import Reach
from accounts.models import AuditEntry, Commune, VoucherBatch
from tests.portal.conftest import Browser, World
from tests.portal.console import sign_in

VALENCE, REGION, SUPPORT = "valence@test.example", "region@test.example", "support@test.example"


def _form(**changes: str) -> dict[str, str]:
    form = {
        "label": "Forum des associations",
        "count": "3",
        "valid_from": "2026-11-22T13:00",
        "valid_until": "2026-11-23T13:00",
        "duration_minutes": "90",
        "data_megabytes": "200",
        "max_devices": "1",
    }
    return form | changes


async def test_a_commune_admin_makes_prints_and_revokes_a_batch(browser: Browser, world: World) -> None:
    await sign_in(browser, VALENCE)
    path = f"/console/communes/{world.commune_a}/vouchers"
    page = await browser.get(path)
    assert page.status_code == 200 and "No batch yet." in page.text and path in page.text
    made = await browser.submit(path, _form(site=str(world.site_a)))
    assert made.status_code == 200 and "The batch is made" in made.text, made.text[:2000]
    async with browser.portal.transaction() as session:
        batch = (await session.scalars(select(VoucherBatch))).one()
        assert batch.commune_id == world.commune_a and batch.count == 3 and batch.duration_seconds == 5400
        assert batch.octets_limit == 200_000_000 and batch.created_by == VALENCE
        assert await vouchers.places_of(session, batch) == ([], [world.site_a])
        assert batch.valid_from.hour == 12  # 13:00 in Paris is 12:00 UTC in November
        codes = [c for _n, c in await vouchers.batch_codes(session, box=browser.portal.box, batch=batch)]
    sheet = await browser.get(f"{path}/{batch.id}/pdf")
    assert sheet.status_code == 200 and sheet.content.startswith(b"%PDF")
    assert sheet.headers["content-disposition"] == f'attachment; filename="vouchers-{batch.id}.pdf"'
    listing = (await browser.get(path)).text
    assert all(code not in listing for code in codes)  # the page never shows them
    bad = await browser.submit(path, _form(count="9999"), page=path)
    assert bad.status_code == 400 and "This cannot be saved" in bad.text
    revoked = await browser.submit(f"{path}/{batch.id}/revoke", {}, page=path)
    assert revoked.status_code == 200 and "Revoked" in revoked.text
    async with browser.portal.transaction() as session:
        actions = (
            await session.scalars(select(AuditEntry.action).where(AuditEntry.action.like("voucher%")))
        ).all()
    assert sorted(actions) == ["voucher_batch.create", "voucher_batch.print", "voucher_batch.revoke"]


async def test_another_communes_batch_is_the_one_404(browser: Browser, world: World) -> None:
    async with browser.portal.transaction() as session:
        region = await browser.portal.region(session)
        commune_b = await session.get_one(Commune, world.commune_b)
        theirs, _ = await vouchers.create_batch(
            session, box=browser.portal.box, region=region, commune=commune_b, created_by="x",
            now=browser.portal.now(), spec=vouchers.BatchSpec(
                label="Gare", count=1, valid_from=browser.portal.now(),
                valid_until=browser.portal.now() + vouchers.MIN_DURATION * 100,
                duration=vouchers.MIN_DURATION,
            ),
        )  # fmt: skip
        theirs_id = theirs.id
    await sign_in(browser, VALENCE)
    mine = f"/console/communes/{world.commune_a}/vouchers"
    for path in (f"/console/communes/{world.commune_b}/vouchers", f"{mine}/{theirs_id}/pdf",
                 f"/console/communes/{world.commune_b}/vouchers/{theirs_id}/pdf", f"{mine}/999999/pdf",
                 f"{mine}/%00/pdf"):  # fmt: skip
        assert (await browser.get(path)).status_code == 404, path
    assert (await browser.submit(f"{mine}/{theirs_id}/revoke", {}, page=mine)).status_code == 404
    async with browser.portal.transaction() as session:
        assert (await vouchers.get_batch(session, reach=Reach(), batch_id=theirs_id)).revoked_at is None


async def test_support_reads_the_batches_only(browser: Browser, world: World) -> None:
    await sign_in(browser, VALENCE)
    path = f"/console/communes/{world.commune_a}/vouchers"
    await browser.submit(path, _form())
    browser.cookies.clear()
    await sign_in(browser, SUPPORT)
    page = await browser.get(path)
    assert page.status_code == 200 and "Forum des associations" in page.text
    assert "Make a batch" not in page.text and "/pdf" not in page.text
    async with browser.portal.transaction() as session:
        batch_id = (await session.scalars(select(VoucherBatch.id))).one()
    assert (await browser.get(f"{path}/{batch_id}/pdf")).status_code == 404
