"""A commune's guest vouchers in the console: the batches (made, used, revoked), a form to make a
batch for an event or a desk, the sheet of tickets to print (PDF), revocation.

The same services and audit actions as ``/api/v1/vouchers`` (``voucher_batch.create``,
``.print``, ``.revoke``); the batches are the commune's (a region's batch, for every commune, is
made through the API). Reading needs ``network:read``; making, printing and revoking
``network:write`` (the codes are on the sheet). Another commune's batch is the one 404.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy import select

from accounts import audit, reach, vouchers
from accounts.admins import READ_NETWORK, WRITE_NETWORK, Reach
from accounts.errors import DomainError, InvalidInput, NotFound
from accounts.models import Site, VoucherBatch
from portal.api.vouchers import printed_sheet
from portal.console.editing import CommuneRef, ident, number, problem, read, ref
from portal.console.render import not_found, render
from portal.console.session import StaffDep
from portal.context import Page, PageDep
from portal.voucherpdf import TIMEZONE

router = APIRouter(prefix="/console", include_in_schema=False)


async def _commune(page: Page, staff: Any, raw: str, scope: str) -> CommuneRef | None:
    commune_id = ident(raw)
    if commune_id is None or not staff.may(scope):
        return None
    async with page.portal.transaction() as session:
        try:
            return ref(await reach.commune_in_reach(session, reach=staff.reach, commune_id=commune_id))
        except NotFound:
            return None


async def _batch(
    page: Page, staff: Any, raw: str, raw_batch: str, scope: str
) -> tuple[CommuneRef, int] | None:
    commune = await _commune(page, staff, raw, scope)
    batch_id = ident(raw_batch)
    if commune is None or batch_id is None:
        return None
    async with page.portal.transaction() as session:
        try:
            batch = await vouchers.get_batch(session, reach=Reach(commune_id=commune.id), batch_id=batch_id)
        except NotFound:
            return None
    return commune, batch.id


def _local(value: str) -> datetime | None:
    """A ``datetime-local`` field, in the region's time zone."""
    try:
        return datetime.fromisoformat(value.strip()).replace(tzinfo=ZoneInfo(TIMEZONE)).astimezone(UTC)
    except ValueError:
        return None


async def _page(
    page: Page, staff: Any, commune: CommuneRef, *, values: dict[str, str] | None = None,
    error: str | None = None, made: int | None = None, status_code: int = 200,
) -> Response:  # fmt: skip
    async with page.portal.transaction() as session:
        rows, _total = await vouchers.list_batches(session, reach=Reach(commune_id=commune.id), limit=100)
        batches = []
        for batch in rows:
            used, remaining = await vouchers.usage_of(session, batch)
            batches.append({"batch": batch, "used": used, "remaining": remaining})
        sites = (
            await session.execute(
                select(Site.id, Site.name).where(Site.commune_id == commune.id).order_by(Site.name)
            )
        ).all()
    zone = ZoneInfo(TIMEZONE)
    now = page.portal.now().astimezone(zone).replace(second=0, microsecond=0, tzinfo=None)
    defaults = {
        "label": "",
        "count": "10",
        "valid_from": now.isoformat(timespec="minutes"),
        "valid_until": (now + timedelta(days=1)).isoformat(timespec="minutes"),
        "duration_minutes": "120",
        "data_megabytes": "",
        "max_devices": "1",
    }
    return render(
        page, "commune/vouchers.html", staff=staff, commune=commune, batches=batches, sites=sites,
        values=values or defaults, error=error, made=made, zone=zone, status_code=status_code,
    )  # fmt: skip


@router.get("/communes/{commune_id}/vouchers")
async def voucher_batches(page: PageDep, staff: StaffDep, commune_id: str) -> Response:
    commune = await _commune(page, staff, commune_id, READ_NETWORK)
    if commune is None:
        return not_found(page, staff)
    return await _page(page, staff, commune)


