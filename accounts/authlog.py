"""The record of authentication decisions (``radpostauth``), written in batches."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields, replace
from datetime import datetime
from operator import attrgetter
from typing import cast

from sqlalchemy import Table, insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import AuthRecord
from accounts.sessions import existing_accounts


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
_row = attrgetter(*_COLUMNS)  # a Decision as a tuple in column order, in C
#: foreign_key_violation (PostgreSQL error codes, appendix A): ``account_id`` is the only foreign key
_FOREIGN_KEY_VIOLATION = "23503"


class DanglingAccount(Exception):
    """A decision names an account deleted since it was recorded (``check_accounts=False``)."""


async def record_decisions(
    session: AsyncSession,
    decisions: Sequence[Decision],
    *,
    existing: Collection[int] | None = None,
    check_accounts: bool = True,
) -> None:
    """Insert many decisions at once: COPY on PostgreSQL, one executemany elsewhere.

    Measured under RADIUS load: executemany through SQLAlchemy costs ~38 µs of CPU per row
    (a 20 ms event-loop pause for 500 rows), COPY a few µs.

    With ``check_accounts=False`` the accounts are not looked up first: if one was deleted
    meanwhile the database refuses the batch and :class:`DanglingAccount` is raised (the
    transaction must then be rolled back, and the batch written again with the check).
    """
    if not decisions:
        return
    # an account deleted since its decision was buffered: keep the record, drop the dangling link
    # (a dangling id would fail the whole batch on the foreign key, again at every retry)
    # (``existing``: the accounts that exist among them, read beforehand in another transaction)
    named = {d.account_id for d in decisions if d.account_id is not None} if check_accounts else None
    if named:
        if existing is None:
            existing = await existing_accounts(session, named)
        decisions = [
            d if d.account_id is None or d.account_id in existing else replace(d, account_id=None)
            for d in decisions
        ]
    columns = [("class" if c == "class_" else c) for c in _COLUMNS]
    connection = await session.connection()
    if connection.dialect.name == "postgresql":
        raw = await connection.get_raw_connection()
        driver = raw.driver_connection  # asyncpg
        assert driver is not None
        try:
            await driver.copy_records_to_table(
                AuthRecord.__tablename__, records=list(map(_row, decisions)), columns=columns
            )
        except Exception as exc:  # asyncpg's own error classes: the driver is used directly here
            if getattr(exc, "sqlstate", None) == _FOREIGN_KEY_VIOLATION:
                raise DanglingAccount from exc
            raise
        return
    table = cast(Table, AuthRecord.__table__)
    try:
        await session.execute(insert(table), [dict(zip(columns, _row(d), strict=True)) for d in decisions])
    except IntegrityError as exc:  # SQLite: the foreign key is the only constraint a record can break
        raise DanglingAccount from exc
