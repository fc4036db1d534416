"""Accounting records for the tests of accounts.sessions and accounts.disconnect, and the accounts and
places they name."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import network, users
from accounts.models import AccountingSession, Commune, Region, Site
from accounts.passwords import PasswordHasher
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


async def add_accounts(
    session: AsyncSession, region: Region, hasher: PasswordHasher, *names: str
) -> list[int]:
    """Accounts of these names (no password), by id."""
    ids = []
    for name in names:
        account = await users.create_account(
            session, hasher=hasher, region=region, username=name, email=f"{name}@example.fr", password=None
        )
        ids.append(account.id)
    return ids


async def add_places(session: AsyncSession, region: Region) -> tuple[Commune, Site, Site, Commune, Site]:
    """Valence (Médiathèque, Mairie) and Die (Place)."""
    valence = await network.add_commune(session, region=region, name="Valence", insee_code="26362")
    library = await network.add_site(session, commune=valence, name="Médiathèque")
    town_hall = await network.add_site(session, commune=valence, name="Mairie")
    die = await network.add_commune(session, region=region, name="Die", insee_code="26113")
    square = await network.add_site(session, commune=die, name="Place")
    return valence, library, town_hall, die, square
