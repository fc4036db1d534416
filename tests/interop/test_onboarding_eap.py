"""What a citizen's download issues works against a running ``sesame serve``, and stops working
once the device is forgotten: ``eapol_test`` with the EAP-TLS certificate and key that
:mod:`accounts.enrolment` issued through a one-time link (SUCCESS, MPPE keys OK), then refused
after "forget this device"; the same for a generated password over PEAP and EAP-TTLS. The link is
made and used in this process against the server's database, as the portal's download does."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from accounts import enrolment
from accounts.deviceca import DeviceIssuer, IssuedCertificate, IssuedPassword
from accounts.enrolment import CredentialKind
from accounts.models import Account
from accounts.secretbox import SecretBox
from sesame.db import create_engine, create_sessionmaker
from sesame.settings import PLACEHOLDER_SECRET_KEY
from tests.interop.conftest import PASSWORD, REALM, need_tool
from tests.interop.test_eap import Eap, keys_match, launch_eap, succeeded

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def eap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Eap]:
    need_tool("eapol_test")
    deployment = launch_eap(tmp_path_factory.mktemp("onboarding-eap"))
    try:
        yield deployment
    finally:
        deployment.sesame.proc.terminate()
        deployment.sesame.proc.wait(timeout=30)


def _box(eap: Eap) -> SecretBox:
    """The server's key: the one its environment sets, else the development placeholder."""
    return SecretBox(eap.sesame.env.get("SESAME_SECRET_KEY", PLACEHOLDER_SECRET_KEY))


async def _download(eap: Eap, name: str, kind: CredentialKind) -> IssuedCertificate | IssuedPassword:
    """Ask for a link and use it, as the portal's two requests do (each its own transaction)."""
    issuer = DeviceIssuer.load(
        (eap.pki / "device-ca.pem").read_bytes(), (eap.pki / "device-ca.key").read_bytes()
    )
    engine = create_engine(f"sqlite+aiosqlite:///{eap.database}")
    now = datetime.now(UTC)
    try:
        sessions = create_sessionmaker(engine)
        query = select(Account).where(Account.username == name).options(selectinload(Account.region))
        async with sessions() as session, session.begin():
            account = (await session.scalars(query)).one()
            link = await enrolment.make_link(
                session, box=_box(eap), account=account, format="test", kind=kind, label="phone", now=now
            )
        async with sessions() as session, session.begin():
            account = (await session.scalars(query)).one()
            got = await enrolment.redeem_link(
                session, box=_box(eap), token=link, account=account, now=now, issuer=issuer,
                valid_for=timedelta(days=30),
            )  # fmt: skip
        return got.issued
    finally:
        await engine.dispose()


async def _forget(eap: Eap, name: str) -> None:
    engine = create_engine(f"sqlite+aiosqlite:///{eap.database}")
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            account = (await session.scalars(select(Account).where(Account.username == name))).one()
            for device in await enrolment.enrolled_devices(session, account=account):
                await enrolment.forget_enrolled(
                    session, account=account, kind=device.kind, id=device.id, now=datetime.now(UTC)
                )
    finally:
        await engine.dispose()


def citizen(eap: Eap) -> str:
    name = f"c{secrets.token_hex(4)}"
    eap.sesame.cli("user", "add", name, "--email", f"{name}@example.fr", "--password", PASSWORD)
    return name


def refused_within_a_poll(connect: Any) -> str:
    """The workers forget a revoked credential at their next poll (2 s); certificates are read at
    every handshake. Retried for at most 20 s."""
    deadline = time.monotonic() + 20
    while succeeded(out := connect()):
        assert time.monotonic() < deadline, "a forgotten device is still accepted after 20 s"
        time.sleep(1)
    return str(out)


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_the_issued_certificate_connects_until_the_device_is_forgotten(eap: Eap, tls: str) -> None:
    name = citizen(eap)
    issued = asyncio.run(_download(eap, name, CredentialKind.CERTIFICATE))
    assert isinstance(issued, IssuedCertificate)
    certificate = eap.sesame.workdir / f"{name}.pem"
    key = eap.sesame.workdir / f"{name}.key"
    certificate.write_bytes(issued.certificate.public_bytes(Encoding.PEM))
    key.write_bytes(issued.private_key_pem)
    key.chmod(0o600)

    def connect() -> str:
        return eap.connect(f"{name}@{REALM}", method="TLS", client_cert=certificate, private_key=key, tls=tls)

    out = connect()
    assert succeeded(out) and keys_match(out), out[-3000:]
    assert eap.decisions(name)[-1] == ("Access-Accept", "eap-tls", "accepted")
    asyncio.run(_forget(eap, name))
    out = connect()  # read at this very handshake: refused at once
    assert not succeeded(out), out[-3000:]
    assert eap.decisions(name)[-1][:2] == ("Access-Reject", "eap-tls")


@pytest.mark.parametrize("method", ["PEAP", "TTLS-EAPMSCHAPV2"])
def test_the_issued_password_connects_until_the_device_is_forgotten(eap: Eap, method: str) -> None:
    name = citizen(eap)
    issued = asyncio.run(_download(eap, name, CredentialKind.PASSWORD))
    assert isinstance(issued, IssuedPassword) and issued.username == f"{name}@{REALM}"

    def connect() -> str:
        return eap.connect(issued.username, issued.password, method=method)

    out = connect()
    assert succeeded(out) and keys_match(out), out[-3000:]
    asyncio.run(_forget(eap, name))
    refused_within_a_poll(connect)
    assert eap.decisions(name)[-1][0] == "Access-Reject"
