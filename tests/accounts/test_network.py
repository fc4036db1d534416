"""Network inventory services, run on SQLite and on PostgreSQL."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import network
from accounts.errors import Conflict, InvalidInput, NotFound, SecretUnreadable
from accounts.models import Commune, Nas, Region
from accounts.secretbox import SecretBox


async def _site(session: AsyncSession, region: Region, name: str = "Médiathèque"):
    commune = await network.add_commune(session, region=region, name="Valence", insee_code="26362")
    return await network.add_site(session, commune=commune, name=name)


async def test_commune_by_code_or_name(session: AsyncSession, region: Region) -> None:
    added = await network.add_commune(session, region=region, name="Ajaccio", insee_code="2a004")
    assert added.insee_code == "2A004"
    assert (await network.find_commune(session, "2A004")).id == added.id
    assert (await network.find_commune(session, "ajaccio")).id == added.id
    with pytest.raises(NotFound):
        await network.find_commune(session, "Bastia")
    with pytest.raises(Conflict):
        await network.add_commune(session, region=region, name="Other", insee_code="2A004")


async def test_a_shared_commune_name_must_be_disambiguated(session: AsyncSession, region: Region) -> None:
    await network.add_commune(session, region=region, name="Saint-Martin", insee_code="05155")
    await network.add_commune(session, region=region, name="Saint-Martin", insee_code="32389")
    with pytest.raises(InvalidInput, match=r"05155, 32389|32389, 05155"):
        await network.find_commune(session, "Saint-Martin")
    assert (await network.find_commune(session, "32389")).name == "Saint-Martin"


async def test_sites_are_unique_within_a_commune(session: AsyncSession, region: Region) -> None:
    site = await _site(session, region)
    commune = site.commune
    other = await network.add_commune(session, region=region, name="Die", insee_code="26113")
    with pytest.raises(Conflict):
        await network.add_site(session, commune=commune, name="Médiathèque")
    await network.add_site(
        session,
        commune=other,
        name="Médiathèque",
        coordinates=network.Coordinates(latitude=44.75, longitude=5.37),
    )
    with pytest.raises(InvalidInput, match="name the commune"):
        await network.find_site(session, "médiathèque")
    assert (await network.find_site(session, "médiathèque", commune=other)).latitude == 44.75
    with pytest.raises(InvalidInput):
        network.Coordinates(latitude=91, longitude=0)


async def test_nas_secret_is_stored_sealed_and_opens_with_the_key(
    session: AsyncSession, region: Region, box: SecretBox
) -> None:
    site = await _site(session, region)
    nas = await network.add_nas(
        session, box=box, site=site, name="ap-1", address="10.1.0.0/24", secret="s3cret-s3cret"
    )
    row = (
        await session.execute(text("SELECT secret_ciphertext FROM nas WHERE id = :id"), {"id": nas.id})
    ).one()
    assert "s3cret" not in row[0]
    assert network.nas_secret(box, nas) == b"s3cret-s3cret"
    assert "s3cret" not in repr(nas)
    with pytest.raises(SecretUnreadable):
        network.nas_secret(SecretBox("another key entirely, long enough"), nas)


async def test_nas_rules(session: AsyncSession, region: Region, box: SecretBox) -> None:
    site = await _site(session, region)
    await network.add_nas(session, box=box, site=site, name="ap-1", address="2001:db8::/64", secret="x" * 16)
    with pytest.raises(Conflict, match="2001:db8::/64"):
        await network.add_nas(
            session, box=box, site=site, name="ap-2", address="2001:DB8::/64", secret="x" * 16
        )
    with pytest.raises(Conflict, match="ap-1"):
        await network.add_nas(session, box=box, site=site, name="ap-1", address="192.0.2.1", secret="x" * 16)
    with pytest.raises(InvalidInput):
        await network.add_nas(session, box=box, site=site, name="ap-3", address="192.0.2.1", secret="short")
    with pytest.raises(InvalidInput):
        await network.add_nas(
            session, box=box, site=site, name="ap-3", address="192.0.2.1", secret="x" * 16, handoff="bogus"
        )
    with pytest.raises(InvalidInput):
        await network.add_nas(
            session, box=box, site=site, name="ap-3", address="192.0.2.1", secret="x" * 16, coa_port=70000
        )


async def test_nas_list_and_remove(session: AsyncSession, region: Region, box: SecretBox) -> None:
    site = await _site(session, region)
    for i, address in enumerate(["192.0.2.2", "192.0.2.1"]):
        await network.add_nas(
            session,
            box=box,
            site=site,
            name=f"ap-{i}",
            address=address,
            secret="x" * 16,
            require_message_authenticator=i == 0,
        )
    listed = await network.list_nas(session)
    assert [(n.shortname, n.require_message_authenticator, n.site.commune.name) for n in listed] == [
        ("ap-0", True, "Valence"),
        ("ap-1", False, "Valence"),
    ]
    await network.remove_nas(session, name="ap-0")
    assert [n.shortname for n in await network.list_nas(session)] == ["ap-1"]
    with pytest.raises(NotFound):
        await network.remove_nas(session, name="ap-0")


async def test_timestamps_come_back_aware_in_utc(session: AsyncSession, region: Region) -> None:
    paris = timezone(timedelta(hours=1))
    moment = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=paris)
    commune = Commune(region=region, name="Crest", insee_code="26108", created_at=moment)
    session.add(commune)
    await session.flush()
    session.expunge(commune)
    loaded = await session.scalar(select(Commune).where(Commune.insee_code == "26108"))
    assert loaded is not None
    assert loaded.created_at == moment
    assert loaded.created_at.tzinfo == UTC
    session.add(Commune(region=region, name="X", insee_code="26001", created_at=datetime(2026, 1, 1)))
    with pytest.raises(StatementError, match="naive"):
        await session.flush()


async def test_a_commune_with_sites_cannot_be_deleted(session: AsyncSession, region: Region) -> None:
    site = await _site(session, region)
    with pytest.raises(IntegrityError):
        await session.execute(text("DELETE FROM commune WHERE id = :id"), {"id": site.commune_id})


async def test_nas_updated_at_moves_on_change(session: AsyncSession, region: Region, box: SecretBox) -> None:
    site = await _site(session, region)
    nas = await network.add_nas(
        session, box=box, site=site, name="ap-1", address="192.0.2.9", secret="x" * 16
    )
    before = nas.updated_at
    nas.coa_port = 1700
    await session.flush()
    refreshed = await session.scalar(select(Nas).where(Nas.id == nas.id))
    assert refreshed is not None and refreshed.updated_at >= before
