"""An account's life after sign-up: storage limitation (GDPR art. 5(1)(e)) for accounts themselves.

:mod:`accounts.retention` deletes *records* past their legal period; this module deletes
*accounts* nobody uses, through :func:`accounts.users.delete_account` (the legal records stay,
under a pseudonym, for their own period):

* **never verified**: an account signed up on the portal (it holds the terms' consent) whose
  email was never confirmed, ``unverified_after`` after it was created (the grace connection it
  had to read the email lasted minutes). Accounts made by staff or imported carry no consent and
  are not concerned: their makers vouched for them.
* **inactive**: an account with no connection and no log-in (``last_seen_at``, else its creation)
  for ``inactive_after`` is warned (:func:`warn_inactive`: ``inactivity_warned_at`` is set once the
  warning was handed to the mail server); it is deleted ``notice`` after that warning unless it
  was seen since (:func:`purge_inactive`). An account seen after its warning is no longer warned
  (the mark is cleared), and a warning that could not be sent is tried again the next day: nobody
  is deleted without a warning that left — except an account with no address to warn (an identity
  provider's without email, an import's placeholder under ``.invalid``), deleted a notice after
  it became unused all the same.

The clock is the caller's (``now``). Every step works in committed batches of ``batch_size``
accounts — an interrupted run has kept what it did and the next one carries on — and has a dry
run that counts what it would do.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, false, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.models import Account, AccountPhone, Region
from accounts.phones import has_mailbox
from accounts.secretbox import SecretBox
from accounts.users import delete_account

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True, kw_only=True)
class Periods:
    """How long an account may stay unverified, or unused, and the notice before deletion."""

    unverified_after: timedelta
    inactive_after: timedelta | None  # None: inactive accounts are kept
    notice: timedelta

    def __post_init__(self) -> None:
        if self.unverified_after <= timedelta(0) or self.notice <= timedelta(0):
            raise ValueError("lifecycle periods must be positive")
        if self.inactive_after is not None and self.inactive_after <= self.notice:
            raise ValueError("the inactivity period must be longer than the notice")


@dataclass(frozen=True, slots=True, kw_only=True)
class Notice:
    """What the warning of an inactive account needs: where to, in which language, until when."""

    account_id: int
    region_id: int
    identity: str  # username@realm
    email: str | None  # None, or a placeholder under .invalid: no mailbox (accounts.phones.has_mailbox)
    phone: str | None  # the verified mobile number (E.164), if any
    locale: str | None
    last_seen: datetime
    deletion_on: datetime


#: sends one warning; False (or an exception of the sender's own) when it did not leave. It is
#: given the batch's transaction (an SMS's budget is spent in it: on SQLite the batch holds the
#: one write lock, and another transaction would wait for it)
Notify = Callable[[AsyncSession, Notice], Awaitable[bool]]


@dataclass(frozen=True, slots=True, kw_only=True)
class LifecycleReport:
    """Accounts deleted or warned (or, for a dry run, that would be)."""

    unverified_deleted: int
    inactive_warned: int
    warnings_failed: int
    inactive_deleted: int
    warnings_cleared: int
    dry_run: bool = False


def _last_activity() -> ColumnElement[datetime]:
    return func.coalesce(Account.last_seen_at, Account.created_at)


def _never_verified(now: datetime, periods: Periods) -> ColumnElement[bool]:
    return (
        Account.email_verified.is_(False)
        & Account.terms_accepted_at.is_not(None)
        & (Account.created_at < now - periods.unverified_after)
    )


def _due_warning(now: datetime, inactive_after: timedelta) -> ColumnElement[bool]:
    return Account.inactivity_warned_at.is_(None) & (_last_activity() < now - inactive_after)


def _due_deletion(now: datetime, periods: Periods) -> ColumnElement[bool]:
    # warned long enough ago, and not seen since the warning
    warned = Account.inactivity_warned_at
    return warned.is_not(None) & (warned < now - periods.notice) & (_last_activity() < warned)


def _came_back() -> ColumnElement[bool]:
    warned = Account.inactivity_warned_at
    return warned.is_not(None) & (_last_activity() >= warned)


async def _count(sessions: async_sessionmaker[AsyncSession], where: ColumnElement[bool]) -> int:
    async with sessions() as session:
        return int(await session.scalar(select(func.count()).select_from(Account).where(where)) or 0)


async def _batch(session: AsyncSession, where: ColumnElement[bool], batch_size: int) -> Sequence[Account]:
    """The next ``batch_size`` accounts matching ``where``, held for this transaction: two runs at
    once (a timer and an operator) never take the same account."""
    query = select(Account).where(where).order_by(Account.id).limit(batch_size)
    if (await session.connection()).dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)  # the other run takes the next ones
    else:
        # SQLite has one writer: take its lock before reading (an empty write does), so the other
        # run reads after this batch committed, not before
        await session.execute(update(Account).where(false()).values(id=Account.id))
    return (await session.scalars(query)).all()


async def _delete_where(
    sessions: async_sessionmaker[AsyncSession],
    where: ColumnElement[bool],
    *,
    box: SecretBox,
    now: datetime,
    batch_size: int,
) -> int:
    total = 0
    while True:
        async with sessions() as session, session.begin():
            accounts = await _batch(session, where, batch_size)
            for account in accounts:
                await delete_account(session, box=box, account=account, now=now)
        total += len(accounts)
        if not accounts:
            return total


async def purge_unverified(
    sessions: async_sessionmaker[AsyncSession],
    *,
    box: SecretBox,
    now: datetime,
    periods: Periods,
    batch_size: int,
    dry_run: bool = False,
) -> int:
    """Delete the accounts signed up and never verified for ``periods.unverified_after``."""
    where = _never_verified(now, periods)
    if dry_run:
        return await _count(sessions, where)
    return await _delete_where(sessions, where, box=box, now=now, batch_size=batch_size)


async def clear_returned(sessions: async_sessionmaker[AsyncSession], *, dry_run: bool = False) -> int:
    """Clear the warning of the accounts seen since they were warned (they are kept)."""
    if dry_run:
        return await _count(sessions, _came_back())
    async with sessions() as session, session.begin():
        result = await session.execute(
            update(Account)
            .where(_came_back())
            .values(inactivity_warned_at=None, updated_at=Account.updated_at)
            .execution_options(synchronize_session=False)
        )
    return int(result.rowcount)  # type: ignore[attr-defined]


async def warn_inactive(
    sessions: async_sessionmaker[AsyncSession],
    *,
    now: datetime,
    periods: Periods,
    notify: Notify,
    batch_size: int,
    dry_run: bool = False,
) -> tuple[int, int]:
    """Warn the accounts unused for ``periods.inactive_after``; (warned, failed to warn).

    An account is marked warned only once ``notify`` returned True, in the batch's transaction;
    a failed warning leaves it unmarked, so it is neither deleted nor forgotten: the next run tries
    again. The mark does not touch ``updated_at`` (what the RADIUS caches poll: nothing of what
    they hold changed).
    """
    if periods.inactive_after is None:
        return 0, 0
    where = _due_warning(now, periods.inactive_after)
    if dry_run:
        return await _count(sessions, where), 0
    warned = failed = 0
    after_id = 0  # a failed account stays due: walk past it, not back to it
    while True:
        async with sessions() as session, session.begin():
            accounts = await _batch(session, where & (Account.id > after_id), batch_size)
            if not accounts:
                return warned, failed
            numbers: dict[int, str] = {
                row.account_id: row.number
                for row in await session.execute(
                    select(AccountPhone.account_id, AccountPhone.number).where(
                        AccountPhone.account_id.in_([a.id for a in accounts]),
                        AccountPhone.verified_at.is_not(None),
                    )
                )
            }
            realms: dict[int, str] = {
                row.id: row.realm for row in await session.execute(select(Region.id, Region.realm))
            }
            for account in accounts:
                after_id = account.id
                last_seen = account.last_seen_at or account.created_at
                phone = numbers.get(account.id)
                if not has_mailbox(account.email) and phone is None:
                    # nobody to warn: an identity provider's account without email (the sign-up
                    # page said so), an import's RFC 2606 placeholder; the deletion follows all the same
                    sent = True
                else:
                    notice = Notice(
                        account_id=account.id,
                        region_id=account.region_id,
                        identity=f"{account.username}@{realms[account.region_id]}",
                        email=account.email,
                        phone=phone,
                        locale=account.locale,
                        last_seen=last_seen,
                        deletion_on=now + periods.notice,
                    )
                    try:
                        sent = await notify(session, notice)  # by email where there is a mailbox, else by SMS
                    except Exception:  # one address's failure must not stop the others
                        log.exception("lifecycle: the warning to account %d failed", account.id)
                        sent = False
                if not sent:
                    failed += 1
                    continue
                await session.execute(
                    update(Account)
                    .where(Account.id == account.id)
                    .values(inactivity_warned_at=now, updated_at=Account.updated_at)
                    .execution_options(synchronize_session=False)
                )
                warned += 1


async def purge_inactive(
    sessions: async_sessionmaker[AsyncSession],
    *,
    box: SecretBox,
    now: datetime,
    periods: Periods,
    batch_size: int,
    dry_run: bool = False,
) -> int:
    """Delete the accounts warned ``periods.notice`` ago and not seen since."""
    if periods.inactive_after is None:
        return 0
    where = _due_deletion(now, periods)
    if dry_run:
        return await _count(sessions, where)
    return await _delete_where(sessions, where, box=box, now=now, batch_size=batch_size)


async def run(
    sessions: async_sessionmaker[AsyncSession],
    *,
    box: SecretBox,
    now: datetime,
    periods: Periods,
    notify: Notify,
    batch_size: int,
    dry_run: bool = False,
) -> LifecycleReport:
    """The day's lifecycle: clear the warnings of those who came back, delete the never-verified,
    delete the warned who did not come back, then warn the newly inactive (in that order: a
    warning sent today is never followed by a deletion today)."""
    cleared = await clear_returned(sessions, dry_run=dry_run)
    unverified = await purge_unverified(
        sessions, box=box, now=now, periods=periods, batch_size=batch_size, dry_run=dry_run
    )
    inactive = await purge_inactive(
        sessions, box=box, now=now, periods=periods, batch_size=batch_size, dry_run=dry_run
    )
    warned, failed = await warn_inactive(
        sessions, now=now, periods=periods, notify=notify, batch_size=batch_size, dry_run=dry_run
    )
    return LifecycleReport(
        unverified_deleted=unverified,
        inactive_warned=warned,
        warnings_failed=failed,
        inactive_deleted=inactive,
        warnings_cleared=cleared,
        dry_run=dry_run,
    )
