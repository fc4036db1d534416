"""Password hashing for accounts (argon2id through passlib's API, provided by libpass).

The default cost follows OWASP's argon2id recommendation (m=19 MiB, t=2, p=1, about 25 ms on
our reference machine); passlib's own defaults (m=64 MiB, t=3, p=4) cost ~120 ms, too slow for a
RADIUS path that may verify passwords. Hashing releases the GIL: callers on an event loop run it
in a thread pool. :meth:`PasswordHasher.dummy_verify` spends the same time when an account does
not exist, so response time does not reveal which usernames exist.
"""

from __future__ import annotations

from dataclasses import dataclass

from passlib.context import CryptContext

from accounts.errors import InvalidInput

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128


@dataclass(frozen=True, slots=True, kw_only=True)
class Argon2Cost:
    memory_kib: int = 19_456
    time_cost: int = 2
    parallelism: int = 1


class PasswordHasher:
    """Hashes and verifies passwords; re-hash advice when the configured cost changes."""

    __slots__ = ("_context", "_dummy_hash")

    def __init__(self, cost: Argon2Cost | None = None) -> None:
        cost = cost or Argon2Cost()
        self._context = CryptContext(
            schemes=["argon2"],
            argon2__type="ID",
            argon2__memory_cost=cost.memory_kib,
            argon2__rounds=cost.time_cost,
            argon2__parallelism=cost.parallelism,
        )
        self._dummy_hash: str = self._context.hash("sesame dummy password")

    def hash(self, password: str) -> str:
        return str(self._context.hash(password))

    def verify(self, password: str, password_hash: str | None) -> bool:
        """True when ``password`` matches; a missing hash costs a dummy verification and is False."""
        if password_hash is None:
            self.dummy_verify(password)
            return False
        try:
            return bool(self._context.verify(password, password_hash))
        except ValueError:  # an unreadable hash in the database is a failed check, not a crash
            return False

    def dummy_verify(self, password: str) -> None:
        self._context.verify(password, self._dummy_hash)

    def needs_rehash(self, password_hash: str) -> bool:
        return bool(self._context.needs_update(password_hash))


def check_password_rules(password: str) -> None:
    """Length rules every new password must meet (a list of common passwords comes with the portal)."""
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"a password has at least {MIN_PASSWORD_LENGTH} characters")
    if len(password) > MAX_PASSWORD_LENGTH:
        raise InvalidInput(f"a password has at most {MAX_PASSWORD_LENGTH} characters")
