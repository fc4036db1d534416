"""Judicial requisitions (accounts.requisition) on SQLite and PostgreSQL: which records each
criterion finds in a window — exactly —, the retention cut-off, the bound, the reach, the audit
entry; and the CSV (accounts.recordsexport) read back with Python's csv reader."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.admins import Reach
from accounts.errors import InvalidInput
from accounts.models import AuditEntry, Commune, Region
from accounts.passwords import PasswordHasher
from accounts.recordsexport import COLUMNS, to_csv
from accounts.requisition import SEARCH_ACTION, Kind, Limits, Outcome, criteria, search
from accounts.secretbox import SecretBox
from tests.accounts.records import add_places
from tests.accounts.requisitions import HOSTILE, MAC, Seeded, seed

T = datetime(2026, 3, 14, 9, 0, tzinfo=UTC)
NOW = T + timedelta(days=10)
LIMITS = Limits()


@pytest.fixture
async def seeded(session: AsyncSession, region: Region, hasher: PasswordHasher, box: SecretBox) -> Seeded:
    valence, library, _, die, _ = await add_places(session, region)
    return await seed(
        session, region=region, hasher=hasher, box=box, t=T, commune_id=valence.id, site_id=library.id,
        other_commune_id=die.id,
    )  # fmt: skip


async def run(
    session: AsyncSession,
    box: SecretBox,
    seeded: Seeded,
    kind: Kind,
    value: str,
    *,
    limits: Limits = LIMITS,
    reach: Reach = Reach(),
    now: datetime = NOW,
) -> Outcome:
    since, until = seeded.window
    found = criteria(kind=kind, value=value, since=since, until=until, limits=limits)
    return await search(
        session, box=box, criteria=found, limits=limits, actor="dpo@region.example", reach=reach, now=now
    )


def names(outcome: Outcome) -> list[str]:
    """Sessions by their unique id, decisions by their reason, in the answer's order."""
    return [str(r.unique_id) if r.record == "session" else f"decision:{r.reason}" for r in outcome.records]


V4 = [
    "decision:v4-login",
    "in-v4-straddles-start",
    "in-v4-other-commune",
    "in-v4-open",
    "in-v4-straddles-end",
]


@pytest.mark.parametrize("address", ["10.0.0.5", " 10.0.0.5 ", "::ffff:10.0.0.5"])
async def test_an_ipv4_address_finds_the_sessions_overlapping_the_window(
    session: AsyncSession, box: SecretBox, seeded: Seeded, address: str
) -> None:
    outcome = await run(session, box, seeded, Kind.IP, address)
    assert outcome.criteria.value == "10.0.0.5"
    assert names(outcome) == V4  # and the decision that let the first in (its Class), made before
    assert not outcome.too_many
    opened = next(r for r in outcome.records if r.unique_id == "in-v4-open")
    assert opened.end is None and opened.site == "Médiathèque" and opened.commune == "Valence"


@pytest.mark.parametrize(
    ("address", "found"),
    [
        ("2001:db8::7", "in-v6-address"),
        ("2001:DB8:0:0:0:0:0:7", "in-v6-address"),
        ("2001:db8:1:2::abcd", "in-v6-prefix"),  # the device's own address in its /64
        ("2001:db8:ff00:12::1", "in-v6-delegated"),  # inside the delegated /56
    ],
)
async def test_an_ipv6_address_finds_its_address_or_a_prefix_holding_it(
    session: AsyncSession, box: SecretBox, seeded: Seeded, address: str, found: str
) -> None:
    assert names(await run(session, box, seeded, Kind.IP, address)) == [found]


@pytest.mark.parametrize("mac", [MAC, "02-00-5E-10-20-30", "0200.5e10.2030", "02005E102030"])
async def test_a_mac_in_any_notation_finds_every_notation_stored(
    session: AsyncSession, box: SecretBox, seeded: Seeded, mac: str
) -> None:
    outcome = await run(session, box, seeded, Kind.MAC, mac)
    assert names(outcome) == [
        "decision:mac-refused",
        "in-mac-canonical",
        "decision:mac-auth",  # MAC authentication: the MAC is the User-Name
        "in-mac-cisco",
        "in-mac-bare",
    ]
    assert {r.device_mac for r in outcome.records} == {MAC}


async def test_an_identity_finds_the_account_s_rows_by_link_and_by_name(
    session: AsyncSession, box: SecretBox, seeded: Seeded
) -> None:
    outcome = await run(session, box, seeded, Kind.IDENTITY, "ALICE@wifi.test.example")
    assert names(outcome) == ["decision:alice-login", "in-alice-linked", "in-alice-named"]


async def test_a_deleted_identity_is_found_by_its_pseudonym_either_way(
    session: AsyncSession, box: SecretBox, seeded: Seeded
) -> None:
    by_identity = await run(session, box, seeded, Kind.IDENTITY, "bob@wifi.test.example")
    by_pseudonym = await run(session, box, seeded, Kind.PSEUDONYM, seeded.bob_pseudonym.upper())
    assert names(by_identity) == names(by_pseudonym) == ["decision:bob-login", "in-bob"]
    assert {r.username for r in by_pseudonym.records} == {seeded.bob_pseudonym}


