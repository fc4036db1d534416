"""The audit log: every change made through the admin API or the command line — who, when, what,
before and after. Secrets never enter it: any field whose name says secret, password, hash,
ciphertext or token is written as ``"***"`` (that it changed is kept, not the value).

Entries are written in the same transaction as the change they describe, so a change and its
entry commit or roll back together.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.admins import Reach
from accounts.models import AuditEntry, utcnow

MASK = "***"
_SECRET_WORDS = ("secret", "password", "hash", "ciphertext", "token")


def masked(values: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if values is None:
        return None
    return {
        key: (MASK if value is not None and any(word in key.lower() for word in _SECRET_WORDS) else value)
        for key, value in values.items()
    }


def _json(values: Mapping[str, Any] | None) -> str | None:
    shown = masked(values)
    return None if shown is None else json.dumps(shown, default=str, sort_keys=True, ensure_ascii=False)


async def record(
    session: AsyncSession,
    *,
    actor: str,
    action: str,
    target: str,
    commune_id: int | None = None,
    before: Mapping[str, Any] | None = None,
    after: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        at=at or utcnow(),
        actor=actor[:254],
        action=action[:64],
        target=target[:120],
        commune_id=commune_id,
        before=_json(before),
        after=_json(after),
    )
    session.add(entry)
    await session.flush()
    return entry


async def list_entries(
    session: AsyncSession,
    *,
    reach: Reach,
    limit: int,
    offset: int = 0,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    target: str | None = None,
    until: datetime | None = None,
) -> tuple[Sequence[AuditEntry], int]:
    """Entries, newest first, and how many match in all (``since`` included, ``until`` not)."""
    query = select(AuditEntry)
    if not reach.region_wide:
        query = query.where(AuditEntry.commune_id == reach.commune_id)
    if actor:
        query = query.where(AuditEntry.actor == actor)
    if action:
        query = query.where(AuditEntry.action == action)
    if since:
        query = query.where(AuditEntry.at >= since)
    if until:
        query = query.where(AuditEntry.at < until)
    if target:
        query = query.where(AuditEntry.target == target)
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = await session.scalars(query.order_by(AuditEntry.id.desc()).limit(limit).offset(offset))
    return rows.all(), total
