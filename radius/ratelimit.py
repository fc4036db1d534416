"""Failed-attempt limits per identity and per NAS, in memory, with the clock as a parameter.

A sliding window of failure times: past ``per_identity`` failures within ``window`` seconds, an
identity is refused without even checking its password; past ``per_nas`` failures behind one
NAS, new password hashes are refused there, so a guessing flood cannot keep the hashing
threads busy. A NAS gets a larger budget (many people behind one controller).
"""

from __future__ import annotations

from collections import deque


class FailureLimiter:
    __slots__ = ("_failures", "max_entries", "per_identity", "per_nas", "window")

    def __init__(
        self, *, per_identity: int = 10, per_nas: int = 600, window: float = 300.0, max_entries: int = 100_000
    ) -> None:
        self.per_identity = per_identity
        self.per_nas = per_nas
        self.window = window
        self.max_entries = max_entries
        self._failures: dict[str, deque[float]] = {}

    def _count(self, key: str, now: float) -> int:
        times = self._failures.get(key)
        if times is None:
            return 0
        while times and times[0] <= now - self.window:
            times.popleft()
        if not times:
            del self._failures[key]
            return 0
        return len(times)

    def identity_blocked(self, identity: str, now: float) -> bool:
        """Too many recent failures for this identity: refuse without checking anything."""
        return self._count("u:" + identity, now) >= self.per_identity

    def nas_blocked(self, nas: str, now: float) -> bool:
        """Too many recent failures behind this NAS: refuse new *expensive* checks (argon2id) only,
        so one guesser cannot lock a whole hotspot out of cached, token and MAC authentication."""
        return self._count("n:" + nas, now) >= self.per_nas

    def failed(self, identity: str, nas: str, now: float) -> None:
        if len(self._failures) >= self.max_entries:
            self._failures.clear()  # bounded memory under a flood of distinct names
        for key in ("u:" + identity, "n:" + nas):
            self._failures.setdefault(key, deque()).append(now)
