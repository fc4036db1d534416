"""Where an import reads people from: a FreeRADIUS/daloRADIUS database, or a CSV file.

Both give :class:`accounts.importing.SourceRow` and never raise on a bad row: what is wrong with
one (invalid UTF-8, a NUL, a cell too long, a malformed CSV line) becomes its ``problem``, and the
report says so.

The database is only read, with FreeRADIUS's own tables and columns (``radcheck``: ``username``,
``attribute``, ``op``, ``value``; ``radusergroup``: ``username``, ``groupname``), one statement
each, streamed; on PostgreSQL in a ``READ ONLY`` transaction. Password attributes are collected
per user; ``Auth-Type := Reject`` and membership of a "disabled" group (daloRADIUS's
``daloRADIUS-Disabled-Users``) import the account disabled; every other check attribute and group
is counted in the report's notes and otherwise ignored (a Sésame account belongs to the region,
not to a group or a commune; limits are the places' policies). daloRADIUS's ``userinfo`` table,
when there, gives the accounts' emails.
"""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

from sqlalchemy import ColumnElement, LargeBinary, cast, column, select, table, text
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import ColumnClause

from accounts.errors import InvalidInput
from accounts.identity import normalize_email
from accounts.importing import MAX_CELL, SourceRow
from accounts.legacyhash import is_password_attribute

DISABLED_GROUPS = ("daloRADIUS-Disabled-Users",)
PASSWORD_OPS = frozenset({":=", "==", "="})
CSV_COLUMNS = ("username", "email", "phone", "password_hash")


@dataclass(slots=True)
class _User:
    ids: list[int] = field(default_factory=list)
    passwords: list[tuple[str, str]] = field(default_factory=list)
    disabled: bool = False
    problem: str | None = None
    detail: str = ""


async def read_radius(
    connection: AsyncConnection, *, notes: Counter[str], disabled_groups: Sequence[str] = DISABLED_GROUPS
) -> list[SourceRow]:
    """The users of ``radcheck`` (and their groups in ``radusergroup``, when the table exists)."""
    sqlite = connection.dialect.name == "sqlite"
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SET TRANSACTION READ ONLY"))
    # SQLite hands back whatever octets a row holds: read them as such, so that invalid UTF-8 is
    # one refused row and not a failed read; the other databases keep their text valid
    radcheck = table(
        "radcheck", column("id"), column("username"), column("attribute"), column("op"), column("value")
    )
    cells = [_as_read(radcheck.c[name], sqlite) for name in ("username", "attribute", "op", "value")]
    query = select(radcheck.c.id, *cells).order_by(radcheck.c.id)
    users: dict[str, _User] = defaultdict(_User)
    result = await connection.stream(query)
    async for row_id, *cells in result:
        username, attribute, op, value = (_text(cell) for cell in cells)
        user = users[username.value]
        user.ids.append(int(row_id))
        bad = next((c for c in (username, attribute, op, value) if c.problem), None)
        if bad is not None:
            user.problem, user.detail = bad.problem, f"radcheck id {row_id}: {bad.detail}"
            continue
        if is_password_attribute(attribute.value) and op.value.strip() in PASSWORD_OPS:
            user.passwords.append((attribute.value, value.value))
        elif attribute.value.strip().lower() == "auth-type" and value.value.strip().lower() == "reject":
            user.disabled = True
        else:
            notes[f"radcheck attribute {attribute.value[:64]!r} ignored"] += 1
    groups = await _groups(connection, sqlite, notes)
    emails = await _dalo_emails(connection, sqlite, notes)
    disabled = {g.lower() for g in disabled_groups}
    rows: list[SourceRow] = []
    for name, user in users.items():
        member = groups.get(name, set())
        ids = ", ".join(str(i) for i in user.ids[:5]) + (", …" if len(user.ids) > 5 else "")
        rows.append(
            SourceRow(
                where=f"radcheck {name[:64]!r} (id {ids})",
                username=name,
                email=emails.get(name),
                email_optional=True,
                passwords=tuple(user.passwords),
                disabled=user.disabled or any(g.lower() in disabled for g in member),
                problem=user.problem,
                problem_detail=user.detail,
            )
        )
    return rows


async def _dalo_emails(connection: AsyncConnection, sqlite: bool, notes: Counter[str]) -> dict[str, str]:
    """daloRADIUS's ``userinfo.email`` by username, when the table is there; an address that is
    no email is left out (the account gets none) and counted."""
    exists = await connection.run_sync(lambda sync: sync.dialect.has_table(sync, "userinfo"))
    if not exists:
        return {}
    userinfo = table("userinfo", column("username"), column("email"))
    query = select(_as_read(userinfo.c.username, sqlite), _as_read(userinfo.c.email, sqlite))
    emails: dict[str, str] = {}
    async for username, email in await connection.stream(query):
        name, address = _text(username), _text(email)
        if name.problem or address.problem or not address.value.strip():
            continue
        try:
            emails[name.value] = normalize_email(address.value)
        except InvalidInput:
            notes["daloRADIUS userinfo email that is no address: not imported"] += 1
    return emails


