"""Writing the legal records on SQLite and PostgreSQL: decisions in batches, accounting group-
committed, a record the database refuses counted and the others written, records of an account
deleted meanwhile kept unlinked, and ``last_seen_at`` moved at most once an hour."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts import users
from accounts.authlog import Decision as Recorded
from accounts.models import Account, AccountingSession, AuthRecord, Device
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from accounts.sessions import StatusType, Usage
from radius.records import RecordWriter, unavailable
from sesame.db import create_engine, create_sessionmaker, unit_of_work
from tests.conftest import postgres_database
from tests.radius.conftest import Home, add_account

WriterFactory = Callable[[], RecordWriter]


@pytest.fixture
async def make_writer(engine: AsyncEngine) -> AsyncIterator[WriterFactory]:
    """Writers on the test's database (one per RADIUS process), closed after the test."""
    opened: list[RecordWriter] = []

    def make() -> RecordWriter:
        opened.append(RecordWriter(sessions=create_sessionmaker(engine)))
        return opened[-1]

    yield make
    for writer in opened:
        await writer.close()


def _refused(table: str) -> float:
    return REGISTRY.get_sample_value("sesame_radius_records_refused_total", {"table": table}) or 0


async def test_decision_records_are_written_in_batches(
    engine: AsyncEngine, make_writer: WriterFactory
) -> None:
    writer = make_writer()
    now = datetime.now(UTC)
    for i in range(250):
        writer.record(
            Recorded(
                authdate=now,
                username=f"u{i}",
                reply="Access-Reject",
                method="pap",
                reason="bad_password",
                class_=None if i % 2 else f"sesame:{i}",
            )
        )
    assert await writer.flush_records() == 250
    async with create_sessionmaker(engine)() as session:
        assert await session.scalar(select(func.count()).select_from(AuthRecord)) == 250
        assert await session.scalar(select(func.count()).where(AuthRecord.class_.is_not(None))) == 125


async def test_records_of_an_account_deleted_meanwhile_are_kept_unlinked(
    engine: AsyncEngine, box: SecretBox, home: Home, make_writer: WriterFactory
) -> None:
    """A Class or a buffered decision naming a deleted account must not fail its whole batch."""
    writer = make_writer()
    sessions = create_sessionmaker(engine)
    now = datetime.now(UTC)
    writer.record(
        Recorded(
            authdate=now,
            username="alice",
            account_id=home.alice,
            reply="Access-Accept",
            method="pap",
            reason="accepted",
        )
    )
    async with unit_of_work(sessions) as session:
        owner = await session.get_one(Account, home.alice)
        await users.delete_account(session, box=box, account=owner, now=now)
    assert await writer.flush_records() == 1
    usage = [
        Usage(status=StatusType.START, acctuniqueid=f"u{i}", acctsessionid=f"s{i}", nasipaddress="192.0.2.1",
              event_time=now, username="alice", account_id=home.alice if i == 0 else None)
        for i in range(3)
    ]  # fmt: skip
    await asyncio.gather(*(writer.record_usage(u) for u in usage))
    async with sessions() as session:
        links = (
            await session.execute(select(AccountingSession.acctuniqueid, AccountingSession.account_id))
        ).all()
        assert sorted(links) == [("u0", None), ("u1", None), ("u2", None)]
        assert (
            await session.scalar(select(AuthRecord.account_id).where(AuthRecord.username == "alice")) is None
        )


