"""Housekeeping of sessions, through the RADIUS service and a store on SQLite and PostgreSQL: silent
sessions are closed, those over their daily limit disconnected, and one session that cannot be
disconnected (its access point removed, its secret unreadable) does not keep the others running."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts import network
from accounts.disconnect import CoaKind, CoaOutcome, CoaResult, CoaTarget, disconnect_session
from accounts.models import AccountingSession, Site
from accounts.policies import Policy
from accounts.secretbox import SecretBox
from accounts.sessions import StatusType, Usage
from radius.clients import ClientTable
from radius.codec import Codec
from radius.core import PortKind, ServerCore
from radius.server import Housekeeping, RadiusService
from radius.sqlstore import SqlStore
from sesame.db import create_sessionmaker, unit_of_work
from tests.radius.conftest import Home, StoreFactory


def _failed() -> float:
    return REGISTRY.get_sample_value("sesame_sessions_limit_disconnects_total", {"outcome": "failed"}) or 0.0


def _service(codec: Codec, store: SqlStore, housekeeping: Housekeeping) -> RadiusService:
    cores = {kind: ServerCore(kind=kind, clients=ClientTable(), codec_=codec) for kind in PortKind}
    return RadiusService(
        auth=cores[PortKind.AUTH],
        acct=cores[PortKind.ACCT],
        handlers={},
        store=store,
        housekeeping=housekeeping,
    )


async def test_housekeeping_closes_stale_sessions_and_disconnects_those_over_the_daily_limit(
    engine: AsyncEngine, home: Home, make_store: StoreFactory, radius_codec: Codec
) -> None:
    store = await make_store(defaults=Policy(daily_time_limit=3600))
    # Noon of yesterday where the region is: "today" then began 12 h before, whatever the hour the
    # test runs at (with the real clock, a session of 1 h 01 min began yesterday before 01:01).
    now = store.day_start(datetime.now(UTC)) - timedelta(hours=12)

    def usage(uid: str, *, seconds: int, when: datetime, account_id: int | None) -> Usage:
        return Usage(
            status=StatusType.INTERIM_UPDATE,
            acctuniqueid=uid,
            acctsessionid=uid,
            nasipaddress="192.0.2.1",
            event_time=when,
            account_id=account_id,
            acctsessiontime=seconds,
            commune_id=home.commune_id,
            site_id=home.site_id,
        )

    for record in [
        usage("over", seconds=3700, when=now, account_id=home.alice),  # 1 h 01 min today: over
        usage("silent", seconds=60, when=now - timedelta(hours=2), account_id=None),  # no news for 2 h
        usage("fine", seconds=600, when=now, account_id=None),
    ]:
        await store.record_usage(record)
    asked: list[int] = []

    async def disconnect(radacctid: int) -> CoaResult:
        asked.append(radacctid)
        return CoaResult(outcome=CoaOutcome.ACK, detail="ACK")

    service = _service(
        radius_codec, store, Housekeeping(stale_after=timedelta(minutes=16), disconnect=disconnect)
    )
    await service.housekeep(now)
    async with create_sessionmaker(engine)() as session:
        rows = {r.acctuniqueid: r for r in (await session.scalars(select(AccountingSession))).all()}
    assert asked == [rows["over"].radacctid]
    assert rows["silent"].acctterminatecause == "Stale-Session" and rows["silent"].acctstoptime is not None
    assert rows["fine"].acctstoptime is None and rows["over"].acctstoptime is None  # the NAS's Stop closes it


async def test_housekeeping_disconnects_the_others_past_a_removed_access_point_or_an_unreadable_secret(
    engine: AsyncEngine, box: SecretBox, home: Home, make_store: StoreFactory, radius_codec: Codec
) -> None:
    sessions = create_sessionmaker(engine)
    store = await make_store(defaults=Policy(daily_time_limit=3600))
    # Noon of yesterday where the region is: every session below started "today".
    now = store.day_start(datetime.now(UTC)) - timedelta(hours=12)
    rotated = SecretBox("an-older-secret-key-that-is-long-enough-9876543210")
    async with unit_of_work(sessions) as session:
        site = await session.get_one(Site, home.site_id)

        async def ap(name: str, address: str, sealed_with: SecretBox) -> int:
            nas = await network.add_nas(
                session, box=sealed_with, site=site, name=name, address=address, secret="s" * 16
            )
            return nas.id

        unreadable = await ap("ap-unreadable", "192.0.2.3", rotated)  # sealed under another key
        last = await ap("ap-last", "192.0.2.4", box)
    # Recorded in this order so that, read in insertion order, the two that cannot be
    # disconnected come between the two that can.
    for uid, nas_id, address in [
        ("first", home.ap, "192.0.2.1"),
        ("removed", home.other, "192.0.2.2"),
        ("unreadable", unreadable, "192.0.2.3"),
        ("last", last, "192.0.2.4"),
    ]:
        await store.record_usage(
            Usage(status=StatusType.INTERIM_UPDATE, acctuniqueid=uid, acctsessionid=uid,
                  nasipaddress=address, event_time=now, account_id=home.alice, acctsessiontime=1000,
                  nas_id=nas_id, commune_id=home.commune_id, site_id=home.site_id)
        )  # fmt: skip
    async with unit_of_work(sessions) as session:
        await network.remove_nas(session, name="ap-b")

    asked: list[str] = []

    async def send(
        target: CoaTarget, *, kind: CoaKind, extra: Sequence[tuple[str, str | int]] = ()
    ) -> CoaResult:
        asked.append(target.address)
        return CoaResult(outcome=CoaOutcome.ACK, detail="ACK")

    async def disconnect(radacctid: int) -> CoaResult:
        return await disconnect_session(sessions, box=box, radacctid=radacctid, send=send)

    service = _service(
        radius_codec, store, Housekeeping(stale_after=timedelta(hours=1), disconnect=disconnect)
    )
    failed_before = _failed()
    await service.housekeep(now)

    assert sorted(asked) == ["192.0.2.1", "192.0.2.4"]
    assert _failed() - failed_before == 2
    async with sessions() as session:
        rows = await session.execute(
            select(AccountingSession.acctuniqueid, AccountingSession.disconnect_requested_at)
        )
        marked = {uid for uid, when in rows if when is not None}
    assert marked == {"first", "last"}
