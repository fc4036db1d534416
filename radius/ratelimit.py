"""Failed-password limits per source, in memory, with the clock as a parameter.

Who guesses is told apart by where the request comes from, never by whose account it names:
a limit on the account alone lets anyone lock a citizen out by guessing wrong on purpose.
A *source* is the access point (NAS) and, where it sends one, the device's Calling-Station-Id.
Failures are counted over a sliding ``window`` for:

* (identity, NAS, device) — one device guessing one account: ``per_identity_device``;
* (NAS, device) — one device guessing many accounts: ``per_device``;
* the NAS — many devices guessing behind one access point: ``per_nas``, much larger (a whole
  hotspot is behind it; a device without Calling-Station-Id is counted here only).

Past a limit a password that is not already known good (the verification cache) is refused
without being verified, so a guesser gets neither answers nor argon2id time; the right password
from another device, or one verified recently, is still accepted. A refusal because a source is
blocked is not a failure and is not counted: it would otherwise spread the block from the
guesser to the account it named, and from there to its owner's own devices.

The identity's own count never refuses anything. Past ``per_identity`` failures from any
sources the identity is *hot*: its verifications run one at a time, which slows a guesser
spread over many devices to one argon2id at a time without ever rejecting the right password.

The counts live in a :class:`Counters` store: this process's memory (:class:`MemoryCounters`), or
one shared by every process and host (``sesame/sharedstate.py``: Redis, with this process's memory
as its fall-back), so that a guesser cannot multiply its budget by the number of servers or worker
processes. The store is awaited, and only where a password is checked: one round trip reads the
four counts a check needs (:meth:`FailureLimiter.check`), one writes a failure; a password already
known good (the verification cache) never reaches the store.
"""

from __future__ import annotations

import enum
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol


class Counters(Protocol):
    """Events per key within the limiter's sliding window, a request's keys at a time. ``now``
    is the caller's clock; a store shared between hosts may keep time by a clock of its own."""

    async def counts(self, keys: Sequence[str], now: float) -> list[int]: ...
    async def record(self, keys: Sequence[str], now: float) -> None: ...
    async def forget(self, key: str) -> None: ...


class MemoryCounters:
    """Counters of one process, in bounded memory.

    Keys are kept in the order of their last event, so the front holds those quiet the longest:
    each new event drops the keys at the front whose window has passed, and past ``max_entries``
    the quietest key is forgotten (forgetting is safe: limits slow guessers, they are no record).
    A key guessed once and never again therefore costs nothing after ``window`` seconds; a flood of
    distinct names (unknown users, spoofed Calling-Station-Ids) cannot grow a worker's memory
    beyond the bound, nor wipe the counts of the sources being limited.
    """

    __slots__ = ("_times", "max_entries", "window")

    def __init__(self, *, window: float, max_entries: int = 100_000) -> None:
        self.window = window
        self.max_entries = max_entries
        self._times: OrderedDict[str, list[float]] = OrderedDict()

    def count(self, key: str, now: float) -> int:
        times = self._times.get(key)
        if times is None:
            return 0
        horizon = now - self.window
        if times[-1] <= horizon:
            del self._times[key]
            return 0
        if times[0] <= horizon:
            times[:] = [t for t in times if t > horizon]
        return len(times)

    def add(self, key: str, now: float) -> None:
        horizon = now - self.window
        for _ in range(2):  # amortised: every event drops at most two stale keys
            if not self._times:
                break
            oldest, stale = next(iter(self._times.items()))
            if stale[-1] > horizon:
                break
            del self._times[oldest]
        times = self._times.get(key)
        if times is None:
            if len(self._times) >= self.max_entries:
                self._times.popitem(last=False)
            self._times[key] = [now]
            return
        self._times.move_to_end(key)
        if times[0] <= horizon:
            times[:] = [t for t in times if t > horizon]
        times.append(now)

    def clear(self, key: str) -> None:
        self._times.pop(key, None)

    def __len__(self) -> int:
        return len(self._times)

    # -- Counters -----------------------------------------------------------------------------

    async def counts(self, keys: Sequence[str], now: float) -> list[int]:
        return [self.count(key, now) for key in keys]

    async def record(self, keys: Sequence[str], now: float) -> None:
        for key in keys:
            self.add(key, now)

    async def forget(self, key: str) -> None:
        self.clear(key)


@dataclass(frozen=True, slots=True)
class Source:
    """Where a request comes from: the NAS's name and the device's Calling-Station-Id, if any."""

    nas: str
    device: str | None = None


class Block(enum.StrEnum):
    """Which limit a source has reached; the value is the reason recorded for the reject."""

    IDENTITY_DEVICE = "rate_limited"
    DEVICE = "device_rate_limited"
    NAS = "nas_rate_limited"


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the limits say before a password is checked: ``block``, the limit this source has
    reached for this identity (the password, unless known good, is then refused unverified, and
    the refusal is not counted); ``hot``, many recent failures for this identity from any sources
    (its verifications run one at a time; never a reason to refuse one); ``failures``, this
    source's recent failures for this identity (none: a success has nothing to forgive)."""

    block: Block | None
    hot: bool
    failures: int = 0


class FailureLimiter:
    __slots__ = ("counters", "per_device", "per_identity", "per_identity_device", "per_nas")

    def __init__(
        self,
        *,
        per_identity_device: int = 5,
        per_device: int = 20,
        per_nas: int = 600,
        per_identity: int = 10,
        window: float = 300.0,
        counters: Counters | None = None,
    ) -> None:
        self.per_identity_device = per_identity_device
        self.per_device = per_device
        self.per_nas = per_nas
        self.per_identity = per_identity
        self.counters: Counters = counters or MemoryCounters(window=window)

    @staticmethod
    def _keys(identity: str, source: Source) -> tuple[str, str | None, str]:
        device = source.device or ""
        # \0 cannot be in a NAS's name; identities and Calling-Station-Ids are length-prefixed
        mine = f"i\0{len(identity)}:{identity}\0{source.nas}\0{len(device)}:{device}"
        return mine, (f"d\0{source.nas}\0{device}" if source.device else None), f"n\0{source.nas}"

    async def check(self, identity: str, source: Source, now: float) -> Verdict:
        """The limits for a password about to be checked, read in one go (one round trip to a
        shared store)."""
        mine, device, nas = self._keys(identity, source)
        keys = [mine, nas, f"u\0{identity}"] + ([device] if device is not None else [])
        counts = await self.counters.counts(keys, now)
        block: Block | None = None
        if counts[0] >= self.per_identity_device:
            block = Block.IDENTITY_DEVICE
        elif device is not None and counts[3] >= self.per_device:
            block = Block.DEVICE
        elif counts[1] >= self.per_nas:
            block = Block.NAS
        return Verdict(block=block, hot=counts[2] >= self.per_identity, failures=counts[0])

    async def failed(self, identity: str, source: Source, now: float) -> None:
        """A credential was checked and was wrong."""
        mine, device, nas = self._keys(identity, source)
        await self.counters.record([k for k in (mine, device, nas, f"u\0{identity}") if k is not None], now)

    async def succeeded(self, identity: str, source: Source) -> None:
        """The right credential from this source: its mistakes for this identity are forgiven
        (not the device's or the NAS's: one success proves little about the others)."""
        await self.counters.forget(self._keys(identity, source)[0])
