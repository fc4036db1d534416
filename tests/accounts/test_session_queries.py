"""Accounting sessions (radacct) read back: the devices an account has online, today's usage in a
commune, listing and paging, and the sessions past a daily limit.

The database tests run on SQLite and on PostgreSQL; the sessions are written as :class:`Usage`
records (test_sessions.py checks how they are recorded).
"""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.errors import InvalidInput, NotFound
from accounts.models import AccountingSession, Region
from accounts.passwords import PasswordHasher
from accounts.sessions import (
    DailyUsage,
    SessionFilter,
    apply_usage,
    devices_in_use,
    get_session,
    list_sessions,
    open_devices,
    open_places,
    sessions_over_limits,
    usage_since,
)
from tests.accounts.records import INTERIM, START, STOP, T0, add_accounts, add_places, at, rec, stored


async def test_open_devices_of_accounts(
    session: AsyncSession, region: Region, hasher: PasswordHasher
) -> None:
    alice, bob, carol = await add_accounts(session, region, hasher, "alice", "bob", "carol")
    phone, laptop = "02:00:5e:00:00:01", "02:00:5e:00:00:02"
    await apply_usage(
        session,
        [
            rec(START, "a1", account_id=alice, device_mac=phone),
            rec(START, "a2", account_id=alice, device_mac=laptop),
            rec(START, "a3", account_id=alice, device_mac=None),
            rec(START, "a4", account_id=alice, device_mac=phone, nasipaddress="192.0.2.2"),  # roaming
            rec(START, "a5", account_id=alice, device_mac="02:00:5e:00:00:03"),
            rec(STOP, "a5", when=at(1), acctsessiontime=60, account_id=alice, device_mac="02:00:5e:00:00:03"),
            rec(START, "c1", account_id=carol, device_mac="02:00:5e:00:00:04"),
            rec(START, "anonymous", account_id=None, device_mac="02:00:5e:00:00:05"),
        ],
    )
    found = await open_devices(session, account_ids=[bob, alice, alice])
    assert set(found) == {alice, bob}
    assert sorted(found[alice], key=str) == sorted([phone, laptop, None, phone], key=str)
    assert found[bob] == []
    assert await open_devices(session, account_ids=[]) == {}
    assert devices_in_use(found[alice], this_device=phone) == 2  # the laptop and the unknown one
    assert devices_in_use(found[alice], this_device="02:00:5e:00:00:09") == 3


async def test_usage_since_sums_one_commune(
    session: AsyncSession, region: Region, hasher: PasswordHasher
) -> None:
    valence, library, _, die, square = await add_places(session, region)
    alice, bob = await add_accounts(session, region, hasher, "alice", "bob")
    in_valence = {"account_id": alice, "commune_id": valence.id, "site_id": library.id}
    await apply_usage(
        session,
        [
            rec(STOP, "yesterday", when=at(-600), acctsessiontime=3600, acctinputoctets=10**6, **in_valence),
            rec(
                STOP,
                "morning",
                when=at(30),
                acctsessiontime=1800,
                acctinputoctets=100,
                acctoutputoctets=200,
                **in_valence,
            ),
            rec(
                INTERIM,
                "now",
                when=at(60),
                acctsessiontime=600,
                acctinputoctets=1,
                acctoutputoctets=2,
                **in_valence,
            ),
            rec(
                STOP,
                "in-die",
                when=at(30),
                acctsessiontime=999,
                acctinputoctets=999,
                account_id=alice,
                commune_id=die.id,
            ),
            rec(STOP, "bobs", when=at(30), acctsessiontime=999, account_id=bob, commune_id=valence.id),
            rec(STOP, "nowhere", when=at(30), acctsessiontime=7, acctoutputoctets=3, account_id=alice),
        ],
    )
    assert await usage_since(session, account_id=alice, commune_id=valence.id, since=T0) == DailyUsage(
        seconds=2400, octets=303
    )
    assert await usage_since(session, account_id=alice, commune_id=die.id, since=T0) == DailyUsage(999, 999)
    assert await usage_since(session, account_id=alice, commune_id=None, since=T0) == DailyUsage(7, 3)
    assert await usage_since(session, account_id=alice, commune_id=square.id, since=T0) == DailyUsage(0, 0)
    assert (
        await usage_since(session, account_id=alice, commune_id=valence.id, since=at(-24 * 60))
    ).seconds == 6000


