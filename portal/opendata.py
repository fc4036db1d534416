"""The open data, served to anyone under ``/opendata/`` when the region says so (``[opendata]
public``): the daily statistics per commune and per site as CSV and JSON, and their schemas.
Small counts are hidden (:mod:`accounts.disclosure`); only days over are served
(:func:`accounts.opendata.publishable`). Without the setting every path here is 404.

Answers are kept in this process for ``cache_seconds`` (and said cacheable to browsers and
proxies as long): a published day does not change, and a portal open to the internet must not
run a year-long ``GROUP BY`` for every anonymous request. The cache is keyed by what was asked,
bounded, and the oldest answer leaves first.

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
CACHE_ENTRIES = 64
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


def default_period(portal: Portal, since: date | None, until: date | None) -> Period:
    """What was asked, or the last :data:`DEFAULT_DAYS` published days around what was given."""
    last = until or opendata.last_published_day(portal.now())
    first = since or last - timedelta(days=DEFAULT_DAYS - 1)
    return Period(first=first, last=last)


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


Since = Annotated[date | None, Query(description="first day (UTC); default: 31 days before until")]
Until = Annotated[date | None, Query(description="last day (UTC); default: the last day published")]


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
    since: Since = None,
    until: Until = None,
) -> Response:
    """The daily statistics of every commune (``communes``) or site (``sites``), small counts hidden."""
    cache = _public(request, portal)
    period = default_period(portal, since, until)
    seconds = portal.config.opendata.cache_seconds
    key = (dataset, form, period.first, period.last, opendata.last_published_day(portal.now()))
    file = cache.get(key)
    if file is None:
        file = await export(portal, dataset=dataset, form=form, period=period)
        if seconds:
            cache.put(key, file, seconds)
    return download(file, cache=f"public, max-age={seconds}" if seconds else "no-cache")
