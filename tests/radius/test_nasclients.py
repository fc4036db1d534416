"""The client table from the ``nas`` table, on SQLite and PostgreSQL: changes are noticed (added,
changed, removed access points) and an access point whose secret cannot be read is left out."""

from __future__ import annotations

import ipaddress

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts import network
from accounts.network import ensure_home_region
from accounts.secretbox import SecretBox
from radius.nasclients import NasClients
from sesame.db import create_sessionmaker, unit_of_work

REALM = "wifi.nas.example"


async def test_added_changed_and_removed_access_points_are_noticed(
    engine: AsyncEngine, box: SecretBox
) -> None:
    sessions = create_sessionmaker(engine)
    clients = NasClients(sessions=sessions, box=box)
    async with unit_of_work(sessions) as session:
        region = await ensure_home_region(session, realm=REALM)
        commune = await network.add_commune(session, region=region, name="Crest", insee_code="26108")
        site = await network.add_site(session, commune=commune, name="Gare")
        await network.add_nas(session, box=box, site=site, name="ap-a", address="192.0.2.1", secret="s" * 16)
    assert await clients.changed()  # the first look
    assert not await clients.changed()
    async with unit_of_work(sessions) as session:
        await network.add_nas(session, box=box, site=site, name="ap-b", address="192.0.2.2", secret="t" * 16)
    assert await clients.changed()
    assert not await clients.changed()
    async with unit_of_work(sessions) as session:
        (await network.find_nas(session, "ap-a")).description = "moved to the hall"
    assert await clients.changed()
    async with unit_of_work(sessions) as session:
        await network.remove_nas(session, name="ap-a")
    assert await clients.changed()
    assert not await clients.changed()
    table = await clients.load()
    assert [(c.name, c.network, c.secret, c.commune_id) for c in table.clients] == [
        ("ap-b", ipaddress.ip_network("192.0.2.2/32"), b"t" * 16, commune.id)
    ]


async def test_an_access_point_whose_secret_cannot_be_read_is_left_out(
    engine: AsyncEngine, box: SecretBox, caplog: pytest.LogCaptureFixture
) -> None:
    sessions = create_sessionmaker(engine)
    other_key = SecretBox("another-secret-key-that-is-long-enough-9876543210")
    async with unit_of_work(sessions) as session:
        region = await ensure_home_region(session, realm=REALM)
        commune = await network.add_commune(session, region=region, name="Nyons", insee_code="26220")
        site = await network.add_site(session, commune=commune, name="Place")
        await network.add_nas(session, box=box, site=site, name="ap-ok", address="192.0.2.1", secret="s" * 16)
        await network.add_nas(
            session, box=other_key, site=site, name="ap-lost", address="192.0.2.2", secret="s" * 16
        )
    table = await NasClients(sessions=sessions, box=box).load()
    assert [c.name for c in table.clients] == ["ap-ok"]
    assert "ap-lost" in caplog.text
