"""A simulated access point for driving the RADIUS core in memory at a fixed ``now``; the policy
pipeline over in-memory fakes behind an authentication core (``decide()``: one request through
both); and the home region and started stores of the tests that go through to the database.

Requests are built and replies verified with pyrad's own client code, an implementation
independent of the server's framing in ``radius.codec``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from pyrad import packet as pp
from pyrad.dictionary import Dictionary
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from accounts import network, users
from accounts.network import ensure_home_region
from accounts.passwords import PasswordHasher
from accounts.policies import Policy
from accounts.secretbox import SecretBox
from radius import DICTIONARY
from radius.clients import Client, ClientTable
from radius.codec import Codec
from radius.core import Decision, PortKind, ServerCore
from radius.events import ReplyReady, RequestReceived
from radius.pipeline import Pipeline
from radius.ratelimit import FailureLimiter
from radius.sqlstore import SqlStore
from sesame.db import create_sessionmaker, unit_of_work
from tests.radius.pipelines import CLASSES, CUI_KEY, NOW, REALM, FakeStore, Verifier, account

SECRET = b"testing123-secret"
AP_IP = "192.0.2.10"


@pytest.fixture(scope="session")
def radius_codec() -> Codec:
    return Codec([DICTIONARY])


@pytest.fixture(scope="session")
def dictionary(radius_codec: Codec) -> Dictionary:
    return radius_codec.dictionary


@pytest.fixture
def clients() -> ClientTable:
    return ClientTable(
        [
            Client(
                id=1,
                name="ap-valence",
                network=ipaddress.ip_network("192.0.2.0/24"),
                secret=SECRET,
                site_id=7,
            ),
            Client(
                id=2,
                name="legacy-ap",
                network=ipaddress.ip_network("198.51.100.5/32"),
                secret=SECRET,
                require_message_authenticator=False,
            ),
        ]
    )


@dataclass
class AccessPoint:
    """Builds requests as a NAS would, with pyrad."""

    dictionary: Dictionary
    secret: bytes = SECRET
    address: tuple[str, int] = (AP_IP, 40000)

    def access_request(
        self, *, sign: bool = True, identifier: int = 1, **attributes: object
    ) -> pp.AuthPacket:
        request = pp.AuthPacket(
            code=pp.AccessRequest, id=identifier, secret=self.secret, dict=self.dictionary
        )
        for name, value in attributes.items():
            name = name.replace("_", "-")
            if name == "User-Password":
                request[name] = request.PwCrypt(value)
            else:
                request[name] = value
        if sign:
            request.add_message_authenticator()
        return request

    def status_server(self, *, code: int = pp.StatusServer, sign: bool = True) -> pp.Packet:
        request = pp.AuthPacket(code=code, id=9, secret=self.secret, dict=self.dictionary)
        request.authenticator = request.CreateAuthenticator()
        if sign:
            request.add_message_authenticator()
        return request

    def accounting_request(self, **attributes: object) -> pp.AcctPacket:
        request = pp.AcctPacket(id=3, secret=self.secret, dict=self.dictionary)
        for name, value in attributes.items():
            request[name.replace("_", "-")] = value
        return request

    def verify(self, request: pp.Packet, reply_bytes: bytes) -> pp.Packet:
        reply = request.CreateReply(packet=reply_bytes)
        assert request.VerifyReply(reply, reply_bytes, enforce_ma=request.code in (1, 12)), (
            "reply does not verify"
        )
        return reply


@pytest.fixture
def ap(dictionary: Dictionary) -> AccessPoint:
    return AccessPoint(dictionary)


# -- the policy pipeline over in-memory fakes (tests.radius.pipelines) ---------------------------


@pytest.fixture
def store() -> FakeStore:
    return FakeStore(accounts={"alice": account()})


@pytest.fixture
def verifier() -> Verifier:
    return Verifier()


@pytest.fixture
def clock() -> list[float]:
    return [100.0]


@pytest.fixture
def limiter() -> FailureLimiter:
    """Small limits, reached in a few requests (``test_lockout.py`` runs the production defaults)."""
    return FailureLimiter(per_identity_device=3, per_nas=100, window=60)


@pytest.fixture
def pipeline(store: FakeStore, verifier: Verifier, clock: list[float], limiter: FailureLimiter) -> Pipeline:
    return Pipeline(
        realm=REALM,
        store=store,
        verify_password=verifier,
        classes=CLASSES,
        cui_key=CUI_KEY,
        clock=lambda: clock[0],
        limiter=limiter,
    )


@pytest.fixture
def core(clients: ClientTable, radius_codec: Codec) -> ServerCore:
    return ServerCore(kind=PortKind.AUTH, clients=clients, codec_=radius_codec)


async def decide(
    core: ServerCore, pipeline: Pipeline, request: pp.Packet, source: str = "192.0.2.10"
) -> tuple[Decision, pp.Packet]:
    """One request from the access point at ``source`` through the core and the pipeline at NOW:
    the decision and the reply, verified as the access point would."""
    event = core.receive_datagram(request.RequestPacket(), (source, 40000), 1812, 0.0)
    assert isinstance(event, RequestReceived), event
    decision = await pipeline.decide(event.request, NOW)
    ready = core.finish(event.request, decision, 0.0)
    assert isinstance(ready, ReplyReady), ready
    return decision, AccessPoint(request.dict).verify(request, ready.data)


def message(reply: pp.Packet) -> str:
    return str(reply["Reply-Message"][0])


# -- the database tests' home region and stores ----------------------------------------------------

HOME_REALM = "wifi.home.example"


@dataclass(frozen=True, slots=True, kw_only=True)
class Home:
    """The home region of a database test: a commune, a site with two access points (``ap``: ap-a
    at 192.0.2.1, ``other``: ap-b at 192.0.2.2), and alice's account (verified, no password); ids
    only, nothing bound to a session."""

    region_id: int
    commune_id: int
    site_id: int
    ap: int
    other: int
    alice: int


@pytest.fixture
async def home(engine: AsyncEngine, box: SecretBox, hasher: PasswordHasher) -> Home:
    async with unit_of_work(create_sessionmaker(engine)) as session:
        region = await ensure_home_region(session, realm=HOME_REALM)
        commune = await network.add_commune(session, region=region, name="Valence", insee_code="26362")
        site = await network.add_site(session, commune=commune, name="Médiathèque")
        ap = await network.add_nas(
            session, box=box, site=site, name="ap-a", address="192.0.2.1", secret="s" * 16
        )
        other = await network.add_nas(
            session, box=box, site=site, name="ap-b", address="192.0.2.2", secret="s" * 16
        )
        alice = await users.create_account(
            session, hasher=hasher, region=region, username="alice", email="alice@example.fr",
            password=None, verified=True,
        )  # fmt: skip
        return Home(
            region_id=region.id,
            commune_id=commune.id,
            site_id=site.id,
            ap=ap.id,
            other=other.id,
            alice=alice.id,
        )


async def add_account(engine: AsyncEngine, hasher: PasswordHasher, username: str) -> int:
    """Another verified account of the home region, without a password: its id."""
    async with unit_of_work(create_sessionmaker(engine)) as session:
        region = await ensure_home_region(session, realm=HOME_REALM)
        account = await users.create_account(
            session, hasher=hasher, region=region, username=username, email=f"{username}@example.fr",
            password=None, verified=True,
        )  # fmt: skip
        return account.id


async def open_store(
    sessions: async_sessionmaker[AsyncSession], box: SecretBox, **overrides: Any
) -> SqlStore:
    """A started :class:`SqlStore` of the home region; ``overrides``: its other arguments."""
    arguments: dict[str, Any] = {"realm": HOME_REALM, "region_name": "R", "defaults": Policy(), **overrides}
    store = SqlStore(sessions=sessions, box=box, **arguments)
    await store.start()
    return store


StoreFactory = Callable[..., Awaitable[SqlStore]]


@pytest.fixture
async def make_store(engine: AsyncEngine, box: SecretBox) -> AsyncIterator[StoreFactory]:
    """Opens stores on the test's database (:func:`open_store`), and closes them after the test
    (a store keeps connections for its records and tokens)."""
    opened: list[SqlStore] = []

    async def make(**overrides: Any) -> SqlStore:
        store = await open_store(create_sessionmaker(engine), box, **overrides)
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()
