"""Bulk import of accounts from another server (FreeRADIUS's ``radcheck``, a CSV file): the plan of
what would be created, skipped or refused and why, then, when asked, the accounts in committed
batches.

A source (:mod:`accounts.importsources`) gives :class:`SourceRow`: one per person, with what the
reader already found wrong (invalid UTF-8, a NUL, a cell too long). :func:`plan` decides each row
without touching the database but for two sets read first (the region's usernames and emails):

* the username goes through :func:`accounts.identity.split_identity`, as every account's does, so
  ``Alice`` and ``alice`` or a full-width ``ａｌｉｃｅ`` are one name: rows of the source sharing a
  name are all refused (which one is the person cannot be known), as are rows sharing an email;
* an existing account of that name is ``skip``/``exists`` when the row brings no other email
  (so a second run skips everything it created: idempotent), else ``refuse``/``username_taken``;
* the password: a clear one is hashed with argon2id (never stored clear), a legacy hash
  (:mod:`accounts.legacyhash`) is kept as it is until the next log-in re-hashes it, an NT hash is
  also kept sealed as a device credential so MS-CHAP and PEAP keep working.

:func:`apply` writes the plan's ``create`` rows ``batch_size`` at a time, one committed transaction
per batch (an interrupted import is finished by running it again), clear passwords hashed in a
thread pool (argon2 releases the GIL). It takes a session factory, as :mod:`accounts.retention`.
"""

from __future__ import annotations

import asyncio
import enum
import os
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from passlib.hash import argon2
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.credentials import NT_HASH_PURPOSE
from accounts.errors import InvalidInput
from accounts.identity import normalize_email, split_identity
from accounts.legacyhash import Password, Unusable, read_password
from accounts.models import Account, AccountStatus, DeviceCredential, utcnow
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox

NO_EMAIL_DOMAIN = "no-email.invalid"
"""An imported account without an email gets ``<username>@no-email.invalid`` (RFC 2606's reserved
``.invalid``: nothing is ever delivered there; email-validator refuses it, so no sign-up can)."""

NT_CREDENTIAL_LABEL = "imported NT-Password"
MAX_CELL = 1024
DEFAULT_BATCH = 1000


class Verdict(enum.StrEnum):
    CREATE = "create"
    SKIP = "skip"
    REFUSE = "refuse"


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceRow:
    """One person as a source gives them; ``problem`` is a reason code the reader already found."""

    where: str  # "radcheck user 'alice' (ids 3, 4)", "line 12": for the report
    username: str
    email: str | None = None
    #: the email is a hint (daloRADIUS's userinfo), not the file's word: on a clash it is left out
    #: (the account gets none) rather than the row refused
    email_optional: bool = False
    phone: str | None = None
    #: (attribute, value) as rlm_pap names them; a CSV's hash comes as Password-With-Header
    passwords: tuple[tuple[str, str], ...] = ()
    #: a stored argon2id hash (a CSV exported from another Sésame)
    argon2_hash: str | None = None
    disabled: bool = False
    problem: str | None = None
    problem_detail: str = ""


@dataclass(slots=True, kw_only=True)
class Line:
    """The plan for one row: what, and why."""

    where: str
    username: str
    verdict: Verdict
    reason: str = ""
    detail: str = ""
    email: str = ""
    email_optional: bool = False
    password: Password | None = None
    argon2_hash: str | None = None
    disabled: bool = False

    def as_json(self) -> dict[str, Any]:
        kind = "none"
        if self.argon2_hash:
            kind = "argon2id"
        elif self.password is not None:
            kind = "clear→argon2id" if self.password.clear is not None else self.password.attribute
        return {
            "where": self.where,
            "username": self.username,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "detail": self.detail,
            "password": kind if self.verdict is Verdict.CREATE else None,
            "nt_credential": bool(self.password and self.password.nt_hash),
            "disabled": self.disabled,
        }


