"""The store the pipeline and the server use, on SQLite and PostgreSQL: what it does at start and at
each poll, and that every call reaches the part that answers it. Each part has its own tests:
``test_accountcache``, ``test_placepolicy``, ``test_tokenbatch``, ``test_records``, ``test_nasclients``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts import credentials, tokens, users
from accounts.authlog import Decision as Recorded
from accounts.models import Account, AccountStatus, AuthRecord, Commune
from accounts.policies import Policy, set_policy
from accounts.secretbox import SecretBox
from accounts.sessions import DailyUsage, StatusType, Usage
from sesame.db import create_sessionmaker, unit_of_work
from tests.radius.conftest import Home, StoreFactory


async def test_start_finds_the_home_region_and_loads_the_policies_and_the_working_set(
    engine: AsyncEngine, home: Home, make_store: StoreFactory
) -> None:
    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as session:
        await set_policy(
            session, values={"session_timeout": 600}, commune=await session.get_one(Commune, home.commune_id)
        )
    store = await make_store()
    lazy = await make_store(preload=False)
    assert store.region_id == lazy.region_id == home.region_id
    assert store.policy(commune_id=home.commune_id, site_id=home.site_id).session_timeout == 600
    async with unit_of_work(sessions) as session:  # behind the stores' backs: no tombstone, no refresh
        await session.execute(Account.__table__.delete())  # type: ignore[attr-defined]
    assert await store.account("alice") is not None  # preloaded
    assert await lazy.account("alice") is None  # looked up, and gone


async def test_each_poll_forgets_changed_accounts_and_reloads_policies_and_open_sessions(
    engine: AsyncEngine, home: Home, make_store: StoreFactory
) -> None:
    store = await make_store(defaults=Policy(session_timeout=3600))
    sessions = create_sessionmaker(engine)
    assert (await store.account("alice")).status == "active"  # type: ignore[union-attr]
    async with unit_of_work(sessions) as session:
        await users.set_status(
            session, account=await session.get_one(Account, home.alice), status=AccountStatus.DISABLED
        )
        await set_policy(
            session, values={"session_timeout": 600}, commune=await session.get_one(Commune, home.commune_id)
        )
    now = store.day_start(datetime.now(UTC)) - timedelta(
        hours=12
    )  # noon, where the region is: the session began that day
    await store.record_usage(
        Usage(status=StatusType.INTERIM_UPDATE, acctuniqueid="s", acctsessionid="s", nasipaddress="192.0.2.1",
              event_time=now, account_id=home.alice, acctsessiontime=60, commune_id=home.commune_id,
              site_id=home.site_id, device_mac="02:00:00:00:00:01")
    )  # fmt: skip
    place = {"commune_id": home.commune_id, "site_id": home.site_id}
    assert (await store.account("alice")).status == "active"  # type: ignore[union-attr]
    assert store.policy(**place).session_timeout == 3600
    assert await store.open_devices(home.alice) == []
    await store.refresh()
    assert (await store.account("alice")).status == "disabled"  # type: ignore[union-attr]
    assert store.policy(**place).session_timeout == 600
    assert await store.open_devices(home.alice) == ["02:00:00:00:00:01"]
    assert await store.usage_today(account_id=home.alice, commune_id=home.commune_id, now=now) == DailyUsage(
        60, 0
    )


async def test_tokens_hashes_records_and_access_points_reach_their_parts(
    engine: AsyncEngine, box: SecretBox, home: Home, make_store: StoreFactory
) -> None:
    store = await make_store()
    now = datetime.now(UTC)
    async with unit_of_work(create_sessionmaker(engine)) as session:
        alice = await session.get_one(Account, home.alice)
        token = await tokens.issue_token(session, box=box, account=alice, nas_id=home.ap, now=now)
        chap = await tokens.issue_token(session, box=box, account=alice, nas_id=home.ap, now=now)
        credential, password = await credentials.create_device_credential(
            session, box=box, account=alice, label="pc"
        )
    owner = await store.consume_token(username="alice", token=token, nas_id=home.ap, now=now)
    assert owner is not None and owner.id == home.alice
    assert await store.consume_token(username="alice", token=token, nas_id=home.ap, now=now) is None

    def is_chap(clear: bytes) -> bool:
        return clear == chap.encode()

    used = [
        await store.consume_token_matching(account_id=home.alice, nas_id=home.ap, matches=is_chap, now=now)
        for _ in range(2)
    ]
    assert used == [True, False]
    assert await store.nt_hashes(account_id=home.alice) == [(credential.id, credentials.nt_hash(password))]
    store.record(
        Recorded(authdate=now, username="alice", reply="Access-Accept", method="pap", reason="accepted")
    )
    assert await store.flush_records() == 1
    async with create_sessionmaker(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(AuthRecord)) == 1
    assert await store.clients_changed()
    assert sorted(c.name for c in (await store.load_clients()).clients) == ["ap-a", "ap-b"]
