"""The audit log under ``/api/v1/audit``: read-only, for region admins and auditors."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel

from accounts import audit
from accounts.admins import READ_AUDIT
from portal.api.auth import Principal, require
from portal.api.common import Page, PageParams
from portal.api.inputs import Instant, Text
from portal.context import PortalDep

router = APIRouter(prefix="/audit", tags=["audit"])

Reader = Annotated[Principal, Depends(require(READ_AUDIT))]


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor: str
    action: str
    target: str
    commune_id: int | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None


@router.get("", response_model=Page[AuditOut])
async def entries(
    who: Reader,
    portal: PortalDep,
    params: Annotated[PageParams, Depends()],
    actor: Annotated[Text | None, Query(max_length=120, description="who: admin:<id>, cli:<user>")] = None,
    action: Annotated[Text | None, Query(max_length=64, description="e.g. site.update")] = None,
    since: Annotated[Instant | None, Query(description="entries since (with a zone)")] = None,
) -> Page[AuditOut]:
    async with portal.transaction() as session:
        rows, total = await audit.list_entries(
            session, reach=who.reach, limit=params.limit, offset=params.offset, actor=actor, action=action,
            since=since,
        )  # fmt: skip
    items = [
        AuditOut(
            id=e.id,
            at=e.at,
            actor=e.actor,
            action=e.action,
            target=e.target,
            commune_id=e.commune_id,
            before=json.loads(e.before) if e.before else None,
            after=json.loads(e.after) if e.after else None,
        )
        for e in rows
    ]
    return Page(items=items, total=total, limit=params.limit, offset=params.offset)
