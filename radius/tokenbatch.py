"""Single-use portal tokens, consumed in batches: the attempts that arrive while one batch is in
flight go together in the next (group commit, :class:`radius.batching.Batcher`).

On PostgreSQL a batch is one statement over a kept connection (its own transaction, one round
trip); elsewhere one transaction. Tokens are never cached: single use must hold across worker
processes, so the database decides.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from accounts import tokens
from accounts.secretbox import SecretBox
from radius.batching import Batcher
from radius.records import KeptConnection
from radius.store import AccountView

#: most token uses in one UPDATE
TOKEN_BATCH = 500

_Attempt = tuple[str, str, int, datetime]


class TokenBatches:
    """The token part of :class:`radius.sqlstore.SqlStore`; ``region_id`` is read at each batch
    (the store learns it when it starts)."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        box: SecretBox,
        region_id: Callable[[], int],
        limit: int = TOKEN_BATCH,
    ) -> None:
        self.sessions = sessions
        self.box = box
        self.region_id = region_id
        engine: AsyncEngine = sessions.kw["bind"]
        self._postgres = engine.dialect.name == "postgresql"
        self._connection = KeptConnection(engine)
        self._batcher = Batcher(self._consume, limit=limit)

    async def consume(
        self, *, username: str, token: str, nas_id: int | None, now: datetime
    ) -> AccountView | None:
        """The account ``token`` was issued to, if it is ``username``'s, handed to this access point,
        unexpired and unused — and now used; None otherwise (always for a partner's proxy)."""
        if nas_id is None:  # a partner's proxy: no token of ours was handed to it
            return None
        return await self._batcher((username, token, nas_id, now))

    async def _consume(self, batch: list[_Attempt]) -> list[AccountView | None]:
        attempts: list[tokens.Attempt] = [(username, token, nas_id) for username, token, nas_id, _ in batch]
        now = max(now for _, _, _, now in batch)
        if self._postgres:
            try:
                won = await tokens.consume_tokens_of_users_on(
                    await self._connection.driver(),
                    box=self.box,
                    region_id=self.region_id(),
                    attempts=attempts,
                    now=now,
                )
            except Exception:
                await self._connection.drop()
                raise
        else:
            async with self.sessions() as session, session.begin():
                won = await tokens.consume_tokens_of_users(
                    session, box=self.box, region_id=self.region_id(), attempts=attempts, now=now
                )
        # the same token twice in one batch (a client retrying fast): only the first wins
        owners = [(attempt[0], won.pop(attempt, None)) for attempt in attempts]
        return [_owner_view(username, owner) if owner else None for username, owner in owners]

    async def consume_matching(
        self, *, account_id: int, nas_id: int | None, matches: Callable[[bytes], bool], now: datetime
    ) -> bool:
        """CHAP: the response can only be checked against each clear token, so one at a time."""
        if nas_id is None:
            return False
        async with self.sessions() as session, session.begin():
            return await tokens.consume_token_matching(
                session, box=self.box, account_id=account_id, nas_id=nas_id, matches=matches, now=now
            )

    async def close(self) -> None:
        """Give the kept connection back."""
        await self._connection.close()


def _owner_view(username: str, owner: tokens.TokenOwner) -> AccountView:
    return AccountView(
        id=owner.account_id,
        username=username,
        status=owner.status,
        email_verified=owner.email_verified,
        password_hash=owner.password_hash,
        grace_until=owner.grace_until,
        locale=owner.locale,
    )
