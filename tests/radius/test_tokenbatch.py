"""Token batches on SQLite and PostgreSQL (one statement over a kept connection there): a token is
used once, by its owner, at the access point it was handed to, in the store's region."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from accounts import network, tokens, users
from accounts.models import Account, Region
from accounts.network import ensure_home_region
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from radius.tokenbatch import TokenBatches
from sesame.db import create_sessionmaker, unit_of_work

REALM = "wifi.tokens.example"


@pytest.fixture
async def setup(
    engine: AsyncEngine, box: SecretBox, hasher: PasswordHasher
) -> AsyncIterator[tuple[TokenBatches, Account, int, int]]:
    async with unit_of_work(create_sessionmaker(engine)) as session:
        region = await ensure_home_region(session, realm=REALM)
        ap, other = await _two_access_points(session, region, box)
        alice = await users.create_account(
            session, hasher=hasher, region=region, username="alice", email="a@example.fr", password=None
        )
    batches = TokenBatches(sessions=create_sessionmaker(engine), box=box, region_id=lambda: region.id)
    yield batches, alice, ap, other
    await batches.close()


async def _two_access_points(session: AsyncSession, region: Region, box: SecretBox) -> tuple[int, int]:
    commune = await network.add_commune(session, region=region, name="Die", insee_code="26113")
    site = await network.add_site(session, commune=commune, name="Mairie")
    ap = await network.add_nas(session, box=box, site=site, name="ap-a", address="192.0.2.1", secret="s" * 16)
    other = await network.add_nas(
        session, box=box, site=site, name="ap-b", address="192.0.2.2", secret="s" * 16
    )
    return ap.id, other.id


async def _issue(engine: AsyncEngine, box: SecretBox, account: Account, nas_id: int, now: datetime) -> str:
    async with unit_of_work(create_sessionmaker(engine)) as session:
        owner = await session.get(Account, account.id)
        assert owner is not None
        return await tokens.issue_token(session, box=box, account=owner, nas_id=nas_id, now=now)


async def test_one_batch_with_the_same_token_many_times_lets_one_attempt_win(
    engine: AsyncEngine, box: SecretBox, setup: tuple[TokenBatches, Account, int, int]
) -> None:
    batches, alice, ap, other = setup
    now = datetime.now(UTC)
    token = await _issue(engine, box, alice, ap, now)
    results = await asyncio.gather(
        batches.consume(username="alice", token=token, nas_id=other, now=now),
        batches.consume(username="alice", token=token, nas_id=None, now=now),
        batches.consume(username="bob", token=token, nas_id=ap, now=now),
        *(batches.consume(username="alice", token=token, nas_id=ap, now=now) for _ in range(5)),
    )
    assert results[:3] == [None, None, None]  # another access point, a partner's proxy, not the owner
    winners = [r for r in results[3:] if r is not None]
    assert [(w.id, w.username) for w in winners] == [(alice.id, "alice")]
    assert await batches.consume(username="alice", token=token, nas_id=ap, now=now) is None


async def test_expired_tokens_and_tokens_of_another_region_are_refused(
    engine: AsyncEngine, box: SecretBox, hasher: PasswordHasher, setup: tuple[TokenBatches, Account, int, int]
) -> None:
    batches, alice, ap, _ = setup
    now = datetime.now(UTC)
    old = await _issue(engine, box, alice, ap, now - timedelta(days=1))
    async with unit_of_work(create_sessionmaker(engine)) as session:
        elsewhere = Region(realm="wifi.elsewhere.example", name="Elsewhere")
        session.add(elsewhere)
        await session.flush()
        stranger = await users.create_account(
            session, hasher=hasher, region=elsewhere, username="alice", email="s@example.fr", password=None
        )
        foreign = await tokens.issue_token(session, box=box, account=stranger, nas_id=ap, now=now)
    assert await batches.consume(username="alice", token=old, nas_id=ap, now=now) is None
    assert await batches.consume(username="alice", token=foreign, nas_id=ap, now=now) is None
    fresh = await _issue(engine, box, alice, ap, now)
    assert await batches.consume(username="alice", token=fresh, nas_id=ap, now=now) is not None
