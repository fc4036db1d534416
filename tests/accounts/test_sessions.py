"""Accounting sessions (radacct) recorded: rows of records, their merging, retransmissions and late
records, and the sessions an access point's reboot or silence closes (test_session_queries.py reads
them back).

The database tests run on SQLite and on PostgreSQL. Records are written as :class:`Usage` values
directly: decoding Accounting-Requests is the RADIUS package's business, not this one's.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import AccountingSession, Region
from accounts.passwords import PasswordHasher
from accounts.sessions import (
    DailyUsage,
    StatusType,
    Usage,
    apply_usage,
    close_nas_sessions,
    close_stale_sessions,
    devices_in_use,
    merge,
    row_of,
    usage_since,
)
from tests.accounts.records import INTERIM, NAS_IP, START, STOP, T0, add_accounts, at, nas_event, rec, stored


async def _rows(session: AsyncSession) -> dict[str, dict[str, Any]]:
    """Every stored session, column by column, by acctuniqueid."""
    result = await session.execute(select(AccountingSession.__table__))
    return {r["acctuniqueid"]: dict(r) for r in result.mappings()}


async def _count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(AccountingSession)) or 0)


def _comparable(row: dict[str, Any]) -> dict[str, Any]:
    """A row without what names it, to compare two sessions fed the same records."""
    return {k: v for k, v in row.items() if k not in {"radacctid", "acctuniqueid", "acctsessionid"}}


async def _apply_each(session: AsyncSession, records: Sequence[Usage]) -> None:
    for record in records:
        await apply_usage(session, [record])


def _as(uid: str, records: Sequence[Usage]) -> list[Usage]:
    return [replace(r, acctuniqueid=uid, acctsessionid=f"sess-{uid}") for r in records]


# -- row_of / merge / devices_in_use (no database) ------------------------------------------------


def test_row_of_a_start() -> None:
    row = row_of(
        rec(
            START,
            when=at(0),
            acctsessiontime=5,
            connectinfo="802.11ax",
            acctterminatecause="User-Request",
            class_="sesame:1",
            acctinterval=300,
        )
    )
    assert row["acctstarttime"] == at(0)  # a Start's own time, not minus Acct-Session-Time
    assert row["acctupdatetime"] == at(0)
    assert row["acctstoptime"] is None
    assert row["acctterminatecause"] is None  # a cause means nothing before a Stop
    assert (row["connectinfo_start"], row["connectinfo_stop"]) == ("802.11ax", None)
    assert (row["class_"], row["acctinterval"], row["acctsessionid"]) == ("sesame:1", 300, "sess-u1")
    assert "status" not in row and "event_time" not in row and "connectinfo" not in row


def test_row_of_an_interim_estimates_its_start() -> None:
    row = row_of(rec(INTERIM, when=at(10), acctsessiontime=600, connectinfo="x", acctinputoctets=7))
    assert (row["acctstarttime"], row["acctupdatetime"], row["acctstoptime"]) == (at(0), at(10), None)
    assert (row["connectinfo_start"], row["connectinfo_stop"], row["acctinputoctets"]) == (None, None, 7)


def test_row_of_a_stop() -> None:
    row = row_of(
        rec(STOP, when=at(30), acctsessiontime=1200, acctterminatecause="Idle-Timeout", connectinfo="ax")
    )
    assert (row["acctstarttime"], row["acctupdatetime"], row["acctstoptime"]) == (at(10), at(30), at(30))
    assert (row["acctterminatecause"], row["connectinfo_start"], row["connectinfo_stop"]) == (
        "Idle-Timeout",
        None,
        "ax",
    )


def test_merge_keeps_the_first_start_the_largest_counters_and_the_latest_addresses() -> None:
    start = row_of(
        rec(START, when=at(0), username="alice", connectinfo="ax", framedipaddress="10.0.0.5", account_id=1)
    )
    interim = row_of(
        rec(
            INTERIM,
            when=at(10),
            username="other",
            acctsessiontime=590,  # the estimate (at(0) + 10 s) must not replace the Start's time
            acctinputoctets=100,
            acctoutputoctets=900,
            framedipaddress="10.0.0.6",
            framedipv6address="2001:db8::6",
            account_id=2,
        )
    )
    late = row_of(rec(INTERIM, when=at(5), acctsessiontime=300, acctinputoctets=50, acctoutputoctets=400))
    merged = merge(merge(start, interim), late)
    assert merged["acctstarttime"] == at(0)
    assert merged["acctupdatetime"] == at(10)  # a late record does not move it back
    assert (merged["acctsessiontime"], merged["acctinputoctets"], merged["acctoutputoctets"]) == (
        590,
        100,
        900,
    )
    assert (merged["username"], merged["account_id"], merged["connectinfo_start"]) == ("alice", 1, "ax")
    assert (merged["framedipaddress"], merged["framedipv6address"]) == ("10.0.0.6", "2001:db8::6")
    assert merged["acctstoptime"] is None
    assert start["acctinputoctets"] == 0  # merge does not change its arguments


def test_merge_closes_with_a_stop_and_then_ignores_everything() -> None:
    start = row_of(rec(START, when=at(0), connectinfo="ax"))
    stop = row_of(
        rec(STOP, when=at(20), acctsessiontime=1200, acctterminatecause="User-Request", connectinfo="ax2")
    )
    closed = merge(start, stop)
    assert (closed["acctstarttime"], closed["acctstoptime"], closed["acctsessiontime"]) == (
        at(0),
        at(20),
        1200,
    )
    assert (closed["acctterminatecause"], closed["connectinfo_start"], closed["connectinfo_stop"]) == (
        "User-Request",
        "ax",
        "ax2",
    )
    after = row_of(rec(INTERIM, when=at(30), acctsessiontime=1800, acctinputoctets=10**9))
    assert merge(closed, after) == closed
    assert merge(closed, row_of(rec(START, when=at(40)))) == closed


def test_devices_in_use_counts_other_devices_once_and_every_unknown_one() -> None:
    a, b = "02:00:5e:00:00:0a", "02:00:5e:00:00:0b"
    assert devices_in_use([], this_device=a) == 0
    assert devices_in_use([a], this_device=a) == 0  # the same device reconnecting
    assert devices_in_use([a, a, b], this_device=a) == 1
    assert devices_in_use([b, b], this_device=a) == 1  # one device at two access points
    assert devices_in_use([None, None, b], this_device=a) == 3  # unknown MACs each count
    assert devices_in_use([a, b, None], this_device=None) == 3


# -- recording ------------------------------------------------------------------------------------

_SESSION = {"username": "alice", "callingstationid": "02-00-5E-10-00-01", "class_": "sesame:1"}
_LIFE = [
    rec(START, when=at(0), connectinfo="802.11ax", framedipaddress="10.0.0.5", acctinterval=300, **_SESSION),
    # the NAS counts from the end of authentication: its estimates come a few seconds after the Start
    rec(INTERIM, when=at(5), acctsessiontime=290, acctinputoctets=1000, acctoutputoctets=5000, **_SESSION),
    rec(
        STOP,
        when=at(10),
        acctsessiontime=590,
        acctinputoctets=2000,
        acctoutputoctets=9000,
        acctterminatecause="User-Request",
        connectinfo="802.11ax 600Mbps",
        **_SESSION,
    ),
]


@pytest.mark.parametrize("batches", [[[0], [1], [2]], [[0, 1, 2]], [[0, 1], [2]]], ids=["each", "one", "two"])
async def test_start_interim_stop_make_one_closed_session(
    session: AsyncSession, batches: list[list[int]]
) -> None:
    for batch in batches:
        await apply_usage(session, [_LIFE[i] for i in batch])
    assert await _count(session) == 1
    row = await stored(session, "u1")
    assert (row.acctstarttime, row.acctupdatetime, row.acctstoptime) == (at(0), at(10), at(10))
    assert (row.acctsessiontime, row.acctinputoctets, row.acctoutputoctets) == (590, 2000, 9000)
    assert row.acctterminatecause == "User-Request"
    assert (row.connectinfo_start, row.connectinfo_stop) == ("802.11ax", "802.11ax 600Mbps")
    assert (row.username, row.callingstationid, row.class_) == ("alice", "02-00-5E-10-00-01", "sesame:1")
    assert (row.acctsessionid, row.nasipaddress, row.framedipaddress, row.acctinterval) == (
        "sess-u1",
        NAS_IP,
        "10.0.0.5",
        300,
    )
    assert row.acctstarttime is not None and row.acctstarttime.tzinfo is not None


@pytest.mark.parametrize("k", [0, 1, 2], ids=["start", "interim", "stop"])
async def test_a_retransmitted_record_changes_nothing(session: AsyncSession, k: int) -> None:
    life = _LIFE[: k + 1]
    await apply_usage(session, life)
    before = await _rows(session)
    await apply_usage(session, [_LIFE[k]])  # in a later batch
    await apply_usage(session, [_LIFE[k], _LIFE[k]])  # twice in one batch
    assert await _rows(session) == before
    await apply_usage(session, _as("u2", [*life, _LIFE[k]]))  # repeated inside the first batch
    await _apply_each(session, _as("u3", [*life, _LIFE[k]]))  # repeated, one record per batch
    after = await _rows(session)
    assert _comparable(after["u2"]) == _comparable(after["u3"]) == _comparable(before["u1"])


@pytest.mark.parametrize("together", [True, False], ids=["one-batch", "two-batches"])
async def test_a_late_interim_lowers_nothing(session: AsyncSession, together: bool) -> None:
    records = [
        rec(START, when=at(0)),
        rec(INTERIM, when=at(10), acctsessiontime=600, acctinputoctets=6000, acctoutputoctets=60000),
    ]
    late = rec(
        INTERIM,
        when=at(5),
        acctsessiontime=300,
        acctinputoctets=3000,
        acctoutputoctets=30000,
        framedipaddress=None,
    )
    if together:
        await apply_usage(session, [*records, late])
    else:
        await apply_usage(session, records)
        await apply_usage(session, [late])
    row = await stored(session, "u1")
    assert (row.acctsessiontime, row.acctinputoctets, row.acctoutputoctets) == (600, 6000, 60000)
    assert (row.acctstarttime, row.acctupdatetime, row.acctstoptime) == (at(0), at(10), None)


@pytest.mark.parametrize("together", [True, False], ids=["one-batch", "two-batches"])
async def test_nothing_after_a_stop_counts(session: AsyncSession, together: bool) -> None:
    closed = [rec(START, when=at(0), connectinfo="ax"), _LIFE[2]]
    after = [
        rec(INTERIM, when=at(15), acctsessiontime=900, acctinputoctets=10**9, acctoutputoctets=10**9),
        rec(START, when=at(20), connectinfo="another start"),
        rec(STOP, when=at(25), acctsessiontime=1500, acctterminatecause="Lost-Carrier"),
    ]
    await apply_usage(session, closed)
    before = await _rows(session)
    if together:
        await apply_usage(session, _as("u2", [*closed, *after]))
    else:
        await _apply_each(session, after)
        await _apply_each(session, _as("u2", [*closed, *after]))
    rows = await _rows(session)
    assert rows["u1"] == before["u1"]
    assert _comparable(rows["u2"]) == _comparable(before["u1"])
    assert rows["u1"]["acctstoptime"] == at(10) and rows["u1"]["acctterminatecause"] == "User-Request"


async def test_a_stop_without_start_makes_a_closed_session(session: AsyncSession) -> None:
    await apply_usage(
        session,
        [
            rec(
                STOP,
                when=at(60),
                acctsessiontime=1800,
                acctinputoctets=5,
                acctterminatecause="Session-Timeout",
            )
        ],
    )
    row = await stored(session, "u1")
    assert (row.acctstarttime, row.acctupdatetime, row.acctstoptime) == (at(30), at(60), at(60))
    assert (row.acctsessiontime, row.acctinputoctets, row.acctterminatecause) == (1800, 5, "Session-Timeout")


async def test_an_interim_without_start_makes_an_open_session(session: AsyncSession) -> None:
    await apply_usage(session, [rec(INTERIM, when=at(60), acctsessiontime=600, acctoutputoctets=9)])
    row = await stored(session, "u1")
    assert (row.acctstarttime, row.acctupdatetime, row.acctstoptime) == (at(50), at(60), None)
    assert (row.acctoutputoctets, row.acctterminatecause, row.connectinfo_start) == (9, None, None)
    # the Start, late, fills what only it knows; the start time already known is kept
    await apply_usage(session, [rec(START, when=at(50), connectinfo="802.11ac")])
    row = await stored(session, "u1")
    assert (row.acctstarttime, row.acctupdatetime, row.connectinfo_start) == (at(50), at(60), "802.11ac")
    assert row.acctoutputoctets == 9


async def test_times_in_another_zone_are_stored_in_utc(session: AsyncSession) -> None:
    paris = timezone(timedelta(hours=1))
    await apply_usage(session, [rec(START, when=datetime(2025, 3, 14, 10, 0, tzinfo=paris))])
    row = await stored(session, "u1")
    assert (
        row.acctstarttime == T0
        and row.acctstarttime is not None
        and row.acctstarttime.utcoffset() == timedelta(0)
    )


async def test_64_bit_counters_are_kept_and_summed(
    session: AsyncSession, region: Region, hasher: PasswordHasher
) -> None:
    (alice,) = await add_accounts(session, region, hasher, "alice")
    big = 2**32
    who: dict[str, Any] = {"account_id": alice, "commune_id": None}
    await apply_usage(session, [rec(START, when=at(0), **who)])
    await apply_usage(
        session,
        [
            rec(
                INTERIM,
                when=at(5),
                acctsessiontime=300,
                acctinputoctets=big + 5,
                acctoutputoctets=3 * big,
                **who,
            )
        ],
    )
    await apply_usage(
        session,
        [
            rec(
                INTERIM,
                when=at(10),
                acctsessiontime=600,
                acctinputoctets=5 * big + 1,
                acctoutputoctets=2**40,
                **who,
            )
        ],
    )
    # a late one, still above 2**32 but below what is stored: compared as 64-bit integers
    await apply_usage(
        session,
        [
            rec(
                INTERIM,
                when=at(7),
                acctsessiontime=420,
                acctinputoctets=4 * big,
                acctoutputoctets=2**39,
                **who,
            )
        ],
    )
    row = await stored(session, "u1")
    assert (row.acctinputoctets, row.acctoutputoctets) == (5 * big + 1, 2**40)
    await apply_usage(session, [rec(START, "u2", when=at(20), acctinputoctets=2**62, **who)])
    used = await usage_since(session, account_id=alice, commune_id=None, since=T0)
    assert used == DailyUsage(seconds=600, octets=5 * big + 1 + 2**40 + 2**62)


async def test_large_batches_are_written_in_chunks(session: AsyncSession) -> None:
    n = 1234
    await apply_usage(session, [rec(START, f"s{i}", when=at(0), username=f"user{i}") for i in range(n)])
    assert await _count(session) == n
    await apply_usage(
        session, [rec(INTERIM, f"s{i}", when=at(5), acctsessiontime=300, acctinputoctets=i) for i in range(n)]
    )
    total = await session.scalar(select(func.sum(AccountingSession.acctinputoctets)))
    assert int(total or 0) == n * (n - 1) // 2
    assert (await stored(session, f"s{n - 1}")).username == f"user{n - 1}"


# -- Accounting-On / Accounting-Off, stale sessions -------------------------------------------------


@pytest.mark.parametrize("status", [StatusType.ACCOUNTING_ON, StatusType.ACCOUNTING_OFF])
async def test_a_nas_rebooting_closes_its_sessions_started_before(
    session: AsyncSession, status: StatusType
) -> None:
    here = {"nas_id": 1, "nasipaddress": NAS_IP}
    await apply_usage(
        session,
        [
            rec(START, "old", when=at(0), **here),
            rec(INTERIM, "old", when=at(5), acctsessiontime=300, acctinputoctets=77, **here),
            rec(START, "recent", when=at(9), **here),
            rec(START, "done", when=at(1), **here),
            rec(STOP, "done", when=at(2), acctsessiontime=60, acctterminatecause="User-Request", **here),
            rec(START, "later", when=at(12), **here),  # its Start came before the (delayed) On
            rec(START, "other-nas", when=at(0), nas_id=2, nasipaddress="192.0.2.2"),
            # the same NAS entry (a controller's subnet) but another address: another device
            rec(START, "other-address", when=at(0), nas_id=1, nasipaddress="10.1.0.8"),
            rec(START, "unknown-nas", when=at(0), nas_id=None, nasipaddress=NAS_IP),
        ],
    )
    before = await _rows(session)
    await apply_usage(session, [nas_event(status, nas_id=1, nasipaddress=NAS_IP, when=at(10))])
    rows = await _rows(session)
    for uid in ("old", "recent"):
        assert (rows[uid]["acctstoptime"], rows[uid]["acctupdatetime"], rows[uid]["acctterminatecause"]) == (
            at(10),
            at(10),
            "NAS-Reboot",
        )
    assert rows["old"]["acctinputoctets"] == 77 and rows["old"]["acctstarttime"] == at(0)
    for uid in ("done", "later", "other-nas", "other-address", "unknown-nas"):
        assert rows[uid] == before[uid], uid
    assert await _count(session) == len(before)  # the event itself is no session


async def test_close_nas_sessions_reports_how_many(session: AsyncSession) -> None:
    await apply_usage(session, [rec(START, f"s{i}", when=at(i), nas_id=3) for i in range(4)])
    assert (
        await close_nas_sessions(session, nas_id=3, nasipaddress=NAS_IP, at=at(2)) == 3
    )  # started at or before
    assert await close_nas_sessions(session, nas_id=3, nasipaddress=NAS_IP, at=at(2)) == 0
    assert (await stored(session, "s3")).acctstoptime is None


async def test_a_reboot_inside_a_batch_is_applied_in_order(session: AsyncSession) -> None:
    here = {"nas_id": 1, "nasipaddress": NAS_IP}
    await apply_usage(
        session,
        [
            rec(START, "before", when=at(0), **here),
            rec(INTERIM, "before", when=at(5), acctsessiontime=300, acctinputoctets=50, **here),
            nas_event(StatusType.ACCOUNTING_ON, nas_id=1, nasipaddress=NAS_IP, when=at(6)),
            rec(START, "after", when=at(7), **here),
            rec(INTERIM, "before", when=at(8), acctsessiontime=480, acctinputoctets=80, **here),  # too late
            rec(INTERIM, "after", when=at(8), acctsessiontime=60, acctinputoctets=8, **here),
        ],
    )
    before, after = await stored(session, "before"), await stored(session, "after")
    assert (before.acctstoptime, before.acctterminatecause, before.acctinputoctets) == (
        at(6),
        "NAS-Reboot",
        50,
    )
    assert (after.acctstoptime, after.acctstarttime, after.acctupdatetime, after.acctinputoctets) == (
        None,
        at(7),
        at(8),
        8,
    )


async def test_stale_sessions_end_at_their_last_record(session: AsyncSession) -> None:
    await apply_usage(
        session,
        [
            rec(START, "silent", when=at(0)),
            rec(INTERIM, "silent", when=at(10), acctsessiontime=600),
            rec(START, "alive", when=at(0)),
            rec(INTERIM, "alive", when=at(30), acctsessiontime=1800),
            rec(START, "closed", when=at(0)),
            rec(STOP, "closed", when=at(5), acctsessiontime=300, acctterminatecause="User-Request"),
            rec(START, "just-started", when=at(19)),
        ],
    )
    before = await _rows(session)
    assert await close_stale_sessions(session, silent_since=at(20)) == 2
    rows = await _rows(session)
    for uid, last in (("silent", at(10)), ("just-started", at(19))):
        assert (rows[uid]["acctstoptime"], rows[uid]["acctterminatecause"]) == (last, "Stale-Session"), uid
        assert rows[uid]["acctupdatetime"] == last
    assert rows["alive"] == before["alive"] and rows["closed"] == before["closed"]
    assert await close_stale_sessions(session, silent_since=at(20)) == 0
