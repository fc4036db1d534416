"""Rate limits with progressive delays for every credential check of the portal.

Each action (log-in, sign-up, code checks, reset requests) is limited by several keys at once:
the client address and, when known, the account *at that address* (:func:`account_at`). A key
gets ``free`` failures within ``window`` seconds; the attempt after them waits, and each further
failure doubles the waiting time (1 s, 2 s, 4 s… up to ``max_delay``), so a person who mistypes is
barely slowed while a guesser is stopped. The waiting time is told to the person (HTTP 429 with
``Retry-After``), never slept on the server.

Password checks are never limited by the account alone: anyone could then lock its owner out by
guessing wrong on purpose. A guesser is held back where it guesses from; the owner, from another
address, still logs in. (``login_account`` is only for checks by someone already signed in as the
account — changing or deleting it; a code by email spends itself after a few wrong guesses.)

Per-address budgets are generous: a whole hotspot often reaches the portal through one public
address. Per-account budgets are tight. State is per process, in memory, bounded.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class _Entry:
    failures: list[float] = field(default_factory=list)
    blocked_until: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class Limit:
    free: int
    window: float
    max_delay: float = 900.0
    #: a success clears the record (an account's: the person proved who they are; not an
    #: address's, where one success proves little)
    cleared_by_success: bool = False


def account_at(account: str, address: str) -> str:
    """The key of an account as tried from one address."""
    return f"{address} {account}"


class Throttle:
    def __init__(self, limits: dict[str, Limit], *, max_entries: int = 100_000) -> None:
        self.limits = limits
        self.max_entries = max_entries
        self._entries: dict[tuple[str, str], _Entry] = {}

    def wait(self, keys: dict[str, str], *, now: float) -> float:
        """Seconds before these keys may try again (0: go ahead)."""
        longest = 0.0
        for kind, key in keys.items():
            entry = self._entries.get((kind, key))
            if entry is not None:
                longest = max(longest, entry.blocked_until - now)
        return longest

    def failed(self, keys: dict[str, str], *, now: float) -> None:
        """Count a failure (or, for actions limited by volume, an attempt) against every key."""
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # bounded memory under a flood of distinct keys
        for kind, key in keys.items():
            limit = self.limits[kind]
            entry = self._entries.setdefault((kind, key), _Entry())
            entry.failures = [t for t in entry.failures if t > now - limit.window]
            entry.failures.append(now)
            excess = len(entry.failures) - limit.free + 1  # the attempt after the last free one waits
            if excess > 0:
                entry.blocked_until = now + min(limit.max_delay, 2.0 ** (excess - 1))

    def succeeded(self, keys: dict[str, str]) -> None:
        """A success clears the records of the limits that say so."""
        for kind, key in keys.items():
            if self.limits[kind].cleared_by_success:
                self._entries.pop((kind, key), None)


DEFAULT_LIMITS = {
    "login_ip": Limit(free=50, window=900.0),
    "login_account_ip": Limit(free=5, window=900.0, cleared_by_success=True),
    "login_account": Limit(free=5, window=900.0, cleared_by_success=True),
    "signup_ip": Limit(free=20, window=3600.0, max_delay=3600.0),
    "code_ip": Limit(free=30, window=900.0),
    "code_account": Limit(free=5, window=900.0, cleared_by_success=True),
    "code_account_ip": Limit(free=5, window=900.0, cleared_by_success=True),
    "mail_ip": Limit(free=20, window=3600.0, max_delay=3600.0),
    "mail_account": Limit(free=3, window=3600.0, max_delay=3600.0, cleared_by_success=True),
    "admin_ip": Limit(free=30, window=900.0),
    "admin_account_ip": Limit(free=5, window=900.0, cleared_by_success=True),
}
