"""The open data, served to anyone under ``/opendata/`` when the region says so (``[opendata]
public``): the daily statistics per commune and per site as CSV and JSON, and their schemas.
Small counts are hidden (:mod:`accounts.disclosure`); only days over are served
(:func:`accounts.opendata.publishable`). Without the setting every path here is 404.

Anyone may ask for one calendar month (``?month=2026-11``) or, by default, the last
:data:`DEFAULT_DAYS` published days — not any period: a few dozen distinct questions a year, so
the answers kept in this process for ``cache_seconds`` (and said cacheable to browsers and
proxies as long) serve nearly every request, and an anonymous client cannot make the database
run a new ``GROUP BY`` for each of a thousand made-up periods. A published day does not change.
The cache is keyed by what was asked, bounded, and the oldest answer leaves first.

The admin API's copy (:mod:`portal.api.opendata`) builds the same files through
:func:`export`, within the caller's reach, never cached.
"""

from __future__ import annotations

import enum
import time
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import JSONResponse, Response

from accounts import opendata
from accounts.history import Level, Period
from portal.context import Portal, PortalDep

router = APIRouter(prefix="/opendata", tags=["open data"])

#: the period served when none is asked for: the last 31 published days
DEFAULT_DAYS = 31
CACHE_ENTRIES = 128  # 2 files × 2 formats × the 13 months kept, and the rolling default
JSON = "application/json"


class Dataset(enum.StrEnum):
    COMMUNES = "communes"
    SITES = "sites"

    @property
    def level(self) -> Level:
        return Level.COMMUNE if self is Dataset.COMMUNES else Level.SITE


class Format(enum.StrEnum):
    CSV = "csv"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class File:
    body: bytes
    media_type: str
    name: str


async def export(
    portal: Portal, *, dataset: Dataset, form: Format, period: Period, commune_id: int | None = None
) -> File:
    """One file of ``dataset`` over the published days of ``period`` (none published: no row)."""
    published = opendata.publishable(period, portal.now())
    table = []
    if published is not None:
        async with portal.transaction() as session:
            table = await opendata.rows(
                session, period=published, level=dataset.level,
                threshold=portal.config.opendata.threshold, commune_id=commune_id,
            )  # fmt: skip
    shown = published or period
    if form is Format.CSV:
        body, media_type = opendata.to_csv(dataset.level, table), opendata.CSV_MEDIA_TYPE
    else:
        body, media_type = opendata.to_json(table), JSON
    return File(body=body, media_type=media_type, name=opendata.filename(dataset.level, shown, form.value))


def download(file: File, *, cache: str) -> Response:
    return Response(
        file.body,
        media_type=file.media_type,
        headers={"Content-Disposition": f'attachment; filename="{file.name}"', "Cache-Control": cache},
    )


def public_period(portal: Portal, month: str | None) -> Period:
    """The calendar month ``month`` (``AAAA-MM``), or the last :data:`DEFAULT_DAYS` published days."""
    if month is None:
        last = opendata.last_published_day(portal.now())
        return Period(first=last - timedelta(days=DEFAULT_DAYS - 1), last=last)
    first = date.fromisoformat(f"{month}-01")
    following = (first + timedelta(days=31)).replace(day=1)
    return Period(first=first, last=following - timedelta(days=1))


class _Cache:
    """Answers by what was asked, each kept ``seconds`` (monotonic clock), the oldest first out."""

    def __init__(self, entries: int) -> None:
        self.entries = entries
        self.kept: OrderedDict[tuple[object, ...], tuple[float, File]] = OrderedDict()

    def get(self, key: tuple[object, ...]) -> File | None:
        found = self.kept.get(key)
        if found is None or found[0] < time.monotonic():
            return None
        return found[1]

    def put(self, key: tuple[object, ...], file: File, seconds: int) -> None:
        self.kept[key] = (time.monotonic() + seconds, file)
        self.kept.move_to_end(key)
        while len(self.kept) > self.entries:
            self.kept.popitem(last=False)


def _public(request: Request, portal: Portal) -> _Cache:
    if not portal.config.opendata.public:
        raise HTTPException(404, detail="Not Found")
    cache = getattr(request.app.state, "opendata_cache", None)
    if cache is None:
        cache = request.app.state.opendata_cache = _Cache(CACHE_ENTRIES)
    return cache


Month = Annotated[
    str | None,
    Query(
        pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$",
        description="a calendar month, AAAA-MM; default: the last 31 days",
    ),
]


def schema_of(dataset: Dataset, form: Format) -> dict[str, object]:
    """The CSV file's Table Schema, or the JSON file's JSON Schema."""
    if form is Format.CSV:
        return opendata.table_schema(dataset.level)
    return opendata.json_schema(dataset.level)


@router.get("/schemas/{dataset}.json")
async def schema(
    request: Request, portal: PortalDep, dataset: Dataset, form: Format = Format.CSV
) -> JSONResponse:
    """The schema of ``dataset``'s CSV file (Table Schema) or, with ``form=json``, of its JSON file."""
    _public(request, portal)
    seconds = portal.config.opendata.cache_seconds
    return JSONResponse(schema_of(dataset, form), headers={"Cache-Control": f"public, max-age={seconds}"})


FILES: dict[int | str, dict[str, Any]] = {200: {"content": {opendata.CSV_MEDIA_TYPE: {}, JSON: {}}}}


@router.get("/{dataset}.{form}", response_class=Response, responses=FILES)
async def published(
    request: Request,
    portal: PortalDep,
    dataset: Dataset,
    form: Format,
    month: Month = None,
) -> Response:
    """The daily statistics of every commune (``communes``) or site (``sites``), small counts hidden."""
    cache = _public(request, portal)
    period = public_period(portal, month)
    seconds = portal.config.opendata.cache_seconds
    key = (dataset, form, period.first, period.last, opendata.last_published_day(portal.now()))
    file = cache.get(key)
    if file is None:
        file = await export(portal, dataset=dataset, form=form, period=period)
        if seconds:
            cache.put(key, file, seconds)
    return download(file, cache=f"public, max-age={seconds}" if seconds else "no-cache")
