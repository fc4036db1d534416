"""What every CLI command needs: settings, a database transaction, the secret box, the hasher."""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from accounts import audit
from accounts.errors import InvalidInput
from accounts.models import Region
from accounts.network import ensure_home_region
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from sesame.db import create_engine, create_sessionmaker, os_error_reason, reaching, unit_of_work
from sesame.settings import CONFIG_ENV, Settings, get_settings
from sesame.startup import prepare_schema

try:  # typer vendors its own click since 0.22; its context stack is that copy's
    from typer._click.globals import get_current_context as current_click_context
except ImportError:  # pragma: no cover - an older typer on plain click
    from click import get_current_context as current_click_context  # type: ignore[no-redef]

T = TypeVar("T")


def set_config_file(path: str) -> None:
    os.environ[CONFIG_ENV] = path
    get_settings.cache_clear()


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


#: the value of a ``--password``/``--secret`` option that means "read it from standard input"
STDIN = "-"

#: how every secret option's help ends: never suggest writing the secret itself in the command
STDIN_HELP = (
    "'-' reads it from standard input; prompted on a terminal when omitted "
    "(a value written here would show in the process list and the shell history)"
)


def prompt_secret(label: str, *, option: str) -> str:
    """Ask for a secret on the terminal; without one, say how to give it on standard input."""
    if not sys.stdin.isatty():
        raise InvalidInput(
            f"no {label.lower()} given and no terminal to ask on: "
            f"pass {option} {STDIN} and write it on standard input"
        )
    return str(typer.prompt(label, hide_input=True, confirmation_prompt=True))


def read_secret(value: str | None, *, label: str, option: str) -> str:
    """The secret of a ``--password``/``--secret`` option: ``-`` reads one line of standard input
    (for scripts: ``printf '%s\\n' "$S" | sesame …``), no value asks on the terminal; any other
    value is taken as it is (it was visible in the process list: the help never suggests it)."""
    if value is None:
        return prompt_secret(label, option=option)
    if value == STDIN:
        line = typer.get_text_stream("stdin").readline().rstrip("\r\n")
        if not line:
            raise InvalidInput(f"{option} {STDIN}: no {label.lower()} on standard input")
        return line
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    settings: Settings
    session: AsyncSession
    region: Region

    @property
    def box(self) -> SecretBox:
        return self.settings.secret_box()

    @property
    def hasher(self) -> PasswordHasher:
        return PasswordHasher()

    @property
    def actor(self) -> str:
        return cli_actor()


def cli_actor() -> str:
    """Who the audit log names for a command: the operating-system user."""
    return "cli:" + (os.environ.get("SUDO_USER") or getpass.getuser())


def _command() -> tuple[str, dict[str, object]]:
    """The running command's path and parameters (for the audit log; secrets are masked there)."""
    context = current_click_context(silent=True)
    if context is None:
        return "sesame", {}
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in context.params.items() if v is not None}
    return context.command_path, params


async def _audit(session: AsyncSession, action: str) -> None:
    path, params = _command()
    await audit.record(session, actor=cli_actor(), action=action, target=path, after=params)


async def _connect(engine: AsyncEngine, url: str) -> None:
    """Connect before the command runs (the connection stays in the pool for it): a database that
    cannot be reached is then told apart from the files and the network the command itself uses."""
    with reaching(url):
        async with engine.connect():
            pass


class FileUnreadable(Exception):
    """A file named on the command line (terms of use, …) cannot be read; the message names it
    and says why."""


def read_text_file(path: Path, *, what: str) -> str:
    """The UTF-8 text of ``path`` (``what`` it is, for the message), or :class:`FileUnreadable`."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:  # a ValueError: main would print a traceback
        raise InvalidInput(f"{path}: {what} must be UTF-8 text") from None
    except OSError as exc:
        raise FileUnreadable(f"{path}: cannot read {what}: {os_error_reason(exc)}") from None


def run_command(action: Callable[[Context], Awaitable[T]], *, audited: str | None = None) -> T:
    """Run ``action`` in one committed transaction on the configured database; a change names
    itself in ``audited`` (``"nas.add"``) and is written to the audit log in that transaction,
    with the command's parameters (secrets masked)."""
    settings = get_settings()
    prepare_schema(settings)

    async def go() -> T:
        engine = create_engine(settings.database_url)
        try:
            await _connect(engine, settings.database_url)
            async with unit_of_work(create_sessionmaker(engine)) as session:
                region = await ensure_home_region(session, realm=settings.realm, name=settings.region_name)
                result = await action(Context(settings=settings, session=session, region=region))
                if audited:
                    await _audit(session, audited)
                return result
        finally:
            await engine.dispose()

    return asyncio.run(go())


def run_with_sessions(
    action: Callable[[Settings, async_sessionmaker[AsyncSession]], Awaitable[T]],
    *,
    audited: str | None = None,
) -> T:
    """Run ``action`` with a session factory, for commands that must not hold a transaction open
    while they wait on the network (a Disconnect-Request to an access point); ``audited`` as for
    :func:`run_command`, recorded once the action is done."""
    settings = get_settings()
    prepare_schema(settings)

    async def go() -> T:
        engine = create_engine(settings.database_url)
        try:
            await _connect(engine, settings.database_url)
            sessions = create_sessionmaker(engine)
            result = await action(settings, sessions)
            if audited:
                async with unit_of_work(sessions) as session:
                    await _audit(session, audited)
            return result
        finally:
            await engine.dispose()

    return asyncio.run(go())
