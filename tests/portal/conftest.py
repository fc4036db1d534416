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

from accounts import admins, network, partners
from accounts.models import Account, AdminRole, Partner
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from accounts.users import create_account
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
            email.message_from_bytes(p.read_bytes(), policy=email.policy.default)
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


@pytest.fixture(name="network")
async def hotspot_network(browser: Browser) -> None:
    """Valence: a CoovaChilli at the Médiathèque (UAM secret, branded), a Meraki-like AP at the Gare
    (``tests.portal.hotspots``, which imports this module: hence imported here, when used)."""
    from tests.portal.hotspots import add_network

    await add_network(browser)


# -- the admin API: two communes, each with a site and an access point, and one admin per role ---

PASSWORD = "admin passphrase 2026"


@dataclass
class World:
    commune_a: int
    commune_b: int
    site_a: int
    site_b: int
    ap_a: int
    ap_b: int
    client_id: str
    client_secret: str


@pytest.fixture
async def world(browser: Browser) -> World:
    portal = browser.portal
    async with portal.transaction() as session:
        region = await portal.region(session)
        a = await network.add_commune(session, region=region, name="Valence", insee_code="26362")
        b = await network.add_commune(session, region=region, name="Nice", insee_code="06088")
        site_a = await network.add_site(session, commune=a, name="Médiathèque")
        site_b = await network.add_site(session, commune=b, name="Gare")
        ap_a = await network.add_nas(
            session, box=portal.box, site=site_a, name="ap-a", address="10.1.0.0/24", secret="secret-a-123"
        )
        ap_b = await network.add_nas(
            session, box=portal.box, site=site_b, name="ap-b", address="10.2.0.0/24", secret="secret-b-123"
        )
        for email, role, commune in (
            ("region@test.example", AdminRole.REGION_ADMIN, None),
            ("valence@test.example", AdminRole.COMMUNE_ADMIN, a),
            ("support@test.example", AdminRole.SUPPORT, None),
            ("auditor@test.example", AdminRole.AUDITOR, None),
        ):
            await admins.create_admin(
                session, hasher=portal.hasher, email=email, role=role, commune=commune, password=PASSWORD
            )
        client, secret = await admins.create_client(
            session, box=portal.box, name="Valence IT", role=AdminRole.COMMUNE_ADMIN, commune=a
        )
        return World(a.id, b.id, site_a.id, site_b.id, ap_a.id, ap_b.id, client.client_id, secret)


async def token(http: httpx.AsyncClient, email: str, password: str = PASSWORD) -> str:
    response = await http.post(
        "/api/v1/auth/token", data={"grant_type": "password", "username": email, "password": password}
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    return str(response.json()["access_token"])


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


async def citizen_and_partner(portal: Portal) -> tuple[Account, Partner]:
    """What the admin-API walks need beside the world: an unverified citizen and a partner region."""
    async with portal.transaction() as session:
        citizen = await create_account(
            session, hasher=portal.hasher, region=await portal.region(session), username="citizen",
            email="citizen@example.fr", password=None, verified=False,
        )  # fmt: skip
        partner = await partners.add_partner(
            session, box=portal.box, home_realm=TEST_REALM, name="liguria", realms=["liguria.example"],
            servers=[partners.HomeServerSpec(host="192.0.2.10", secret="liguria-secret-1")],
        )  # fmt: skip
    return citizen, partner
