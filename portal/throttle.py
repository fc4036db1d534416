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
address. Per-account budgets are tight.

The records live in a :class:`ThrottleStore`: this process's memory (:class:`MemoryThrottle`,
bounded), or one shared by every process and host (``sesame/sharedstate.py``: Redis, with this
process's memory as its fall-back), so that a guesser cannot multiply its budget by the number of
servers behind the reverse proxy.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class Limit:
    free: int
    window: float
    max_delay: float = 900.0
    #: a success clears the record (an account's: the person proved who they are; not an
    #: address's, where one success proves little)
    cleared_by_success: bool = False

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` within the window (0: none): the attempt after the
        last free one waits 1 s, each further failure doubles it, up to ``max_delay``."""
        excess = failures - self.free + 1
        return min(self.max_delay, 2.0 ** (excess - 1)) if excess > 0 else 0.0


def account_at(account: str, address: str) -> str:
    """The key of an account as tried from one address."""
    return f"{address} {account}"


class ThrottleStore(Protocol):
    """Failures and waiting times per key; a key is ``kind`` and the value limited, one string."""

    async def wait(self, keys: Sequence[str]) -> float: ...
    async def failed(self, entries: Sequence[tuple[str, Limit]]) -> None: ...
    async def clear(self, keys: Sequence[str]) -> None: ...


@dataclass(slots=True)
class _Entry:
    failures: list[float] = field(default_factory=list)
    blocked_until: float = 0.0


class MemoryThrottle:
    """The records of one process, in bounded memory."""

    def __init__(self, *, max_entries: int = 100_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self.clock = clock
        self._entries: dict[str, _Entry] = {}

    async def wait(self, keys: Sequence[str]) -> float:
        now = self.clock()
        longest = 0.0
        for key in keys:
            entry = self._entries.get(key)
            if entry is not None:
                longest = max(longest, entry.blocked_until - now)
        return longest

    async def failed(self, entries: Sequence[tuple[str, Limit]]) -> None:
        now = self.clock()
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # bounded memory under a flood of distinct keys
        for key, limit in entries:
            entry = self._entries.setdefault(key, _Entry())
            entry.failures = [t for t in entry.failures if t > now - limit.window]
            entry.failures.append(now)
            delay = limit.delay(len(entry.failures))
            if delay > 0:
                entry.blocked_until = now + delay

    async def clear(self, keys: Sequence[str]) -> None:
        for key in keys:
            self._entries.pop(key, None)


class Throttle:
    """The limits of each kind of key, over a store (this process's memory unless given one)."""

    def __init__(self, limits: dict[str, Limit], *, store: ThrottleStore | None = None) -> None:
        self.limits = limits
        self.store: ThrottleStore = store or MemoryThrottle()

    @staticmethod
    def _key(kind: str, key: str) -> str:
        return f"{kind}\0{key}"  # \0: in no kind's name

    async def wait(self, keys: dict[str, str]) -> float:
        """Seconds before these keys may try again (0: go ahead)."""
        return await self.store.wait([self._key(kind, key) for kind, key in keys.items()])

    async def failed(self, keys: dict[str, str]) -> None:
        """Count a failure (or, for actions limited by volume, an attempt) against every key."""
        await self.store.failed([(self._key(kind, key), self.limits[kind]) for kind, key in keys.items()])

    async def succeeded(self, keys: dict[str, str]) -> None:
        """A success clears the records of the limits that say so."""
        cleared = [self._key(kind, key) for kind, key in keys.items() if self.limits[kind].cleared_by_success]
        if cleared:
            await self.store.clear(cleared)


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
    # SMS sent (issue 19: SMS pumping): per number, per client address, per number prefix; every SMS
    # counts, and the settings' [sms] section replaces these
    "sms_number": Limit(free=3, window=3600.0, max_delay=3600.0),
    "sms_ip": Limit(free=10, window=3600.0, max_delay=3600.0),
    "sms_prefix": Limit(free=20, window=3600.0, max_delay=3600.0),
    "admin_ip": Limit(free=30, window=900.0),
    "admin_account_ip": Limit(free=5, window=900.0, cleared_by_success=True),
    # the console's second factor, per admin: whoever guesses there already knows the password
    "console_code": Limit(free=5, window=900.0, cleared_by_success=True),
    # a guest's voucher code, per address: a few typing mistakes are free, guessing is not
    "voucher_ip": Limit(free=10, window=900.0, max_delay=900.0),
    # sponsored access: requests (each counts) per address and per sponsor (a mailbox nobody may
    # flood), and wrong approval links per address
    "sponsor_ip": Limit(free=5, window=3600.0, max_delay=3600.0),
    "sponsor_email": Limit(free=10, window=3600.0, max_delay=3600.0),
    "sponsor_link_ip": Limit(free=10, window=900.0, max_delay=900.0),
}
