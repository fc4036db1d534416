"""Shared fixtures: a migrated database per test on SQLite and on PostgreSQL.

Each backend is migrated once per test session into a template (a SQLite file, a PostgreSQL
template database); every test then gets its own copy, so tests may commit and still never see
each other's data. PostgreSQL is at ``SESAME_TEST_POSTGRES_URL`` (default: the local server,
trust auth). When it is unreachable its tests are skipped on a workstation but **fail** in CI
(``CI=true``), where PostgreSQL must be there. The IPv6 loopback ``::1``, which the interop
servers always bind, follows the same rule (:func:`need_ipv6_loopback`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import itertools
import os
import shutil
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from functools import cache
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from accounts.models import Region
from accounts.network import ensure_home_region
from accounts.passwords import Argon2Cost, PasswordHasher
from accounts.secretbox import SecretBox
from sesame import migrations
from sesame.db import create_engine, create_sessionmaker

# helpers that assert, outside test files: their failures show the values compared
pytest.register_assert_rewrite("tests.cli", "tests.support")

POSTGRES_URL = os.environ.get("SESAME_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/test")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
TEST_REALM = "wifi.test.example"
TEST_SECRET_KEY = "test-secret-key-that-is-long-enough-0123456789"
_counter = itertools.count()


def _pg_dsn(database: str) -> str:
    return make_url(POSTGRES_URL).set(drivername="postgresql", database=database).render_as_string(False)


async def _pg_admin(*statements: str) -> None:
    connection = await asyncpg.connect(_pg_dsn(make_url(POSTGRES_URL).database or "postgres"), timeout=5)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()


def postgres_unavailable(reason: str) -> None:
    message = f"PostgreSQL at {make_url(POSTGRES_URL).render_as_string(True)} is needed: {reason}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _drop_database(name: str) -> None:
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


#: the test databases are dropped here, behind the tests: a DROP DATABASE waits for a checkpoint
#: (a second or more on a busy machine), which the next test need not wait for; the names are never
#: used again, and the session's end waits for every drop (:func:`pytest_sessionfinish`)
_dropper = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="drop-database")
_drops: list[concurrent.futures.Future[None]] = []


@contextlib.contextmanager
def postgres_database(prefix: str, *, template: str | None = None) -> Iterator[str]:
    """The URL of a PostgreSQL database of its own, a copy of ``template`` or empty, dropped after
    (in the background: the name is unique and never used again)."""
    name = f"{prefix}_{os.getpid()}_{next(_counter)}"
    try:
        asyncio.run(_pg_admin(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        postgres_unavailable(f"{type(exc).__name__}: {exc}")
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(False)
    finally:
        _drops.append(_dropper.submit(_drop_database, name))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Every test database dropped before the session ends; a drop that failed is said (the
    database is left behind: its name starts with its test process's id)."""
    _dropper.shutdown(wait=True)
    for drop in _drops:
        if (error := drop.exception()) is not None:
            print(f"\nwarning: a test database was left: {type(error).__name__}: {error}", file=sys.stderr)


@cache
def _ipv6_loopback_missing() -> str | None:
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as sock:
            sock.bind(("::1", 0))
    except OSError as exc:
        return f"{type(exc).__name__}: {exc}"
    return None


def need_ipv6_loopback() -> None:
    """Every test that talks over ``::1`` calls this first: without an IPv6 loopback the test is
    skipped on a workstation and **fails** in CI, where the servers' IPv6 listeners must be tested."""
    reason = _ipv6_loopback_missing()
    if reason is None:
        return
    message = f"the IPv6 loopback ::1 is needed: {reason}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


#: the folders whose files start servers, browsers, clusters or containers: minutes each
SLOW_FOLDERS = ("tests/interop/", "tests/deploy/")


@pytest.hookimpl(trylast=True)  # after pytest-randomly's shuffle, whose order it keeps otherwise
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``scripts/test``: ``--dist loadfile --no-loadscope-reorder``) the files
    are handed to the workers in this order: the long ones first (in :data:`SLOW_FOLDERS`, or with
    a test marked ``slow``), so that no worker starts one when the others are about to finish."""
    if not os.environ.get("PYTEST_XDIST_WORKER"):
        return
    slow = {
        item.nodeid.split("::", 1)[0]
        for item in items
        if item.nodeid.startswith(SLOW_FOLDERS) or item.get_closest_marker("slow") is not None
    }
    items.sort(key=lambda item: item.nodeid.split("::", 1)[0] not in slow)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite") / "template.db"
    migrations.upgrade(f"sqlite+aiosqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str]:
    name = f"sesame_tpl_{os.getpid()}"
    try:
        asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}"', f'CREATE DATABASE "{name}"'))
    except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
        postgres_unavailable(f"{type(exc).__name__}: {exc}")
    migrations.upgrade(make_url(POSTGRES_URL).set(database=name).render_as_string(False))
    yield name
    asyncio.run(_pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The URL of a freshly migrated database of its own for this test."""
    if request.param == "sqlite":
        path = tmp_path / "sesame.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    with postgres_database("sesame_t", template=request.getfixturevalue("postgres_template")) as url:
        yield url


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def session(engine: AsyncEngine) -> AsyncIterator[AsyncSession]:
    """A session whose transaction is rolled back at the end (services never commit)."""
    async with create_sessionmaker(engine)() as session:
        yield session
        await session.rollback()


@pytest.fixture
async def region(session: AsyncSession) -> Region:
    return await ensure_home_region(session, realm=TEST_REALM, name="Région de test")


@pytest.fixture(scope="session")
def hasher() -> PasswordHasher:
    """A cheap argon2id cost for tests; the production cost is tested on its own."""
    return PasswordHasher(Argon2Cost(memory_kib=1024, time_cost=1, parallelism=1))


@pytest.fixture(scope="session")
def box() -> SecretBox:
    return SecretBox(TEST_SECRET_KEY)


@pytest.fixture
def settings_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A clean SESAME_* environment for settings tests, working directory in a temp folder. What
    the test itself put in the environment goes too (``--config`` sets SESAME_CONFIG for the
    process, as it must for a real command): a later test must not read it."""
    for key in list(os.environ):
        if key.startswith("SESAME_"):
            monkeypatch.delenv(key)
    monkeypatch.chdir(tmp_path)
    from sesame.settings import get_settings

    get_settings.cache_clear()
    yield
    for key in list(os.environ):
        if key.startswith("SESAME_"):
            del os.environ[key]  # monkeypatch then puts back what was there before the test
    get_settings.cache_clear()


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """The URL of an empty PostgreSQL database (no schema) of its own for this test."""
    with postgres_database("sesame_empty") as url:
        yield url


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """The URL of an empty database (no schema) of its own for this test, on each backend."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
    return str(request.getfixturevalue("empty_postgres"))


@pytest.fixture
def cli_env(settings_env: None, monkeypatch: pytest.MonkeyPatch, database_url: str) -> str:
    """``sesame`` commands run on this test's database (see tests/cli.py)."""
    from sesame.settings import get_settings
    from tests.cli import CLI_REALM

    monkeypatch.setenv("SESAME_DATABASE_URL", database_url)
    monkeypatch.setenv("SESAME_SECRET_KEY", TEST_SECRET_KEY)
    monkeypatch.setenv("SESAME_REALM", CLI_REALM)
    get_settings.cache_clear()
    return database_url