def _as_read(col: ColumnClause[Any], sqlite: bool) -> ColumnElement[Any]:
    return cast(col, LargeBinary) if sqlite else col


async def _groups(connection: AsyncConnection, sqlite: bool, notes: Counter[str]) -> dict[str, set[str]]:
    exists = await connection.run_sync(lambda sync: sync.dialect.has_table(sync, "radusergroup"))
    if not exists:
        return {}
    groups: dict[str, set[str]] = defaultdict(set)
    radusergroup = table("radusergroup", column("username"), column("groupname"))
    query = select(_as_read(radusergroup.c.username, sqlite), _as_read(radusergroup.c.groupname, sqlite))
    async for username, groupname in await connection.stream(query):
        name, group = _text(username), _text(groupname)
        if name.problem or group.problem:
            notes["radusergroup rows unreadable (invalid text) ignored"] += 1
            continue
        groups[name.value].add(group.value)
        notes[f"radusergroup group {group.value[:64]!r}: membership not imported"] += 1
    return groups


@dataclass(frozen=True, slots=True)
class _Cell:
    value: str
    problem: str | None = None
    detail: str = ""


def _text(cell: object) -> _Cell:
    if cell is None:
        return _Cell("")
    if isinstance(cell, bytes | bytearray | memoryview):
        octets = bytes(cell)
        try:
            return _checked(octets.decode("utf-8"))
        except UnicodeDecodeError:
            return _Cell(octets.decode("utf-8", "replace"), "invalid_utf8", "not valid UTF-8")
    return _checked(str(cell))


def _checked(value: str) -> _Cell:
    if "\x00" in value:
        return _Cell(value.replace("\x00", "\\x00"), "nul", "holds a NUL character")
    if any("\udc80" <= ch <= "\udcff" for ch in value):
        return _Cell(
            value.encode("utf-8", "surrogateescape").decode("utf-8", "replace"),
            "invalid_utf8",
            "not valid UTF-8",
        )
    if len(value) > MAX_CELL:
        return _Cell(value[:64], "too_long", f"longer than {MAX_CELL} characters")
    return _Cell(value)


def read_csv(stream: IO[bytes]) -> Iterator[SourceRow]:
    """The rows of a CSV file with a header naming its columns (:data:`CSV_COLUMNS`; ``username``
    required). ``password_hash``: a ``{header}value`` as FreeRADIUS's Password-With-Header, a
    crypt(3) string, or an argon2id hash (``$argon2id$…``, kept as it is). Raises ValueError for a
    header that is not one (before any row is read)."""
    text_stream = io.TextIOWrapper(stream, encoding="utf-8", errors="surrogateescape", newline="")
    reader = csv.reader(text_stream, strict=True)
    header = _header(reader)
    line_number = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            line_number = reader.line_num
            yield SourceRow(
                where=f"line {line_number}", username="", problem="malformed", problem_detail=str(exc)
            )
            continue
        line_number = reader.line_num
        if not any(cell.strip() for cell in cells):
            continue
        yield _csv_row(f"line {line_number}", header, cells)


def _header(reader: Iterator[list[str]]) -> dict[str, int]:
    try:
        names = [cell.strip().lower().lstrip("\ufeff") for cell in next(reader)]
    except StopIteration:
        raise ValueError("the file is empty: its first line names the columns") from None
    except csv.Error as exc:
        raise ValueError(f"the first line is no CSV header: {exc}") from None
    unknown = [n for n in names if n not in CSV_COLUMNS]
    if unknown or "username" not in names or len(set(names)) != len(names):
        raise ValueError(
            f"the first line names the columns, among {', '.join(CSV_COLUMNS)} (username required, "
            f"each once); found {', '.join(repr(n[:32]) for n in names[:8])}"
        )
    return {name: index for index, name in enumerate(names)}


def _csv_row(where: str, header: dict[str, int], cells: list[str]) -> SourceRow:
    if len(cells) != len(header):
        return SourceRow(
            where=where,
            username="",
            problem="malformed",
            problem_detail=f"{len(cells)} cells, {len(header)} columns",
        )
    values: dict[str, str] = {}
    for name, index in header.items():
        cell = _checked(cells[index])
        if cell.problem:
            return SourceRow(
                where=where,
                username=values.get("username", ""),
                problem=cell.problem,
                problem_detail=f"{name}: {cell.detail}",
            )
        values[name] = cell.value.strip()
    secret = values.get("password_hash", "")
    passwords: tuple[tuple[str, str], ...] = ()
    argon2 = None
    if secret.startswith("$argon2id$"):
        argon2 = secret
    elif secret.startswith("{"):
        passwords = (("Password-With-Header", secret),)
    elif secret:
        passwords = (("Crypt-Password", secret),)
    return SourceRow(
        where=where,
        username=values["username"],
        email=values.get("email") or None,
        phone=values.get("phone") or None,
        passwords=passwords,
        argon2_hash=argon2,
    )
