"""The SQL store of the RADIUS pipeline, on SQLite and PostgreSQL: caches, invalidation, group commit."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from accounts import network, tokens, users
from accounts.authlog import Decision as Recorded
from accounts.models import Account, AccountStatus, AuthRecord, Device, Region
from accounts.network import ensure_home_region
from accounts.passwords import PasswordHasher
from accounts.policies import Policy
from accounts.secretbox import SecretBox
from radius.codec import Codec
from radius.sqlstore import SqlStore
from sesame.db import create_sessionmaker, unit_of_work

REALM = "wifi.store.example"


_opened: list[SqlStore] = []


@pytest.fixture(autouse=True)
async def _close_stores() -> AsyncIterator[None]:
    """Stores keep a connection for their records: give it back after each test."""
    yield
    while _opened:
        await _opened.pop().close()


async def _store(engine: AsyncEngine, box: SecretBox) -> SqlStore:
    store = SqlStore(
        sessions=create_sessionmaker(engine), box=box, realm=REALM, region_name="R", defaults=Policy()
    )
    await store.start()
    _opened.append(store)
    return store


async def _create_alice(engine: AsyncEngine, hasher: PasswordHasher) -> Account:
    async with unit_of_work(create_sessionmaker(engine)) as session:
        region = await ensure_home_region(session, realm=REALM)
        return await users.create_account(
            session,
            hasher=hasher,
            region=region,
            username="alice",
            email="a@example.fr",
            password=None,
            verified=True,
        )


async def _two_access_points(session: AsyncSession, region: Region, box: SecretBox) -> tuple[int, int]:
    commune = await network.add_commune(session, region=region, name="Valence", insee_code="26362")
    site = await network.add_site(session, commune=commune, name="Médiathèque")
    ap = await network.add_nas(session, box=box, site=site, name="ap-a", address="192.0.2.1", secret="s" * 16)
    other = await network.add_nas(
        session, box=box, site=site, name="ap-b", address="192.0.2.2", secret="s" * 16
    )
    return ap.id, other.id


async def test_concurrent_uses_of_one_token_win_once(
    engine: AsyncEngine, box: SecretBox, hasher: PasswordHasher
) -> None:
    store = await _store(engine, box)
    now = datetime.now(UTC)
    async with unit_of_work(create_sessionmaker(engine)) as session:
        region = await ensure_home_region(session, realm=REALM)
        ap, other = await _two_access_points(session, region, box)
        alice = await users.create_account(
            session, hasher=hasher, region=region, username="alice", email="a@example.fr", password=None
        )
        issued = [
            await tokens.issue_token(session, box=box, account=alice, nas_id=ap, now=now) for _ in range(20)
        ]
        bob = await users.create_account(
            session, hasher=hasher, region=region, username="bob", email="b@example.fr", password=None
        )
        bobs = await tokens.issue_token(session, box=box, account=bob, nas_id=ap, now=now)
    # the same batch also carries attempts from the wrong access point, and from none (a partner)
    attempts = [store.consume_token(username="alice", token=issued[0], nas_id=other, now=now)]
    attempts += [store.consume_token(username="alice", token=issued[0], nas_id=None, now=now)]
    attempts += [store.consume_token(username="alice", token=issued[0], nas_id=ap, now=now) for _ in range(5)]
    attempts += [store.consume_token(username="alice", token=t, nas_id=ap, now=now) for t in issued[1:]]
    attempts += [store.consume_token(username="alice", token=bobs, nas_id=ap, now=now)]
    results = await asyncio.gather(*attempts)
    assert results[:2] == [None, None]
    assert sum(r is not None for r in results[2:7]) == 1
    assert all(r is not None and r.id == alice.id and r.username == "alice" for r in results[7:-1])
    assert results[-1] is None  # bob's token is not alice's
    assert await store.consume_token(username="bob", token=bobs, nas_id=other, now=now) is None
    assert await store.consume_token(username="bob", token=bobs, nas_id=ap, now=now) is not None


async def test_cached_accounts_are_forgotten_when_they_change(
    engine: AsyncEngine, box: SecretBox, hasher: PasswordHasher
) -> None:
    store = await _store(engine, box)
    sessions = create_sessionmaker(engine)
    assert await store.account("alice") is None  # a miss, remembered briefly
    await _create_alice(engine, hasher)
    await store.refresh()
    cached = await store.account("alice")
    assert cached is not None and cached.status == "active"
    async with unit_of_work(sessions) as session:
        region = await ensure_home_region(session, realm=REALM)
        account = await users.find_account(session, "alice", region=region)
        await users.set_status(session, account=account, status=AccountStatus.DISABLED)
    assert (await store.account("alice")).status == "active"  # type: ignore[union-attr]  # still cached
    await store.refresh()
    assert (await store.account("alice")).status == "disabled"  # type: ignore[union-attr]


async def test_a_flood_of_unknown_names_does_not_push_known_accounts_out_of_the_cache(
    engine: AsyncEngine, box: SecretBox, hasher: PasswordHasher
) -> None:
    """Made-up names (a guessing flood, the soak's unknown users) are remembered apart: alice stays
    cached (the stale status proves no query was made), and a name created meanwhile is found once
    the poll has seen it."""
    store = SqlStore(
        sessions=create_sessionmaker(engine), box=box, realm=REALM, region_name="R", defaults=Policy(),
        cache_size=1_000,
    )  # fmt: skip
    await store.start()
    _opened.append(store)
    sessions = create_sessionmaker(engine)
    await _create_alice(engine, hasher)
    await store.refresh()
    assert (await store.account("alice")) is not None
    async with unit_of_work(sessions) as session:
        region = await ensure_home_region(session, realm=REALM)
        account = await users.find_account(session, "alice", region=region)
        await users.set_status(session, account=account, status=AccountStatus.DISABLED)
    for i in range(3_000):  # three times the cache's size
        assert await store.account(f"nobody{i}") is None
    assert (await store.account("alice")).status == "active"  # type: ignore[union-attr]  # still cached
    async with unit_of_work(sessions) as session:
        region = await ensure_home_region(session, realm=REALM)
        await users.create_account(
            session, hasher=hasher, region=region, username="nobody2999", email="n@example.fr",
            password="correct horse battery", verified=True,
        )  # fmt: skip
    await store.refresh()
    assert (await store.account("nobody2999")) is not None


async def test_devices_are_found_at_once_after_being_remembered(
    engine: AsyncEngine, box: SecretBox, hasher: PasswordHasher
) -> None:
    store = await _store(engine, box)
    assert await store.device("02:00:5e:10:00:01") is None
    alice = await _create_alice(engine, hasher)
    async with unit_of_work(create_sessionmaker(engine)) as session:
        await users.remember_device(
            session,
            account=alice,
            mac="02-00-5E-10-00-01",
            label=None,
            until=datetime.now(UTC) + timedelta(days=1),
        )
    device = await store.device("02:00:5e:10:00:01")
    assert device is not None and device.account.username == "alice"


async def test_decision_records_are_written_in_batches(engine: AsyncEngine, box: SecretBox) -> None:
    store = await _store(engine, box)
    now = datetime.now(UTC)
    for i in range(250):
        store.record(
            Recorded(
                authdate=now,
                username=f"u{i}",
                reply="Access-Reject",
                method="pap",
                reason="bad_password",
                class_=None if i % 2 else f"sesame:{i}",
            )
        )
    assert await store.flush_records() == 250
    async with create_sessionmaker(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(AuthRecord)) == 250
        assert await session.scalar(select(func.count()).where(AuthRecord.class_.is_not(None))) == 125


async def test_deleted_accounts_and_forgotten_devices_leave_the_cache(
    engine: AsyncEngine, box: SecretBox, hasher: PasswordHasher
) -> None:
    store = await _store(engine, box)
    sessions = create_sessionmaker(engine)
    alice = await _create_alice(engine, hasher)
    far = datetime.now(UTC) + timedelta(days=30)
    async with unit_of_work(sessions) as session:
        owner = await session.get_one(Account, alice.id)
        await users.remember_device(session, account=owner, mac="02:00:00:00:00:0a", label=None, until=far)
        await users.remember_device(session, account=owner, mac="02:00:00:00:00:0b", label=None, until=far)
    assert await store.device("02:00:00:00:00:0a") is not None
    assert await store.device("02:00:00:00:00:0b") is not None
    async with unit_of_work(sessions) as session:
        owner = await session.get_one(Account, alice.id)
        await users.forget_device(session, account=owner, mac="02:00:00:00:00:0a")
    await store.refresh()
    assert await store.device("02:00:00:00:00:0a") is None  # "forget" means at once, not at eviction
    assert await store.device("02:00:00:00:00:0b") is not None
    async with unit_of_work(sessions) as session:
        owner = await session.get_one(Account, alice.id)
        await users.delete_account(session, box=box, account=owner, now=datetime.now(UTC))
    await store.refresh()
    assert await store.account("alice") is None
    assert await store.device("02:00:00:00:00:0b") is None


async def test_records_of_an_account_deleted_meanwhile_are_kept_unlinked(
    engine: AsyncEngine, box: SecretBox, hasher: PasswordHasher
) -> None:
    """A Class or a buffered decision naming a deleted account must not fail its whole batch."""
    from accounts.models import AccountingSession
    from accounts.sessions import StatusType, Usage

    store = await _store(engine, box)
    sessions = create_sessionmaker(engine)
    alice = await _create_alice(engine, hasher)
    now = datetime.now(UTC)
    store.record(
        Recorded(
            authdate=now,
            username="alice",
            account_id=alice.id,
            reply="Access-Accept",
            method="pap",
            reason="accepted",
        )
    )
    async with unit_of_work(sessions) as session:
        owner = await session.get_one(Account, alice.id)
        await users.delete_account(session, box=box, account=owner, now=now)
    assert await store.flush_records() == 1
    usage = [
        Usage(status=StatusType.START, acctuniqueid=f"u{i}", acctsessionid=f"s{i}", nasipaddress="192.0.2.1",
              event_time=now, username="alice", account_id=alice.id if i == 0 else None)
        for i in range(3)
    ]  # fmt: skip
    await asyncio.gather(*(store.record_usage(u) for u in usage))
    async with sessions() as session:
        links = (
            await session.execute(select(AccountingSession.acctuniqueid, AccountingSession.account_id))
        ).all()
        assert sorted(links) == [("u0", None), ("u1", None), ("u2", None)]
        assert (
            await session.scalar(select(AuthRecord.account_id).where(AuthRecord.username == "alice")) is None
        )


async def test_housekeeping_closes_stale_sessions_and_disconnects_those_over_the_daily_limit(
    engine: AsyncEngine, box: SecretBox, hasher: PasswordHasher, radius_codec: Codec
) -> None:
    from accounts.disconnect import CoaOutcome, CoaResult
    from accounts.models import AccountingSession
    from accounts.sessions import StatusType, Usage
    from radius.clients import ClientTable
    from radius.core import PortKind, ServerCore
    from radius.server import Housekeeping, RadiusService

    store = SqlStore(
        sessions=create_sessionmaker(engine),
        box=box,
        realm=REALM,
        region_name="R",
        defaults=Policy(daily_time_limit=3600),
    )
    await store.start()
    _opened.append(store)
    alice = await _create_alice(engine, hasher)
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
            commune_id=1,
            site_id=1,
        )

    for record in [
        usage("over", seconds=3700, when=now, account_id=alice.id),  # 1 h 01 min today: over
        usage("silent", seconds=60, when=now - timedelta(hours=2), account_id=None),  # no news for 2 h
        usage("fine", seconds=600, when=now, account_id=None),
    ]:
        await store.record_usage(record)
    asked: list[int] = []

    async def disconnect(radacctid: int) -> CoaResult:
        asked.append(radacctid)
        return CoaResult(outcome=CoaOutcome.ACK, detail="ACK")

    cores = {kind: ServerCore(kind=kind, clients=ClientTable(), codec_=radius_codec) for kind in PortKind}
    service = RadiusService(
        auth=cores[PortKind.AUTH],
        acct=cores[PortKind.ACCT],
        handlers={},
        store=store,
        housekeeping=Housekeeping(stale_after=timedelta(minutes=16), disconnect=disconnect),
    )
    await service.housekeep(now)
    async with create_sessionmaker(engine)() as session:
        rows = {r.acctuniqueid: r for r in (await session.scalars(select(AccountingSession))).all()}
    assert asked == [rows["over"].radacctid]
    assert rows["silent"].acctterminatecause == "Stale-Session" and rows["silent"].acctstoptime is not None
    assert rows["fine"].acctstoptime is None and rows["over"].acctstoptime is None  # the NAS's Stop closes it


async def test_open_devices_for_simultaneous_use_come_from_the_last_poll(
    engine: AsyncEngine, box: SecretBox, hasher: PasswordHasher
) -> None:
    from accounts.sessions import StatusType, Usage

    store = await _store(engine, box)
    alice = await _create_alice(engine, hasher)
    now = datetime.now(UTC)

    def record(uid: str, status: StatusType, mac: str | None) -> Usage:
        return Usage(status=status, acctuniqueid=uid, acctsessionid=uid, nasipaddress="192.0.2.1",
                     event_time=now, account_id=alice.id, device_mac=mac)  # fmt: skip

    await store.record_usage(record("a", StatusType.START, "02:00:00:00:00:01"))
    await store.record_usage(record("b", StatusType.START, None))
    assert await store.open_devices(alice.id) == []  # not polled yet: no query on the accept path
    await store.refresh()
    assert sorted(await store.open_devices(alice.id), key=str) == ["02:00:00:00:00:01", None]
    await store.record_usage(record("a", StatusType.STOP, "02:00:00:00:00:01"))
    await store.refresh()
    assert await store.open_devices(alice.id) == [None]
    assert await store.open_devices(alice.id + 1) == []


async def test_a_record_the_database_refuses_does_not_take_its_batch_down(
    engine: AsyncEngine, box: SecretBox, caplog: pytest.LogCaptureFixture
) -> None:
    from prometheus_client import REGISTRY

    from accounts.models import AccountingSession
    from accounts.sessions import StatusType, Usage

    store = await _store(engine, box)
    now = datetime.now(UTC)

    def record(uid: str, nas: str | None) -> Usage:
        return Usage(status=StatusType.START, acctuniqueid=uid, acctsessionid=uid,
                     nasipaddress=nas, event_time=now)  # type: ignore[arg-type]  # fmt: skip

    def refused() -> float:
        return REGISTRY.get_sample_value("sesame_radius_records_refused_total", {"table": "radacct"}) or 0

    before = refused()
    results = await asyncio.gather(
        store.record_usage(record("good-1", "192.0.2.1")),
        store.record_usage(record("poison", None)),  # NOT NULL: refused on every backend
        store.record_usage(record("good-2", "192.0.2.1")),
        return_exceptions=True,
    )
    # the refused record is acknowledged (retransmitted, it would be refused again forever),
    # counted, and logged with what it held
    assert list(results) == [None, None, None]
    assert refused() == before + 1
    assert "poison" in caplog.text
    async with create_sessionmaker(engine)() as session:
        stored = set((await session.scalars(select(AccountingSession.acctuniqueid))).all())
    assert stored == {"good-1", "good-2"}


async def test_the_working_set_is_loaded_at_start_most_recent_first(
    engine: AsyncEngine, box: SecretBox, hasher: PasswordHasher
) -> None:
    sessions = create_sessionmaker(engine)
    now = datetime.now(UTC)
    async with unit_of_work(sessions) as session:
        region = await ensure_home_region(session, realm=REALM)
        created = []
        for i in range(1_200):
            account = await users.create_account(
                session, hasher=hasher, region=region, username=f"user{i}", email=f"u{i}@example.fr",
                password=None, verified=True,
            )  # fmt: skip
            account.last_seen_at = now - timedelta(minutes=i)  # user0 seen last, user1199 first
            created.append(account)
        await session.flush()
        await users.remember_device(
            session, account=created[0], mac="02-00-5E-10-00-09", label=None, until=now + timedelta(days=1)
        )
    store = SqlStore(
        sessions=sessions, box=box, realm=REALM, region_name="R", defaults=Policy(), cache_size=1_000
    )
    _opened.append(store)
    await store.start()  # loads the 1,000 most recently seen accounts and the remembered device
    async with unit_of_work(sessions) as session:  # behind the store's back: no tombstone, no refresh
        await session.execute(Account.__table__.delete())  # type: ignore[attr-defined]
    assert (await store.account("user0")) is not None and (await store.account("user999")) is not None
    assert await store.account("user1000") is None  # not in the working set: looked up, and gone
    device = await store.device("02:00:5e:10:00:09")
    assert device is not None and device.account.username == "user0"
    preloaded = SqlStore(
        sessions=sessions, box=box, realm=REALM, region_name="R", defaults=Policy(), preload=False
    )
    _opened.append(preloaded)
    await preloaded.start()
    assert await preloaded.account("user0") is None  # without preloading, the database says


async def test_accepted_accounts_and_devices_are_marked_seen_without_moving_updated_at(
    engine: AsyncEngine, box: SecretBox, hasher: PasswordHasher
) -> None:
    sessions = create_sessionmaker(engine)
    now = datetime.now(UTC).replace(microsecond=0)
    alice = await _create_alice(engine, hasher)
    async with unit_of_work(sessions) as session:
        region = await ensure_home_region(session, realm=REALM)
        bob = await users.create_account(
            session, hasher=hasher, region=region, username="bob", email="bob@example.fr",
            password=None, verified=True,
        )  # fmt: skip
        await users.remember_device(
            session, account=bob, mac="02-00-5E-10-00-0A", label=None, until=now + timedelta(days=1)
        )
    async with sessions() as session:
        before = {a.id: a.updated_at for a in (await session.scalars(select(Account))).all()}
    store = await _store(engine, box)

    def decision(username: str, account_id: int, reply: str, method: str, at: datetime) -> Recorded:
        return Recorded(
            authdate=at, username=username, reply=reply, method=method, reason="", account_id=account_id
        )

    store.record(decision("alice", alice.id, "Access-Accept", "pap", now))
    store.record(decision("02-00-5e-10-00-0a", bob.id, "Access-Accept", "mac", now))
    store.record(decision("bob", bob.id, "Access-Reject", "pap", now + timedelta(seconds=1)))
    await store.flush_records()

    async def seen() -> tuple[dict[str, datetime | None], datetime | None, dict[int, datetime]]:
        async with sessions() as session:
            accounts = (await session.scalars(select(Account))).all()
            device = await session.scalar(select(Device.last_seen_at))
            return (
                {a.username: a.last_seen_at for a in accounts},
                device,
                {a.id: a.updated_at for a in accounts},
            )

    accounts, device, updated = await seen()
    assert accounts == {"alice": now, "bob": now}  # bob's later reject does not count
    assert device == now
    assert updated == before  # the RADIUS caches watch updated_at: nothing to forget
    # within the resolution (one hour) nothing is written again, by this process or another
    store.record(decision("alice", alice.id, "Access-Accept", "pap", now + timedelta(minutes=5)))
    other = await _store(engine, box)
    other.record(decision("bob", bob.id, "Access-Accept", "pap", now + timedelta(minutes=10)))
    await store.flush_records()
    await other.flush_records()
    assert (await seen())[0] == {"alice": now, "bob": now}
    later = now + timedelta(hours=2)  # a process started since: the database's copy is old enough
    third = await _store(engine, box)
    third.record(decision("bob", bob.id, "Access-Accept", "pap", later))
    await third.flush_records()
    assert (await seen())[0] == {"alice": now, "bob": later}


async def test_a_decision_the_database_refuses_is_counted_and_the_others_are_written(
    engine: AsyncEngine, box: SecretBox
) -> None:
    """Never retried forever: the batch is written record by record, the refused one counted."""
    from prometheus_client import REGISTRY

    def refused() -> float:
        return REGISTRY.get_sample_value("sesame_radius_records_refused_total", {"table": "radpostauth"}) or 0

    store = await _store(engine, box)
    now = datetime.now(UTC)
    before = refused()
    for nas_id in (1, 2**40, 3):  # nas_id is a 32-bit column: PostgreSQL refuses 2**40, SQLite takes it
        store.record(Recorded(authdate=now, username=f"n{nas_id}", reply="Access-Reject", method="pap",
                              reason="bad_password", nas_id=nas_id))  # fmt: skip
    assert await store.flush_records() == 3
    assert await store.flush_records() == 0  # nothing kept for another try
    async with create_sessionmaker(engine)() as session:
        stored = set((await session.scalars(select(AuthRecord.username))).all())
    postgres = engine.dialect.name == "postgresql"
    assert stored == ({"n1", "n3"} if postgres else {"n1", f"n{2**40}", "n3"})
    assert refused() == before + (1 if postgres else 0)
