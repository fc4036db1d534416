"""The dashboards' numbers (accounts.history, accounts.live) against what a seeded set of sessions
and decisions implies, computed by tests/accounts/statsworld.py from the seed, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.errors import InvalidInput
from accounts.history import MAX_DAYS, Level, Period, daily_refusals, daily_usage
from accounts.live import authentications_per_minute, open_sessions
from accounts.models import Region
from accounts.passwords import PasswordHasher
from tests.accounts.statsworld import DAYS, NOW, seed

PERIOD = Period(first=DAYS[0], last=DAYS[-1])


def _key(level: str, day: date, commune: int | None, site: int | None) -> tuple[object, ...]:
    return {"region": (day,), "commune": (day, commune), "site": (day, commune, site)}[level]


@pytest.mark.parametrize("level", ["region", "commune", "site"])
async def test_connections_people_and_volumes_per_day(
    session: AsyncSession, region: Region, hasher: PasswordHasher, level: str
) -> None:
    world = await seed(session, region, hasher)
    rows = await daily_usage(session, period=PERIOD, level=Level(level))
    found = {
        _key(level, r.day, r.place.commune_id, r.place.site_id): (
            r.connections,
            r.people,
            r.octets_in,
            r.octets_out,
        )
        for r in rows
    }
    expected = world.usage(level)
    assert found == expected
    assert len(rows) == len(found)  # one row per day and place
    assert sum(c for c, *_ in expected.values()) == len(world.sessions) - 2  # the two outside the period
    if level == "region":
        # someone seen at two places in a day is one person of the region, not two
        sites = world.usage("site")
        for (day,), (_, people, _, _) in expected.items():
            assert people <= sum(p for (d, *_), (_, p, _, _) in sites.items() if d == day)


async def test_one_commune_or_one_site_only(
    session: AsyncSession, region: Region, hasher: PasswordHasher
) -> None:
    world = await seed(session, region, hasher)
    die = await daily_usage(session, period=PERIOD, level=Level.SITE, commune_id=world.die)
    assert {r.place.commune_id for r in die} == {world.die}
    assert {_key("site", r.day, r.place.commune_id, r.place.site_id) for r in die} == {
        k for k in world.usage("site") if k[1] == world.die
    }
    library = await daily_usage(session, period=PERIOD, level=Level.COMMUNE, site_id=world.library)
    expected = Counter(
        s.start.date()
        for s in world.sessions
        if s.site == world.library and DAYS[0] <= s.start.date() <= DAYS[-1]
    )
    assert {r.day: r.connections for r in library} == expected


async def test_the_distinct_person_rule(
    session: AsyncSession, region: Region, hasher: PasswordHasher
) -> None:
    """A visitor whose User-Name comes in two cases is one person; a pseudonym is one person; an
    account is one person whatever User-Name its sessions carry."""
    world = await seed(session, region, hasher, sessions=0)
    from accounts.models import AccountingSession

    start = PERIOD.since
    for n, (account, username) in enumerate(
        [(None, "visitor@liguria.example"), (None, "VISITOR@liguria.example"), (None, "deleted-00ab"),
         (None, "deleted-00ab"), (None, None)]
    ):  # fmt: skip
        session.add(
            AccountingSession(
                acctsessionid=f"x{n}", acctuniqueid=f"x{n:031x}", nasipaddress="192.0.2.1", username=username,
                acctstarttime=start, account_id=account, site_id=world.library, commune_id=world.valence,
            )
        )  # fmt: skip
    await session.flush()
    rows = await daily_usage(session, period=PERIOD, level=Level.REGION)
    assert [(r.connections, r.people) for r in rows if r.day == DAYS[0]] == [(len(world.sessions) + 5, 2)]


@pytest.mark.parametrize("level", ["region", "commune", "site"])
async def test_refusals_per_day_and_reason(
    session: AsyncSession, region: Region, hasher: PasswordHasher, level: str
) -> None:
    world = await seed(session, region, hasher)
    rows = await daily_refusals(session, period=PERIOD, level=Level(level))
    found = Counter(
        {(*_key(level, r.day, r.place.commune_id, r.place.site_id), r.reason): r.count for r in rows}
    )
    assert found == world.refusals(level)
    assert all(r.reason != "ok" for r in rows)  # accepted decisions are no refusal
    one = await daily_refusals(session, period=PERIOD, level=Level(level), commune_id=world.die)
    assert sum(r.count for r in one) == sum(
        count for key, count in world.refusals("site").items() if key[1] == world.die
    )


async def test_sessions_open_now(session: AsyncSession, region: Region, hasher: PasswordHasher) -> None:
    world = await seed(session, region, hasher)
    expected = world.open_now()
    by_site = await open_sessions(session, level=Level.SITE)
    assert Counter({(c.place.commune_id, c.place.site_id): c.sessions for c in by_site}) == expected
    by_commune = await open_sessions(session, level=Level.COMMUNE)
    assert {c.place.commune_id: c.sessions for c in by_commune} == {
        commune: sum(n for (c, _), n in expected.items() if c == commune) for commune, _ in expected
    }
    (everything,) = await open_sessions(session, level=Level.REGION)
    assert everything.sessions == sum(expected.values())
    die = await open_sessions(session, level=Level.SITE, commune_id=world.die)
    assert [(c.place.site_id, c.sessions) for c in die] == [
        (world.square, expected[(world.die, world.square)])
    ]


async def test_authentications_per_minute_over_the_last_hour(
    session: AsyncSession, region: Region, hasher: PasswordHasher
) -> None:
    world = await seed(session, region, hasher)
    minutes = await authentications_per_minute(session, now=NOW)
    assert len(minutes) == 60
    assert {m.start: (m.accepted, m.refused) for m in minutes} == world.minutes()
    assert minutes[0].start == NOW.replace(second=0).replace(hour=11)  # 11:00, the hour's first whole minute
    assert sum(m.accepted + m.refused for m in minutes) >= 1  # the decision at 11:00:00 at least
    die = await authentications_per_minute(session, now=NOW, commune_id=world.die)
    expected: Counter[tuple[datetime, bool]] = Counter()
    for d in world.decisions:
        minute = d.when.replace(second=0, microsecond=0)
        if d.site == world.square and NOW.replace(second=0, hour=11) <= minute < NOW.replace(second=0):
            expected[minute, d.accepted] += 1
    assert {(m.start, True): m.accepted for m in die if m.accepted} | {
        (m.start, False): m.refused for m in die if m.refused
    } == dict(expected)


def test_a_period_is_bounded() -> None:
    assert len(Period(first=date(2024, 1, 1), last=date(2024, 12, 31)).days()) == MAX_DAYS
    with pytest.raises(InvalidInput):
        Period(first=date(2024, 1, 1), last=date(2025, 1, 1))
    with pytest.raises(InvalidInput):
        Period(first=date(2024, 1, 2), last=date(2024, 1, 1))
