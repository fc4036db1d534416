"""What every admin endpoint shares: pagination, and the mapping of domain errors to HTTP.

Lists are paginated with ``limit`` (at most :data:`MAX_PAGE`) and ``offset`` and answer
``{items, total, limit, offset}``. A domain error becomes a 4xx with its reason: ``NotFound``
404 (also what is outside the caller's reach: no existence leak), ``Conflict`` 409,
``InvalidInput`` 422 (pydantic's own 422s name the field path, without echoing the value: a
``NaN`` or a lone surrogate echoed back made the answer itself fail). A uniqueness or foreign key
violation the services did not foresee (a flush they do not wrap) is 409, a value the database
cannot hold 422 — one handler for each, never a 500. Malformed requests are refused before they
reach the views (:mod:`portal.api.inputs`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from fastapi import FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Select, func, select
from sqlalchemy.exc import DataError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.errors import Conflict, DomainError, InvalidInput, NotFound, SecretUnreadable
from portal.api.inputs import RequestGuard

MAX_PAGE = 100
MAX_ID = 2**31 - 1  # PostgreSQL integer keys
MAX_BIG_ID = 2**63 - 1  # bigint keys (radacct, audit_log)
T = TypeVar("T")

#: a resource id in a path; out of range is a 422, never a database error
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
BigId = Annotated[int, Path(ge=1, le=MAX_BIG_ID)]
#: an optional id filter in a query
IdFilter = Annotated[int | None, Query(ge=1, le=MAX_ID)]


class Page(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


class PageParams:
    def __init__(
        self,
        limit: int = Query(50, ge=1, le=MAX_PAGE, description=f"items per page, at most {MAX_PAGE}"),
        offset: int = Query(0, ge=0, le=10_000_000, description="items to skip"),
    ) -> None:
        self.limit, self.offset = limit, offset


async def paginate(
    session: AsyncSession, query: Select[Any], params: PageParams, convert: Callable[[Any], T]
) -> Page[T]:
    """One page of ``query``'s rows, converted, with the total count of the query."""
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = (await session.scalars(query.limit(params.limit).offset(params.offset))).all()
    return Page(items=[convert(row) for row in rows], total=total, limit=params.limit, offset=params.offset)


_STATUS: tuple[tuple[type[DomainError], int], ...] = (
    (NotFound, 404),
    (Conflict, 409),
    (InvalidInput, 422),
    (SecretUnreadable, 409),
)


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 400)
    return JSONResponse({"detail": str(exc)}, status_code=status)


async def _invalid_request(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")), "type": str(e.get("type", ""))}
        for e in exc.errors()
    ]
    return JSONResponse({"detail": errors}, status_code=422)


async def _integrity_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse(
        {"detail": "this conflicts with something that exists (a name or address already taken?)"},
        status_code=409,
    )


async def _data_error(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"detail": "a value does not fit what can be stored"}, status_code=422)


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, _domain_error)
    app.add_exception_handler(RequestValidationError, _invalid_request)
    app.add_exception_handler(IntegrityError, _integrity_error)
    app.add_exception_handler(DataError, _data_error)
    app.add_middleware(RequestGuard)
