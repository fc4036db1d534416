"""An account's lifecycle (accounts/lifecycle.py) on SQLite and PostgreSQL, with the clock given by
the test: never-verified accounts go, unused ones are warned then deleted unless the person comes
back, and a warning that did not leave never leads to a deletion."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from accounts import lifecycle, users
from accounts.lifecycle import Notice, Periods
from accounts.models import Account, AccountPhone, AuthRecord, ClosedAccount, Tombstone
from accounts.network import ensure_home_region
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from sesame.db import create_sessionmaker, unit_of_work
from tests.conftest import TEST_REALM

T0 = datetime(2025, 1, 10, 9, tzinfo=UTC)
DAY = timedelta(days=1)
PERIODS = Periods(unverified_after=7 * DAY, inactive_after=365 * DAY, notice=30 * DAY)


class Letterbox:
    """What ``notify`` was asked to send; it refuses the addresses in ``bounce``."""

    def __init__(self, *, bounce: frozenset[str] = frozenset(), raises: frozenset[str] = frozenset()) -> None:
        self.sent: list[Notice] = []
        self.bounce, self.raises = bounce, raises

    async def __call__(self, _session: AsyncSession, notice: Notice) -> bool:
        if notice.email in self.raises:
            raise RuntimeError("the mail server went away")
        if notice.email in self.bounce:
            return False
        self.sent.append(notice)
        return True


async def _make(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    *,
    created: datetime,
    verified: bool = True,
    signed_up: bool = True,
    last_seen: datetime | None = None,
    locale: str | None = None,
) -> int:
    async with unit_of_work(sessions) as session:
        region = await ensure_home_region(session, realm=TEST_REALM)
        account = await users.create_account(
            session,
            hasher=PasswordHasher(),
            region=region,
            username=name,
            email=f"{name}@example.fr",
            password=None,
        )
        account.email_verified = verified
        account.terms_accepted_at = created if signed_up else None
        account.terms_version = "2025-01" if signed_up else None
        account.created_at = created
        account.last_seen_at = last_seen
        account.locale = locale
        await session.flush()
        return account.id


async def _names(sessions: async_sessionmaker[AsyncSession]) -> set[str]:
    async with sessions() as session:
        return set((await session.scalars(select(Account.username))).all())


async def _run(
    sessions: async_sessionmaker[AsyncSession],
    box: SecretBox,
    now: datetime,
    notify: lifecycle.Notify,
    *,
    dry_run: bool = False,
    batch_size: int = 2,
) -> lifecycle.LifecycleReport:
    return await lifecycle.run(
        sessions, box=box, now=now, periods=PERIODS, notify=notify, batch_size=batch_size, dry_run=dry_run
    )


async def _seen(sessions: async_sessionmaker[AsyncSession], name: str, at: datetime) -> None:
    async with unit_of_work(sessions) as session:
        await session.execute(update(Account).where(Account.username == name).values(last_seen_at=at))


async def test_never_verified_sign_ups_go_after_the_delay_and_nothing_else(
    engine: AsyncEngine, box: SecretBox
) -> None:
    sessions = create_sessionmaker(engine)
    now = T0 + 30 * DAY
    await _make(sessions, "stale", created=now - 7 * DAY - timedelta(seconds=1), verified=False)
    await _make(sessions, "boundary", created=now - 7 * DAY, verified=False)  # exactly at the cutoff: kept
    await _make(sessions, "fresh", created=now - DAY, verified=False)
    await _make(sessions, "verified", created=now - 20 * DAY)
    await _make(sessions, "by-staff", created=now - 20 * DAY, verified=False, signed_up=False)

    dry = await _run(sessions, box, now, Letterbox(), dry_run=True)
    assert dry.unverified_deleted == 1 and dry.dry_run
    assert "stale" in await _names(sessions)  # a dry run deletes nothing

    report = await _run(sessions, box, now, Letterbox())
    assert report.unverified_deleted == 1
    assert await _names(sessions) == {"boundary", "fresh", "verified", "by-staff"}
    async with sessions() as session:  # deleted the way every account is: a tombstone, the sealed email
        assert await session.scalar(select(Tombstone.key).where(Tombstone.kind == "account")) == "stale"
        assert await session.scalar(select(ClosedAccount.closed_at)) is not None


async def test_an_unused_account_is_warned_then_deleted_a_notice_later(
    engine: AsyncEngine, box: SecretBox
) -> None:
    sessions = create_sessionmaker(engine)
    await _make(sessions, "idle", created=T0, last_seen=T0 + DAY, locale="it")
    await _make(sessions, "never-connected", created=T0)
    await _make(sessions, "active", created=T0, last_seen=T0 + 300 * DAY)
    async with unit_of_work(sessions) as session:
        session.add(
            AuthRecord(
                username=f"idle@{TEST_REALM}",
                reply="Access-Accept",
                authdate=T0 + DAY,
                method="pap",
                reason="ok",
            )
        )

    # a year after the last connection: warned, not deleted
    year = T0 + DAY + 365 * DAY + timedelta(seconds=1)
    letters = Letterbox()
    report = await _run(sessions, box, year, letters)
    assert (report.inactive_warned, report.inactive_deleted) == (2, 0)
    idle = next(n for n in letters.sent if n.identity == f"idle@{TEST_REALM}")
    assert idle.email == "idle@example.fr" and idle.locale == "it"
    assert idle.last_seen == T0 + DAY and idle.deletion_on == year + 30 * DAY

    # the next day: already warned, nobody warned twice, nobody deleted before the notice
    again = Letterbox()
    report = await _run(sessions, box, year + DAY, again)
    assert (report.inactive_warned, report.inactive_deleted, again.sent) == (0, 0, [])
    assert await _names(sessions) == {"idle", "never-connected", "active"}

    # the notice is over: both go; the records stay under a pseudonym
    report = await _run(sessions, box, year + 31 * DAY, Letterbox())
    assert report.inactive_deleted == 2
    assert await _names(sessions) == {"active"}
    async with sessions() as session:
        kept = (await session.scalars(select(AuthRecord.username))).all()
    assert kept == [users.pseudonym_of(box, f"idle@{TEST_REALM}")]


async def test_coming_back_after_the_warning_keeps_the_account(engine: AsyncEngine, box: SecretBox) -> None:
    sessions = create_sessionmaker(engine)
    await _make(sessions, "returns", created=T0, last_seen=T0)
    warned_at = T0 + 366 * DAY
    assert (await _run(sessions, box, warned_at, Letterbox())).inactive_warned == 1

    await _seen(sessions, "returns", warned_at + 10 * DAY)  # connected during the notice
    report = await _run(sessions, box, warned_at + 40 * DAY, Letterbox())
    assert report.inactive_deleted == 0 and report.warnings_cleared == 1
    assert await _names(sessions) == {"returns"}
    async with sessions() as session:
        assert await session.scalar(select(Account.inactivity_warned_at)) is None

    # a year after that connection, the cycle starts again: a new warning
    later = Letterbox()
    report = await _run(sessions, box, warned_at + 10 * DAY + 366 * DAY, later)
    assert report.inactive_warned == 1 and [n.identity for n in later.sent] == [f"returns@{TEST_REALM}"]


async def test_a_warning_that_did_not_leave_is_tried_again_and_never_leads_to_a_deletion(
    engine: AsyncEngine, box: SecretBox
) -> None:
    sessions = create_sessionmaker(engine)
    for name in ("bounces", "crashes", "fine-1", "fine-2", "fine-3", "imported"):
        await _make(sessions, name, created=T0)
    async with unit_of_work(sessions) as session:  # accounts/importing.py: no email, a placeholder
        await session.execute(
            update(Account).where(Account.username == "imported").values(email="imported@no-email.invalid")
        )
    letters = Letterbox(bounce=frozenset({"bounces@example.fr"}), raises=frozenset({"crashes@example.fr"}))
    now = T0 + 400 * DAY
    report = await _run(sessions, box, now, letters, batch_size=2)  # the failures span batches
    assert (report.inactive_warned, report.warnings_failed) == (4, 2)  # nobody to warn: 'imported'
    assert sorted(n.identity.partition("@")[0] for n in letters.sent) == ["fine-1", "fine-2", "fine-3"]

    # long after the notice: the four warned go, the two never warned stay and are tried again
    retry = Letterbox()
    report = await _run(sessions, box, now + 60 * DAY, retry)
    assert report.inactive_deleted == 4
    assert await _names(sessions) == {"bounces", "crashes"}
    assert sorted(n.identity.partition("@")[0] for n in retry.sent) == ["bounces", "crashes"]


async def test_an_account_signed_up_by_sms_is_warned_on_its_verified_number(
    engine: AsyncEngine, box: SecretBox
) -> None:
    sessions = create_sessionmaker(engine)
    by_sms = await _make(sessions, "by-sms", created=T0)
    unverified = await _make(sessions, "number-unverified", created=T0)
    async with unit_of_work(sessions) as session:
        for account_id, number, verified in (
            (by_sms, "+33612345678", T0),
            (unverified, "+33612345679", None),
        ):
            await session.execute(  # accounts/phones.py: the number under the placeholder address
                update(Account).where(Account.id == account_id).values(email=f"{number[1:]}@phone.invalid")
            )
            region_id = await session.scalar(select(Account.region_id).where(Account.id == account_id))
            session.add(
                AccountPhone(account_id=account_id, region_id=region_id, number=number, verified_at=verified)
            )
    letters = Letterbox()
    report = await _run(sessions, box, T0 + 400 * DAY, letters)
    # the verified number is told; the other has no mailbox and no number to reach: nobody to warn
    assert [(n.identity.partition("@")[0], n.phone) for n in letters.sent] == [("by-sms", "+33612345678")]
    assert report.inactive_warned == 2 and report.warnings_failed == 0


async def test_keeping_unused_accounts_is_a_choice(engine: AsyncEngine, box: SecretBox) -> None:
    sessions = create_sessionmaker(engine)
    await _make(sessions, "old", created=T0)
    keep = Periods(unverified_after=7 * DAY, inactive_after=None, notice=30 * DAY)
    letters = Letterbox()
    report = await lifecycle.run(
        sessions, box=box, now=T0 + 3000 * DAY, periods=keep, notify=letters, batch_size=10
    )
    assert (report.inactive_warned, report.inactive_deleted, letters.sent) == (0, 0, [])


async def test_two_runs_at_once_warn_each_account_once(engine: AsyncEngine, box: SecretBox) -> None:
    sessions = create_sessionmaker(engine)
    for i in range(12):
        await _make(sessions, f"idle-{i}", created=T0)
    first, second = Letterbox(), Letterbox()
    now = T0 + 400 * DAY
    await asyncio.gather(
        _run(sessions, box, now, first, batch_size=3), _run(sessions, box, now, second, batch_size=3)
    )
    warned = [n.account_id for n in first.sent + second.sent]
    assert sorted(set(warned)) == sorted(warned) and len(warned) == 12


@pytest.mark.parametrize(
    ("unverified", "inactive", "notice"),
    [(0, 365, 30), (7, 365, 0), (7, 30, 30), (7, 20, 30)],
)
def test_periods_that_make_no_sense_are_refused(unverified: int, inactive: int, notice: int) -> None:
    with pytest.raises(ValueError):
        Periods(unverified_after=unverified * DAY, inactive_after=inactive * DAY, notice=notice * DAY)


async def test_an_unused_account_without_email_goes_without_a_warning(
    engine: AsyncEngine, box: SecretBox
) -> None:
    """An account made through FranceConnect that kept no email: nobody to warn, so nothing is
    sent, and it is deleted a notice after it became unused all the same (docs/privacy.md)."""
    sessions = create_sessionmaker(engine)
    account_id = await _make(sessions, "fc-citizen", created=T0, last_seen=T0 + DAY)
    async with unit_of_work(sessions) as session:
        await session.execute(update(Account).where(Account.id == account_id).values(email=None))
    year = T0 + DAY + 365 * DAY + timedelta(seconds=1)
    letters = Letterbox()
    report = await _run(sessions, box, year, letters)
    assert (report.inactive_warned, letters.sent) == (1, [])
    assert await _names(sessions) == {"fc-citizen"}
    report = await _run(sessions, box, year + 31 * DAY, Letterbox())
    assert report.inactive_deleted == 1 and await _names(sessions) == set()
