"""RFC 5080 §2.2.2 duplicate detection, without I/O and without a clock.

Theory of operation. A request is identified by (source IP, source port, Identifier, receiving
socket) and its Request Authenticator. When a request arrives:

=================================  ==============================================  =============
cache entry for the key            same authenticator                              other
=================================  ==============================================  =============
none                               ``NEW``: remember it as in progress             —
in progress                        ``IN_PROGRESS``: drop it, the answer is coming  ``NEW`` (replaces)
answered                           ``ANSWERED``: send the cached reply again       ``NEW`` (replaces)
=================================  ==============================================  =============

An answered entry lives ``lifetime`` seconds (RFC 5080 suggests 5-30), an unanswered one
``processing_timeout`` seconds; both then expire in insertion order. Only packets whose
authenticity was checked reach this cache, so forged packets cannot poison it.
"""

from __future__ import annotations

import enum
from collections import deque
from dataclasses import dataclass

Key = tuple[str, int, int, int]  # (source ip, source port, identifier, local port)


class Verdict(enum.Enum):
    NEW = "new"
    IN_PROGRESS = "in_progress"
    ANSWERED = "answered"


@dataclass(slots=True)
class _Entry:
    authenticator: bytes
    reply: bytes | None
    expires: float


class DuplicateCache:
    __slots__ = ("_answered", "_entries", "_pending", "lifetime", "max_entries", "processing_timeout")

    def __init__(
        self, *, lifetime: float = 10.0, processing_timeout: float = 30.0, max_entries: int = 1_000_000
    ):
        self.lifetime = lifetime
        self.processing_timeout = processing_timeout
        self.max_entries = max_entries
        self._entries: dict[Key, _Entry] = {}
        # one queue per lifetime, so each stays ordered by expiry time
        self._pending: deque[tuple[float, Key, _Entry]] = deque()
        self._answered: deque[tuple[float, Key, _Entry]] = deque()

    def __len__(self) -> int:
        return len(self._entries)

    def check(self, key: Key, authenticator: bytes, now: float) -> tuple[Verdict, bytes | None]:
        """What to do with an authenticated request; ``NEW`` registers it as in progress."""
        self.expire(now)
        entry = self._entries.get(key)
        if entry is not None and entry.authenticator == authenticator:
            if entry.reply is None:
                return Verdict.IN_PROGRESS, None
            return Verdict.ANSWERED, entry.reply
        if len(self._entries) >= self.max_entries:
            self._evict_oldest()
        fresh = _Entry(authenticator, None, now + self.processing_timeout)
        self._entries[key] = fresh
        self._pending.append((fresh.expires, key, fresh))
        return Verdict.NEW, None

    def answered(self, key: Key, authenticator: bytes, reply: bytes, now: float) -> bool:
        """Remember the reply; False if the request was superseded or expired meanwhile."""
        entry = self._entries.get(key)
        if entry is None or entry.authenticator != authenticator or entry.reply is not None:
            return False
        entry.reply = reply
        entry.expires = now + self.lifetime
        self._answered.append((entry.expires, key, entry))
        return True

    def forget(self, key: Key, authenticator: bytes) -> None:
        """Drop an in-progress entry whose request will get no reply (so a retransmission is retried)."""
        entry = self._entries.get(key)
        if entry is not None and entry.authenticator == authenticator and entry.reply is None:
            del self._entries[key]

    def expire(self, now: float) -> None:
        for queue in (self._pending, self._answered):
            while queue and queue[0][0] <= now:
                self._drop(*queue.popleft())

    def _drop(self, expires: float, key: Key, entry: _Entry) -> None:
        if entry.expires == expires and self._entries.get(key) is entry:
            del self._entries[key]

    def _evict_oldest(self) -> None:
        for queue in (self._answered, self._pending):
            while queue:
                before = len(self._entries)
                self._drop(*queue.popleft())
                if len(self._entries) < before:
                    return