async def test_a_partner_s_identity_is_the_user_name_sent(
    session: AsyncSession, box: SecretBox, seeded: Seeded
) -> None:
    assert names(await run(session, box, seeded, Kind.IDENTITY, "alice@liguria.example")) == []


async def test_records_past_the_retention_period_are_not_handed_over(
    session: AsyncSession, box: SecretBox, seeded: Seeded
) -> None:
    later = T + timedelta(days=365, minutes=45)  # kept since T + 45 min
    outcome = await run(session, box, seeded, Kind.IP, "10.0.0.5", now=later)
    assert outcome.kept_since == T + timedelta(minutes=45)
    # the open session's last sign of life is T + 65 min: kept; the decision at T - 61 min: not
    assert names(outcome) == ["in-v4-open", "in-v4-straddles-end"]


async def test_a_commune_reach_sees_that_commune_only(
    session: AsyncSession, box: SecretBox, seeded: Seeded
) -> None:
    ids = {c.name: c.id for c in (await session.scalars(select(Commune))).all()}
    valence_only = await run(
        session, box, seeded, Kind.IP, "10.0.0.5", reach=Reach(commune_id=ids["Valence"])
    )
    assert names(valence_only) == [n for n in V4 if n != "in-v4-other-commune"]
    die_only = await run(session, box, seeded, Kind.IP, "10.0.0.5", reach=Reach(commune_id=ids["Die"]))
    assert names(die_only) == ["in-v4-other-commune"]


async def test_too_many_records_shows_none_and_is_audited(
    session: AsyncSession, box: SecretBox, seeded: Seeded
) -> None:
    tight = Limits(max_records=4)  # five match
    outcome = await run(session, box, seeded, Kind.IP, "10.0.0.5", limits=tight)
    assert outcome.too_many and outcome.records == ()
    entry = await session.get_one(AuditEntry, outcome.search_id)
    assert json.loads(entry.after or "")["too_many"] is True
    assert not (await run(session, box, seeded, Kind.IP, "10.0.0.5", limits=Limits(max_records=5))).too_many


async def test_every_search_is_audited_with_its_criteria_and_count(
    session: AsyncSession, box: SecretBox, seeded: Seeded
) -> None:
    outcome = await run(session, box, seeded, Kind.MAC, "0200.5E10.2030")
    entry = await session.get_one(AuditEntry, outcome.search_id)
    assert (entry.actor, entry.action, entry.target, entry.at) == (
        "dpo@region.example",
        SEARCH_ACTION,
        f"mac:{MAC}",
        NOW,
    )
    assert json.loads(entry.after or "") == {
        "kind": "mac", "value": MAC, "since": "2026-03-14T09:00:00Z", "until": "2026-03-14T11:00:00Z",
        "count": 5, "too_many": False,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "value", "since", "until", "says"),
    [
        (Kind.IP, "10.0.0.5", T, T + timedelta(days=31, seconds=1), "longer than 31 days"),
        (Kind.IP, "10.0.0.5", T, T, "end after it starts"),
        (Kind.IP, "10.0.0.5", T, T.replace(tzinfo=None), "time zone"),
        (Kind.IP, "10.0.0.0/24", T, T + timedelta(hours=1), "not an IP address"),
        (Kind.IP, "fe80::1%eth0", T, T + timedelta(hours=1), "zone"),
        (Kind.MAC, "02:00:5e:10:20", T, T + timedelta(hours=1), "not a MAC"),
        (Kind.IDENTITY, "alice", T, T + timedelta(hours=1), "username@realm"),
        (Kind.PSEUDONYM, "deleted-xyz", T, T + timedelta(hours=1), "24 hexadecimal"),
    ],
)
def test_criteria_are_checked(kind: Kind, value: str, since: datetime, until: datetime, says: str) -> None:
    with pytest.raises(InvalidInput, match=says):
        criteria(kind=kind, value=value, since=since, until=until, limits=LIMITS)


async def test_the_csv_neutralises_formulas_and_reads_back(
    session: AsyncSession, box: SecretBox, seeded: Seeded
) -> None:
    outcome = await run(session, box, seeded, Kind.IP, "10.0.0.9")
    data = to_csv(outcome.records)
    assert data.count(b"\r\n") == 2  # RFC 4180 line ends: the header and one record
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert rows[0] == list(COLUMNS)
    row = dict(zip(COLUMNS, rows[1], strict=True))
    columns = {
        "username": "username", "nasportid": "nas_port_id", "calledstationid": "called_station_id",
        "callingstationid": "calling_station_id", "realm": "realm", "acctterminatecause": "terminate_cause",
    }  # fmt: skip
    for field, column in columns.items():
        assert row[column] == "'" + HOSTILE[field], column  # shown as text, the value kept after the '
    assert (row["record"], row["start"], row["end"]) == (
        "session",
        "2026-03-14T09:15:00Z",
        "2026-03-14T09:25:00Z",
    )
    assert row["framed_ip"] == "10.0.0.9" and row["session_time"] == "600" and row["device_mac"] == ""