async def test_a_record_the_database_refuses_does_not_take_its_batch_down(
    engine: AsyncEngine, make_writer: WriterFactory, caplog: pytest.LogCaptureFixture
) -> None:
    writer = make_writer()
    now = datetime.now(UTC)

    def record(uid: str, seconds: int = 0) -> Usage:
        return Usage(status=StatusType.START, acctuniqueid=uid, acctsessionid=uid,
                     nasipaddress="192.0.2.1", event_time=now, acctsessiontime=seconds)  # fmt: skip

    before = _refused("radacct")
    results = await asyncio.gather(
        writer.record_usage(record("good-1")),
        # a value no column takes: refused on every backend (a NOT NULL column left empty is not
        # the record's fault but the schema's: see test_accounting_a_schema_that_does_not_fit_…)
        writer.record_usage(record("poison", 2**70)),
        writer.record_usage(record("good-2")),
        return_exceptions=True,
    )
    # the refused record is acknowledged (retransmitted, it would be refused again forever),
    # counted, and logged with what it held
    assert list(results) == [None, None, None]
    assert _refused("radacct") == before + 1
    assert "poison" in caplog.text
    async with create_sessionmaker(engine)() as session:
        stored = set((await session.scalars(select(AccountingSession.acctuniqueid))).all())
    assert stored == {"good-1", "good-2"}


async def test_accepted_accounts_and_devices_are_marked_seen_without_moving_updated_at(
    engine: AsyncEngine, hasher: PasswordHasher, home: Home, make_writer: WriterFactory
) -> None:
    sessions = create_sessionmaker(engine)
    now = datetime.now(UTC).replace(microsecond=0)
    bob = await add_account(engine, hasher, "bob")
    async with unit_of_work(sessions) as session:
        await users.remember_device(
            session,
            account=await session.get_one(Account, bob),
            mac="02-00-5E-10-00-0A",
            label=None,
            until=now + timedelta(days=1),
        )
    async with sessions() as session:
        before = {a.id: a.updated_at for a in (await session.scalars(select(Account))).all()}
    writer = make_writer()

    def decision(username: str, account_id: int, reply: str, method: str, at: datetime) -> Recorded:
        return Recorded(
            authdate=at, username=username, reply=reply, method=method, reason="", account_id=account_id
        )

    writer.record(decision("alice", home.alice, "Access-Accept", "pap", now))
    writer.record(decision("02-00-5e-10-00-0a", bob, "Access-Accept", "mac", now))
    writer.record(decision("bob", bob, "Access-Reject", "pap", now + timedelta(seconds=1)))
    await writer.flush_records()

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
    writer.record(decision("alice", home.alice, "Access-Accept", "pap", now + timedelta(minutes=5)))
    other = make_writer()
    other.record(decision("bob", bob, "Access-Accept", "pap", now + timedelta(minutes=10)))
    await writer.flush_records()
    await other.flush_records()
    assert (await seen())[0] == {"alice": now, "bob": now}
    later = now + timedelta(hours=2)  # a process started since: the database's copy is old enough
    third = make_writer()
    third.record(decision("bob", bob, "Access-Accept", "pap", later))
    await third.flush_records()
    assert (await seen())[0] == {"alice": now, "bob": later}


async def test_a_decision_the_database_refuses_is_counted_and_the_others_are_written(
    engine: AsyncEngine, make_writer: WriterFactory
) -> None:
    """Never retried forever: the batch is written record by record, the refused one counted."""
    writer = make_writer()
    now = datetime.now(UTC)
    before = _refused("radpostauth")
    for nas_id in (1, 2**40, 3):  # nas_id is a 32-bit column: PostgreSQL refuses 2**40, SQLite takes it
        writer.record(Recorded(authdate=now, username=f"n{nas_id}", reply="Access-Reject", method="pap",
                               reason="bad_password", nas_id=nas_id))  # fmt: skip
    assert await writer.flush_records() == 3
    assert await writer.flush_records() == 0  # nothing kept for another try
    async with create_sessionmaker(engine)() as session:
        stored = set((await session.scalars(select(AuthRecord.username))).all())
    postgres = engine.dialect.name == "postgresql"
    assert stored == ({"n1", "n3"} if postgres else {"n1", f"n{2**40}", "n3"})
    assert _refused("radpostauth") == before + (1 if postgres else 0)


@pytest.fixture
def postgres_url(postgres_template: str) -> Iterator[str]:
    """A migrated PostgreSQL database of this test's own (whatever the backend parameter)."""
    with postgres_database("sesame_ro", template=postgres_template) as url:
        yield url


