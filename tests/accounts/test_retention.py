"""Legal retention and account deletion, on SQLite and PostgreSQL.

The purge tests commit for real (a purge owns its transactions); the deletion tests run in the
rolled-back ``session`` like every service test.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from accounts import credentials, retention, tokens, users
from accounts.errors import InvalidInput, NotFound
from accounts.models import (
    Account,
    AccountCode,
    AccountingSession,
    AuthRecord,
    ClosedAccount,
    CodePurpose,
    Device,
    DeviceCredential,
    PhoneCode,
    PhoneCodePurpose,
    RadiusToken,
    Region,
    RevokedToken,
    Tombstone,
)
from accounts.network import ensure_home_region
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from sesame.db import create_sessionmaker, unit_of_work
from tests.conftest import TEST_REALM

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)
CONNECTION_DAYS, CLOSED_ACCOUNT_DAYS = 365, 30
CUT = NOW - timedelta(days=CONNECTION_DAYS)
CLOSED_CUT = NOW - timedelta(days=CLOSED_ACCOUNT_DAYS)
TOKEN_CUT = NOW - timedelta(days=1)
SECOND, HOUR = timedelta(seconds=1), timedelta(hours=1)


def _radacct(
    name: str,
    *,
    start: datetime | None,
    update: datetime | None = None,
    stop: datetime | None = None,
    username: str | None = None,
    account_id: int | None = None,
) -> AccountingSession:
    return AccountingSession(
        acctsessionid=name,
        acctuniqueid=name,
        username=username,
        nasipaddress="192.0.2.10",
        acctstarttime=start,
        acctupdatetime=update,
        acctstoptime=stop,
        account_id=account_id,
        calledstationid="AA-BB-CC-00-00-01:Sesame",
        callingstationid="02-00-00-00-00-42",
        framedipaddress="10.1.0.42",
        acctinputoctets=1234,
        acctoutputoctets=56789,
        device_mac="02:00:00:00:00:42",
    )


def _auth(
    username: str, at: datetime, *, account_id: int | None = None, reply: str = "Access-Accept"
) -> AuthRecord:
    return AuthRecord(
        username=username,
        reply=reply,
        authdate=at,
        method="pap",
        reason="ok" if reply == "Access-Accept" else "bad_password",
        callingstationid="02-00-00-00-00-42",
        nasipaddress="192.0.2.10",
        account_id=account_id,
    )


async def _account(
    session: AsyncSession, region: Region, hasher: PasswordHasher, name: str, email: str = ""
) -> Account:
    return await users.create_account(
        session,
        hasher=hasher,
        region=region,
        username=name,
        email=email or f"{name}@example.fr",
        password=None,
    )


async def _names(sessions: async_sessionmaker[AsyncSession], column: Any) -> set[Any]:
    async with sessions() as session:
        return set((await session.scalars(select(column))).all())


async def _purge(
    sessions: async_sessionmaker[AsyncSession], *, batch_size: int = 1000, dry_run: bool = False
) -> retention.PurgeReport:
    return await retention.purge(
        sessions,
        now=NOW,
        connection_days=CONNECTION_DAYS,
        closed_account_days=CLOSED_ACCOUNT_DAYS,
        batch_size=batch_size,
        dry_run=dry_run,
    )


# -- purge ----------------------------------------------------------------------------------------


async def _seed_every_table(sessions: async_sessionmaker[AsyncSession], hasher: PasswordHasher) -> None:
    async with unit_of_work(sessions) as session:
        region = await ensure_home_region(session, realm=TEST_REALM, name="Région de test")
        alice = await _account(session, region, hasher, "alice")
        session.add_all(
            [
                _radacct("old-stopped", start=CUT - 2 * HOUR, stop=CUT - SECOND),
                _radacct("boundary", start=CUT - 2 * HOUR, stop=CUT),
                _radacct("straddling", start=CUT - 2 * HOUR, stop=CUT + HOUR),
                _radacct("open-silent", start=CUT - 2 * HOUR, update=CUT - SECOND),
                _radacct("open-alive", start=CUT - 2 * HOUR, update=NOW - 5 * 60 * SECOND),
                _radacct("start-only", start=CUT - SECOND),
                _radacct("recent", start=NOW - HOUR, stop=NOW),
                _radacct("no-start-old", start=None, stop=CUT - SECOND),  # written by another tool
                _radacct("no-start-boundary", start=None, update=CUT),
                _auth("old", CUT - SECOND),
                _auth("boundary", CUT),
                _auth("recent", NOW),
            ]
        )
        for pseudonym, closed_at in [
            ("deleted-old", CLOSED_CUT - SECOND),
            ("deleted-boundary", CLOSED_CUT),
            ("deleted-recent", NOW - HOUR),
        ]:
            session.add(
                ClosedAccount(
                    region_id=region.id, pseudonym=pseudonym, email_ciphertext="x", closed_at=closed_at
                )
            )
        for digest, expires in [
            ("long-expired", TOKEN_CUT - SECOND),
            ("boundary", TOKEN_CUT),
            ("just-expired", NOW - HOUR),
            ("live", NOW + 2 * 60 * SECOND),
        ]:
            session.add(
                RadiusToken(account_id=alice.id, digest=digest, token_ciphertext="x", expires_at=expires)
            )
        for key, deleted_at in [("old", TOKEN_CUT - SECOND), ("boundary", TOKEN_CUT), ("recent", NOW)]:
            session.add(Tombstone(kind="device", key=key, deleted_at=deleted_at))
        for purpose, expires in [
            (CodePurpose.VERIFY_EMAIL, TOKEN_CUT - SECOND),
            (CodePurpose.RESET_PASSWORD, TOKEN_CUT),
            (CodePurpose.RESET_PASSWORD, NOW + HOUR),
        ]:
            session.add(AccountCode(account_id=alice.id, purpose=purpose, digest="d", expires_at=expires))
            by_sms = (
                PhoneCodePurpose.VERIFY_PHONE
                if purpose == CodePurpose.VERIFY_EMAIL
                else PhoneCodePurpose.RESET_PASSWORD
            )
            session.add(PhoneCode(account_id=alice.id, purpose=by_sms, digest="d", expires_at=expires))
        for jti, expires in [("gone", TOKEN_CUT - SECOND), ("boundary", TOKEN_CUT), ("live", NOW)]:
            session.add(RevokedToken(jti=jti, expires_at=expires))


async def test_the_purge_deletes_what_is_past_its_period_and_keeps_the_boundary(
    engine: AsyncEngine, hasher: PasswordHasher
) -> None:
    sessions = create_sessionmaker(engine)
    await _seed_every_table(sessions, hasher)

    counted = await _purge(sessions, dry_run=True)
    assert counted.dry_run and counted.counts() == {
        "radacct": 4,
        "radpostauth": 1,
        "closed_account": 1,
        "radius_token": 1,
        "tombstone": 1,
        "account_code": 1,
        "phone_code": 1,
        "revoked_token": 1,
    }
    assert len(await _names(sessions, AccountingSession.acctuniqueid)) == 9  # a dry run deletes nothing
    assert len(await _names(sessions, AuthRecord.username)) == 3

    report = await _purge(sessions, batch_size=2)
    assert not report.dry_run and report.counts() == counted.counts() and report.total == 11
    assert report.cutoffs == retention.Cutoffs(connections=CUT, closed_accounts=CLOSED_CUT, tokens=TOKEN_CUT)
    assert await _names(sessions, AccountingSession.acctuniqueid) == {
        "boundary",
        "straddling",
        "open-alive",
        "recent",
        "no-start-boundary",
    }
    assert await _names(sessions, AuthRecord.username) == {"boundary", "recent"}
    assert await _names(sessions, ClosedAccount.pseudonym) == {"deleted-boundary", "deleted-recent"}
    assert await _names(sessions, RadiusToken.digest) == {"boundary", "just-expired", "live"}
    assert await _names(sessions, Account.username) == {"alice"}
    assert await _names(sessions, Tombstone.key) == {"boundary", "recent"}

    again = await _purge(sessions)
    assert again.total == 0


class Interrupted(Exception):
    """Stops a purge half-way."""


@contextmanager
def interrupted_at_batch(engine: AsyncEngine, table: str, number: int) -> Iterator[None]:
    """Make the ``number``-th batch deleting from ``table`` fail before it runs (as a kill would)."""
    batches = 0

    def before_execute(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        nonlocal batches
        if statement.startswith(f"DELETE FROM {table} "):
            batches += 1
            if batches == number:
                raise Interrupted

    event.listen(engine.sync_engine, "before_cursor_execute", before_execute)
    try:
        yield
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", before_execute)


async def test_the_purge_commits_batch_by_batch_and_resumes(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as session:
        session.add_all(
            [_auth(f"old-{i}", CUT - i * HOUR - SECOND) for i in range(7)] + [_auth("recent", NOW)]
        )

    with interrupted_at_batch(engine, "radpostauth", 2), pytest.raises(Interrupted):
        await _purge(sessions, batch_size=3)
    left = await _names(sessions, AuthRecord.username)
    assert len(left) == 5 and "recent" in left  # the first batch of 3 committed, the second did not

    resumed = await _purge(sessions, batch_size=3)
    assert resumed.radpostauth == 4
    assert await _names(sessions, AuthRecord.username) == {"recent"}


async def test_two_purges_at_once_share_the_work(engine: AsyncEngine) -> None:
    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as session:
        session.add_all(
            [_auth(f"old-{i}", CUT - i * SECOND - SECOND) for i in range(40)] + [_auth("recent", NOW)]
        )
        session.add_all(
            [_radacct(f"old-{i}", start=CUT - HOUR, stop=CUT - i * SECOND - SECOND) for i in range(40)]
        )

    first, second = await asyncio.gather(_purge(sessions, batch_size=3), _purge(sessions, batch_size=3))
    assert first.radpostauth + second.radpostauth == 40
    assert first.radacct + second.radacct == 40
    assert await _names(sessions, AuthRecord.username) == {"recent"}
    assert await _names(sessions, AccountingSession.acctuniqueid) == set()


async def test_a_batch_size_below_one_is_refused(engine: AsyncEngine) -> None:
    with pytest.raises(ValueError, match="batch_size"):
        await _purge(create_sessionmaker(engine), batch_size=0)


# -- deletion and pseudonyms ---------------------------------------------------------------------


async def test_deleting_an_account_keeps_its_records_under_a_pseudonym(
    session: AsyncSession, region: Region, hasher: PasswordHasher, box: SecretBox
) -> None:
    alice = await _account(session, region, hasher, "alice", "Alice.Martin@Example.FR")
    bob = await _account(session, region, hasher, "bob")
    await users.remember_device(session, account=alice, mac="02:00:00:00:00:42", label="phone", until=NOW)
    await users.remember_device(session, account=bob, mac="02:00:00:00:00:43", label=None, until=None)
    await tokens.issue_token(session, box=box, account=alice, nas_id=None, now=NOW)
    await credentials.create_device_credential(session, box=box, account=alice, label="laptop")
    alice_id = alice.id
    session.add_all(
        [
            _radacct("alice-linked", start=NOW - HOUR, stop=NOW, username="alice", account_id=alice_id),
            _radacct("alice-open", start=NOW - HOUR, username=f"alice@{TEST_REALM}", account_id=alice_id),
            _radacct("alice-unlinked", start=NOW - HOUR, stop=NOW, username=f"Alice@{TEST_REALM.upper()}"),
            _radacct("bob", start=NOW - HOUR, stop=NOW, username="bob", account_id=bob.id),
            _radacct("roaming-alice", start=NOW - HOUR, stop=NOW, username="alice@wifi.liguria.example"),
            _auth("alice", NOW, account_id=alice_id),
            _auth("02:00:00:00:00:42", NOW, account_id=alice_id),  # MAC authentication
            _auth("ALICE", NOW - HOUR, reply="Access-Reject"),
            _auth(f"alice@{TEST_REALM}", NOW - HOUR, reply="Access-Reject"),
            _auth("alice@wifi.liguria.example", NOW),
            _auth("bob", NOW, account_id=bob.id),
        ]
    )
    await session.flush()

    pseudonym = await users.delete_account(session, box=box, account=alice, now=NOW)

    assert pseudonym == users.pseudonym_of(box, f"Alice@{TEST_REALM.upper()}")
    assert pseudonym.startswith("deleted-") and len(pseudonym) == len("deleted-") + 24
    kept = {
        row.acctuniqueid: row
        for row in await session.execute(
            select(
                AccountingSession.acctuniqueid,
                AccountingSession.username,
                AccountingSession.account_id,
                AccountingSession.callingstationid,
                AccountingSession.framedipaddress,
                AccountingSession.nasipaddress,
                AccountingSession.acctinputoctets,
                AccountingSession.acctstarttime,
            )
        )
    }
    for name in ("alice-linked", "alice-open", "alice-unlinked"):
        row = kept[name]
        assert (row.username, row.account_id) == (pseudonym, None), name
        assert (row.callingstationid, row.framedipaddress, row.nasipaddress, row.acctinputoctets) == (
            "02-00-00-00-00-42",
            "10.1.0.42",
            "192.0.2.10",
            1234,
        )
        assert row.acctstarttime == NOW - HOUR
    assert (kept["bob"].username, kept["bob"].account_id) == ("bob", bob.id)
    assert kept["roaming-alice"].username == "alice@wifi.liguria.example"

    records = (
        await session.execute(
            select(AuthRecord.username, AuthRecord.account_id, AuthRecord.callingstationid, AuthRecord.reply)
        )
    ).all()
    assert sorted((r.username, r.account_id) for r in records) == sorted(
        [(pseudonym, None)] * 4 + [("alice@wifi.liguria.example", None), ("bob", bob.id)]
    )
    assert {r.callingstationid for r in records} == {"02-00-00-00-00-42"}

    for model in (Device, RadiusToken, DeviceCredential):
        assert await session.scalar(select(func.count()).where(model.account_id == alice_id)) == 0, model
    assert await session.scalar(select(func.count()).select_from(Device)) == 1  # bob's
    with pytest.raises(NotFound):
        await users.find_account(session, "alice", region=region)

    closed = (await session.scalars(select(ClosedAccount))).one()
    assert (closed.pseudonym, closed.region_id, closed.closed_at) == (pseudonym, region.id, NOW)
    assert "Alice" not in closed.email_ciphertext
    assert box.open(closed.email_ciphertext, purpose=users.CLOSED_EMAIL_PURPOSE) == b"Alice.Martin@example.fr"


async def test_an_identity_deleted_twice_keeps_both_emails(
    session: AsyncSession, region: Region, hasher: PasswordHasher, box: SecretBox
) -> None:
    first = await _account(session, region, hasher, "alice", "first@example.fr")
    pseudonym = await users.delete_account(session, box=box, account=first, now=NOW - HOUR)
    second = await _account(session, region, hasher, "alice", "second@example.fr")
    assert await users.delete_account(session, box=box, account=second, now=NOW) == pseudonym

    closed = (await session.scalars(select(ClosedAccount))).one()
    assert closed.closed_at == NOW
    emails = box.open(closed.email_ciphertext, purpose=users.CLOSED_EMAIL_PURPOSE).decode()
    assert emails.splitlines() == ["first@example.fr", "second@example.fr"]


def test_pseudonyms_are_keyed_and_need_a_full_identity(box: SecretBox) -> None:
    alice = users.pseudonym_of(box, f"alice@{TEST_REALM}")
    assert users.pseudonym_of(box, f" ALICE@{TEST_REALM.upper()}. ") == alice
    assert users.pseudonym_of(box, "alice@wifi.liguria.example") != alice
    assert users.pseudonym_of(box, f"bob@{TEST_REALM}") != alice
    assert (
        users.pseudonym_of(SecretBox("another-secret-key-that-is-long-enough-42"), f"alice@{TEST_REALM}")
        != alice
    )
    with pytest.raises(InvalidInput, match="username@realm"):
        users.pseudonym_of(box, "alice")


async def test_what_is_kept_of_a_deleted_account_goes_after_its_own_period(
    engine: AsyncEngine, hasher: PasswordHasher, box: SecretBox
) -> None:
    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as session:
        region = await ensure_home_region(session, realm=TEST_REALM, name="Région de test")
        alice = await _account(session, region, hasher, "alice")
        session.add(_auth("alice", NOW - 40 * 24 * HOUR, account_id=alice.id))
        await session.flush()
        pseudonym = await users.delete_account(session, box=box, account=alice, now=NOW - 31 * 24 * HOUR)
        bob = await _account(session, region, hasher, "bob")
        await users.delete_account(session, box=box, account=bob, now=NOW - 29 * 24 * HOUR)

    report = await _purge(sessions)
    assert (report.closed_account, report.radpostauth) == (1, 0)
    assert await _names(sessions, ClosedAccount.pseudonym) == {users.pseudonym_of(box, f"bob@{TEST_REALM}")}
    assert await _names(sessions, AuthRecord.username) == {pseudonym}  # the connection year still runs
