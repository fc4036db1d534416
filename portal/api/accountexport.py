"""``GET /api/v1/accounts/export.csv``: the region's accounts as CSV, for region admins alone
(``accounts:export``), streamed a page at a time, audited before the first row leaves.

What the CSV holds and never holds (no hash, no NT hash, formula cells neutralised) is
:mod:`accounts.accountexport`'s. Registered before ``people``'s router, whose ``/{account_id}``
would otherwise take the path.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from accounts import audit
from accounts.accountexport import export_chunks
from accounts.admins import EXPORT_ACCOUNTS
from accounts.passwords import PasswordHasher
from portal.api.auth import Principal, require
from portal.context import PortalDep

router = APIRouter(prefix="/accounts", tags=["accounts"])

Exporter = Annotated[Principal, Depends(require(EXPORT_ACCOUNTS))]
CSV = "text/csv; charset=utf-8"


@router.get("/export.csv", response_class=StreamingResponse, responses={200: {"content": {CSV: {}}}})
async def export_accounts(who: Exporter, portal: PortalDep) -> StreamingResponse:
    """Every account of the region: username, identity, email, state, dates; never a secret."""
    async with portal.transaction() as session:
        region = await portal.region(session)
        await audit.record(session, actor=who.actor, action="accounts.export", target="accounts.csv")

    async def body() -> AsyncIterator[bytes]:
        async for chunk in export_chunks(portal.sessions, region=region, hasher=_HASHER):
            yield chunk.encode("utf-8")

    return StreamingResponse(
        body(),
        media_type=CSV,
        headers={"Content-Disposition": 'attachment; filename="accounts.csv"', "Cache-Control": "no-store"},
    )


_HASHER = PasswordHasher()
