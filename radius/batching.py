"""Group commit: calls that arrive while a batch is being written go together in the next one.

At low load a call runs alone and at once; under load, many calls share one transaction, so a
commit's fixed cost (a round trip, an fsync) is paid once per batch instead of once per request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import Generic, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class Batcher(Generic[T, R]):
    def __init__(
        self, run: Callable[[list[T]], Awaitable[Sequence[R | BaseException]]], *, limit: int
    ) -> None:
        """``run`` gets a batch and returns one result per item, in order: a value, or an exception
        for that item's caller alone; if ``run`` raises, every caller of the batch gets it."""
        self.run = run
        self.limit = limit
        self._pending: list[tuple[T, asyncio.Future[R]]] = []
        self._drain: asyncio.Task[None] | None = None

    async def __call__(self, item: T) -> R:
        future: asyncio.Future[R] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._drain is None:
            self._drain = asyncio.create_task(self._run_batches())
        return await future

    async def _run_batches(self) -> None:
        try:
            while self._pending:
                batch = self._pending[: self.limit]
                del self._pending[: self.limit]
                try:
                    results = await self.run([item for item, _ in batch])
                except Exception as exc:
                    for _, future in batch:
                        if not future.done():
                            future.set_exception(exc)
                    continue
                for (_, future), result in zip(batch, results, strict=True):
                    if future.done():
                        continue
                    if isinstance(result, BaseException):
                        future.set_exception(result)
                    else:
                        future.set_result(result)
        finally:
            self._drain = None
