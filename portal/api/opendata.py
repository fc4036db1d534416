"""The open data under ``/api/v1/opendata``, for staff: the very files the public would get
(:mod:`portal.opendata`, small counts hidden, days over only), within the caller's reach — a
commune admin gets their commune's rows, which are the same as in the region's file because the
rule is applied per commune and day — and whether or not the region publishes them."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse, Response

from accounts.history import Period
from portal.api.common import IdFilter
from portal.api.history import Reader, place_in_reach
from portal.context import PortalDep
from portal.opendata import FILES, Dataset, Format, download, export, schema_of

router = APIRouter(prefix="/opendata", tags=["open data"])

Since = Annotated[date, Query(description="first day (UTC), included")]
Until = Annotated[date, Query(description="last day (UTC), included; days not yet published are left out")]


@router.get("/schemas/{dataset}.json")
async def schema(who: Reader, dataset: Dataset, form: Format = Format.CSV) -> JSONResponse:
    """The schema of ``dataset``'s CSV file (Table Schema) or, with ``form=json``, of its JSON file."""
    return JSONResponse(schema_of(dataset, form))


@router.get("/{dataset}.{form}", response_class=Response, responses=FILES)
async def files(
    who: Reader,
    portal: PortalDep,
    dataset: Dataset,
    form: Format,
    since: Since,
    until: Until,
    commune_id: IdFilter = None,
) -> Response:
    """The daily statistics per commune (``communes``) or site (``sites``), as published."""
    period = Period(first=since, last=until)
    async with portal.transaction() as session:
        commune_id = await place_in_reach(session, who.reach, commune_id, None)
    file = await export(portal, dataset=dataset, form=form, period=period, commune_id=commune_id)
    return download(file, cache="no-store")