@pytest.mark.postgres
async def test_accounting_a_read_only_database_cannot_take_waits_and_is_never_acknowledged_as_refused(
    postgres_url: str,
) -> None:
    """A standby (read-only) answers ``SELECT 1`` but refuses every write: during a fail-over, the
    records must stay unanswered (the NAS retransmits), not be taken for records at fault and
    acknowledged without being stored."""
    name = make_url(postgres_url).database

    async def admin(statement: str) -> None:  # from another database: this one is read-only
        engine = create_engine(make_url(postgres_url).set(database="postgres").render_as_string(False))
        async with engine.connect() as connection:
            await connection.execute(text(statement))
            await connection.commit()
        await engine.dispose()

    def usage(uid: str) -> Usage:
        return Usage(status=StatusType.START, acctuniqueid=uid, acctsessionid=uid,
                     nasipaddress="192.0.2.1", event_time=datetime.now(UTC))  # fmt: skip

    await admin(f'ALTER DATABASE "{name}" SET default_transaction_read_only = on')
    engine = create_engine(postgres_url)
    writer = RecordWriter(sessions=create_sessionmaker(engine))
    refused_before = _refused("radacct")
    try:
        results = await asyncio.gather(*(writer.record_usage(usage(f"r{i}")) for i in range(3)),
                                       return_exceptions=True)  # fmt: skip
        assert all(isinstance(result, Exception) and unavailable(result) for result in results), results
        assert _refused("radacct") == refused_before
        await admin(f'ALTER DATABASE "{name}" RESET default_transaction_read_only')
        await engine.dispose()  # new connections: the server is writable again
        await asyncio.gather(*(writer.record_usage(usage(f"r{i}")) for i in range(3)))  # the NAS retries
        async with create_sessionmaker(engine)() as session:
            stored = set((await session.scalars(select(AccountingSession.acctuniqueid))).all())
        assert stored == {"r0", "r1", "r2"}
    finally:
        await writer.close()
        await engine.dispose()


@pytest.mark.postgres
async def test_accounting_a_schema_that_does_not_fit_waits_and_is_never_acknowledged_as_refused(
    postgres_url: str,
) -> None:
    """A migration that broke the expand-only rule mid-roll (a NOT NULL column the running release
    does not fill): every record fails, and none may be taken for a record at fault and
    acknowledged without being stored; once the schema fits again, the retransmissions are."""

    def usage(uid: str) -> Usage:
        return Usage(status=StatusType.START, acctuniqueid=uid, acctsessionid=uid,
                     nasipaddress="192.0.2.1", event_time=datetime.now(UTC))  # fmt: skip

    engine = create_engine(postgres_url)
    async with engine.connect() as connection:
        await connection.execute(
            text("ALTER TABLE radacct ADD COLUMN next_release integer NOT NULL DEFAULT 0")
        )
        await connection.execute(text("ALTER TABLE radacct ALTER COLUMN next_release DROP DEFAULT"))
        await connection.commit()
    writer = RecordWriter(sessions=create_sessionmaker(engine))
    refused_before = _refused("radacct")
    try:
        results = await asyncio.gather(*(writer.record_usage(usage(f"s{i}")) for i in range(3)),
                                       return_exceptions=True)  # fmt: skip
        assert all(isinstance(result, Exception) and unavailable(result) for result in results), results
        assert _refused("radacct") == refused_before
        async with engine.connect() as connection:
            await connection.execute(text("ALTER TABLE radacct ALTER COLUMN next_release SET DEFAULT 0"))
            await connection.commit()
        await asyncio.gather(*(writer.record_usage(usage(f"s{i}")) for i in range(3)))  # the NAS retries
        async with create_sessionmaker(engine)() as session:
            stored = set((await session.scalars(select(AccountingSession.acctuniqueid))).all())
        assert stored == {"s0", "s1", "s2"}
    finally:
        await writer.close()
        await engine.dispose()
