"""Sign-up and password recovery with a mobile number (issue 19), beside the email ones of
:mod:`accounts.selfservice`.

An account signed up by SMS has its number in ``account_phone`` and, in ``account.email`` (unique,
not null), :func:`accounts.phones.placeholder_email` — an address under ``phone.invalid`` that no
mail reaches. ``account.email_verified`` stays what every other part reads (the RADIUS policy, the
hand-off): "the account's contact is verified", set here when the code sent to the number comes back.

Every SMS these services ask for is counted against the region's daily budget
(:mod:`accounts.smsbudget`) in the caller's transaction: when a budget is spent they raise
:class:`BudgetSpent`, and the caller's transaction — the new account too — rolls back.

No enumeration, as for email: :func:`sign_up_by_phone` raises :class:`PhoneInUse` rather than
naming the other account; :func:`start_phone_reset` returns ``None`` for an unknown number.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from accounts.errors import Conflict, DomainError, InvalidInput
from accounts.identity import split_identity
from accounts.models import Account, AccountPhone, AccountStatus, PhoneCodePurpose, Region
from accounts.network import flush_or_conflict
from accounts.passwords import PasswordHasher, check_password_rules
from accounts.phones import country_of, placeholder_email
from accounts.secretbox import SecretBox
from accounts.selfservice import Consent
from accounts.smsbudget import Budget, Outcome, Spend, spend
from accounts.smscodes import issue_phone_code, use_phone_code


class PhoneInUse(Conflict):
    """Another account already uses this number (the portal must not say so)."""


class BudgetSpent(DomainError):
    """Today's SMS budget (the region's, or its destination country's) is spent: nothing sent."""

    def __init__(self, scope: str) -> None:
        super().__init__(f"today's SMS budget ({scope}) is spent")
        self.scope = scope


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeToSend:
    """An SMS the caller sends once its transaction commits; ``budget_reached`` names the budget
    this SMS took the last unit of (the caller logs it once), or None."""

    number: str
    code: str
    budget_reached: str | None = None


def _related(username: str, number: str) -> tuple[str, ...]:
    return (username, number.lstrip("+"), number[-9:])


async def phone_of(session: AsyncSession, *, account: Account) -> AccountPhone | None:
    return await session.scalar(select(AccountPhone).where(AccountPhone.account_id == account.id))


async def find_by_phone(session: AsyncSession, *, region: Region, number: str) -> Account | None:
    """The account of an E.164 number, or None."""
    return await session.scalar(
        select(Account)
        .join(AccountPhone, AccountPhone.account_id == Account.id)
        .options(selectinload(Account.region))
        .where(AccountPhone.region_id == region.id, AccountPhone.number == number)
    )


async def sign_up_by_phone(
    session: AsyncSession,
    *,
    hasher: PasswordHasher,
    region: Region,
    username: str,
    number: str,
    password: str,
    consent: Consent,
    grace: timedelta,
    locale: str | None = None,
) -> Account:
    """A new unverified account for the E.164 ``number`` (checked by the caller with
    :func:`accounts.phones.normalize_phone`), which may connect for ``grace`` to receive its code."""
    username, realm = split_identity(username, home_realm=region.realm)
    if realm != region.realm:
        raise InvalidInput(f"choose a username without '@': your identity will be username@{region.realm}")
    check_password_rules(password, related=_related(username, number))
    password_hash = await hasher.hash_off_loop(password)  # before the number check: same time either way
    used = select(AccountPhone.id).where(AccountPhone.region_id == region.id, AccountPhone.number == number)
    email = placeholder_email(number)
    held = select(Account.id).where(Account.region_id == region.id, Account.email == email)
    if await session.scalar(used) is not None or await session.scalar(held) is not None:
        raise PhoneInUse("another account already uses this number")
    taken = select(Account.id).where(Account.region_id == region.id, Account.username == username)
    if await session.scalar(taken) is not None:
        raise Conflict(f"the username {username}@{region.realm} is taken")
    account = Account(
        region=region,
        username=username,
        email=email,
        email_verified=False,
        password_hash=password_hash,
        status=AccountStatus.ACTIVE,
        terms_version=consent.version,
        terms_accepted_at=consent.accepted_at,
        grace_until=consent.accepted_at + grace if grace > timedelta(0) else None,
        locale=locale,
    )
    session.add(account)
    await flush_or_conflict(session, f"the username {username}@{region.realm} or this number is taken")
    session.add(AccountPhone(account_id=account.id, region_id=region.id, number=number))
    await flush_or_conflict(session, "another account already uses this number")
    return account


