"""The keys of the Chargeable-User-Identity and the Class are the deployment's, not a worker's:
two RADIUS services built from the same settings (two worker processes) name a person alike."""

from __future__ import annotations

import asyncio

import pytest
from pyrad import packet as pp
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts import network, users
from accounts.models import AccountingSession
from accounts.network import ensure_home_region
from accounts.passwords import PasswordHasher
from radius.accounting import SessionClass
from radius.core import PortKind, ServerCore
from radius.events import Address
from radius.pipeline import Pipeline
from radius.server import RadiusService
from sesame.compose import build_radius
from sesame.db import create_sessionmaker, unit_of_work
from sesame.settings import get_settings
from tests.cli import CLI_REALM
from tests.radius.conftest import AccessPoint
from tests.radius.pipelines import FakeStore, Verifier

NAS = ("127.0.0.1", 40000)


def test_the_pipeline_has_no_key_of_its_own() -> None:
    """A forgotten key is a TypeError at start-up, not a per-worker random one (issue 21)."""
    with pytest.raises(TypeError, match="cui_key"):
        Pipeline(realm="r", store=FakeStore(), verify_password=Verifier(), classes=SessionClass(b"k" * 32))  # type: ignore[call-arg]
    with pytest.raises(TypeError, match="classes"):
        Pipeline(realm="r", store=FakeStore(), verify_password=Verifier(), cui_key=b"c" * 32)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        Pipeline(
            realm="r", store=FakeStore(), verify_password=Verifier(), classes=SessionClass(b"k"), cui_key=b""
        )


class _Sink:
    def __init__(self, core: ServerCore) -> None:
        self.core = core
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()

    def send(self, data: bytes, destination: Address) -> None:
        self.replies.put_nowait(data)


async def _ask(service: RadiusService, kind: PortKind, request: pp.Packet, ap: AccessPoint) -> pp.Packet:
    sink = _Sink(service.cores[kind])
    service.receive(sink, request.RequestPacket(), NAS, 1812 if kind is PortKind.AUTH else 1813)
    return ap.verify(request, await asyncio.wait_for(sink.replies.get(), timeout=30))


async def test_two_workers_give_a_person_the_same_chargeable_user_identity_and_read_each_others_class(
    cli_env: str, engine: AsyncEngine, hasher: PasswordHasher, ap: AccessPoint
) -> None:
    settings = get_settings()
    secret = "a-nas-secret-of-16"
    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as session:
        region = await ensure_home_region(session, realm=CLI_REALM)
        commune = await network.add_commune(session, region=region, name="Valence", insee_code="26362")
        site = await network.add_site(session, commune=commune, name="Médiathèque")
        box = settings.secret_box()
        await network.add_nas(session, box=box, site=site, name="ap", address=NAS[0], secret=secret)
        alice = await users.create_account(
            session,
            hasher=hasher,
            region=region,
            username="alice",
            email="a@example.fr",
            password="correct horse battery",
            verified=True,
        )
    ap = AccessPoint(ap.dictionary, secret=secret.encode(), address=NAS)
    workers = [build_radius(settings, engine, housekeeping=False) for _ in range(2)]
    for worker in workers:
        await worker.start([])
    try:
        cuis, classes = [], []
        for i, worker in enumerate(workers):
            request = ap.access_request(
                identifier=i + 1,
                User_Name="alice",
                User_Password="correct horse battery",
                Chargeable_User_Identity=b"\x00",
            )
            reply = await _ask(worker, PortKind.AUTH, request, ap)
            assert reply.code == pp.AccessAccept
            cuis.append(reply["Chargeable-User-Identity"][0])
            classes.append(reply["Class"][0])
        assert cuis[0] == cuis[1]  # RFC 4372: stable, whichever worker answered
        # the session the first worker accepted is accounted by the second: its Class names alice
        start = ap.accounting_request(
            User_Name="alice", Acct_Status_Type="Start", Acct_Session_Id="s1", NAS_IP_Address=NAS[0]
        )
        start["Class"] = classes[0]
        await _ask(workers[1], PortKind.ACCT, start, ap)
    finally:
        for worker in workers:
            await worker.stop()
    async with sessions() as session:
        owners = (await session.scalars(select(AccountingSession.account_id))).all()
    assert owners == [alice.id]
