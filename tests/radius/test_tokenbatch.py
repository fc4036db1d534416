"""Token batches on SQLite and PostgreSQL (one statement over a kept connection there): a token is
used once, by its owner, at the access point it was handed to, in the store's region."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts import tokens, users
from accounts.models import Account, Region
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from radius.tokenbatch import TokenBatches
from sesame.db import create_sessionmaker, unit_of_work
from tests.radius.conftest import Home, add_account


@pytest.fixture
async def batches(engine: AsyncEngine, box: SecretBox, home: Home) -> AsyncIterator[TokenBatches]:
    batches = TokenBatches(sessions=create_sessionmaker(engine), box=box, region_id=lambda: home.region_id)
    yield batches
    await batches.close()


async def _issue(engine: AsyncEngine, box: SecretBox, account_id: int, nas_id: int, now: datetime) -> str:
    async with unit_of_work(create_sessionmaker(engine)) as session:
        owner = await session.get_one(Account, account_id)
        return await tokens.issue_token(session, box=box, account=owner, nas_id=nas_id, now=now)


async def test_one_batch_with_the_same_token_many_times_lets_one_attempt_win(
    engine: AsyncEngine, box: SecretBox, hasher: PasswordHasher, home: Home, batches: TokenBatches
) -> None:
    now = datetime.now(UTC)
    token = await _issue(engine, box, home.alice, home.ap, now)
    others = [await _issue(engine, box, home.alice, home.ap, now) for _ in range(19)]
    bob = await add_account(engine, hasher, "bob")
    bobs = await _issue(engine, box, bob, home.ap, now)
    results = await asyncio.gather(
        batches.consume(username="alice", token=token, nas_id=home.other, now=now),
        batches.consume(username="alice", token=token, nas_id=None, now=now),
        batches.consume(username="bob", token=token, nas_id=home.ap, now=now),
        batches.consume(username="alice", token=bobs, nas_id=home.ap, now=now),
        *(batches.consume(username="alice", token=token, nas_id=home.ap, now=now) for _ in range(5)),
        *(batches.consume(username="alice", token=t, nas_id=home.ap, now=now) for t in others),
    )
    # another access point, a partner's proxy, not the owner (twice)
    assert results[:4] == [None, None, None, None]
    winners = [r for r in results[4:9] if r is not None]
    assert [(w.id, w.username) for w in winners] == [(home.alice, "alice")]
    assert all(r is not None and (r.id, r.username) == (home.alice, "alice") for r in results[9:])
    assert await batches.consume(username="alice", token=token, nas_id=home.ap, now=now) is None
    assert await batches.consume(username="bob", token=bobs, nas_id=home.other, now=now) is None
    assert await batches.consume(username="bob", token=bobs, nas_id=home.ap, now=now) is not None


async def test_expired_tokens_and_tokens_of_another_region_are_refused(
    engine: AsyncEngine, box: SecretBox, hasher: PasswordHasher, home: Home, batches: TokenBatches
) -> None:
    now = datetime.now(UTC)
    old = await _issue(engine, box, home.alice, home.ap, now - timedelta(days=1))
    async with unit_of_work(create_sessionmaker(engine)) as session:
        elsewhere = Region(realm="wifi.elsewhere.example", name="Elsewhere")
        session.add(elsewhere)
        await session.flush()
        stranger = await users.create_account(
            session, hasher=hasher, region=elsewhere, username="alice", email="s@example.fr", password=None
        )
        foreign = await tokens.issue_token(session, box=box, account=stranger, nas_id=home.ap, now=now)
    assert await batches.consume(username="alice", token=old, nas_id=home.ap, now=now) is None
    assert await batches.consume(username="alice", token=foreign, nas_id=home.ap, now=now) is None
    fresh = await _issue(engine, box, home.alice, home.ap, now)
    assert await batches.consume(username="alice", token=fresh, nas_id=home.ap, now=now) is not None
