"""Housekeeping of sessions over their daily limit: one session that cannot be disconnected
(its access point removed, its secret unreadable) does not keep the others running."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from prometheus_client import REGISTRY
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts import network, users
from accounts.disconnect import CoaKind, CoaOutcome, CoaResult, CoaTarget, disconnect_session
from accounts.models import AccountingSession
from accounts.network import ensure_home_region
from accounts.passwords import PasswordHasher
from accounts.policies import Policy
from accounts.secretbox import SecretBox
from accounts.sessions import StatusType, Usage
from radius.clients import ClientTable
from radius.codec import Codec
from radius.core import PortKind, ServerCore
from radius.server import Housekeeping, RadiusService
from radius.sqlstore import SqlStore
from sesame.db import create_sessionmaker, unit_of_work

REALM = "wifi.housekeeping.example"


def _failed() -> float:
    return REGISTRY.get_sample_value("sesame_sessions_limit_disconnects_total", {"outcome": "failed"}) or 0.0


async def test_housekeeping_disconnects_the_others_past_a_removed_access_point_or_an_unreadable_secret(
    engine: AsyncEngine, box: SecretBox, hasher: PasswordHasher, radius_codec: Codec
) -> None:
    sessions = create_sessionmaker(engine)
    store = SqlStore(
        sessions=sessions, box=box, realm=REALM, region_name="R", defaults=Policy(daily_time_limit=3600)
    )
    await store.start()
    try:
        # Noon of yesterday where the region is: every session below started "today".
        now = store.day_start(datetime.now(UTC)) - timedelta(hours=12)
        rotated = SecretBox("an-older-secret-key-that-is-long-enough-9876543210")
        async with unit_of_work(sessions) as session:
            region = await ensure_home_region(session, realm=REALM)
            commune = await network.add_commune(session, region=region, name="Valence", insee_code="26362")
            site = await network.add_site(session, commune=commune, name="Médiathèque")

            async def ap(name: str, address: str, sealed_with: SecretBox) -> int:
                nas = await network.add_nas(
                    session, box=sealed_with, site=site, name=name, address=address, secret="s" * 16
                )
                return nas.id

            first = await ap("ap-first", "192.0.2.1", box)
            removed = await ap("ap-removed", "192.0.2.2", box)
            unreadable = await ap("ap-unreadable", "192.0.2.3", rotated)  # sealed under another key
            last = await ap("ap-last", "192.0.2.4", box)
            alice = await users.create_account(
                session, hasher=hasher, region=region, username="alice", email="a@example.fr", password=None
            )
            commune_id, site_id = commune.id, site.id
        # Recorded in this order so that, read in insertion order, the two that cannot be
        # disconnected come between the two that can.
        for uid, nas_id, address in [
            ("first", first, "192.0.2.1"),
            ("removed", removed, "192.0.2.2"),
            ("unreadable", unreadable, "192.0.2.3"),
            ("last", last, "192.0.2.4"),
        ]:
            await store.record_usage(
                Usage(status=StatusType.INTERIM_UPDATE, acctuniqueid=uid, acctsessionid=uid,
                      nasipaddress=address, event_time=now, account_id=alice.id, acctsessiontime=1000,
                      nas_id=nas_id, commune_id=commune_id, site_id=site_id)
            )  # fmt: skip
        async with unit_of_work(sessions) as session:
            await network.remove_nas(session, name="ap-removed")

        asked: list[str] = []

        async def send(
            target: CoaTarget, *, kind: CoaKind, extra: Sequence[tuple[str, str | int]] = ()
        ) -> CoaResult:
            asked.append(target.address)
            return CoaResult(outcome=CoaOutcome.ACK, detail="ACK")

        async def disconnect(radacctid: int) -> CoaResult:
            return await disconnect_session(sessions, box=box, radacctid=radacctid, send=send)

        cores = {kind: ServerCore(kind=kind, clients=ClientTable(), codec_=radius_codec) for kind in PortKind}
        service = RadiusService(
            auth=cores[PortKind.AUTH],
            acct=cores[PortKind.ACCT],
            handlers={},
            store=store,
            housekeeping=Housekeeping(stale_after=timedelta(hours=1), disconnect=disconnect),
        )
        failed_before = _failed()
        await service.housekeep(now)
    finally:
        await store.close()

    assert sorted(asked) == ["192.0.2.1", "192.0.2.4"]
    assert _failed() - failed_before == 2
    async with sessions() as session:
        rows = await session.execute(
            select(AccountingSession.acctuniqueid, AccountingSession.disconnect_requested_at)
        )
        marked = {uid for uid, when in rows if when is not None}
    assert marked == {"first", "last"}