async def _code_for(
    session: AsyncSession,
    *,
    box: SecretBox,
    budget: Budget,
    account: Account,
    number: str,
    purpose: PhoneCodePurpose,
    now: datetime,
) -> CodeToSend:
    outcome: Outcome = await spend(
        session, region=account.region, country=country_of(number), budget=budget, now=now
    )
    if outcome.spend is Spend.REFUSED:
        raise BudgetSpent(outcome.scope or "*")
    code = await issue_phone_code(session, box=box, account=account, number=number, purpose=purpose, now=now)
    return CodeToSend(
        number=number, code=code, budget_reached=outcome.scope if outcome.spend is Spend.LAST else None
    )


async def send_phone_verification(
    session: AsyncSession, *, box: SecretBox, budget: Budget, account: Account, now: datetime
) -> CodeToSend:
    """A new verification code for the account's number (the caller sends it)."""
    phone = await phone_of(session, account=account)
    if phone is None:
        raise InvalidInput("this account has no mobile number")
    if phone.verified_at is not None:
        raise Conflict("this number is already verified")
    return await _code_for(
        session, box=box, budget=budget, account=account, number=phone.number,
        purpose=PhoneCodePurpose.VERIFY_PHONE, now=now,
    )  # fmt: skip


async def verify_phone(
    session: AsyncSession, *, box: SecretBox, account: Account, code: str, now: datetime
) -> bool:
    """Mark the number (and so the account) verified if ``code`` is the live code sent to it."""
    phone = await phone_of(session, account=account)
    if phone is None:
        return False
    if phone.verified_at is not None:
        return True
    if not await use_phone_code(
        session, box=box, account=account, number=phone.number,
        purpose=PhoneCodePurpose.VERIFY_PHONE, code=code, now=now,
    ):  # fmt: skip
        return False
    phone.verified_at = now
    account.email_verified = True
    account.grace_until = None
    await session.flush()
    return True


async def start_phone_reset(
    session: AsyncSession, *, box: SecretBox, budget: Budget, region: Region, number: str, now: datetime
) -> CodeToSend | None:
    """A password-reset code for the account of ``number``, or None if there is none."""
    account = await find_by_phone(session, region=region, number=number)
    if account is None:
        return None
    return await _code_for(
        session, box=box, budget=budget, account=account, number=number,
        purpose=PhoneCodePurpose.RESET_PASSWORD, now=now,
    )  # fmt: skip


async def finish_phone_reset(
    session: AsyncSession,
    *,
    box: SecretBox,
    hasher: PasswordHasher,
    region: Region,
    number: str,
    code: str,
    password: str,
    now: datetime,
) -> Account | None:
    """Set a new password with a code sent by SMS; None when the code (or the number) is wrong.
    The code proves the number, so it verifies it."""
    account = await find_by_phone(session, region=region, number=number)
    if account is None:
        return None
    check_password_rules(password, related=_related(account.username, number))
    if not await use_phone_code(
        session, box=box, account=account, number=number,
        purpose=PhoneCodePurpose.RESET_PASSWORD, code=code, now=now,
    ):  # fmt: skip
        return None
    account.password_hash = await hasher.hash_off_loop(password)
    phone = await phone_of(session, account=account)
    if phone is not None and phone.verified_at is None:
        phone.verified_at = now
    account.email_verified = True
    account.grace_until = None
    await session.flush()
    return account
