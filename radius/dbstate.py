"""Whether the database answers, as a RADIUS process sees it: one log line when it goes away, one
when it is back, and the ``sesame_database_up`` gauge.

The process learns it from its poll (:meth:`radius.server.RadiusService._refresh`, every couple of
seconds), which reads the database anyway: no query of its own. Only a failure that says the
database cannot be used (:func:`radius.records.unavailable`: unreachable, a broken connection,
shutting down, a standby) counts; any other failure of the poll is a bug of ours, logged as such
by the poll's :class:`radius.periodic.FailureLog`.

While it is away, what RADIUS still answers and what it leaves unanswered is in
docs/operations.md, "Database fail-over and outages".
"""

from __future__ import annotations

import logging

from radius import metrics
from radius.records import unavailable

log = logging.getLogger(__name__)


class DatabaseState:
    def __init__(self) -> None:
        self.down_since: float | None = None

    @property
    def up(self) -> bool:
        return self.down_since is None

    def answered(self, now: float) -> None:
        """The poll went through."""
        metrics.DATABASE_UP.set(1)
        if self.down_since is None:
            return
        log.warning("radius: the database answers again after %.0f s", now - self.down_since)
        self.down_since = None

    def failed(self, exc: BaseException, now: float) -> None:
        """The poll failed with ``exc``: the database is down if that is what ``exc`` says."""
        if not unavailable(exc):
            return
        metrics.DATABASE_UP.set(0)
        if self.down_since is not None:
            return
        self.down_since = now
        log.error(
            "radius: the database is unreachable (%r); RADIUS answers from its caches where it can "
            "and leaves accounting unanswered until the database is back",
            exc,
        )
