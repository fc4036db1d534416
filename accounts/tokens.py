"""Single-use RADIUS tokens (the OpenWISP pattern).

After a person logs in on the portal, the portal mints a token; the browser hands it to the
access point as the password, and the RADIUS server accepts it **once**, within a short
lifetime, for that account only — no slow password hash on the RADIUS path.

A token is bound to the access point (``nas``) it was handed to: only an Access-Request from
that RADIUS client may use it, so a token that leaks (a controller that logs it, a page that
posted it somewhere else) cannot open the network anywhere else in the region. A token issued
without an access point (``nas_id=None``) is refused everywhere: nothing issues one.

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
    nas_id: int | None,
    now: datetime,
    lifetime: timedelta = DEFAULT_LIFETIME,
) -> str:
    """A new token for ``account``, usable once, before ``now + lifetime``, by the access point
    ``nas_id`` only (None: by none)."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    session.add(
        RadiusToken(
            account_id=account.id,
            nas_id=nas_id,
            digest=box.digest(token.encode(), purpose=TOKEN_PURPOSE),
            token_ciphertext=box.seal(token.encode(), purpose=TOKEN_PURPOSE),
            created_at=now,
            expires_at=now + lifetime,
        )
    )
    await session.flush()
    return token


async def consume_token(
    session: AsyncSession, *, box: SecretBox, account_id: int, token: str, nas_id: int | None, now: datetime
) -> bool:
    """Mark a token sent in clear (PAP) as used; True only for the first use, in time, by its
    account, at the access point it was issued for."""
    return (account_id, token) in await consume_tokens(
        session, box=box, attempts=[(account_id, token)], nas_id=nas_id, now=now
    )


