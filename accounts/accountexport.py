"""The region's accounts as CSV, for region admins: who they are, never a secret.

Columns (:data:`COLUMNS`): username, identity, email (empty for an imported account without one),
email_verified, status, created_at, last_seen_at, locale, whether a password is set and whether
it is still an imported legacy hash. No password hash, no NT hash, no token leaves: a test reads
every cell of an export for them. Cells are neutralised against formula injection as the judicial
export's are (:func:`accounts.recordsexport.cell`: a cell starting with ``= + - @``, a tab or a
carriage return gets a leading ``'``).

:func:`export_chunks` reads the accounts by id in pages (keyset, no OFFSET) and yields the CSV a
page at a time, so a large region is streamed without holding every row.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.importing import NO_EMAIL_DOMAIN
from accounts.models import Account, Region
from accounts.passwords import PasswordHasher
from accounts.recordsexport import cell

COLUMNS = (
    "username",
    "identity",
    "email",
    "email_verified",
    "status",
    "created_at",
    "last_seen_at",
    "locale",
    "has_password",
    "legacy_password",
)
PAGE = 2000


def _line(values: list[object]) -> str:
    out = io.StringIO(newline="")
    csv.writer(out, dialect="excel", lineterminator="\r\n").writerow([cell(v) for v in values])
    return out.getvalue()


async def export_chunks(
    sessions: Callable[[], AbstractAsyncContextManager[AsyncSession]],
    *,
    region: Region,
    hasher: PasswordHasher,
) -> AsyncIterator[str]:
    """The CSV, header first, a page of accounts per chunk (each page its own short session)."""
    yield _line(list(COLUMNS))
    realm, region_id, after = region.realm, region.id, 0
    placeholder = "@" + NO_EMAIL_DOMAIN
    while True:
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(
                        Account.id,
                        Account.username,
                        Account.email,
                        Account.email_verified,
                        Account.status,
                        Account.created_at,
                        Account.last_seen_at,
                        Account.locale,
                        Account.password_hash,
                    )
                    .where(Account.region_id == region_id, Account.id > after)
                    .order_by(Account.id)
                    .limit(PAGE)
                )
            ).all()
        if not rows:
            return
        chunk = []
        for row_id, username, email, verified, status, created, seen, locale, password_hash in rows:
            chunk.append(
                _line(
                    [
                        username,
                        f"{username}@{realm}",
                        "" if email is None or email.endswith(placeholder) else email,
                        bool(verified),
                        str(status),
                        created,
                        seen,
                        locale,
                        password_hash is not None,
                        hasher.is_legacy(password_hash),
                    ]
                )
            )
            after = row_id
        yield "".join(chunk)
