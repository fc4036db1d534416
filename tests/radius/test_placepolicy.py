"""Policies per place and what counts against their limits, on SQLite and PostgreSQL: a place's
policy and the open sessions are those of the last poll; today's usage counts from local midnight,
in the commune; the sessions past a daily limit are those of the places that have one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker

from accounts import network, policies, sessions
from accounts.models import AccountingSession, Commune, Site
from accounts.passwords import PasswordHasher
from accounts.policies import Policy
from accounts.sessions import DailyUsage, StatusType, Usage
from radius.placepolicy import PlacePolicies
from sesame.db import create_sessionmaker, unit_of_work
from tests.radius.conftest import Home, add_account

#: 14:00 in Paris: the day there began at 2024-06-30 22:00 UTC
NOW = datetime(2024, 7, 1, 12, 0, tzinfo=UTC)


def _places(engine: AsyncEngine, defaults: Policy | None = None) -> PlacePolicies:
    return PlacePolicies(sessions=create_sessionmaker(engine), defaults=defaults or Policy())


async def _second_site(engine: AsyncEngine, home: Home) -> int:
    async with unit_of_work(create_sessionmaker(engine)) as session:
        commune = await session.get_one(Commune, home.commune_id)
        return (await network.add_site(session, commune=commune, name="Gare")).id


async def _set_policy(
    engine: AsyncEngine, *, commune_id: int | None = None, site_id: int | None = None, **values: int | None
) -> None:
    async with unit_of_work(create_sessionmaker(engine)) as session:
        commune = await session.get_one(Commune, commune_id) if commune_id is not None else None
        site = await session.get_one(Site, site_id) if site_id is not None else None
        await policies.set_policy(session, values=values, commune=commune, site=site)


async def _account(engine: AsyncEngine, *records: Usage) -> None:
    """Writes the accounting records as the RADIUS server would (one transaction)."""
    async with unit_of_work(create_sessionmaker(engine)) as session:
        await sessions.apply_usage(session, records)


def _usage(
    uid: str,
    *,
    account_id: int,
    place: tuple[int, int],
    seconds: int = 0,
    when: datetime = NOW,
    status: StatusType = StatusType.INTERIM_UPDATE,
    mac: str | None = None,
) -> Usage:
    commune_id, site_id = place
    return Usage(status=status, acctuniqueid=uid, acctsessionid=uid, nasipaddress="192.0.2.1",
                 event_time=when, account_id=account_id, acctsessiontime=seconds, commune_id=commune_id,
                 site_id=site_id, device_mac=mac)  # fmt: skip


async def test_a_place_has_its_site_s_policy_over_its_commune_s_over_the_defaults_as_last_polled(
    engine: AsyncEngine, home: Home
) -> None:
    gare = await _second_site(engine, home)
    places = _places(engine, Policy(session_timeout=3600, idle_timeout=600))
    await _set_policy(engine, commune_id=home.commune_id, session_timeout=1800)
    await _set_policy(engine, site_id=home.site_id, idle_timeout=60)
    assert places.policy(commune_id=home.commune_id, site_id=home.site_id) == Policy(
        session_timeout=3600, idle_timeout=600
    )  # not polled yet
    await places.refresh()
    assert places.policy(commune_id=home.commune_id, site_id=home.site_id) == Policy(
        session_timeout=1800, idle_timeout=60
    )
    assert places.policy(commune_id=home.commune_id, site_id=gare) == Policy(
        session_timeout=1800, idle_timeout=600
    )
    assert places.policy(commune_id=None, site_id=None) == Policy(session_timeout=3600, idle_timeout=600)
    await _set_policy(engine, site_id=home.site_id, idle_timeout=None, simultaneous_use=1)
    assert places.policy(commune_id=home.commune_id, site_id=home.site_id).idle_timeout == 60  # as polled
    await places.refresh()
    assert places.policy(commune_id=home.commune_id, site_id=home.site_id) == Policy(
        session_timeout=1800, idle_timeout=600, simultaneous_use=1
    )


async def test_open_devices_for_simultaneous_use_come_from_the_last_poll(
    engine: AsyncEngine, home: Home
) -> None:
    places = _places(engine)
    here = (home.commune_id, home.site_id)

    def record(uid: str, status: StatusType, mac: str | None) -> Usage:
        return _usage(uid, account_id=home.alice, place=here, status=status, mac=mac)

    await _account(
        engine, record("a", StatusType.START, "02:00:00:00:00:01"), record("b", StatusType.START, None)
    )
    assert places.open_devices(home.alice) == []  # not polled yet: no query on the accept path
    await places.refresh()
    assert sorted(places.open_devices(home.alice), key=str) == ["02:00:00:00:00:01", None]
    await _account(engine, record("a", StatusType.STOP, "02:00:00:00:00:01"))
    await places.refresh()
    assert places.open_devices(home.alice) == [None]
    assert places.open_devices(home.alice + 1) == []


async def test_usage_today_and_the_sessions_past_a_daily_limit_follow_each_place_s_policy(
    engine: AsyncEngine, hasher: PasswordHasher, home: Home
) -> None:
    """The limit is the site's; what counts against it is the account's day in the whole commune."""
    gare = await _second_site(engine, home)
    here, there = (home.commune_id, home.site_id), (home.commune_id, gare)
    bob, carol = await add_account(engine, hasher, "bob"), await add_account(engine, hasher, "carol")
    await _set_policy(engine, site_id=home.site_id, daily_time_limit=3600)
    yesterday = datetime(2024, 6, 30, 21, 0, tzinfo=UTC)  # 23:00 in Paris
    await _account(
        engine,
        _usage("alice-here", account_id=home.alice, place=here, seconds=1800),
        _usage("alice-there", account_id=home.alice, place=there, seconds=1900),  # no limit there
        _usage("bob-here", account_id=bob, place=here, seconds=600),
        _usage("carol-yesterday", account_id=carol, place=here, seconds=3000, when=yesterday),
        _usage("carol-here", account_id=carol, place=here, seconds=700),
    )
    places = _places(engine)
    assert await places.sessions_over_limits(now=NOW) == []  # not polled yet: the defaults have none
    await places.refresh()
    async with create_sessionmaker(engine)() as session:
        alice_here = await session.scalar(
            select(AccountingSession.radacctid).where(AccountingSession.acctuniqueid == "alice-here")
        )
    assert await places.sessions_over_limits(now=NOW) == [alice_here]
    assert await places.usage_today(account_id=home.alice, commune_id=home.commune_id, now=NOW) == DailyUsage(
        3700, 0
    )
    assert await places.usage_today(account_id=carol, commune_id=home.commune_id, now=NOW) == DailyUsage(
        700, 0
    )
    assert await places.usage_today(account_id=carol, commune_id=None, now=NOW) == DailyUsage(0, 0)


async def test_silent_sessions_are_closed_at_their_last_record(engine: AsyncEngine, home: Home) -> None:
    here = (home.commune_id, home.site_id)
    await _account(
        engine,
        _usage("silent", account_id=home.alice, place=here, seconds=60, when=NOW - timedelta(hours=2)),
        _usage("talking", account_id=home.alice, place=here, seconds=60, when=NOW - timedelta(minutes=5)),
    )
    assert await _places(engine).close_stale_sessions(now=NOW, silent_for=timedelta(hours=1)) == 1
    async with create_sessionmaker(engine)() as session:
        rows = {r.acctuniqueid: r for r in (await session.scalars(select(AccountingSession))).all()}
    assert (rows["silent"].acctstoptime, rows["silent"].acctterminatecause) == (
        NOW - timedelta(hours=2),
        "Stale-Session",
    )
    assert rows["talking"].acctstoptime is None


def test_the_day_starts_at_midnight_where_the_region_is() -> None:
    places = PlacePolicies(sessions=async_sessionmaker(), defaults=Policy(), timezone="Europe/Paris")
    assert places.day_start(NOW) == datetime(2024, 6, 30, 22, 0, tzinfo=UTC)  # summer: UTC+2
    assert places.day_start(datetime(2024, 6, 30, 21, 59, tzinfo=UTC)) == datetime(
        2024, 6, 29, 22, 0, tzinfo=UTC
    )
    assert places.day_start(datetime(2024, 1, 15, 23, 30, tzinfo=UTC)) == datetime(
        2024, 1, 15, 23, 0, tzinfo=UTC
    )
    elsewhere = PlacePolicies(sessions=async_sessionmaker(), defaults=Policy(), timezone="America/Cayenne")
    assert elsewhere.day_start(NOW) == datetime(2024, 7, 1, 3, 0, tzinfo=UTC)  # UTC-3
