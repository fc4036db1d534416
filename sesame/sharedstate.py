"""Short-lived state shared by every Sésame process and host, in Redis (``SESAME_REDIS_URL``).

What lives here, and why (docs/operations.md, "Shared state and Redis"): the counts that limit
guessing — RADIUS's failed-password limits (:class:`SharedCounters`, behind
:class:`radius.ratelimit.Counters`) and the portal's throttles (:class:`SharedThrottle`, behind
:class:`portal.throttle.ThrottleStore`). Kept in each process, they would give a guesser one budget
per host and per worker process.

Redis is a help, never a dependency: every operation runs under a short timeout, and when Redis
does not answer (or answers with an error) the limits are answered from this process's memory,
which every update also goes to, so the fall-back starts warm with what this process saw. The
:class:`RedisLink` remembers that Redis is down and does not try again before ``retry_after``
seconds (a request pays at most one timeout, and only one request per ``retry_after`` does), logs
one line when Redis goes away and one when it comes back, and says so in the ``sesame_redis_up``
gauge and ``/readyz`` (which still answers 200: the fall-back is safe, and both hosts share one
Redis, so a 503 would take them out of a load balancer together).

Times are Redis's own (``TIME`` in the scripts): hosts' monotonic clocks have nothing in common.
Keys are keyed digests (:meth:`RedisLink.name`): Redis holds no usernames, MAC or IP addresses,
only counts against opaque names, each expiring with its window. One Redis (or a Sentinel-managed
primary), not Redis Cluster: a script touches several keys.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from prometheus_client import Counter, Gauge
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from portal.throttle import Limit, MemoryThrottle
from radius.ratelimit import MemoryCounters

log = logging.getLogger("sesame.redis")
T = TypeVar("T")

REDIS_UP = Gauge(
    "sesame_redis_up",
    "1 when Redis answers, 0 when it does not (limits fall back to each process's memory)",
    multiprocess_mode="livemin",  # with worker processes: 0 if any of them cannot reach it
)
FALLBACKS = Counter(
    "sesame_redis_fallbacks",
    "Limit checks answered from this process's memory because Redis did not answer, by store",
    ["store"],
)

#: how often the link pings Redis while it answers (a quiet process still notices it going away)
PING_INTERVAL = 5.0


class Unavailable(Exception):
    """Redis did not answer in time, answered with an error, or is known to be down."""


class RedisLink:
    """One process's connection to Redis, with its health: down after a failure, tried again
    ``retry_after`` seconds later (by one request or by the watch, whichever comes first)."""

    def __init__(
        self,
        client: Redis,
        *,
        key: bytes,
        prefix: str = "sesame:",
        timeout: float = 0.25,
        retry_after: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.client = client
        self.prefix = prefix
        self.timeout = timeout
        self.retry_after = retry_after
        self.clock = clock
        self.up: bool | None = None  # None: not tried yet
        self._key = key
        self._next_try = 0.0
        self._watch: asyncio.Task[None] | None = None

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        key: bytes,
        prefix: str = "sesame:",
        timeout: float = 0.25,
        retry_after: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> RedisLink:
        client = Redis.from_url(
            url,
            socket_timeout=timeout,
            socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0),  # no retries: the caller falls back instead of waiting
            health_check_interval=0,
        )
        return cls(client, key=key, prefix=prefix, timeout=timeout, retry_after=retry_after, clock=clock)

    def name(self, kind: str, key: str) -> str:
        """The Redis key of a limit's key: a keyed digest, so Redis learns no identity or address."""
        digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), key=self._key, digest_size=16)
        return f"{self.prefix}{kind}:{digest.hexdigest()}"

    async def call(self, operation: Callable[[Redis], Awaitable[T]]) -> T:
        """Run ``operation`` under the timeout; :class:`Unavailable` if Redis is down or fails now."""
        if self.up is False:
            now = self.clock()
            if now < self._next_try:
                raise Unavailable
            self._next_try = now + self.retry_after  # one try per interval: the others fall back
        try:
            async with asyncio.timeout(self.timeout):
                result = await operation(self.client)
        except (RedisError, OSError, TimeoutError) as exc:
            self._went_down(exc)
            raise Unavailable from exc
        self._answered()
        return result

    async def probe(self) -> bool:
        """Whether Redis answers a PING now (or, while known down and not yet due for a try, False)."""
        try:
            await self.call(lambda client: client.ping())
        except Unavailable:
            return False
        return True

    def start(self) -> None:
        """Watch Redis in the background: the gauge and the logs follow it even when no request
        needs it. Call from the running loop."""
        if self._watch is None:
            self._watch = asyncio.get_running_loop().create_task(self._watching(), name="redis-watch")

    async def _watching(self) -> None:
        while True:
            await self.probe()
            await asyncio.sleep(PING_INTERVAL if self.up else self.retry_after)

    async def close(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        await self.client.aclose()

    def _went_down(self, exc: BaseException) -> None:
        self._next_try = self.clock() + self.retry_after
        if self.up is not False:
            why = type(exc).__name__ if isinstance(exc, TimeoutError) else f"{type(exc).__name__}: {exc}"
            log.warning(
                "redis: unreachable (%s); limits and throttles fall back to this process's memory", why[:200]
            )
        self.up = False
        REDIS_UP.set(0)

    def _answered(self) -> None:
        if self.up is False:
            log.info("redis: reachable again; limits and throttles are shared again")
        elif self.up is None:
            log.info("redis: connected; limits and throttles are shared between processes and hosts")
        self.up = True
        REDIS_UP.set(1)


# -- RADIUS's failed-password limits (radius.ratelimit.Counters) --------------------------------

# one sorted set per key: the events' times (Redis's clock), members made unique by a nonce
_COUNT = """
local t = redis.call('TIME')
local horizon = tonumber(t[1]) + tonumber(t[2]) / 1000000 - tonumber(ARGV[1])
local counts = {}
for i, key in ipairs(KEYS) do
    counts[i] = redis.call('ZCOUNT', key, '(' .. horizon, '+inf')
end
return counts
"""
_RECORD = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local window, cap = tonumber(ARGV[1]), tonumber(ARGV[2])
for i, key in ipairs(KEYS) do
    redis.call('ZADD', key, now, ARGV[3] .. ':' .. i)
    redis.call('ZREMRANGEBYSCORE', key, '-inf', now - window)
    redis.call('ZREMRANGEBYRANK', key, 0, -cap - 1)
    redis.call('PEXPIRE', key, math.ceil(window * 1000))
end
return #KEYS
"""


class SharedCounters:
    """:class:`radius.ratelimit.Counters` in Redis: each key a sorted set of its events' times
    within ``window`` (at most the ``cap`` newest: no limit counts further), expiring with it.
    Every update also goes to ``local``, this process's memory, which answers while Redis does not."""

    def __init__(
        self, link: RedisLink, *, window: float, cap: int, local: MemoryCounters | None = None
    ) -> None:
        self.link = link
        self.window = window
        self.cap = cap
        self.local = local or MemoryCounters(window=window)
        self._count = link.client.register_script(_COUNT)
        self._record = link.client.register_script(_RECORD)

    async def counts(self, keys: Sequence[str], now: float) -> list[int]:
        names = [self.link.name("rl", key) for key in keys]
        try:
            found: list[Any] = await self.link.call(
                lambda _client: self._count(keys=names, args=[self.window])
            )
        except Unavailable:
            FALLBACKS.labels("radius").inc()
            return await self.local.counts(keys, now)
        return [int(n) for n in found]

    async def record(self, keys: Sequence[str], now: float) -> None:
        await self.local.record(keys, now)
        names = [self.link.name("rl", key) for key in keys]
        nonce = secrets.token_hex(8)
        try:
            await self.link.call(
                lambda _client: self._record(keys=names, args=[self.window, self.cap, nonce])
            )
        except Unavailable:
            FALLBACKS.labels("radius").inc()

    async def forget(self, key: str) -> None:
        await self.local.forget(key)
        name = self.link.name("rl", key)
        try:
            await self.link.call(lambda client: client.unlink(name))
        except Unavailable:
            FALLBACKS.labels("radius").inc()


# -- the portal's throttles (portal.throttle.ThrottleStore) ------------------------------------

# per key: a sorted set of failure times (ms, Redis's clock) and a "blocked" key living as long as
# the wait; the delay is portal.throttle.Limit.delay, written again here
_WAIT = """
local longest = 0
for _, key in ipairs(KEYS) do
    local left = redis.call('PTTL', key)
    if left > longest then longest = left end
end
return longest
"""
_FAILED = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for i = 1, #KEYS / 2 do
    local failures, blocked = KEYS[2 * i - 1], KEYS[2 * i]
    local window, free = tonumber(ARGV[3 * i - 1]), tonumber(ARGV[3 * i])
    local max_delay = tonumber(ARGV[3 * i + 1])
    redis.call('ZREMRANGEBYSCORE', failures, '-inf', now - window)
    redis.call('ZADD', failures, now, ARGV[1] .. ':' .. i)
    redis.call('ZREMRANGEBYRANK', failures, 0, -(free + 32) - 1)
    redis.call('PEXPIRE', failures, window)
    local excess = redis.call('ZCARD', failures) - free + 1
    if excess > 0 then
        local delay = math.min(max_delay, 1000 * 2 ^ (excess - 1))
        redis.call('SET', blocked, '1', 'PX', math.max(1, math.floor(delay)))
    end
end
return 0
"""


class SharedThrottle:
    """:class:`portal.throttle.ThrottleStore` in Redis; every failure also goes to ``local``,
    this process's memory, which answers while Redis does not."""

    def __init__(self, link: RedisLink, *, local: MemoryThrottle | None = None) -> None:
        self.link = link
        self.local = local or MemoryThrottle()
        self._wait = link.client.register_script(_WAIT)
        self._failed = link.client.register_script(_FAILED)

    async def wait(self, keys: Sequence[str]) -> float:
        names = [self.link.name("tb", key) for key in keys]
        try:
            left: int = await self.link.call(lambda _client: self._wait(keys=names))
        except Unavailable:
            FALLBACKS.labels("portal").inc()
            return await self.local.wait(keys)
        return int(left) / 1000

    async def failed(self, entries: Sequence[tuple[str, Limit]]) -> None:
        await self.local.failed(entries)
        names: list[str] = []
        args: list[float | str] = [secrets.token_hex(8)]
        for key, limit in entries:
            names += [self.link.name("tf", key), self.link.name("tb", key)]
            args += [int(limit.window * 1000), limit.free, int(limit.max_delay * 1000)]
        try:
            await self.link.call(lambda _client: self._failed(keys=names, args=args))
        except Unavailable:
            FALLBACKS.labels("portal").inc()

    async def clear(self, keys: Sequence[str]) -> None:
        await self.local.clear(keys)
        names = [self.link.name(kind, key) for key in keys for kind in ("tf", "tb")]
        try:
            await self.link.call(lambda client: client.unlink(*names))
        except Unavailable:
            FALLBACKS.labels("portal").inc()
