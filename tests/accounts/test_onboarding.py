"""What operators say of the secure network (issue 17), on SQLite and PostgreSQL: the region's SSIDs
and Passpoint stored, checked and audited; a commune's own SSIDs replacing the region's there and
nowhere else; and ``network_for`` giving what a profile needs — accepted by the profiles' own
model, ``portal.onboarding.spec``."""

from __future__ import annotations

import json
from dataclasses import asdict

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import network, onboarding, users
from accounts.errors import InvalidInput
from accounts.models import Account, AuditEntry, OnboardingNetwork, Region
from accounts.passwords import PasswordHasher
from portal.onboarding.spec import Passpoint

ACTOR = "admin:1"


async def _alice(session: AsyncSession, region: Region, hasher: PasswordHasher) -> Account:
    return await users.create_account(
        session, hasher=hasher, region=region, username="alice", email="alice@example.fr", password=None
    )


async def _audit(session: AsyncSession) -> list[AuditEntry]:
    return list((await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all())


async def test_nothing_configured_offers_nothing(
    session: AsyncSession, region: Region, hasher: PasswordHasher
) -> None:
    described = await onboarding.network_for(session, account=await _alice(session, region, hasher))
    assert described == onboarding.NetworkDescription(
        organisation="Région de test", realm=region.realm, ssids=(), passpoint=None
    )
    assert not described.configured


async def test_the_regions_network_reaches_profiles_with_passpoint_defaults_and_oi_order(
    session: AsyncSession, region: Region, hasher: PasswordHasher
) -> None:
    stored = await onboarding.set_region_onboarding(
        session,
        region=region,
        actor=ACTOR,
        changes={
            "ssids": ["Wi-Fi Région Sécurisé", "Région-1X", "Région-1X"],
            "passpoint_fqdn": "Wifi.Test.Example.",
            "roaming_consortium_ois": ["abcdef", "0011223344"],
            "eduroam": True,
            "openroaming": True,
        },
    )
    assert stored.ssids == ("Wi-Fi Région Sécurisé", "Région-1X")  # the duplicate dropped, order kept
    assert stored.passpoint_fqdn == "wifi.test.example"
    assert stored.roaming_consortium_ois == ("ABCDEF", "0011223344")
    described = await onboarding.network_for(session, account=await _alice(session, region, hasher))
    assert described.configured and described.ssids == stored.ssids
    assert described.passpoint == onboarding.PasspointDescription(
        home_fqdn="wifi.test.example",
        friendly_name="Région de test",  # the region's name when none is set
        nai_realm=region.realm,  # the home realm when none is set
        roaming_consortium_ois=("ABCDEF", "0011223344", onboarding.EDUROAM_OI, onboarding.OPENROAMING_OI),
    )
    # the profiles' own model takes it as it is
    passpoint = Passpoint(**asdict(described.passpoint))
    assert passpoint.roaming_consortium_ois[-1] == "5A03BA0000"

    again = await onboarding.set_region_onboarding(
        session,
        region=region,
        actor=ACTOR,
        changes={"passpoint_friendly_name": "Wi-Fi Sud", "nai_realm": "roam.test.example", "eduroam": False},
    )
    assert again.ssids == stored.ssids  # fields not given stay
    described = await onboarding.network_for(
        session, account=await users.find_account(session, "alice", region=region)
    )
    assert described.passpoint is not None
    assert described.passpoint.friendly_name == "Wi-Fi Sud"
    assert described.passpoint.nai_realm == "roam.test.example"
    assert described.passpoint.roaming_consortium_ois == ("ABCDEF", "0011223344", "5A03BA0000")


async def test_changes_are_audited_with_before_and_after(session: AsyncSession, region: Region) -> None:
    await onboarding.set_region_onboarding(session, region=region, actor=ACTOR, changes={"ssids": ["A"]})
    await onboarding.set_region_onboarding(session, region=region, actor="cli:root", changes={"ssids": ["B"]})
    first, second = await _audit(session)
    assert (second.actor, second.action, second.target) == (
        "cli:root",
        "onboarding.region.update",
        f"region:{region.id}",
    )
    assert json.loads(second.before or "")["ssids"] == ["A"]
    assert json.loads(second.after or "")["ssids"] == ["B"]
    assert first.commune_id is None


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"ssids": [""]}, "1 to 32 octets"),
        ({"ssids": ["é" * 17]}, "1 to 32 octets"),  # 17 characters, 34 octets
        ({"ssids": ["a\x00b"]}, "control"),
        ({"ssids": ["tab\there"]}, "control"),
        ({"ssids": ["esc\x1b[0m"]}, "control"),
        ({"ssids": ["bad\ud800"]}, "UTF-8"),
        ({"ssids": [f"ssid-{i}" for i in range(9)]}, "at most 8"),
        ({"passpoint_fqdn": "not a host"}, "DNS name"),
        ({"passpoint_fqdn": "-bad.example.fr"}, "DNS name"),
        ({"passpoint_fqdn": "localhost"}, "DNS name"),
        ({"passpoint_fqdn": "a.fr", "nai_realm": "a..fr"}, "DNS name"),
        ({"passpoint_fqdn": "a.fr", "roaming_consortium_ois": ["ABCDE"]}, "6 or 10 hex"),
        ({"passpoint_fqdn": "a.fr", "roaming_consortium_ois": ["ABCDEF01"]}, "6 or 10 hex"),
        ({"passpoint_fqdn": "a.fr", "roaming_consortium_ois": ["ABCDEG"]}, "6 or 10 hex"),
        ({"passpoint_fqdn": "a.fr", "roaming_consortium_ois": ["001bc50460"]}, "turn on 'eduroam'"),
        ({"passpoint_fqdn": "a.fr", "roaming_consortium_ois": ["5A03BA0000"]}, "turn on 'openroaming'"),
        ({"passpoint_fqdn": "a.fr", "passpoint_friendly_name": "é" * 127}, "252 octets"),
        ({"passpoint_fqdn": "a.fr", "passpoint_friendly_name": "a\x07"}, "printable"),
        ({"eduroam": True}, "need its Home SP's FQDN"),
        ({"roaming_consortium_ois": ["ABCDEF"]}, "need its Home SP's FQDN"),
        ({"ssid": ["typo"]}, "unknown onboarding fields"),
    ],
)
async def test_what_devices_could_not_parse_is_refused_and_nothing_is_written(
    session: AsyncSession, region: Region, changes: dict[str, object], reason: str
) -> None:
    with pytest.raises(InvalidInput, match=reason):
        await onboarding.set_region_onboarding(session, region=region, actor=ACTOR, changes=changes)
    assert await session.scalar(select(OnboardingNetwork)) is None
    assert await _audit(session) == []