@router.post("/communes/{commune_id}/vouchers")
async def make_batch(page: PageDep, staff: StaffDep, commune_id: str) -> Response:
    form = await read(page)
    commune = await _commune(page, staff, commune_id, WRITE_NETWORK)
    if commune is None:
        return not_found(page, staff)
    values = {name: form.get(name, "")[:200] for name in (
        "label", "count", "valid_from", "valid_until", "duration_minutes", "data_megabytes", "max_devices"
    )}  # fmt: skip
    try:
        numbers = {
            k: number(values[k]) for k in ("count", "duration_minutes", "data_megabytes", "max_devices")
        }
        if any(isinstance(v, str) for v in numbers.values()) or None in (
            numbers["count"],
            numbers["duration_minutes"],
            numbers["max_devices"],
        ):
            raise InvalidInput(
                "count, duration and devices are whole numbers; the data allowance one or empty"
            )
        start, end = _local(values["valid_from"]), _local(values["valid_until"])
        if start is None or end is None:
            raise InvalidInput("give the start and the end of the validity window")
        wanted = [ident(raw) for raw in (await page.request.form()).getlist("site") if isinstance(raw, str)]
        async with page.portal.transaction() as session:
            place = await reach.commune_in_reach(session, reach=staff.reach, commune_id=commune.id)
            sites = [
                await reach.site_in_reach(session, reach=Reach(commune_id=commune.id), site_id=site_id)
                for site_id in wanted
                if site_id is not None
            ]
            megabytes = numbers["data_megabytes"]
            batch, _codes = await vouchers.create_batch(
                session, box=page.portal.box, region=await page.portal.region(session), commune=place,
                spec=vouchers.BatchSpec(
                    label=values["label"], count=int(numbers["count"] or 0),
                    valid_from=start, valid_until=end,
                    duration=timedelta(minutes=int(numbers["duration_minutes"] or 0)),
                    octets_limit=None if megabytes is None else int(megabytes) * 1_000_000,
                    max_devices=int(numbers["max_devices"] or 0), sites=sites,
                ),
                created_by=staff.actor, now=page.portal.now(),
            )  # fmt: skip
            await audit.record(
                session, actor=staff.actor, action="voucher_batch.create", target=f"voucher_batch:{batch.id}",
                commune_id=commune.id, after=_summary(batch, [s.id for s in sites]),
            )  # fmt: skip
            made = batch.id
    except NotFound:
        return not_found(page, staff)
    except DomainError as error:
        return await _page(page, staff, commune, values=values, error=problem(page, error), status_code=400)
    return await _page(page, staff, commune, made=made)


def _summary(batch: VoucherBatch, site_ids: list[int]) -> dict[str, object]:
    return {
        "label": batch.label, "count": batch.count, "valid_from": batch.valid_from.isoformat(),
        "valid_until": batch.valid_until.isoformat(), "duration_minutes": batch.duration_seconds // 60,
        "octets_limit": batch.octets_limit, "max_devices": batch.max_devices, "site_ids": site_ids,
    }  # fmt: skip


@router.get("/communes/{commune_id}/vouchers/{batch_id}/pdf")
async def print_batch(page: PageDep, staff: StaffDep, commune_id: str, batch_id: str) -> Response:
    found = await _batch(page, staff, commune_id, batch_id, WRITE_NETWORK)
    if found is None:
        return not_found(page, staff)
    commune, ident_ = found
    try:
        async with page.portal.transaction() as session:
            batch = await session.get_one(VoucherBatch, ident_)
            data = await printed_sheet(session, page.portal, batch, page._)
            await audit.record(
                session, actor=staff.actor, action="voucher_batch.print", target=f"voucher_batch:{ident_}",
                commune_id=commune.id,
            )  # fmt: skip
    except DomainError as error:
        return await _page(page, staff, commune, error=problem(page, error), status_code=409)
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="vouchers-{ident_}.pdf"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/communes/{commune_id}/vouchers/{batch_id}/revoke")
async def revoke_batch(page: PageDep, staff: StaffDep, commune_id: str, batch_id: str) -> Response:
    await read(page)
    found = await _batch(page, staff, commune_id, batch_id, WRITE_NETWORK)
    if found is None:
        return not_found(page, staff)
    commune, ident_ = found
    async with page.portal.transaction() as session:
        batch = await session.get_one(VoucherBatch, ident_)
        before = batch.revoked_at
        await vouchers.revoke_batch(session, batch=batch, now=page.portal.now())
        await audit.record(
            session, actor=staff.actor, action="voucher_batch.revoke", target=f"voucher_batch:{ident_}",
            commune_id=commune.id, before={"revoked_at": before}, after={"revoked_at": batch.revoked_at},
        )  # fmt: skip
    return await _page(page, staff, commune)
