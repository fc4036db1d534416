"""Logging the failures of a task that runs again and again (a timer, a poll, an accept loop).

Such a task fails as often as it runs: every 0.1 s while the database is away. One line per
failure buries the log, and a line without its traceback makes a bug of ours look like an outage.
:class:`FailureLog` logs the first failure of each kind (exception class) with its traceback,
counts the repeats and sums them up at most once per ``summary_every`` seconds, and logs the
recovery once. It does no I/O but logging and never reads the clock: ``now`` is given (any
monotonic clock, e.g. the event loop's ``time()``).
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable

#: at most one summary line per task per this many seconds
SUMMARY_EVERY = 60.0

#: a task healthy this long has its tracebacks logged again on its next failure
FORGET_AFTER = 3600.0


def _kind(exc: BaseException) -> str:
    cls = type(exc)
    return cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"


class FailureLog:
    """The failures of one periodic task, logged once with a traceback, then counted."""

    def __init__(
        self,
        task: str,
        logger: logging.Logger,
        *,
        summary_every: float = SUMMARY_EVERY,
        forget_after: float = FORGET_AFTER,
    ) -> None:
        self.task = task
        self.log = logger
        self.summary_every = summary_every
        self.forget_after = forget_after
        self._seen: set[str] = set()  # kinds whose traceback was logged
        self._unreported: Counter[str] = Counter()  # failures not yet in a log line, by kind
        self._last: dict[str, BaseException] = {}
        self._reported_at: float | None = None  # when the last line about this task was written
        self._failing_since: float | None = None
        self._failures = 0  # in the current run of failures
        self._logged = False  # whether the current run of failures has been logged
        self._healthy_since: float | None = None

    @property
    def failing(self) -> bool:
        return self._failing_since is not None

    def failed(self, exc: BaseException, now: float) -> None:
        """Call from the ``except`` block of a failed run."""
        if self._failing_since is None:
            if self._healthy_since is not None and now - self._healthy_since >= self.forget_after:
                self._seen.clear()
            self._failing_since, self._failures, self._logged = now, 0, False
        self._failures += 1
        kind = _kind(exc)
        if kind not in self._seen:
            self._seen.add(kind)
            self.log.error("%s failed", self.task, exc_info=exc)
            self._reported(now)
            return
        self._unreported[kind] += 1
        self._last[kind] = exc
        if self._reported_at is None or now - self._reported_at >= self.summary_every:
            self.log.warning("%s still failing: %s", self.task, self._summary(now))
            self._reported(now)

    def succeeded(self, now: float) -> None:
        """Call after each run that went through."""
        if self._failing_since is None:
            return
        # logged when the failures were: a run of already-known failures shorter than a
        # summary period stays in the counts (a flapping task writes a line a minute at most)
        if self._logged or self._reported_at is None or now - self._reported_at >= self.summary_every:
            since, failures = now - self._failing_since, self._failures
            tail = f" ({self._summary(now)})" if self._unreported else ""
            self.log.warning(
                "%s works again after %d failed runs in %.0f s%s", self.task, failures, since, tail
            )
            self._reported(now)
        self._failing_since, self._healthy_since = None, now

    def _summary(self, now: float) -> str:
        window = f" in the last {now - self._reported_at:.0f} s" if self._reported_at is not None else ""
        parts = [f"{n} × {self._last[kind]!r}" for kind, n in self._unreported.most_common()]
        return f"{sum(self._unreported.values())} more failures{window}: " + "; ".join(parts)

    def _reported(self, now: float) -> None:
        self._reported_at, self._logged = now, True
        self._unreported.clear()
        self._last.clear()


async def every(
    interval: float, action: Callable[[], Awaitable[object]], failures: FailureLog, clock: Callable[[], float]
) -> None:
    """Run ``action`` every ``interval`` seconds for ever; its failures go to ``failures``."""
    while True:
        await asyncio.sleep(interval)
        try:
            await action()
        except Exception as exc:  # the database may be away for a while: keep serving
            failures.failed(exc, clock())
        else:
            failures.succeeded(clock())
