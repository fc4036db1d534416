"""A short-lived cache of successful password verifications.

Re-authentications (a phone roaming between access points, a controller re-checking) would
otherwise cost an argon2id verification each. The key is an HMAC of (identity, password) under
a random per-process key, so the cache holds no password and no offline-guessable hash; an
entry is valid only while the account's stored hash is unchanged (a new password invalidates it).
"""

from __future__ import annotations

import hashlib
import hmac
import os
from collections import OrderedDict


class VerificationCache:
    __slots__ = ("_entries", "_key", "max_entries", "ttl")

    def __init__(self, *, ttl: float = 600.0, max_entries: int = 200_000) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self._key = os.urandom(32)
        self._entries: OrderedDict[bytes, tuple[str, float]] = OrderedDict()

    def _digest(self, identity: str, password: str) -> bytes:
        return hmac.new(self._key, f"{identity}\0{password}".encode(), hashlib.sha256).digest()

    def hit(self, identity: str, password: str, password_hash: str | None, now: float) -> bool:
        if password_hash is None:
            return False
        entry = self._entries.get(self._digest(identity, password))
        return entry is not None and entry[1] > now and hmac.compare_digest(entry[0], password_hash)

    def remember(self, identity: str, password: str, password_hash: str | None, now: float) -> None:
        if password_hash is None:
            return
        key = self._digest(identity, password)
        self._entries[key] = (password_hash, now + self.ttl)
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)
