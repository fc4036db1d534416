"""Password hashing for accounts (argon2id through passlib's API, provided by libpass).

The default cost follows OWASP's argon2id recommendation (m=19 MiB, t=2, p=1, about 25 ms on
our reference machine); passlib's own defaults (m=64 MiB, t=3, p=4) cost ~120 ms, too slow for a
RADIUS path that may verify passwords. Hashing releases the GIL: callers on an event loop run it
in a thread pool. Hashes imported from another server (:mod:`accounts.legacyhash`: SSHA, crypt, NT
hashes…) are verified as they are and reported by :meth:`PasswordHasher.needs_rehash`, so the
next successful log-in replaces them with argon2id. :meth:`PasswordHasher.dummy_verify` spends the
same time when an account does not exist, so response time does not reveal which usernames exist.

:func:`check_password_rules` holds the rules every new password meets (length, not a common
password, not the username or email); its refusals carry a ``code`` for the front ends to translate.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources

from passlib.context import CryptContext

from accounts.errors import InvalidInput
from accounts.legacyhash import LEGACY_SCHEMES

MIN_PASSWORD_LENGTH = 8
MAX_PASSWORD_LENGTH = 128
MIN_RELATED_LENGTH = 4
"""Shorter related values (a 3-letter username…) are not looked for in the password."""

# The rule a refused password broke, set as ``code`` on the InvalidInput raised by
# check_password_rules: front ends translate on it, never on the English message.
RULE_TOO_SHORT = "password_too_short"
RULE_TOO_LONG = "password_too_long"
RULE_COMMON = "password_common"
RULE_PERSONAL = "password_personal"

TOO_SHORT_MESSAGE = f"a password has at least {MIN_PASSWORD_LENGTH} characters"
TOO_LONG_MESSAGE = f"a password has at most {MAX_PASSWORD_LENGTH} characters"
COMMON_MESSAGE = "this password is too common: choose another"
PERSONAL_MESSAGE = "a password cannot contain your username or email"

COMMON_PASSWORDS_RESOURCE = ("data", "common-passwords.txt")
"""Path of the list inside the ``accounts`` package; accounts/data/README.md says how it is built."""


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
            schemes=["argon2", *LEGACY_SCHEMES],  # the first hashes; the others only verify
            deprecated=list(LEGACY_SCHEMES),
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

    async def hash_off_loop(self, password: str) -> str:
        """:meth:`hash` in a worker thread: argon2id costs ~25 ms of CPU, never on an event loop."""
        return await asyncio.to_thread(self.hash, password)

    async def verify_off_loop(self, password: str, password_hash: str | None) -> bool:
        """:meth:`verify` in a worker thread (a missing hash still costs a dummy verification)."""
        return await asyncio.to_thread(self.verify, password, password_hash)

    def needs_rehash(self, password_hash: str) -> bool:
        """True for a hash of an older cost or an imported legacy scheme (False if unreadable)."""
        try:
            return bool(self._context.needs_update(password_hash))
        except ValueError:
            return False

    def is_legacy(self, password_hash: str | None) -> bool:
        """Whether the hash is an imported one (SSHA, crypt, NT…) rather than our argon2id."""
        return is_legacy_hash(password_hash)


_LEGACY = CryptContext(schemes=list(LEGACY_SCHEMES))


def is_legacy_hash(password_hash: str | None) -> bool:
    """Whether a stored hash is an imported one (:mod:`accounts.legacyhash`), to be replaced by
    argon2id once its password is proved right; read from its form, nothing verified."""
    if not password_hash or password_hash.startswith("$argon2"):
        return False
    return _LEGACY.identify(password_hash) is not None


def check_password_rules(password: str, *, related: Iterable[str] = ()) -> None:
    """Refuses a new password with :class:`InvalidInput` whose ``code`` names the rule broken.

    The rules, checked in this order:

    * ``password_too_short`` / ``password_too_long``: 8 to 128 characters;
    * ``password_common``: the lower-cased password is in the list of common passwords
      (:func:`common_passwords`), or is once its trailing digits and symbols are removed and
      at least 8 characters remain ("Password123!" → "password", refused; "azerty123" →
      "azerty" is too short to be looked up, so only the exact form counts);
    * ``password_personal``: the password, case-insensitively, equals or contains one of
      ``related`` (the username, the local part of the email: a value holding an ``@`` is cut
      to what precedes it) of at least 4 characters.
    """
    if len(password) < MIN_PASSWORD_LENGTH:
        raise _refusal(RULE_TOO_SHORT, TOO_SHORT_MESSAGE)
    if len(password) > MAX_PASSWORD_LENGTH:
        raise _refusal(RULE_TOO_LONG, TOO_LONG_MESSAGE)
    if is_common_password(password):
        raise _refusal(RULE_COMMON, COMMON_MESSAGE)
    folded = password.casefold()
    if any(value in folded for value in _related_forms(related)):
        raise _refusal(RULE_PERSONAL, PERSONAL_MESSAGE)


def is_common_password(password: str) -> bool:
    """True when the password, or its stem without trailing digits and symbols, is in the list."""
    lowered = password.lower()
    listed = common_passwords()
    if lowered in listed:
        return True
    stem = _without_trailing_non_letters(lowered)
    return len(stem) >= MIN_PASSWORD_LENGTH and stem in listed


@functools.cache
def common_passwords() -> frozenset[str]:
    """The common passwords shipped in accounts/data (lower-case, 8+ characters), read once."""
    resource = resources.files("accounts")
    for part in COMMON_PASSWORDS_RESOURCE:
        resource = resource.joinpath(part)
    text = resource.read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line)


def password_rule(error: BaseException) -> str | None:
    """The ``code`` check_password_rules set on ``error`` (``password_common``…), else None."""
    code = getattr(error, "code", None)
    return code if isinstance(code, str) else None


def _related_forms(related: Iterable[str]) -> Iterable[str]:
    for value in related:
        local = value.rpartition("@")[0] if "@" in value else value
        form = local.strip().casefold()
        if len(form) >= MIN_RELATED_LENGTH:
            yield form


def _without_trailing_non_letters(text: str) -> str:
    end = len(text)
    while end and not text[end - 1].isalpha():
        end -= 1
    return text[:end]


def _refusal(code: str, message: str) -> InvalidInput:
    error = InvalidInput(message)
    error.code = code  # type: ignore[attr-defined]  # errors.py declares no field for it
    return error