@dataclass(slots=True, kw_only=True)
class Report:
    """What an import did or would do."""

    applied: bool = False
    lines: list[Line] = field(default_factory=list)
    #: what the source held that the import does not use: "group staff: 12 rows ignored", …
    notes: Counter[str] = field(default_factory=Counter)
    created: int = 0
    hashed: int = 0
    hashing_seconds: float = 0.0
    seconds: float = 0.0

    def count(self, verdict: Verdict) -> int:
        return sum(1 for line in self.lines if line.verdict is verdict)

    def reasons(self) -> Counter[tuple[str, str]]:
        return Counter((line.verdict.value, line.reason) for line in self.lines if line.reason)

    def as_json(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "counts": {verdict.value: self.count(verdict) for verdict in Verdict},
            "created": self.created,
            "clear_passwords_hashed": self.hashed,
            "hashing_seconds": round(self.hashing_seconds, 3),
            "seconds": round(self.seconds, 3),
            "notes": dict(self.notes),
            "rows": [line.as_json() for line in self.lines],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Existing:
    """The region's accounts as the plan needs them: username → email, and every email."""

    emails_by_username: dict[str, str]
    emails: frozenset[str]


async def existing_accounts(session: AsyncSession, *, region_id: int) -> Existing:
    rows = await session.execute(
        select(Account.username, Account.email).where(Account.region_id == region_id)
    )
    # an account signed up through an identity provider may have no email (None): "" here
    by_username: dict[str, str] = {row[0]: row[1] or "" for row in rows}
    return Existing(emails_by_username=by_username, emails=frozenset(filter(None, by_username.values())))


def plan(rows: Iterable[SourceRow], *, realm: str, existing: Existing) -> list[Line]:
    """Decide each row (pure: the database was read into ``existing``)."""
    lines = [_first_look(row, realm=realm) for row in rows]
    _refuse_collisions(lines, key=lambda line: line.username, reason="duplicate_username")
    _drop_clashing_hints(lines, existing)
    _refuse_collisions(lines, key=lambda line: line.email, reason="duplicate_email")
    for line in lines:
        if line.verdict is not Verdict.CREATE:
            continue
        known_email = existing.emails_by_username.get(line.username)
        if known_email is not None:
            if line.email in (known_email, _placeholder(line.username)) or line.email_optional:
                line.verdict, line.reason = Verdict.SKIP, "exists"
            else:
                _refuse(line, "username_taken", "an account of this name exists with another email")
        elif line.email in existing.emails:
            _refuse(line, "email_taken", "another account uses this email")
    return lines


def _first_look(row: SourceRow, *, realm: str) -> Line:
    line = Line(
        where=row.where,
        username=row.username[:80],
        verdict=Verdict.CREATE,
        disabled=row.disabled,
        email_optional=row.email_optional,
    )
    if row.problem:
        return _refuse(line, row.problem, row.problem_detail)
    try:
        username, its_realm = split_identity(row.username, home_realm=realm)
    except InvalidInput as exc:
        return _refuse(line, "bad_username", str(exc))
    if its_realm != realm:
        return _refuse(line, "foreign_realm", f"the realm {its_realm} is not {realm}")
    line.username = username
    if row.email:
        try:
            line.email = normalize_email(row.email)
        except InvalidInput as exc:
            return _refuse(line, "bad_email", str(exc))
    elif row.phone:
        return _refuse(
            line, "phone_unsupported", "accounts have no phone number in this version: give an email"
        )
    else:
        line.email = _placeholder(username)
    if row.argon2_hash is not None:
        try:
            argon2.from_string(row.argon2_hash)
        except ValueError:
            return _refuse(line, "bad_encoding", "a malformed argon2 hash")
        line.argon2_hash = row.argon2_hash
        return line
    if not row.passwords:
        return line if row.email or row.phone else _refuse(line, "no_password", "no password attribute")
    return _choose_password(line, row.passwords)


def _drop_clashing_hints(lines: list[Line], existing: Existing) -> None:
    """An optional email that several rows give, or another account has, is left out."""
    counts = Counter(line.email for line in lines if line.verdict is Verdict.CREATE)
    for line in lines:
        if line.verdict is not Verdict.CREATE or not line.email_optional:
            continue
        theirs = (
            line.email in existing.emails and existing.emails_by_username.get(line.username) != line.email
        )
        if counts[line.email] > 1 or theirs:
            _drop_email(line)


def _drop_email(line: Line) -> None:
    line.email, line.reason = _placeholder(line.username), "email_left_out"
    line.detail = "the source's email is another account's or several rows': the account gets none"


def _choose_password(line: Line, passwords: Sequence[tuple[str, str]]) -> Line:
    """A clear password first (hashed with argon2id), else the first hash that reads; an NT hash
    also becomes the MS-CHAP credential whichever is used for PAP."""
    read: list[Password] = []
    first_error: Unusable | None = None
    for attribute, value in passwords:
        try:
            read.append(read_password(attribute, value))
        except Unusable as exc:
            first_error = first_error or exc
    if not read:
        assert first_error is not None
        return _refuse(line, first_error.reason, str(first_error))
    clear = [p for p in read if p.clear is not None]
    hashed = [p for p in read if p.nt_hash is None]
    nt = next((p.nt_hash for p in read if p.nt_hash is not None), None)
    chosen = (clear or hashed or read)[0]
    line.password = Password(
        attribute=chosen.attribute, clear=chosen.clear, legacy_hash=chosen.legacy_hash, nt_hash=nt
    )
    return line


def _refuse_collisions(lines: list[Line], *, key: Any, reason: str) -> None:
    groups: dict[str, list[Line]] = defaultdict(list)
    for line in lines:
        if line.verdict is Verdict.CREATE and key(line):
            groups[key(line)].append(line)
    for same in groups.values():
        if len(same) > 1:
            places = ", ".join(line.where for line in same[:5])
            for line in same:
                _refuse(line, reason, f"{len(same)} rows give it: {places}")


def _refuse(line: Line, reason: str, detail: str) -> Line:
    line.verdict, line.reason, line.detail = Verdict.REFUSE, reason, detail[:300]
    return line


def _placeholder(username: str) -> str:
    return f"{username}@{NO_EMAIL_DOMAIN}"


# -- applying -----------------------------------------------------------------------------------


async def apply(
    sessions: async_sessionmaker[AsyncSession],
    *,
    lines: list[Line],
    region_id: int,
    hasher: PasswordHasher,
    box: SecretBox,
    report: Report,
    batch_size: int = DEFAULT_BATCH,
    workers: int | None = None,
) -> None:
    """Create the plan's ``create`` rows, ``batch_size`` per committed transaction."""
    todo = [line for line in lines if line.verdict is Verdict.CREATE]
    threads = workers or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="import-hash") as pool:
        for start in range(0, len(todo), batch_size):
            batch = todo[start : start + batch_size]
            await _hash_clear(batch, hasher=hasher, pool=pool, report=report)
            async with sessions() as session, session.begin():
                await _write_batch(session, batch, region_id=region_id, box=box, report=report)
    report.applied = True


