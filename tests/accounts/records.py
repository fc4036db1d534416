"""Accounting records for the tests of accounts.sessions and accounts.disconnect."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import AccountingSession
from accounts.sessions import StatusType, Usage

START = StatusType.START
INTERIM = StatusType.INTERIM_UPDATE
STOP = StatusType.STOP
T0 = datetime(2025, 3, 14, 9, 0, tzinfo=UTC)
NAS_IP = "192.0.2.1"
SECRET = "s3cret-for-the-ap-1"


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def rec(status: StatusType, uid: str = "u1", when: datetime = T0, **values: Any) -> Usage:
    """One accounting record of session ``uid`` (its Acct-Session-Id is derived from it)."""
    values.setdefault("acctsessionid", f"sess-{uid}")
    values.setdefault("nasipaddress", NAS_IP)
    return Usage(status=status, acctuniqueid=uid, event_time=when, **values)


def nas_event(status: StatusType, *, nas_id: int | None, nasipaddress: str, when: datetime) -> Usage:
    return Usage(
        status=status,
        acctuniqueid=f"{status.name}-{nasipaddress}-{when.isoformat()}",
        acctsessionid="",
        nasipaddress=nasipaddress,
        nas_id=nas_id,
        event_time=when,
    )


async def stored(session: AsyncSession, uid: str) -> AccountingSession:
    row = await session.scalar(
        select(AccountingSession)
        .where(AccountingSession.acctuniqueid == uid)
        .execution_options(populate_existing=True)
    )
    assert row is not None, f"no session {uid}"
    return row
