"""The record of authentication decisions (``radpostauth``), written in batches."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from sqlalchemy import insert
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


async def record_decisions(session: AsyncSession, decisions: Sequence[Decision]) -> None:
    """Insert many decisions in one statement (executemany)."""
    if decisions:
        await session.execute(insert(AuthRecord), [asdict(d) for d in decisions])