async def test_an_ssid_is_kept_octet_for_octet(session: AsyncSession, region: Region) -> None:
    """Access points broadcast octets: a decomposed "é" is another SSID than a composed one, and 32
    octets of two-octet characters are a valid SSID."""
    decomposed, composed, full = "Re\u0301gion", "R\u00e9gion", "é" * 16
    await onboarding.set_region_onboarding(
        session, region=region, actor=ACTOR, changes={"ssids": [decomposed, composed, full]}
    )
    session.expire_all()  # read back from the database
    stored = await session.scalar(select(OnboardingNetwork.ssids))
    assert stored is not None
    assert [s.encode() for s in stored] == [b"Re\xcc\x81gion", b"R\xc3\xa9gion", "é".encode() * 16]


async def test_a_communes_ssids_apply_there_only_and_fall_back_when_cleared(
    session: AsyncSession, region: Region, hasher: PasswordHasher
) -> None:
    valence = await network.add_commune(session, region=region, name="Valence", insee_code="26362")
    nice = await network.add_commune(session, region=region, name="Nice", insee_code="06088")
    await onboarding.set_region_onboarding(session, region=region, actor=ACTOR, changes={"ssids": ["Région"]})
    assert await onboarding.set_commune_ssids(
        session, commune=valence, ssids=["Valence-Sûr"], actor=ACTOR
    ) == ("Valence-Sûr",)
    alice = await _alice(session, region, hasher)
    assert (await onboarding.network_for(session, account=alice, commune=valence)).ssids == ("Valence-Sûr",)
    assert (await onboarding.network_for(session, account=alice, commune=nice)).ssids == ("Région",)
    assert (await onboarding.network_for(session, account=alice)).ssids == ("Région",)
    assert [(c.name, s) for c, s in await onboarding.commune_overrides(session, region=region)] == [
        ("Valence", ("Valence-Sûr",))
    ]
    entry = (await _audit(session))[-1]
    assert (entry.action, entry.target, entry.commune_id) == (
        "onboarding.commune.update",
        f"commune:{valence.id}",
        valence.id,
    )

    assert await onboarding.set_commune_ssids(session, commune=valence, ssids=[], actor=ACTOR) == ()
    assert (await onboarding.network_for(session, account=alice, commune=valence)).ssids == ("Région",)
    assert await onboarding.commune_overrides(session, region=region) == []
    with pytest.raises(InvalidInput):
        await onboarding.set_commune_ssids(session, commune=valence, ssids=["x" * 33], actor=ACTOR)


async def test_a_commune_of_another_region_brings_nothing(
    session: AsyncSession, region: Region, hasher: PasswordHasher
) -> None:
    other = Region(realm="other.test.example", name="Ailleurs")
    session.add(other)
    await session.flush()
    elsewhere = await network.add_commune(session, region=other, name="Gênes", insee_code="99101")
    await onboarding.set_commune_ssids(session, commune=elsewhere, ssids=["Ailleurs"], actor=ACTOR)
    await onboarding.set_region_onboarding(session, region=region, actor=ACTOR, changes={"ssids": ["Région"]})
    alice = await _alice(session, region, hasher)
    assert (await onboarding.network_for(session, account=alice, commune=elsewhere)).ssids == ("Région",)


async def test_the_database_keeps_passpoint_to_the_region(session: AsyncSession, region: Region) -> None:
    """The check constraints hold whatever writes the table: one scope per row, and no Passpoint
    on a commune's row."""
    commune = await network.add_commune(session, region=region, name="Valence", insee_code="26362")
    for row in (
        OnboardingNetwork(commune_id=commune.id, ssids=["x"], passpoint_fqdn="a.fr"),
        OnboardingNetwork(region_id=region.id, commune_id=commune.id, ssids=["x"]),
        OnboardingNetwork(ssids=["x"]),
    ):
        savepoint = await session.begin_nested()
        session.add(row)
        with pytest.raises(IntegrityError):
            await session.flush()
        await savepoint.rollback()


@given(st.text(max_size=40))
def test_an_oi_the_service_accepts_is_one_profiles_accept(raw: str) -> None:
    try:
        oi = onboarding.check_oi(raw)
    except InvalidInput:
        return
    Passpoint(home_fqdn="a.fr", friendly_name="A", nai_realm="a.fr", roaming_consortium_ois=(oi,))
