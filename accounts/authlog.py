"""The record of authentication decisions (``radpostauth``), written in batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import cast

from sqlalchemy import Table, insert
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import AuthRecord


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """One decision to record; never carries a password."""

    authdate: datetime
    username: str
    reply: str
    method: str
    reason: str
    nasipaddress: str | None = None
    nas_id: int | None = None
    site_id: int | None = None
    account_id: int | None = None
    calledstationid: str | None = None
    callingstationid: str | None = None
    class_: str | None = None


_COLUMNS = tuple(f.name for f in fields(Decision))


async def record_decisions(session: AsyncSession, decisions: Sequence[Decision]) -> None:
    """Insert many decisions in one executemany (Core insert: the ORM's bulk path costs 3x more)."""
    if decisions:
        table = cast(Table, AuthRecord.__table__)
        rows = [{("class" if c == "class_" else c): getattr(d, c) for c in _COLUMNS} for d in decisions]
        await session.execute(insert(table), rows)
