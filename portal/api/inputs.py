"""What the admin API accepts as input, in one place, so that no value a client sends reaches the
database or the response encoder in a form they cannot take (issue 14, point 8).

* :data:`Text` is the type of every string the API reads (body fields, query and path
  parameters): NFC-normalised, no control character (a line break only where ``multiline``), no
  lone surrogate, bounded length. PostgreSQL refuses NUL in ``text`` and every encoder refuses a
  lone surrogate: both were 500s.
* :data:`Instant` is an aware date and time; a naive one cannot be compared with the database's
  UTC timestamps (a 500 on both backends).
* :class:`Patch` is the base of every PATCH body: ``null`` is refused for a field unless the
  model says what ``null`` means there (``nullable``), rather than written as NULL into a
  NOT NULL column.
* :class:`RequestGuard` (ASGI middleware, for ``/api/``) reads a JSON body before FastAPI does and
  refuses what Python's ``json`` module would let through: invalid UTF-8, ``NaN``/``Infinity``
  and numbers beyond a double (``1e400``), lone surrogates (``"\\ud800"``) and NUL in any string;
  and a path, query string or form (the token endpoint) with invalid UTF-8, NUL or another
  control character. Each refusal is a 4xx with the reason.
"""

from __future__ import annotations

import json
import math
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar
from urllib.parse import parse_qsl, unquote

from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, model_validator
from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY = 1 << 20  # 1 MiB: the largest admin API body is a partner with 20 servers
_LINE_BREAKS = frozenset("\n\r\t")


class BadText(ValueError):
    """A string holds a character no stored or displayed text may hold."""


def check_text(value: str, *, multiline: bool = False) -> str:
    """``value`` NFC-normalised; raises :class:`BadText` for a control character or lone surrogate."""
    for char in value:
        category = unicodedata.category(char)
        if category == "Cs":
            raise BadText("a lone surrogate is not a character (invalid Unicode)")
        if category == "Cc" and not (multiline and char in _LINE_BREAKS):
            raise BadText(f"control character U+{ord(char):04X} is not allowed")
    return unicodedata.normalize("NFC", value)


def _one_line(value: str) -> str:
    return check_text(value)


def _lines(value: str) -> str:
    return check_text(value, multiline=True)


#: every string the API reads: give it bounds where it is used (``Field(max_length=…)``,
#: ``Query(max_length=…)``); tests/portal/test_admin_api_inputs.py checks that each has one
Text = Annotated[str, AfterValidator(_one_line)]
#: the same, line breaks and tabs allowed (welcome texts, terms)
LongText = Annotated[str, AfterValidator(_lines)]


def _in_utc(value: datetime) -> datetime:
    """The instant in UTC, as the database stores it: ``0001-01-01T00:00+01:00`` and
    ``9999-12-31T23:59-01:00`` have no UTC form (an OverflowError, a 500, when stored or compared)."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("the date and time is out of range once converted to UTC") from None


#: an aware date and time (``2026-11-22T12:00:00Z``, ``…+01:00``), given in UTC; naive ones and
#: ones beyond the range of dates once in UTC are refused
Instant = Annotated[AwareDatetime, AfterValidator(_in_utc)]


class Patch(BaseModel):
    """A PATCH body: absent fields stay as they are; ``null`` only where ``nullable`` says it means
    something (clear, fall back), else 422 — never a NULL written into a NOT NULL column."""

    model_config = ConfigDict(extra="forbid")
    nullable: ClassVar[frozenset[str]] = frozenset()

    @model_validator(mode="before")
    @classmethod
    def _no_null(cls, data: Any) -> Any:
        if isinstance(data, dict):
            refused = sorted(k for k, v in data.items() if v is None and k not in cls.nullable)
            if refused:
                raise ValueError(f"{', '.join(refused)}: null is not a value here (leave the field out)")
        return data

    def changes(self) -> dict[str, Any]:
        return self.model_dump(exclude_unset=True)


# -- the request guard ------------------------------------------------------------------------------


class Refusal(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _constant(name: str) -> Any:
    raise Refusal(422, f"{name} is not a number JSON allows (finite numbers only)")


def _float(raw: str) -> float:
    value = float(raw)
    if not math.isfinite(value):
        raise Refusal(422, f"the number {raw[:40]} is out of range (finite numbers only)")
    return value


def _strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)


def check_json_body(body: bytes) -> None:
    """Raise :class:`Refusal` for a body FastAPI's ``json.loads`` would wrongly accept."""
    try:
        decoded = body.decode("utf-8")
    except UnicodeDecodeError:
        raise Refusal(400, "the body is not valid UTF-8") from None
    try:
        value = json.loads(decoded, parse_constant=_constant, parse_float=_float)
    except (ValueError, RecursionError):
        raise Refusal(400, "the body is not valid JSON") from None
    for string in _strings(value):
        if "\x00" in string or any(0xD800 <= ord(c) <= 0xDFFF for c in string):
            raise Refusal(422, "a string holds NUL or a lone surrogate (invalid Unicode)")


def check_url(path: bytes, query: bytes) -> None:
    """Raise :class:`Refusal` for a path or query parameter holding a control character."""
    try:
        parts = [unquote(path.decode(), errors="strict")]
        pairs = parse_qsl(query.decode(), keep_blank_values=True, errors="strict")
        parts += [s for pair in pairs for s in pair]
    except (UnicodeDecodeError, ValueError):
        raise Refusal(400, "the address or query string is not valid UTF-8") from None
    for part in parts:
        try:
            check_text(part)
        except BadText as exc:
            raise Refusal(400, f"the address or a query parameter: {exc}") from None


class RequestGuard:
    """ASGI middleware refusing malformed admin API requests before FastAPI decodes them."""

    def __init__(self, app: ASGIApp, *, prefix: str = "/api/") -> None:
        self.app, self.prefix = app, prefix

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        try:
            check_url(scope.get("raw_path") or scope["path"].encode(), scope.get("query_string", b""))
            headers = dict(scope.get("headers") or [])
            content_type = headers.get(b"content-type", b"").split(b";")[0].strip().lower()
            is_json = content_type == b"application/json" or content_type.endswith(b"+json")
            if not is_json and content_type != b"application/x-www-form-urlencoded":
                await self.app(scope, receive, send)
                return
            body, messages = await _read_body(receive)
            if is_json and body:  # no body at all: FastAPI says whether one was needed
                check_json_body(body)
            else:
                check_url(b"", body)  # a form is a query string in the body (the token endpoint)
        except Refusal as refusal:
            await _answer(send, refusal)
            return
        replay = iter(messages)

        async def again() -> Message:
            return next(replay, None) or await receive()

        await self.app(scope, again, send)


async def _read_body(receive: Receive) -> tuple[bytes, list[Message]]:
    chunks: list[bytes] = []
    messages: list[Message] = []
    size = 0
    while True:
        message = await receive()
        messages.append(message)
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY:
            raise Refusal(413, f"the body is larger than {MAX_BODY} bytes")
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks), messages


async def _answer(send: Send, refusal: Refusal) -> None:
    body = json.dumps({"detail": refusal.reason}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": refusal.status,
            "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