async def consume_tokens(
    session: AsyncSession,
    *,
    box: SecretBox,
    attempts: Sequence[tuple[int, str]],
    nas_id: int | None,
    now: datetime,
) -> set[tuple[int, str]]:
    """Use many PAP tokens of known accounts, presented by the access point ``nas_id``, in one
    statement.

    Returns the (account id, token) attempts that found a live token of that account issued for
    that access point; the ``used_at IS NULL`` condition makes every token win at most one
    attempt, across statements and processes. Repeated attempts in the same call are the
    caller's to refuse.
    """
    keys = {  # a token issued before a key rotation is stored under the previous key's digest
        (digest, account_id): (account_id, token)
        for account_id, token in attempts
        for digest in box.digests(token.encode(), purpose=TOKEN_PURPOSE)
    }
    if not keys or nas_id is None:
        return set()
    table = _tokens()
    result = await session.execute(
        update(table)
        .where(
            tuple_(table.c.digest, table.c.account_id).in_(list(keys)),
            table.c.nas_id == nas_id,
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
    locale: str | None = None


async def consume_tokens_of_users(
    session: AsyncSession,
    *,
    box: SecretBox,
    region_id: int,
    attempts: Sequence[Attempt],
    now: datetime,
) -> dict[Attempt, TokenOwner]:
    """Use many PAP tokens given with usernames and the access point that presents each (the
    RADIUS path: one round trip for the token *and* its account, which a fresh portal login has
    not yet put in any cache).

    ``UPDATE radius_token … FROM account`` consumes each live token whose account has that
    username in the region and that was issued for that access point; the owners' state is read
    in the same transaction (SQLite's RETURNING cannot name the joined table). Returns the
    winning attempts with their owners.
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
                    "digests": [d for d, _, _ in keys],
                    "usernames": [u for _, u, _ in keys],
                    "nas_ids": [n for _, _, n in keys],
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
                    tuple_(table.c.digest, account.c.username, table.c.nas_id).in_(list(keys)),
                    table.c.used_at.is_(None),
                    table.c.expires_at > now,
                )
                .values(used_at=now)
                .returning(table.c.digest, table.c.nas_id, table.c.account_id)
            )
        ).all()
        if not used:
            return {}
        owners = {
            row[0]: row
            for row in await session.execute(
                select(*_owner_columns(account)).where(account.c.id.in_({a for _, _, a in used}))
            )
        }
        rows = [(digest, nas_id, *owners[account_id]) for digest, nas_id, account_id in used]
    return _owners(keys, rows)


async def consume_tokens_of_users_on(
    driver: Any,
    *,
    box: SecretBox,
    region_id: int,
    attempts: Sequence[Attempt],
    now: datetime,
) -> dict[Attempt, TokenOwner]:
    """:func:`consume_tokens_of_users` on an asyncpg connection (PostgreSQL) outside any
    transaction: the one statement is its own, so a batch costs one round trip (no BEGIN, no
    COMMIT), which is what a RADIUS worker waits for."""
    keys = _keys(box, attempts)
    if not keys:
        return {}
    rows = await driver.fetch(
        _PG_CONSUME_SQL,
        [d for d, _, _ in keys],
        [u for _, u, _ in keys],
        [n for _, _, n in keys],
        region_id,
        now,
    )
    return _owners(keys, rows)


#: (username, token, id of the access point presenting it — None for a partner's proxy)
Attempt = tuple[str, str, int | None]
_Key = tuple[str, str, int]


def _keys(box: SecretBox, attempts: Sequence[Attempt]) -> dict[_Key, Attempt]:
    """The attempts by (digest, username, NAS id); one from no access point of ours cannot win."""
    return {  # every key's digest: a token issued before a key rotation is stored under an older one
        (digest, username, nas_id): (username, token, nas_id)
        for username, token, nas_id in attempts
        if nas_id is not None
        for digest in box.digests(token.encode(), purpose=TOKEN_PURPOSE)
    }


def _owners(keys: dict[_Key, Attempt], rows: Sequence[Sequence[Any]]) -> dict[Attempt, TokenOwner]:
    """The winning attempts and their owners, from (digest, nas id, account id, username, status,
    email_verified, password_hash, grace_until, locale) rows."""
    result = {}
    for digest, nas_id, account_id, username, status, verified, password_hash, grace_until, locale in rows:
        result[keys[(digest, username, nas_id)]] = TokenOwner(
            account_id=account_id,
            status=str(status),
            email_verified=verified,
            password_hash=password_hash,
            grace_until=grace_until,
            locale=locale,
        )
    return result


def _owner_columns(account: Table) -> tuple[Column[Any], ...]:
    c = account.c
    return (c.id, c.username, c.status, c.email_verified, c.password_hash, c.grace_until, c.locale)


_PG_CONSUME_TEMPLATE = (
    "UPDATE radius_token AS t SET used_at = {now} "
    "FROM account AS a, "
    "unnest(CAST({digests} AS varchar[]), CAST({usernames} AS varchar[]), CAST({nas_ids} AS integer[])) "
    "AS x(digest, username, nas_id) "
    "WHERE t.account_id = a.id AND a.region_id = {region} "
    "AND t.digest = x.digest AND a.username = x.username AND t.nas_id = x.nas_id "
    "AND t.used_at IS NULL AND t.expires_at > {now} "
    "RETURNING t.digest, t.nas_id, a.id, a.username, a.status, a.email_verified, a.password_hash, "
    "a.grace_until, a.locale"
)
_PG_CONSUME_SQL = _PG_CONSUME_TEMPLATE.format(  # asyncpg
    digests="$1", usernames="$2", nas_ids="$3", region="$4", now="$5"
)
_PG_CONSUME = text(
    _PG_CONSUME_TEMPLATE.format(
        digests=":digests", usernames=":usernames", nas_ids=":nas_ids", region=":region", now=":now"
    )
).columns(
    cast(Table, RadiusToken.__table__).c.digest,
    cast(Table, RadiusToken.__table__).c.nas_id,
    *_owner_columns(cast(Table, Account.__table__)),
)


def _tokens() -> Table:
    return cast(Table, RadiusToken.__table__)  # Core statements: the ORM's bulk UPDATE path costs 2x


async def consume_token_matching(
    session: AsyncSession,
    *,
    box: SecretBox,
    account_id: int,
    nas_id: int | None,
    matches: Callable[[bytes], bool],
    now: datetime,
) -> bool:
    """Use the live token of the account, issued for the access point ``nas_id``, for which
    ``matches(token)`` holds (CHAP: the response can only be checked against each clear token);
    True only if this call used it."""
    if nas_id is None:
        return False
    live = await session.execute(
        select(RadiusToken.id, RadiusToken.token_ciphertext).where(
            RadiusToken.account_id == account_id,
            RadiusToken.nas_id == nas_id,
            RadiusToken.used_at.is_(None),
            RadiusToken.expires_at > now,
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
