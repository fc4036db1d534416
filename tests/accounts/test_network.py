"""Network inventory services, run on SQLite and on PostgreSQL."""

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import select, text, update
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from accounts import network
from accounts.errors import Conflict, InvalidInput, NotFound, SecretUnreadable
from accounts.identity import normalize_nas_address
from accounts.models import Commune, Nas, Region, Site
from accounts.secretbox import SecretBox
from sesame.db import create_sessionmaker


async def _site(session: AsyncSession, region: Region, name: str = "Médiathèque") -> Site:
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
    """The RADIUS caches reload an access point whose ``updated_at`` moved: a change must move it.
    The row is dated back first, so "moved" does not depend on the clock ticking between two writes."""
    site = await _site(session, region)
    nas = await network.add_nas(
        session, box=box, site=site, name="ap-1", address="192.0.2.9", secret="x" * 16
    )
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    await session.execute(update(Nas).where(Nas.id == nas.id).values(updated_at=long_ago))
    nas.coa_port = 1700
    await session.flush()
    moved = await session.scalar(select(Nas.updated_at).where(Nas.id == nas.id))
    assert moved is not None and moved > long_ago


# -- access point addresses: no overlap, no range wider than the setting (issue 14, point 6) -------


async def _two_communes(session: AsyncSession, region: Region, box: SecretBox) -> tuple[Site, Site]:
    mine = await _site(session, region)
    nice = await network.add_commune(session, region=region, name="Nice", insee_code="06088")
    theirs = await network.add_site(session, commune=nice, name="Gare")
    await network.add_nas(session, box=box, site=theirs, name="ap-b", address="10.2.0.0/24", secret="x" * 16)
    await network.add_nas(
        session, box=box, site=theirs, name="ap-b6", address="2001:db8::/64", secret="x" * 16
    )
    await network.add_nas(session, box=box, site=mine, name="ap-a", address="10.1.0.0/24", secret="x" * 16)
    return mine, theirs


@pytest.mark.parametrize(
    "address",
    [
        "10.2.0.5",  # inside another commune's range
        "10.2.0.0/23",  # around it
        "10.2.0.128/25",
        "::ffff:10.2.0.5",  # the same IPv4 address, IPv4-mapped
        "::ffff:10.2.0.0/120",
        "2001:db8::1",
        "2001:db8::/63",
        "::/80",  # an IPv6 range holding every IPv4-mapped address
    ],
)
async def test_an_address_overlapping_another_access_point_is_refused(
    session: AsyncSession, region: Region, box: SecretBox, address: str
) -> None:
    mine, _ = await _two_communes(session, region, box)
    with pytest.raises(Conflict, match="overlaps") as refused:
        await network.add_nas(session, box=box, site=mine, name="rogue", address=address, secret="x" * 16)
    assert "ap-b" not in str(refused.value) and "10.2.0.0/24" not in str(refused.value)  # another commune's
    assert "in another commune" in str(refused.value)
    # a region admin may say so explicitly
    allowed = await network.add_nas(
        session, box=box, site=mine, name="rogue", address=address, secret="x" * 16, allow_overlap=True
    )
    assert allowed.nasname == normalize_nas_address(address)


async def test_an_overlap_in_the_same_commune_is_named(
    session: AsyncSession, region: Region, box: SecretBox
) -> None:
    mine, _ = await _two_communes(session, region, box)
    with pytest.raises(Conflict, match=r"ap-a \(10\.1\.0\.0/24\)"):
        await network.add_nas(session, box=box, site=mine, name="ap-a2", address="10.1.0.9", secret="x" * 16)


@pytest.mark.parametrize(
    "address",
    [
        "0.0.0.0/0",
        "10.0.0.0/8",
        "10.0.0.0/15",
        "::/0",
        "2001:db8::/47",
        "::ffff:0:0/96",
        "::ffff:10.0.0.0/104",
    ],
)
async def test_a_range_wider_than_the_setting_is_refused_even_with_an_override(
    session: AsyncSession, region: Region, box: SecretBox, address: str
) -> None:
    site = await _site(session, region)
    with pytest.raises(InvalidInput, match="too wide"):
        await network.add_nas(
            session, box=box, site=site, name="wide", address=address, secret="x" * 16, allow_overlap=True
        )


async def test_the_width_limit_is_a_setting(session: AsyncSession, region: Region, box: SecretBox) -> None:
    site = await _site(session, region)
    await network.add_nas(session, box=box, site=site, name="v4", address="10.0.0.0/16", secret="x" * 16)
    await network.add_nas(session, box=box, site=site, name="v6", address="2001:db8::/48", secret="x" * 16)
    rules = network.AddressRules(min_prefix_v4=8, min_prefix_v6=32)
    wide = await network.add_nas(
        session, box=box, site=site, name="wide", address="172.16.0.0/12", secret="x" * 16, rules=rules
    )
    assert wide.nasname == "172.16.0.0/12"