async def _hash_clear(
    batch: list[Line], *, hasher: PasswordHasher, pool: ThreadPoolExecutor, report: Report
) -> None:
    clear = [
        (line, line.password.clear) for line in batch if line.password and line.password.clear is not None
    ]
    if not clear:
        return
    loop = asyncio.get_running_loop()
    began = time.perf_counter()
    hashes = await asyncio.gather(
        *(loop.run_in_executor(pool, hasher.hash, password) for _, password in clear)
    )
    report.hashing_seconds += time.perf_counter() - began
    report.hashed += len(clear)
    for (line, _), hashed in zip(clear, hashes, strict=True):
        line.argon2_hash = hashed


async def _write_batch(
    session: AsyncSession, batch: list[Line], *, region_id: int, box: SecretBox, report: Report
) -> None:
    # what another writer created since the plan was made: skipped or refused, not a failed batch
    names = [line.username for line in batch]
    emails = [line.email for line in batch]
    mine = Account.region_id == region_id  # two lookups, each on its unique index
    by_name = await session.execute(
        select(Account.username, Account.email).where(mine, Account.username.in_(names))
    )
    taken: dict[str, str] = {row[0]: row[1] or "" for row in by_name}
    used = set((await session.scalars(select(Account.email).where(mine, Account.email.in_(emails)))).all())
    fresh: list[Line] = []
    for line in batch:
        if line.username in taken:
            same = taken[line.username] in (line.email, _placeholder(line.username)) or line.email_optional
            if same:
                line.verdict, line.reason = Verdict.SKIP, "exists"
            else:
                _refuse(line, "username_taken", "an account of this name exists with another email")
        elif line.email in used and not line.email_optional:
            _refuse(line, "email_taken", "another account uses this email")
        else:
            if line.email in used:
                _drop_email(line)
            fresh.append(line)
    if not fresh:
        return
    try:
        async with session.begin_nested():
            await _insert(session, fresh, region_id=region_id, box=box)
    except IntegrityError:  # a sign-up between the check and the insert: row by row
        for line in fresh:
            try:
                async with session.begin_nested():
                    await _insert(session, [line], region_id=region_id, box=box)
            except IntegrityError:
                _refuse(line, "conflict", "created meanwhile by someone else")
    report.created += sum(1 for line in fresh if line.verdict is Verdict.CREATE)


async def _insert(session: AsyncSession, lines: list[Line], *, region_id: int, box: SecretBox) -> None:
    now = utcnow()
    rows = [
        {
            "region_id": region_id,
            "username": line.username,
            "email": line.email,
            "email_verified": True,  # in service elsewhere already: never cut off by a grace period
            "password_hash": line.argon2_hash or (line.password.legacy_hash if line.password else None),
            "status": AccountStatus.DISABLED if line.disabled else AccountStatus.ACTIVE,
            "created_at": now,
            "updated_at": now,
        }
        for line in lines
    ]
    inserted = await session.execute(insert(Account).returning(Account.username, Account.id), rows)
    ids = {row[0]: row[1] for row in inserted}
    credentials = [
        {
            "account_id": ids[line.username],
            "label": NT_CREDENTIAL_LABEL,
            "nt_hash_ciphertext": box.seal(line.password.nt_hash, purpose=NT_HASH_PURPOSE),
            "created_at": now,
            "updated_at": now,
        }
        for line in lines
        if line.password is not None and line.password.nt_hash is not None
    ]
    if credentials:
        await session.execute(insert(DeviceCredential), credentials)
