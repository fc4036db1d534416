"""A guest's voucher over PAP with FreeRADIUS's radclient against a real ``sesame serve``: accepted
at a site where it works (Session-Timeout its time left, the volume left as ChilliSpot
attributes), refused at a site where it does not, and once expired. The batches are made with
the accounts services on the server's database, as the admin API would."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update

from accounts import vouchers
from accounts.models import Site, Voucher
from accounts.network import ensure_home_region
from accounts.secretbox import SecretBox
from accounts.vouchercodes import normalize_code
from sesame.db import create_engine, create_sessionmaker
from sesame.dburl import normalize_database_url
from sesame.settings import PLACEHOLDER_SECRET_KEY
from tests.interop.conftest import REALM, Server, add_valence, launch, need_tool, received

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    need_tool("radclient")
    workdir = tmp_path_factory.mktemp("vouchers")
    srv = launch(workdir, f"sqlite:///{workdir / 'vouchers.db'}")
    try:
        srv.cli("commune", "add", "Nice", "--insee", "06088")
        srv.cli("site", "add", "Port", "--commune", "Nice")
        add_valence(srv)  # the access point local-ap, at Valence's Médiathèque
        yield srv
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=30)


def make_batch(srv: Server, *, site: str, octets: int | None = 5 * 2**32 + 1000) -> str:
    """One voucher working at ``site`` only, valid from an hour ago for a day, two hours from first use."""

    async def go() -> str:
        engine = create_engine(normalize_database_url(srv.env["SESAME_DATABASE_URL"]))
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                region = await ensure_home_region(session, realm=REALM, name="Test")
                place = (await session.scalars(select(Site).where(Site.name == site))).one()
                now = datetime.now(UTC)
                _batch, codes = await vouchers.create_batch(
                    session, box=SecretBox(PLACEHOLDER_SECRET_KEY), region=region, commune=None,
                    spec=vouchers.BatchSpec(
                        label="Interop", count=1, valid_from=now - timedelta(hours=1),
                        valid_until=now + timedelta(days=1), duration=timedelta(hours=2),
                        octets_limit=octets, sites=[place],
                    ),
                    created_by="test", now=now,
                )  # fmt: skip
                return codes[0]
        finally:
            await engine.dispose()

    return asyncio.run(go())


def expire(srv: Server, code: str) -> None:
    """As if the voucher had been first used three hours ago: its two hours are over."""

    async def go() -> None:
        engine = create_engine(normalize_database_url(srv.env["SESAME_DATABASE_URL"]))
        raw = normalize_code(code)
        assert raw is not None
        digest = SecretBox(PLACEHOLDER_SECRET_KEY).digest(raw.encode(), purpose="voucher-code")
        then = datetime.now(UTC) - timedelta(hours=3)
        try:
            async with create_sessionmaker(engine)() as session, session.begin():
                await session.execute(
                    update(Voucher)
                    .where(Voucher.digest == digest)
                    .values(first_used_at=then, expires_at=then + timedelta(hours=2))
                )
        finally:
            await engine.dispose()

    asyncio.run(go())


def voucher_request(code: str, mac: str = "02-00-00-00-00-31", *, user_name: str = "") -> str:
    return (
        f'User-Name = "{user_name or code}"\nUser-Password = "{code}"\n'
        f'Calling-Station-Id = "{mac}"\nMessage-Authenticator = 0x00\n'
    )


def test_a_voucher_is_accepted_over_pap_where_it_works(server: Server) -> None:
    code = make_batch(server, site="Médiathèque")
    out = server.radclient(voucher_request(code), timeout=5)
    assert received(out) == "Access-Accept", out
    reply = out.split("Received Access-Accept", 1)[1]
    timeout = int(reply.split("Session-Timeout = ", 1)[1].split()[0])
    assert 7000 < timeout <= 7200  # the voucher's two hours, not the site's three
    # FreeRADIUS's dictionary has no name for ChilliSpot's Max-Total-Gigawords (vendor 14559, 23)
    assert "ChilliSpot-Max-Total-Octets = 1000" in reply and "Attr-26.14559.23 = 0x00000005" in reply, reply
    # in lower case, without dashes, with the realm: the same voucher
    typed = code.lower().replace("-", "")
    again = server.radclient(voucher_request(typed, user_name=f"{typed}@{REALM}"), timeout=5)
    assert received(again) == "Access-Accept", again


def test_a_voucher_is_refused_at_a_site_where_it_does_not_work(server: Server) -> None:
    code = make_batch(server, site="Port")  # Nice's, while local-ap is Valence's Médiathèque
    out = server.radclient(voucher_request(code), timeout=5)
    assert received(out) == "Access-Reject", out
    assert 'Reply-Message = "Ce ticket ne fonctionne pas ici"' in out


def test_a_voucher_is_refused_once_expired(server: Server) -> None:
    code = make_batch(server, site="Médiathèque", octets=None)
    assert received(server.radclient(voucher_request(code), timeout=5)) == "Access-Accept"
    expire(server, code)
    out = server.radclient(voucher_request(code), timeout=5)
    assert received(out) == "Access-Reject", out
    assert 'Reply-Message = "Ce ticket a expiré"' in out


def test_a_wrong_code_is_a_wrong_password(server: Server) -> None:
    out = server.radclient(voucher_request("XXXX-XXXX-XXXX"), timeout=5)
    assert received(out) == "Access-Reject"
    assert 'Reply-Message = "Utilisateur inconnu ou mot de passe erroné"' in out  # the region's language
