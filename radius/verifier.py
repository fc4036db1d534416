"""argon2id verification off the event loop: a thread pool of its own, with bounds on the work
waiting, in all and per source, so that a guessing flood cannot take the RADIUS workers from the
requests that need no password hash."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

from accounts.passwords import PasswordHasher

__all__ = ["BoundedVerifier", "Overloaded"]


class Overloaded(Exception):
    """Too much work pending: the request is dropped unanswered and the NAS will retry."""


class BoundedVerifier:
    """argon2id verification off the event loop, in a thread pool of its own, with bounds.

    Each verification waiting or running holds one of the port's worker tasks, so at most
    ``max_pending`` wait (fewer than the workers: the others keep serving MAC, token, cached
    and proxied requests during a guessing flood), and one source (a NAS) may hold at most
    ``max_pending_per_source`` of them, so a guesser behind one access point cannot take the
    whole queue from the others. Past a bound the request is dropped unanswered
    (:class:`Overloaded`: the NAS retries), never rejected. ``serial``: an identity whose
    verifications must run one at a time (see :meth:`radius.ratelimit.FailureLimiter.hot`).
    """

    def __init__(
        self,
        hasher: PasswordHasher,
        *,
        threads: int,
        max_pending: int,
        max_pending_per_source: int | None = None,
    ) -> None:
        self.hasher = hasher
        # never the loop's default executor: what else runs there (DNS, files) does not wait on argon2id
        self.pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="argon2")
        self.max_pending = max_pending
        self.max_pending_per_source = max_pending_per_source or max(1, max_pending // 2)
        self.pending = 0
        self._per_source: dict[str, int] = {}
        self._serial: dict[str, tuple[asyncio.Lock, list[int]]] = {}  # identity -> (lock, [users])

    async def __call__(
        self, password: str, password_hash: str | None, *, source: str = "", serial: str | None = None
    ) -> bool:
        held = self._per_source.get(source, 0)
        if self.pending >= self.max_pending or held >= self.max_pending_per_source:
            raise Overloaded("password verification queue is full")
        self.pending += 1
        self._per_source[source] = held + 1
        try:
            if serial is None:
                return await self._verify(password, password_hash)
            lock, users = self._serial.setdefault(serial, (asyncio.Lock(), [0]))
            users[0] += 1
            try:
                async with lock:
                    return await self._verify(password, password_hash)
            finally:
                users[0] -= 1
                if not users[0]:
                    del self._serial[serial]
        finally:
            self.pending -= 1
            left = self._per_source[source] - 1
            if left:
                self._per_source[source] = left
            else:
                del self._per_source[source]

    async def rehash(self, password: str) -> str:
        """argon2id of ``password`` in this pool (an imported hash replaced after a log-in)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self.hasher.hash, password)

    async def _verify(self, password: str, password_hash: str | None) -> bool:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self.hasher.verify, password, password_hash)

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)
