"""A portal app over a test database, and a browser-like client that keeps cookies and reads
forms' CSRF tokens and the outbox."""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from portal.app import create_app
from portal.context import Portal, PortalConfig
from portal.mail import OutboxMailer, Postman
from sesame.db import create_sessionmaker
from tests.conftest import TEST_REALM

PUBLIC_URL = "http://portal.test"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = NOW

    def __call__(self) -> datetime:
        return self.now


class Browser(httpx.AsyncClient):
    """An httpx client used like a browser: cookies kept, forms posted with their CSRF token."""

    portal: Portal
    outbox: Path
    app: FastAPI

    def csrf_token(self, html: str) -> str:
        found = re.search(r'name="csrf_token" value="([^"]+)"', html)
        assert found, "no CSRF token in the page"
        return found.group(1)

    async def submit(self, path: str, data: dict[str, str], *, page: str | None = None) -> httpx.Response:
        """GET ``page`` (default ``path``) for its token, then POST the form to ``path``."""
        form_page = await self.get(page or path)
        return await self.post(path, data={"csrf_token": self.csrf_token(form_page.text), **data})

    async def mails(self) -> list[email.message.EmailMessage]:
        await self.portal.postman.drain()
        return [
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)  # type: ignore[misc]
            for p in sorted(self.outbox.glob("*.eml"))
        ]

    async def last_code(self) -> str:
        body = (await self.mails())[-1].get_content()
        found = re.search(r"\b(\d{6})\b", body)
        assert found, body
        return found.group(1)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def portal(
    engine: AsyncEngine, tmp_path: Path, hasher: PasswordHasher, box: SecretBox, clock: Clock
) -> Portal:
    return Portal(
        config=PortalConfig(realm=TEST_REALM, region_name="Région de test", public_url=PUBLIC_URL),
        sessions=create_sessionmaker(engine),
        box=box,
        hasher=hasher,
        postman=Postman(OutboxMailer(tmp_path / "outbox"), sender="Wi-Fi <wifi@test.example>"),
        clock=clock,
    )


@pytest.fixture
async def browser(engine: AsyncEngine, portal: Portal, tmp_path: Path) -> AsyncIterator[Browser]:
    app = create_app(engine=engine, portal=portal)
    async with Browser(
        transport=httpx.ASGITransport(app=app, client=("198.51.100.7", 50000)),
        base_url=PUBLIC_URL,
        headers={"Accept-Language": "en"},
    ) as client:
        client.portal = portal
        client.app = app
        client.outbox = tmp_path / "outbox"
        yield client
