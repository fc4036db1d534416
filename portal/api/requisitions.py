"""Judicial requisitions under ``/api/v1/requisitions``, for the auditor (the DPO) alone
(``records:search``; :mod:`accounts.requisition`).

``POST /requisitions`` runs a search (an IP address, a MAC, an identity or a pseudonym, and a
window) and answers the records with the search's id; more than the limit is a 422 that says to
narrow the window — the search is audited either way, so the audit entry is committed before that
answer. ``GET /requisitions/{id}/export`` answers one zip: the CSV, its description (JSON) and a
detached CMS signature of each (:mod:`accounts.recordsexport`; one response, so the four files
cannot be taken from two different runs). Only the caller's own searches can be exported.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from accounts import requisition
from accounts.admins import SEARCH_RECORDS
from accounts.recordsexport import Record
from accounts.requisition import Kind
from portal.api.auth import Principal, require
from portal.api.common import MAX_BIG_ID
from portal.api.inputs import Instant, Text
from portal.context import PortalDep

router = APIRouter(prefix="/requisitions", tags=["requisitions"])

Searcher = Annotated[Principal, Depends(require(SEARCH_RECORDS))]
SearchId = Annotated[int, Path(ge=1, le=MAX_BIG_ID, description="the id a search answered")]


class RequisitionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: Kind = Field(description="what `value` is: ip, mac, identity (username@realm) or pseudonym")
    value: Text = Field(
        min_length=1,
        max_length=253,
        description="an IPv4 or IPv6 address, a MAC in any usual notation, username@realm, or deleted-…",
    )
    since: Instant = Field(description="the window's start, with a time zone (included)")
    until: Instant = Field(
        description="the window's end, with a time zone (excluded); at most the longest window"
    )


class CriteriaOut(BaseModel):
    kind: Kind
    value: str
    since: datetime
    until: datetime


class RequisitionOut(BaseModel):
    id: int
    asked_by: str
    asked_at: datetime
    criteria: CriteriaOut
    kept_since: datetime
    count: int
    records: list[Record]


@router.post(
    "", response_model=RequisitionOut, responses={422: {"description": "invalid, or too many records"}}
)
async def search(body: RequisitionIn, who: Searcher, portal: PortalDep) -> RequisitionOut | JSONResponse:
    limits = portal.config.requisition
    criteria = requisition.criteria(
        kind=body.kind, value=body.value, since=body.since, until=body.until, limits=limits
    )
    async with portal.transaction() as session:
        outcome = await requisition.search(
            session, box=portal.box, criteria=criteria, limits=limits, actor=who.actor, reach=who.reach,
            now=portal.now(),
        )  # fmt: skip
    if outcome.too_many:
        return JSONResponse(
            {
                "detail": f"more than {limits.max_records} records match: narrow the window or the criteria",
                "id": outcome.search_id,
            },
            status_code=422,
        )
    return RequisitionOut(
        id=outcome.search_id, asked_by=outcome.asked_by, asked_at=outcome.asked_at,
        criteria=CriteriaOut(
            kind=criteria.kind, value=criteria.value, since=criteria.since, until=criteria.until
        ),
        kept_since=outcome.kept_since, count=len(outcome.records), records=list(outcome.records),
    )  # fmt: skip


@router.get(
    "/{search_id}/export",
    response_class=Response,
    responses={
        200: {
            "content": {"application/zip": {}},
            "description": "records.csv, requisition.json, each with its .p7s",
        }
    },
)
async def export(search_id: SearchId, who: Searcher, portal: PortalDep) -> Response:
    signer = portal.config.records_signer
    if signer is None:
        return JSONResponse(
            {
                "detail": "no records-signing certificate is configured "
                "(SESAME_REQUISITION_SIGNING_CERTIFICATE, _SIGNING_KEY): exports are refused"
            },
            status_code=409,
        )
    async with portal.transaction() as session:
        answer = await requisition.export(
            session, box=portal.box, search_id=search_id, limits=portal.config.requisition, signer=signer,
            actor=who.actor, reach=who.reach, now=portal.now(),
        )  # fmt: skip
    return Response(
        answer.zip_bytes,
        media_type="application/zip",
        headers={
            "Content-Disposition": f'attachment; filename="requisition-{search_id}.zip"',
            "Cache-Control": "no-store",
        },
    )
