"""Guests' vouchers under ``/api/v1/vouchers``: batches created, listed, read, revoked, and printed
as a PDF sheet of tickets (docs/vouchers.md).

Reach: a commune admin makes and sees their commune's batches only (another commune's is 404, as
a missing one), and names only their commune's sites; a region admin makes a commune's batch or
the region's (``commune_id`` left out). Creating, revoking and printing need ``network:write``
(the codes are on the sheet: support and the auditor, who read the network, see the batches but
never the codes). Every change and every print is audited.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.concurrency import run_in_threadpool

from accounts import audit, vouchers
from accounts.admins import READ_NETWORK, WRITE_NETWORK
from accounts.errors import Conflict
from accounts.models import Commune, VoucherBatch
from portal.api.auth import Principal, require
from portal.api.common import MAX_ID, Id, Page, PageParams
from portal.api.inputs import Instant, Text
from portal.api.network import commune_in_reach, site_in_reach
from portal.context import Portal, PortalDep
from portal.voucherpdf import Sheet, describe, render

router = APIRouter(prefix="/vouchers", tags=["vouchers"])

Reader = Annotated[Principal, Depends(require(READ_NETWORK))]
Writer = Annotated[Principal, Depends(require(WRITE_NETWORK))]
PlaceIds = Annotated[list[Annotated[int, Field(ge=1, le=MAX_ID)]], Field(max_length=100)]


class BatchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    label: Text = Field(min_length=1, max_length=120, description="what it is for: the event or the desk")
    count: int = Field(ge=1, le=vouchers.MAX_COUNT, description="how many vouchers")
    valid_from: Instant = Field(description="when they start working")
    valid_until: Instant = Field(description="when they stop working, used or not (at most a year later)")
    duration_minutes: int = Field(
        ge=5, le=366 * 24 * 60, description="how long each lasts from its first use"
    )
    data_megabytes: int | None = Field(
        default=None, ge=1, le=10**9, description="data allowance of each (in + out, 10⁶ octets); null: none"
    )
    max_devices: int = Field(
        default=1, ge=1, le=vouchers.MAX_DEVICES, description="devices connected at once"
    )
    commune_id: int | None = Field(
        default=None, ge=1, le=MAX_ID, description="the commune whose batch it is (a commune admin: theirs)"
    )
    commune_ids: PlaceIds = Field(default_factory=list, description="communes where they work")
    site_ids: PlaceIds = Field(
        default_factory=list,
        description="sites where they work; none of either: the batch's commune (or the region)",
    )


class BatchOut(BaseModel):
    id: int
    commune_id: int | None
    label: str
    count: int
    valid_from: datetime
    valid_until: datetime
    duration_minutes: int
    data_megabytes: int | None
    max_devices: int
    commune_ids: list[int]
    site_ids: list[int]
    created_by: str
    created_at: datetime
    revoked_at: datetime | None
    used: int = Field(description="vouchers used at least once (of those not yet purged)")
    remaining: int = Field(description="vouchers not yet purged")


async def _out(session: AsyncSession, batch: VoucherBatch) -> BatchOut:
    communes, sites = await vouchers.places_of(session, batch)
    used, remaining = await vouchers.usage_of(session, batch)
    return BatchOut(
        id=batch.id,
        commune_id=batch.commune_id,
        label=batch.label,
        count=batch.count,
        valid_from=batch.valid_from,
        valid_until=batch.valid_until,
        duration_minutes=batch.duration_seconds // 60,
        data_megabytes=None if batch.octets_limit is None else batch.octets_limit // 1_000_000,
        max_devices=batch.max_devices,
        commune_ids=communes,
        site_ids=sites,
        created_by=batch.created_by,
        created_at=batch.created_at,
        revoked_at=batch.revoked_at,
        used=used,
        remaining=remaining,
    )


def _summary(out: BatchOut) -> dict[str, object]:
    return out.model_dump(mode="json", exclude={"used", "remaining"})


@router.post("", response_model=BatchOut, status_code=201)
async def create_batch(body: BatchIn, who: Writer, portal: PortalDep) -> BatchOut:
    async with portal.transaction() as session:
        commune_id = body.commune_id if who.reach.region_wide else (body.commune_id or who.reach.commune_id)
        commune = None if commune_id is None else await commune_in_reach(session, who.reach, commune_id)
        batch, _codes = await vouchers.create_batch(
            session,
            box=portal.box,
            region=await portal.region(session),
            commune=commune,
            spec=vouchers.BatchSpec(
                label=body.label,
                count=body.count,
                valid_from=body.valid_from,
                valid_until=body.valid_until,
                duration=timedelta(minutes=body.duration_minutes),
                octets_limit=None if body.data_megabytes is None else body.data_megabytes * 1_000_000,
                max_devices=body.max_devices,
                communes=[await commune_in_reach(session, who.reach, c) for c in body.commune_ids],
                sites=[await site_in_reach(session, who.reach, s) for s in body.site_ids],
            ),
            created_by=who.actor,
            now=portal.now(),
        )
        out = await _out(session, batch)
        await audit.record(
            session, actor=who.actor, action="voucher_batch.create", target=f"voucher_batch:{batch.id}",
            commune_id=batch.commune_id, after=_summary(out),
        )  # fmt: skip
    return out


@router.get("", response_model=Page[BatchOut])
async def list_batches(
    who: Reader, portal: PortalDep, params: Annotated[PageParams, Depends()]
) -> Page[BatchOut]:
    async with portal.transaction() as session:
        rows, total = await vouchers.list_batches(
            session, reach=who.reach, limit=params.limit, offset=params.offset
        )
        items = [await _out(session, batch) for batch in rows]
    return Page(items=items, total=total, limit=params.limit, offset=params.offset)


@router.get("/{batch_id}", response_model=BatchOut)
async def get_batch(batch_id: Id, who: Reader, portal: PortalDep) -> BatchOut:
    async with portal.transaction() as session:
        return await _out(session, await vouchers.get_batch(session, reach=who.reach, batch_id=batch_id))


@router.post("/{batch_id}/revoke", response_model=BatchOut)
async def revoke_batch(batch_id: Id, who: Writer, portal: PortalDep) -> BatchOut:
    async with portal.transaction() as session:
        batch = await vouchers.get_batch(session, reach=who.reach, batch_id=batch_id)
        before = batch.revoked_at
        await vouchers.revoke_batch(session, batch=batch, now=portal.now())
        out = await _out(session, batch)
        await audit.record(
            session, actor=who.actor, action="voucher_batch.revoke", target=f"voucher_batch:{batch.id}",
            commune_id=batch.commune_id, before={"revoked_at": before},
            after={"revoked_at": batch.revoked_at},
        )  # fmt: skip
    return out


async def printed_sheet(
    session: AsyncSession, portal: Portal, batch: VoucherBatch, gettext: Callable[[str], str]
) -> bytes:
    """The batch's sheet of tickets (a revoked batch is not printed: :class:`Conflict`)."""
    if batch.revoked_at is not None:
        raise Conflict("this batch is revoked: its vouchers no longer work")
    codes = [code for _number, code in await vouchers.batch_codes(session, box=portal.box, batch=batch)]
    place = portal.config.region_name
    if batch.commune_id is not None:
        place = (await session.get_one(Commune, batch.commune_id)).name
    sheet = Sheet(
        title=f"{place} · {batch.label}",
        lines=describe(
            valid_from=batch.valid_from,
            valid_until=batch.valid_until,
            duration_seconds=batch.duration_seconds,
            octets_limit=batch.octets_limit,
            max_devices=batch.max_devices,
            gettext=gettext,
        ),
        how_to=gettext("Join the Wi-Fi, then scan this code or type it on the page that opens."),
        created=batch.created_at,
        portal_url=portal.config.public_url,
    )
    # seconds of CPU for a large batch: off the event loop, which also serves RADIUS
    return await run_in_threadpool(render, sheet, codes)


@router.get(
    "/{batch_id}/pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}, "description": "the sheet of tickets"}},
)
async def batch_pdf(batch_id: Id, who: Writer, portal: PortalDep) -> Response:
    async with portal.transaction() as session:
        batch = await vouchers.get_batch(session, reach=who.reach, batch_id=batch_id)
        data = await printed_sheet(session, portal, batch, str)
        await audit.record(
            session, actor=who.actor, action="voucher_batch.print", target=f"voucher_batch:{batch.id}",
            commune_id=batch.commune_id,
        )  # fmt: skip
    return Response(
        data,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="vouchers-{batch.id}.pdf"',
            "Cache-Control": "no-store",
        },
    )