async def test_moving_an_access_point_follows_the_same_rules(
    session: AsyncSession, region: Region, box: SecretBox
) -> None:
    mine, _ = await _two_communes(session, region, box)
    ap = await network.find_nas(session, "ap-a")
    for address in ("10.2.0.7", "::ffff:10.2.0.7", "10.2.0.0/16"):
        with pytest.raises(Conflict, match="overlaps"):
            await network.set_nas_address(session, nas=ap, site=mine, address=address)
    with pytest.raises(InvalidInput, match="too wide"):
        await network.set_nas_address(session, nas=ap, site=mine, address="0.0.0.0/0", allow_overlap=True)
    with pytest.raises(Conflict, match="already uses"):
        await network.set_nas_address(session, nas=ap, site=mine, address="10.2.0.0/24", allow_overlap=True)
    await network.set_nas_address(session, nas=ap, site=mine, address="10.1.0.0/25")  # within its own: fine
    assert (await network.find_nas(session, "ap-a")).nasname == "10.1.0.0/25"


# -- names: one folding for uniqueness and lookups (issue 14, point 9) -----------------------------


@pytest.mark.parametrize(
    "twin",
    [
        "MÉDIATHÈQUE",
        "mediatheque",
        "Me\u0301diathe\u0300que",  # decomposed accents
        "Mé\u200bdiathèque",  # a zero-width space
        "Médiathèque\u200d",  # a zero-width joiner
        "Mеdiathèque",  # Cyrillic е
        "Ｍédiathèque",  # fullwidth M
        "  Médiathèque  ",
        "\u202eMédiathèque",  # a bidi override
    ],
)
async def test_site_names_are_unique_under_folding_and_found_by_it(
    session: AsyncSession, region: Region, twin: str
) -> None:
    site = await _site(session, region)
    with pytest.raises(Conflict, match="Médiathèque"):
        await network.add_site(session, commune=site.commune, name=twin)
    assert (await network.find_site(session, twin)).id == site.id
    other = await network.add_site(session, commune=site.commune, name="Gare")
    with pytest.raises(Conflict):
        await network.rename_site(session, site=other, name=twin)


async def test_folded_names_of_communes_and_access_points(
    session: AsyncSession, region: Region, box: SecretBox
) -> None:
    site = await _site(session, region, name="Grand‐Place")  # U+2010 hyphen
    assert (await network.find_site(session, "grand-place")).id == site.id
    assert (await network.find_commune(session, "VALENCE")).id == site.commune_id
    await network.add_nas(session, box=box, site=site, name="AP‑Hall", address="192.0.2.1", secret="x" * 16)
    with pytest.raises(Conflict, match="AP‑Hall"):
        await network.add_nas(
            session, box=box, site=site, name="ap-hall", address="192.0.2.2", secret="x" * 16
        )
    assert (await network.find_nas(session, "ap-h\u200ball")).nasname == "192.0.2.1"
    with pytest.raises(InvalidInput):
        await network.add_site(session, commune=site.commune, name="\u200b\u200d")  # nothing visible


@pytest.mark.parametrize("code", ["٢٦٣٦٢", "２６٣６２", "2６3６2\n6", "2A٠٠4", "26362\u200b", "৬৬৩৬২"])
async def test_insee_codes_are_ascii_digits(session: AsyncSession, region: Region, code: str) -> None:
    with pytest.raises(InvalidInput, match="INSEE"):
        await network.add_commune(session, region=region, name="X", insee_code=code)


async def test_fullwidth_insee_digits_are_normalised(session: AsyncSession, region: Region) -> None:
    commune = await network.add_commune(session, region=region, name="Valence", insee_code="２６３６２")
    assert commune.insee_code == "26362"


async def test_an_access_point_is_not_added_with_a_hand_off_that_lacks_its_secret_or_targets(
    session: AsyncSession, region: Region, box: SecretBox
) -> None:
    """Issue 14: a CoovaChilli hand-off without its UAM secret signs nothing (a crafted link could
    name any uamip and challenge); a form POST without a target posts nowhere safe. Both are set
    with their secret or options by set_handoff, never at creation without them."""
    commune = await network.add_commune(session, region=region, name="Valence", insee_code="26362")
    site = await network.add_site(session, commune=commune, name="Médiathèque")
    for handoff in ("coovachilli", "form_post"):
        with pytest.raises(InvalidInput):
            await network.add_nas(
                session, box=box, site=site, name=f"ap-{handoff}", address="10.9.0.1", secret="s3cret-s3cret",
                handoff=handoff,
            )  # fmt: skip
    nas = await network.add_nas(
        session, box=box, site=site, name="ap", address="10.9.0.1", secret="s3cret-s3cret"
    )
    await network.set_handoff(session, box=box, nas=nas, handoff="coovachilli", uam_secret="uam-secret")
    assert nas.handoff == "coovachilli" and nas.uam_secret_ciphertext is not None


async def test_two_processes_creating_the_home_region_at_once_both_get_it(engine: AsyncEngine) -> None:
    """Two RADIUS workers starting on an empty database: the one that loses the race to insert the
    region reads the winner's (it used to raise Conflict and the worker exited)."""
    sessions = create_sessionmaker(engine)
    both_looked = asyncio.Barrier(2)

    async def start() -> int:
        async with sessions() as session, session.begin():
            await session.scalar(select(Region.id))  # each has looked and found nothing…
            await both_looked.wait()  # …before either inserts
            region = await network.ensure_home_region(session, realm="wifi.race.example")
            return region.id

    first, second = await asyncio.gather(start(), start())
    assert first == second
    async with sessions() as session:
        assert (
            len((await session.scalars(select(Region).where(Region.realm == "wifi.race.example"))).all()) == 1
        )
