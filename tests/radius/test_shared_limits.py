"""The pipeline's failed-password limits shared through Redis (issue 16): guesses through one
server count on the other, with the policy of radius.ratelimit unchanged, and a password already
known good costs no round trip to Redis (the hot path of a returning citizen).

A redis-server of the test's own, so that its command count is this test's alone.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import redis
from pyrad import packet as pp

from radius.attempt import MSG_BAD_CREDENTIALS, MSG_TOO_MANY
from radius.core import ServerCore
from radius.pipeline import Pipeline
from radius.ratelimit import FailureLimiter
from sesame.sharedstate import RedisLink, SharedCounters
from tests.radius.conftest import AccessPoint, decide, message
from tests.radius.pipelines import CLASSES, CUI_KEY, REALM, FakeStore, Verifier
from tests.support.redisserver import RedisServer, unique_prefix

GUESSER = "02-00-00-00-00-01"
CITIZEN = "02-00-00-00-00-02"
KEY = bytes(range(32))


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def prefix() -> str:
    return unique_prefix()


@pytest.fixture
async def link(redis_server: RedisServer, prefix: str) -> AsyncIterator[RedisLink]:
    link = RedisLink.from_url(redis_server.url, key=KEY, prefix=prefix, timeout=2.0)
    yield link
    await link.close()


def shared_limiter(link: RedisLink) -> FailureLimiter:
    return FailureLimiter(
        per_identity_device=3, per_nas=100, window=60, counters=SharedCounters(link, window=60, cap=100)
    )


@pytest.fixture
def limiter(link: RedisLink) -> FailureLimiter:
    return shared_limiter(link)


def commands(server: RedisServer) -> int:
    client = redis.Redis.from_url(server.url)
    try:
        stats = client.info("stats")
        return int(stats["total_commands_processed"])
    finally:
        client.close()


def pap(ap: AccessPoint, user: str, password: str, device: str) -> pp.Packet:
    return ap.access_request(User_Name=user, User_Password=password, Calling_Station_Id=device)


async def test_a_password_known_good_costs_no_round_trip_to_redis(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, verifier: Verifier, redis_server: RedisServer
) -> None:
    _, reply = await decide(core, pipeline, pap(ap, "alice", "correct horse", CITIZEN))
    assert reply.code == pp.AccessAccept and verifier.calls == 1  # checked: limits read and cleared
    idle = commands(redis_server)
    idle = commands(redis_server) - idle  # what reading the count costs by itself
    before = commands(redis_server)
    for _ in range(5):
        _, reply = await decide(core, pipeline, pap(ap, "alice", "correct horse", CITIZEN))
        assert reply.code == pp.AccessAccept
    assert commands(redis_server) - before == idle  # the five accepts sent Redis nothing
    assert verifier.calls == 1


async def test_guesses_through_one_server_are_refused_on_the_other(
    core: ServerCore,
    pipeline: Pipeline,
    ap: AccessPoint,
    store: FakeStore,
    verifier: Verifier,
    clock: list[float],
    redis_server: RedisServer,
    prefix: str,
) -> None:
    other_link = RedisLink.from_url(redis_server.url, key=KEY, prefix=prefix, timeout=2.0)
    other = Pipeline(  # the second host: its own process, connection and verification cache
        realm=REALM,
        store=store,
        verify_password=verifier,
        classes=CLASSES,
        cui_key=CUI_KEY,
        clock=lambda: clock[0],
        limiter=shared_limiter(other_link),
    )
    try:
        for _ in range(3):
            _, reply = await decide(core, pipeline, pap(ap, "alice", "guess", GUESSER))
            assert message(reply) == MSG_BAD_CREDENTIALS
        calls = verifier.calls
        _, reply = await decide(core, other, pap(ap, "alice", "guess", GUESSER))
        assert message(reply) == MSG_TOO_MANY and verifier.calls == calls  # refused unverified
        # the policy is the same: the right password from the blocked device is not checked there…
        _, reply = await decide(core, other, pap(ap, "alice", "correct horse", GUESSER))
        assert message(reply) == MSG_TOO_MANY
        # …and the owner, from her own device, gets in through either server
        _, reply = await decide(core, other, pap(ap, "alice", "correct horse", CITIZEN))
        assert reply.code == pp.AccessAccept
        _, reply = await decide(core, pipeline, pap(ap, "alice", "correct horse", CITIZEN))
        assert reply.code == pp.AccessAccept
        assert [r.reason for r in store.records[-4:]] == [
            "rate_limited",
            "rate_limited",
            "accepted",
            "accepted",
        ]
    finally:
        await other_link.close()
