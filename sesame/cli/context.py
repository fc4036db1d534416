"""What every CLI command needs: settings, a database transaction, the secret box, the hasher."""

from __future__ import annotations

import asyncio
import getpass
import os
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

import typer
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.errors import InvalidInput
from accounts.models import Region
from accounts.network import ensure_home_region
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from sesame.db import create_engine, create_sessionmaker, unit_of_work
from sesame.settings import CONFIG_ENV, Settings, get_settings
from sesame.startup import prepare_schema

T = TypeVar("T")


def set_config_file(path: str) -> None:
    os.environ[CONFIG_ENV] = path
    get_settings.cache_clear()


def safe_url(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def prompt_secret(label: str) -> str:
    """Ask for a secret on the terminal; without one, say which option to use instead."""
    if not sys.stdin.isatty():
        raise InvalidInput(f"no {label.lower()} given and no terminal to ask on: pass it as an option")
    return str(typer.prompt(label, hide_input=True, confirmation_prompt=True))


@dataclass(frozen=True, slots=True, kw_only=True)
class Context:
    settings: Settings
    session: AsyncSession
    region: Region

    @property
    def box(self) -> SecretBox:
        return SecretBox(self.settings.secret_key.get_secret_value())

    @property
    def hasher(self) -> PasswordHasher:
        return PasswordHasher()

    @property
    def actor(self) -> str:
        """Who the audit log names for a command: the operating-system user."""
        return "cli:" + (os.environ.get("SUDO_USER") or getpass.getuser())


def run_command(action: Callable[[Context], Awaitable[T]]) -> T:
    """Run ``action`` in one committed transaction on the configured database."""
    settings = get_settings()
    prepare_schema(settings)

    async def go() -> T:
        engine = create_engine(settings.database_url)
        try:
            async with unit_of_work(create_sessionmaker(engine)) as session:
                region = await ensure_home_region(session, realm=settings.realm, name=settings.region_name)
                return await action(Context(settings=settings, session=session, region=region))
        finally:
            await engine.dispose()

    return asyncio.run(go())


def run_with_sessions(action: Callable[[Settings, async_sessionmaker[AsyncSession]], Awaitable[T]]) -> T:
    """Run ``action`` with a session factory, for commands that must not hold a transaction open
    while they wait on the network (a Disconnect-Request to an access point)."""
    settings = get_settings()
    prepare_schema(settings)

    async def go() -> T:
        engine = create_engine(settings.database_url)
        try:
            return await action(settings, create_sessionmaker(engine))
        finally:
            await engine.dispose()

    return asyncio.run(go())
