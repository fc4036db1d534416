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
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, select, tuple_, update
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
    """Use many PAP tokens in one statement (group commit under load).

    Returns the (account id, token) attempts that found a live token of that account, each once:
    the ``used_at IS NULL`` condition makes every token win at most one attempt, across
    statements and processes. Repeated attempts in the same call are the caller's to refuse.
    """
    keys = {
        (box.digest(token.encode(), purpose=TOKEN_PURPOSE), account_id): (account_id, token)
        for account_id, token in attempts
    }
    if not keys:
        return set()
    table = cast(Table, RadiusToken.__table__)  # a Core statement: the ORM's bulk UPDATE path costs 2x
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
