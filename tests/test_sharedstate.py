"""Shared short-lived state in Redis (issue 16): two hosts' limits and throttles, each with a
connection of its own, see each other's counts; Redis going away leaves every limit answering from
the process's memory, says so once in the log, in ``sesame_redis_up`` and in ``/readyz``, and its
return is noticed. Against the real Redis (``tests/support/redisserver.py``)."""

from __future__ import annotations

import logging
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest
import redis
from prometheus_client import REGISTRY
from pydantic import ValidationError

from portal.app import create_app
from portal.throttle import Limit, Throttle
from radius.ratelimit import Block, FailureLimiter, Source
from sesame.db import create_engine
from sesame.settings import Settings
from sesame.sharedstate import RedisLink, SharedCounters, SharedThrottle
from tests.support.redisserver import RedisServer, drop_keys, free_port, need_shared_redis, unique_prefix

KEY = bytes(range(32))
HOTSPOT = Source("ap-mediatheque", "02-00-00-00-00-01")
OTHER_DEVICE = Source("ap-mediatheque", "02-00-00-00-00-02")

LinkFactory = Callable[..., RedisLink]


@pytest.fixture
def shared_redis() -> Iterator[tuple[str, str]]:
    """The test Redis and a key prefix of this test's own (its keys dropped afterwards)."""
    url, prefix = need_shared_redis(), unique_prefix()
    yield url, prefix
    drop_keys(url, prefix)


@pytest.fixture
async def links() -> AsyncIterator[LinkFactory]:
    """Makes links (each as another host's: a connection of its own), closed at the end."""
    made: list[RedisLink] = []

    def make(
        url: str, prefix: str, *, clock: Callable[[], float] | None = None, retry_after: float = 2.0
    ) -> RedisLink:
        link = RedisLink.from_url(url, key=KEY, prefix=prefix, timeout=2.0, retry_after=retry_after)
        if clock is not None:
            link.clock = clock
        made.append(link)
        return link

    yield make
    for link in made:
        await link.close()


def limiter(link: RedisLink) -> FailureLimiter:
    limits = {"per_identity_device": 3, "per_device": 5, "per_nas": 8, "per_identity": 4}
    return FailureLimiter(**limits, window=300.0, counters=SharedCounters(link, window=300.0, cap=8))


def redis_up() -> float | None:
    return REGISTRY.get_sample_value("sesame_redis_up")


async def test_two_hosts_limiters_count_each_others_failures(
    shared_redis: tuple[str, str], links: LinkFactory
) -> None:
    first, second = limiter(links(*shared_redis)), limiter(links(*shared_redis))
    for _ in range(3):
        assert (await first.check("alice@r", HOTSPOT, 0.0)).block is None
        await first.failed("alice@r", HOTSPOT, 0.0)
    # the guesser turns to the other server: its failures are already there
    assert (await second.check("alice@r", HOTSPOT, 0.0)).block is Block.IDENTITY_DEVICE
    assert (await second.check("alice@r", OTHER_DEVICE, 0.0)).block is None  # the owner is not locked out
    assert (await second.check("bob@r", HOTSPOT, 0.0)).block is None
    for name in ("bob@r", "carol@r"):
        await second.failed(name, HOTSPOT, 0.0)
    # 5 failures from that device over both servers: the device is stopped on the first too
    assert (await first.check("dave@r", HOTSPOT, 0.0)).block is Block.DEVICE
    assert (await first.check("alice@r", OTHER_DEVICE, 0.0)).hot is False
    await first.failed("alice@r", OTHER_DEVICE, 0.0)
    assert (await second.check("alice@r", OTHER_DEVICE, 0.0)).hot is True  # 4 for alice, everywhere
    # the right password on the second server forgives that device's mistakes on the first
    await second.succeeded("alice@r", HOTSPOT)
    assert (await first.check("alice@r", HOTSPOT, 0.0)).block is Block.DEVICE  # the device's own count stays
    await first.failed("erin@r", OTHER_DEVICE, 0.0)
    await first.failed("frank@r", OTHER_DEVICE, 0.0)
    # 8 failures at the NAS in all: every device behind it is held, on both servers
    assert (
        await second.check("gina@r", Source("ap-mediatheque", "02-00-00-00-00-09"), 0.0)
    ).block is Block.NAS


async def test_redis_holds_no_identity_and_every_key_expires(
    shared_redis: tuple[str, str], links: LinkFactory
) -> None:
    url, prefix = shared_redis
    link = links(url, prefix)
    await limiter(link).failed("alice.martin@r", HOTSPOT, 0.0)
    await Throttle({"login_ip": Limit(free=1, window=60)}, store=SharedThrottle(link)).failed(
        {"login_ip": "192.0.2.7"}
    )
    client = redis.Redis.from_url(url)
    try:
        names = list(client.scan_iter(match=f"{prefix}*"))
        assert len(names) == 4 + 2  # the limiter's four keys; the throttle's failures and its wait
        for name in names:
            assert not any(word in name for word in (b"alice", b"ap-mediatheque", b"02-00", b"192.0.2"))
            assert 0 < client.pttl(name) <= 300_000
    finally:
        client.close()


