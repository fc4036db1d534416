"""Single-use RADIUS tokens (the OpenWISP pattern).

After a person logs in on the portal, the portal mints a token; the browser hands it to the
access point as the password, and the RADIUS server accepts it **once**, within a short
lifetime, for that account only — no slow password hash on the RADIUS path.

Consumption is one atomic ``UPDATE … WHERE used_at IS NULL``: of two concurrent attempts (two
RADIUS workers, a retransmission), exactly one wins, on SQLite and PostgreSQL alike.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Column, Table, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Account, RadiusToken
from accounts.secretbox import SecretBox

TOKEN_PURPOSE = "radius-token"  # noqa: S105 - a label, not a secret
DEFAULT_LIFETIME = timedelta(minutes=2)
TOKEN_BYTES = 18  # 24 URL-safe characters: fits PAP (≤128 octets) and a UAM URL
_SHAPE = re.compile(r"^[A-Za-z0-9_-]{24}$")


def looks_like_token(value: str) -> bool:
    """Whether a password has a token's shape (so a normal password costs no token lookup)."""
    return bool(_SHAPE.match(value))


async def issue_token(
    session: AsyncSession,
    *,
    box: SecretBox,
    account: Account,
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
) -> str:
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        RadiusToken(
            account_id=account.id,
            digest=box.digest(token.encode(), purpose=TOKEN_PURPOSE),
            token_ciphertext=box.seal(token.encode(), purpose=TOKEN_PURPOSE),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    await session.flush()
    return token


async def consume_token(
    session: AsyncSession, *, box: SecretBox, account_id: int, token: str, now: datetime
) -> bool:
    """Mark a token sent in clear (PAP) as used; True only for the first use, in time, by its account."""
    return (account_id, token) in await consume_tokens(
        session, box=box, attempts=[(account_id, token)], now=now
    )


async def consume_tokens(
    session: AsyncSession, *, box: SecretBox, attempts: Sequence[tuple[int, str]], now: datetime
) -> set[tuple[int, str]]:
    """Use many PAP tokens of known accounts in one statement.

    Returns the (account id, token) attempts that found a live token of that account; the
    ``used_at IS NULL`` condition makes every token win at most one attempt, across statements
    and processes. Repeated attempts in the same call are the caller's to refuse.
    """
    keys = {
        (box.digest(token.encode(), purpose=TOKEN_PURPOSE), account_id): (account_id, token)
        for account_id, token in attempts
    }
    if not keys:
        return set()
    table = _tokens()
    result = await session.execute(
        update(table)
        .where(
            tuple_(table.c.digest, table.c.account_id).in_(list(keys)),
            table.c.used_at.is_(None),
            table.c.expires_at > now,
        )
        .values(used_at=now)
        .returning(table.c.digest, table.c.account_id)
    )
    return {keys[(digest, account_id)] for digest, account_id in result.all()}


@dataclass(frozen=True, slots=True, kw_only=True)
class TokenOwner:
    """The account a token was used for, as the RADIUS policy needs it."""

    account_id: int
    status: str
    email_verified: bool
    password_hash: str | None
    grace_until: datetime | None = None


async def consume_tokens_of_users(
    session: AsyncSession,
    *,
    box: SecretBox,
    region_id: int,
    attempts: Sequence[tuple[str, str]],
    now: datetime,
) -> dict[tuple[str, str], TokenOwner]:
    """Use many PAP tokens given with usernames (the RADIUS path: one round trip for the token *and*
    its account, which a fresh portal login has not yet put in any cache).

    ``UPDATE radius_token … FROM account`` consumes each live token whose account has that
    username in the region; the owners' state is read in the same transaction (SQLite's
    RETURNING cannot name the joined table). Returns the winning attempts with their owners.
    """
    keys = _keys(box, attempts)
    if not keys:
        return {}
    table, account = _tokens(), cast(Table, Account.__table__)
    if (await session.connection()).dialect.name == "postgresql":
        # one statement, one text whatever the batch size (asyncpg prepares it once), and the
        # owners come back in the same round trip (PostgreSQL's RETURNING may name joined tables)
        rows: Sequence[Sequence[Any]] = (
            await session.execute(
                _PG_CONSUME,
                {
                    "digests": [d for d, _ in keys],
                    "usernames": [u for _, u in keys],
                    "region": region_id,
                    "now": now,
                },
            )
        ).all()
    else:
        # SQLite's RETURNING cannot name the joined table: the owners are read after the UPDATE
        used = (
            await session.execute(
                update(table)
                .where(
                    table.c.account_id == account.c.id,
                    account.c.region_id == region_id,
                    tuple_(table.c.digest, account.c.username).in_(list(keys)),
                    table.c.used_at.is_(None),
                    table.c.expires_at > now,
                )
                .values(used_at=now)
                .returning(table.c.digest, table.c.account_id)
            )
        ).all()
        if not used:
            return {}
        owners = {
            row[0]: row
            for row in await session.execute(
                select(*_owner_columns(account)).where(account.c.id.in_({a for _, a in used}))
            )
        }
        rows = [(digest, *owners[account_id]) for digest, account_id in used]
    return _owners(keys, rows)


async def consume_tokens_of_users_on(
    driver: Any,
    *,
    box: SecretBox,
    region_id: int,
    attempts: Sequence[tuple[str, str]],
    now: datetime,
) -> dict[tuple[str, str], TokenOwner]:
    """:func:`consume_tokens_of_users` on an asyncpg connection (PostgreSQL) outside any
    transaction: the one statement is its own, so a batch costs one round trip (no BEGIN, no
    COMMIT), which is what a RADIUS worker waits for."""
    keys = _keys(box, attempts)
    if not keys:
        return {}
    rows = await driver.fetch(_PG_CONSUME_SQL, [d for d, _ in keys], [u for _, u in keys], region_id, now)
    return _owners(keys, rows)


def _keys(box: SecretBox, attempts: Sequence[tuple[str, str]]) -> dict[tuple[str, str], tuple[str, str]]:
    return {
        (box.digest(token.encode(), purpose=TOKEN_PURPOSE), username): (username, token)
        for username, token in attempts
    }


def _owners(
    keys: dict[tuple[str, str], tuple[str, str]], rows: Sequence[Sequence[Any]]
) -> dict[tuple[str, str], TokenOwner]:
    """The winning attempts and their owners, from (digest, id, username, status, email_verified,
    password_hash, grace_until) rows."""
    result = {}
    for digest, account_id, username, status, verified, password_hash, grace_until in rows:
        result[keys[(digest, username)]] = TokenOwner(
            account_id=account_id,
            status=str(status),
            email_verified=verified,
            password_hash=password_hash,
            grace_until=grace_until,
        )
    return result


def _owner_columns(account: Table) -> tuple[Column[Any], ...]:
    c = account.c
    return (c.id, c.username, c.status, c.email_verified, c.password_hash, c.grace_until)


_PG_CONSUME_TEMPLATE = (
    "UPDATE radius_token AS t SET used_at = {now} "
    "FROM account AS a, "
    "unnest(CAST({digests} AS varchar[]), CAST({usernames} AS varchar[])) AS x(digest, username) "
    "WHERE t.account_id = a.id AND a.region_id = {region} "
    "AND t.digest = x.digest AND a.username = x.username "
    "AND t.used_at IS NULL AND t.expires_at > {now} "
    "RETURNING t.digest, a.id, a.username, a.status, a.email_verified, a.password_hash, a.grace_until"
)
_PG_CONSUME_SQL = _PG_CONSUME_TEMPLATE.format(digests="$1", usernames="$2", region="$3", now="$4")  # asyncpg
_PG_CONSUME = text(
    _PG_CONSUME_TEMPLATE.format(digests=":digests", usernames=":usernames", region=":region", now=":now")
).columns(
    cast(Table, RadiusToken.__table__).c.digest,
    *_owner_columns(cast(Table, Account.__table__)),
)


def _tokens() -> Table:
    return cast(Table, RadiusToken.__table__)  # Core statements: the ORM's bulk UPDATE path costs 2x


async def consume_token_matching(
    session: AsyncSession, *, box: SecretBox, account_id: int, matches: Callable[[bytes], bool], now: datetime
) -> bool:
    """Use the live token of the account for which ``matches(token)`` holds (CHAP: the response
    can only be checked against each clear token); True only if this call used it."""
    live = await session.execute(
        select(RadiusToken.id, RadiusToken.token_ciphertext).where(
            RadiusToken.account_id == account_id, RadiusToken.used_at.is_(None), RadiusToken.expires_at > now
        )
    )
    for token_id, sealed in live.all():
        if matches(box.open(sealed, purpose=TOKEN_PURPOSE)):
            result = await session.execute(
                update(RadiusToken)
                .where(RadiusToken.id == token_id, RadiusToken.used_at.is_(None))
                .values(used_at=now)
                .execution_options(synchronize_session=False)
            )
            return bool(getattr(result, "rowcount", 0) == 1)
    return False
