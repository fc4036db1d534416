"""Text that came from the network, made storable: the one function every writer of it uses.

A RADIUS attribute is octets chosen by whoever holds a shared secret (an access point, a
partner's proxy): NUL, other control characters, invalid UTF-8, up to 253 octets. PostgreSQL
refuses NUL in text (``22021``), a column refuses what is longer than its length (``22001``), and
a log line or an F-Ticks record must not be cut or forged by a control character. So, before a
value is queued for the database or a log line, :func:`storable` turns it into text that any
column or line takes as it is:

* invalid UTF-8 octets are kept as escapes (``\\xff``): the legal record shows what was sent,
  rather than a replacement character that loses it;
* NUL and the other control characters (C0, DEL, C1) and lone surrogates are escaped the same
  way (``\\x00``, ``\\x1b``, ``\\x85``, ``\\ud800``);
* the result is cut to the column's length, in characters (PostgreSQL ``varchar(n)`` counts
  characters, not octets).

A backslash is kept as it is (``DOMAIN\\user`` is common in User-Name), so an escape cannot be
told from the same characters sent literally; the record is for people, not for parsing back.
The function is idempotent: what it returns, it returns unchanged.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Iterable
from typing import Any

_ESCAPED = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def storable(value: bytes | str | None, limit: int) -> str | None:
    """``value`` as text any column of ``limit`` characters (and any log line) takes as it is."""
    if value is None:
        return None
    text = value if isinstance(value, str) else value.decode("utf-8", "backslashreplace")
    if text.isascii() and text.isprintable():  # the common case: nothing to escape
        return text[:limit]
    return _ESCAPED.sub(_escape, text)[:limit]


def is_clean(value: bytes) -> bool:
    """Whether octets are valid UTF-8 without control characters (:func:`storable` keeps them)."""
    if value.isascii():
        return value.decode("ascii").isprintable()
    try:
        text = codecs.decode(value, "utf-8")
    except UnicodeDecodeError:
        return False
    return _ESCAPED.search(text) is None


def text_columns(table: Any, fields: Iterable[str]) -> tuple[tuple[str, int], ...]:
    """(field, length) of the fields of a record stored in ``table`` that are length-limited text
    columns (``class_`` is the ``class`` column)."""
    found = []
    for name in fields:
        column = table.c.get("class" if name == "class_" else name)
        length = getattr(column.type, "length", None) if column is not None else None
        if isinstance(length, int):
            found.append((name, length))
    return tuple(found)