async def test_two_hosts_throttles_share_their_waits(
    shared_redis: tuple[str, str], links: LinkFactory
) -> None:
    limits = {
        "login_ip": Limit(free=50, window=900.0),
        "login_account_ip": Limit(free=2, window=900.0, cleared_by_success=True),
    }
    first = Throttle(limits, store=SharedThrottle(links(*shared_redis)))
    second = Throttle(limits, store=SharedThrottle(links(*shared_redis)))
    keys = {"login_ip": "192.0.2.7", "login_account_ip": "192.0.2.7 alice"}
    await first.failed(keys)
    assert await second.wait(keys) == 0  # one free failure left
    await second.failed(keys)
    waiting = await first.wait(keys)
    assert 0 < waiting <= 1.0  # the attempt after the last free one waits a second
    await first.failed(keys)
    assert 0 < await second.wait(keys) <= 2.0  # and each further failure doubles it
    assert await first.wait({"login_ip": "192.0.2.8"}) == 0  # another address is not held
    await second.succeeded(keys)  # the account's record goes; the address's stays (free: 50)
    assert await first.wait(keys) == 0


async def test_with_redis_unreachable_the_limits_answer_from_memory(links: LinkFactory) -> None:
    clock = [1000.0]
    link = links(f"redis://127.0.0.1:{free_port()}/0", unique_prefix(), clock=lambda: clock[0])
    guarded = limiter(link)
    for _ in range(3):
        assert (await guarded.check("alice@r", HOTSPOT, 0.0)).block is None
        await guarded.failed("alice@r", HOTSPOT, 0.0)
    assert (await guarded.check("alice@r", HOTSPOT, 0.0)).block is Block.IDENTITY_DEVICE
    assert link.up is False and redis_up() == 0.0
    throttle = Throttle({"login_ip": Limit(free=1, window=60)}, store=SharedThrottle(link))
    await throttle.failed({"login_ip": "192.0.2.7"})
    assert await throttle.wait({"login_ip": "192.0.2.7"}) > 0


async def test_redis_going_away_and_coming_back(
    tmp_path: Path, links: LinkFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="sesame.redis")
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'ready.db'}")  # /readyz asks SELECT 1
    server = RedisServer(tmp_path)
    server.start()
    clock = [1000.0]
    prefix = unique_prefix()
    try:
        first = links(server.url, prefix, clock=lambda: clock[0], retry_after=2.0)
        second = links(server.url, prefix, clock=lambda: clock[0], retry_after=2.0)
        one, other = limiter(first), limiter(second)
        app = create_app(engine=engine, redis=first.probe)
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as http:
            await one.failed("alice@r", HOTSPOT, 0.0)
            await other.failed("alice@r", HOTSPOT, 0.0)
            assert (await http.get("/readyz")).json() == {"status": "ready", "database": "ok", "redis": "ok"}
            assert redis_up() == 1.0

            caplog.clear()
            server.stop()
            # Redis is gone: each server keeps answering, from what it saw itself
            for _ in range(5):
                assert (await one.check("alice@r", HOTSPOT, 0.0)).block is None  # 1 here (2 in all)
            await one.failed("alice@r", HOTSPOT, 0.0)
            await one.failed("alice@r", HOTSPOT, 0.0)
            assert (await one.check("alice@r", HOTSPOT, 0.0)).block is Block.IDENTITY_DEVICE
            ready = await http.get("/readyz")
            assert ready.status_code == 200  # RADIUS and the portal keep serving: only reported
            assert ready.json() == {"status": "ready", "database": "ok", "redis": "unreachable"}
            assert redis_up() == 0.0
            down = [r for r in caplog.records if r.name == "sesame.redis" and r.levelno == logging.WARNING]
            assert len(down) == 1 and "unreachable" in down[0].getMessage()  # one line, not one per request

            server.start()  # back (empty: it kept nothing on disk)
            assert await first.probe() is False  # not tried again before retry_after
            clock[0] += 2.0
            caplog.clear()
            assert (await http.get("/readyz")).json()["redis"] == "ok"
            assert first.up is True and redis_up() == 1.0
            back = [r for r in caplog.records if r.name == "sesame.redis"]
            assert [r.levelno for r in back] == [logging.INFO] and "again" in back[0].getMessage()
            # shared again: what the second server counts now, the first sees
            for name in ("bob@r", "carol@r", "dave@r"):
                await other.failed(name, OTHER_DEVICE, 0.0)
            assert (await one.check("bob@r", OTHER_DEVICE, 0.0)).block is None
            await other.failed("erin@r", OTHER_DEVICE, 0.0)
            await other.failed("frank@r", OTHER_DEVICE, 0.0)
            assert (await one.check("bob@r", OTHER_DEVICE, 0.0)).block is Block.DEVICE
    finally:
        server.stop()
        await engine.dispose()


async def test_a_redis_that_accepts_but_never_answers_costs_one_timeout() -> None:
    """A hung Redis (the connection is accepted, nothing ever comes back): the request that tries
    waits the timeout once and is answered from memory; the next ones do not wait at all."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)  # the kernel completes the handshakes; nobody reads
        clock = [1000.0]
        link = RedisLink.from_url(
            f"redis://127.0.0.1:{silent.getsockname()[1]}/0", key=KEY, prefix=unique_prefix(), timeout=0.2
        )
        link.clock = lambda: clock[0]
        try:
            guarded = limiter(link)
            await guarded.failed("alice@r", HOTSPOT, 0.0)
            assert link.up is False
            for _ in range(2):
                await guarded.failed("alice@r", HOTSPOT, 0.0)  # not tried: Redis is known down
            assert (await guarded.check("alice@r", HOTSPOT, 0.0)).block is Block.IDENTITY_DEVICE
        finally:
            await link.close()


def test_the_redis_url_must_be_a_redis_one(settings_env: None) -> None:
    with pytest.raises(ValidationError, match="redis://"):
        Settings(environment="development", redis={"url": "http://127.0.0.1:6379"})
    assert Settings(environment="development").redis.url.get_secret_value() == ""