async def test_list_sessions_filters_and_pages(
    session: AsyncSession, region: Region, hasher: PasswordHasher
) -> None:
    valence, library, town_hall, die, square = await add_places(session, region)
    alice, bob = await add_accounts(session, region, hasher, "alice", "bob")
    lib = {"commune_id": valence.id, "site_id": library.id}
    await apply_usage(
        session,
        [
            rec(START, "a-open", when=at(50), account_id=alice, **lib),
            rec(STOP, "a-closed", when=at(20), acctsessiontime=600, account_id=alice, **lib),  # 10 → 20
            rec(START, "b-hall", when=at(40), account_id=bob, commune_id=valence.id, site_id=town_hall.id),
            rec(
                STOP,
                "b-die",
                when=at(5),
                acctsessiontime=300,
                account_id=bob,
                commune_id=die.id,
                site_id=square.id,
            ),
            rec(START, "anonymous", when=at(30), **lib),
        ],
    )

    async def ids(where: SessionFilter = SessionFilter(), **paging: int) -> list[str]:
        return [s.acctuniqueid for s in await list_sessions(session, where, **paging)]

    assert await ids() == ["a-open", "b-hall", "anonymous", "a-closed", "b-die"]  # most recent first
    assert await ids(SessionFilter(open_only=True)) == ["a-open", "b-hall", "anonymous"]
    assert await ids(SessionFilter(account_id=alice)) == ["a-open", "a-closed"]
    assert await ids(SessionFilter(site_id=library.id)) == ["a-open", "anonymous", "a-closed"]
    assert await ids(SessionFilter(commune_id=valence.id)) == ["a-open", "b-hall", "anonymous", "a-closed"]
    assert await ids(SessionFilter(commune_id=die.id)) == ["b-die"]
    assert await ids(SessionFilter(account_id=bob, open_only=True)) == ["b-hall"]
    # since/until select the sessions that overlap [since, until)
    assert await ids(SessionFilter(since=at(15))) == ["a-open", "b-hall", "anonymous", "a-closed"]
    assert await ids(SessionFilter(since=at(21))) == ["a-open", "b-hall", "anonymous"]
    assert await ids(SessionFilter(until=at(30))) == ["a-closed", "b-die"]
    assert await ids(SessionFilter(since=at(3), until=at(10))) == ["b-die"]
    assert await ids(SessionFilter(since=at(15), until=at(45), site_id=library.id)) == [
        "anonymous",
        "a-closed",
    ]
    assert await ids(limit=2) == ["a-open", "b-hall"]
    assert await ids(limit=2, offset=2) == ["anonymous", "a-closed"]
    assert await ids(limit=2, offset=4) == ["b-die"]
    assert await ids(offset=5) == []
    assert len(await ids(limit=10_000)) == 5
    for limit, offset in ((0, 0), (10_001, 0), (100, -1), (-5, 0)):
        with pytest.raises(InvalidInput):
            await ids(limit=limit, offset=offset)


async def test_get_session(session: AsyncSession) -> None:
    await apply_usage(session, [rec(START, "u1", username="alice")])
    row = await stored(session, "u1")
    assert (await get_session(session, row.radacctid)).username == "alice"
    with pytest.raises(NotFound):
        await get_session(session, row.radacctid + 1000)


# -- daily limits ---------------------------------------------------------------------------------


async def test_sessions_over_limits_and_open_places(
    session: AsyncSession, region: Region, hasher: PasswordHasher
) -> None:
    valence, library, town_hall, die, square = await add_places(session, region)
    alice, bob, carol, dave, eve, frank = await add_accounts(
        session, region, hasher, "alice", "bob", "carol", "dave", "eve", "frank"
    )
    lib = {"commune_id": valence.id, "site_id": library.id}
    hall = {"commune_id": valence.id, "site_id": town_hall.id}
    gib = 2**30
    await apply_usage(
        session,
        [
            # alice: 3000 s earlier today at the hall, 700 s now at the library → past one hour in Valence
            rec(STOP, "alice-earlier", when=at(50), acctsessiontime=3000, account_id=alice, **hall),
            rec(INTERIM, "alice-now", when=at(70), acctsessiontime=700, account_id=alice, **lib),
            rec(INTERIM, "alice-hall", when=at(70), acctsessiontime=10, account_id=alice, **hall),
            # bob: few seconds but 6 GiB (past the hall's byte limit; the library has none)
            rec(
                INTERIM,
                "bob-hall",
                when=at(70),
                acctsessiontime=60,
                acctinputoctets=6 * gib,
                account_id=bob,
                **hall,
            ),
            rec(INTERIM, "bob-lib", when=at(70), acctsessiontime=60, account_id=bob, **lib),
            # carol: past the limit but already asked to leave
            rec(INTERIM, "carol", when=at(70), acctsessiontime=4000, account_id=carol, **lib),
            # dave: under every limit
            rec(
                INTERIM, "dave", when=at(70), acctsessiontime=100, acctinputoctets=gib, account_id=dave, **lib
            ),
            # eve: much used, but in Die, which has no limit
            rec(
                INTERIM,
                "eve",
                when=at(70),
                acctsessiontime=10**5,
                acctinputoctets=10**12,
                account_id=eve,
                commune_id=die.id,
                site_id=square.id,
            ),
            # frank: a long session yesterday does not count today
            rec(STOP, "frank-yesterday", when=at(-60), acctsessiontime=10**4, account_id=frank, **lib),
            rec(INTERIM, "frank", when=at(70), acctsessiontime=10, account_id=frank, **lib),
            rec(INTERIM, "anonymous", when=at(70), acctsessiontime=10**5, **lib),
        ],
    )
    carols = (await stored(session, "carol")).radacctid
    await session.execute(
        update(AccountingSession)
        .where(AccountingSession.radacctid == carols)
        .values(disconnect_requested_at=at(71))
    )
    places = await open_places(session)
    assert sorted(places, key=str) == sorted(
        [(valence.id, library.id), (valence.id, town_hall.id), (die.id, square.id)], key=str
    )
    limits: dict[tuple[int | None, int | None], tuple[int | None, int | None]] = {
        (valence.id, library.id): (3600, None),
        (valence.id, town_hall.id): (3600, 5 * gib),
        (die.id, square.id): (None, None),
    }
    over = await sessions_over_limits(session, since=T0, limits=limits)
    by_id = {s.radacctid: s.acctuniqueid for s in await list_sessions(session, SessionFilter())}
    assert sorted(by_id[i] for i in over) == ["alice-hall", "alice-now", "bob-hall"]
    assert await sessions_over_limits(session, since=T0, limits={(valence.id, library.id): (0, 0)}) == []
    assert await sessions_over_limits(session, since=T0, limits={}) == []
    # a session known only by its commune (no site): limits keyed (commune, None) find it
    await apply_usage(
        session, [rec(START, "alice-nowhere", when=at(71), account_id=alice, commune_id=valence.id)]
    )
    assert (valence.id, None) in await open_places(session)
    over = await sessions_over_limits(session, since=T0, limits={(valence.id, None): (3600, None)})
    assert over == [(await stored(session, "alice-nowhere")).radacctid]
