"""What citizens do with their own account on the captive portal: sign up (with consent and a
grace connection), log in, verify their email, reset or change their password, manage their
devices, see and download their data.

No account enumeration: :func:`log_in` spends the same time whether the account exists or not
(a dummy hash) and says only "wrong identity or password"; :func:`sign_up` raises
:class:`EmailInUse` rather than naming the other account, and the portal then answers as for a
new sign-up and warns the address's owner by email; :func:`start_reset` returns ``None`` for an
unknown address, and the portal answers the same either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload
from sqlalchemy.orm.attributes import set_committed_value

from accounts.codes import issue_code, use_code
from accounts.errors import Conflict, InvalidInput, NotFound
from accounts.identity import display_name, normalize_email, normalize_mac, split_identity
from accounts.models import (
    Account,
    AccountingSession,
    AccountPhone,
    AuthRecord,
    CodePurpose,
    Commune,
    Device,
    IdentityLink,
    Region,
    Site,
    utcnow,
)
from accounts.passwords import PasswordHasher, check_password_rules
from accounts.phones import has_mailbox
from accounts.secretbox import SecretBox
from accounts.users import create_account, remember_device


class EmailInUse(Conflict):
    """Another account already uses this email address (the portal must not say so)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Consent:
    """The terms of use and privacy notice a person accepted, by version."""

    version: str
    accepted_at: datetime


def _related(username: str, email: str) -> tuple[str, ...]:
    return (username, email.partition("@")[0])


async def sign_up(
    session: AsyncSession,
    *,
    hasher: PasswordHasher,
    region: Region,
    username: str,
    email: str,
    password: str,
    consent: Consent,
    grace: timedelta,
    locale: str | None = None,
) -> Account:
    """A new unverified account that may connect for ``grace`` to read its verification email."""
    username, realm = split_identity(username, home_realm=region.realm)
    if realm != region.realm:
        raise InvalidInput(f"choose a username without '@': your identity will be username@{region.realm}")
    email = normalize_email(email)
    check_password_rules(password, related=_related(username, email))
    # hashed before the email check, so that an address in use does not answer faster than a new one
    password_hash = await hasher.hash_off_loop(password)
    used = select(Account.id).where(Account.region_id == region.id, Account.email == email)
    if await session.scalar(used) is not None:
        raise EmailInUse("another account already uses this email address")
    account = await create_account(
        session, hasher=hasher, region=region, username=username, email=email, password=None
    )
    account.password_hash = password_hash
    account.terms_version = consent.version
    account.terms_accepted_at = consent.accepted_at
    account.grace_until = consent.accepted_at + grace if grace > timedelta(0) else None
    account.locale = locale
    await session.flush()
    return account


async def log_in(
    session: AsyncSession, *, hasher: PasswordHasher, region: Region, identity: str, password: str
) -> Account | None:
    """The account if ``identity`` (username, username@realm or email) and ``password`` match.

    Whatever its state: a disabled or locked account is told so by the caller, once the person
    proved the password. Unknown identities cost the same dummy verification.
    """
    account = await find_by_identity_or_email(session, region=region, value=identity)
    password_hash = account.password_hash if account is not None else None
    if not await hasher.verify_off_loop(password, password_hash) or account is None:
        return None
    if hasher.needs_rehash(password_hash or ""):
        account.password_hash = await hasher.hash_off_loop(password)
        await session.flush()
    await note_activity(session, account=account, now=utcnow())
    return account


async def note_activity(session: AsyncSession, *, account: Account, now: datetime) -> None:
    """The person used their account (a log-in): what keeps it from being deleted as unused
    (accounts/lifecycle.py). ``updated_at`` is left alone: nothing the RADIUS caches hold changed."""
    await session.execute(
        update(Account)
        .where(Account.id == account.id)
        .values(last_seen_at=now, updated_at=Account.updated_at)
        .execution_options(synchronize_session=False)
    )
    set_committed_value(account, "last_seen_at", now)  # known, not a change to flush


async def find_by_identity_or_email(session: AsyncSession, *, region: Region, value: str) -> Account | None:
    """The account a person means by what they typed, or None (never an error: no enumeration).
    A number in international form (``+33 6 12 34 56 78``) names the account signed up with it."""
    query = select(Account).options(selectinload(Account.region)).where(Account.region_id == region.id)
    value = value.strip()
    try:
        if value.startswith("+"):
            number = "+" + "".join(c for c in value[1:] if c not in " .-")
            if not number[1:].isdecimal() or len(number) > 16:
                return None
            query = query.join(AccountPhone, AccountPhone.account_id == Account.id).where(
                AccountPhone.number == number
            )
        elif "@" in value and not value.lower().endswith("@" + region.realm):
            query = query.where(Account.email == normalize_email(value))
        else:
            username, _ = split_identity(value, home_realm=region.realm)
            query = query.where(Account.username == username)
    except InvalidInput:
        return None
    return await session.scalar(query)


async def send_verification(session: AsyncSession, *, box: SecretBox, account: Account, now: datetime) -> str:
    """A new verification code for the account's email (the caller sends it)."""
    if account.email_verified or account.email is None:  # none: made through an identity provider
        raise Conflict("this email address is already verified")
    return await issue_code(session, box=box, account=account, purpose=CodePurpose.VERIFY_EMAIL, now=now)


async def verify_email(
    session: AsyncSession, *, box: SecretBox, account: Account, code: str, now: datetime
) -> bool:
    """Mark the email verified if ``code`` is the live verification code."""
    if account.email_verified:
        return True
    if not await use_code(
        session, box=box, account=account, purpose=CodePurpose.VERIFY_EMAIL, code=code, now=now
    ):
        return False
    account.email_verified = True
    account.grace_until = None
    await session.flush()
    return True


async def start_reset(
    session: AsyncSession, *, box: SecretBox, region: Region, value: str, now: datetime
) -> tuple[Account, str] | None:
    """A password-reset code for the account named by email or identity, or None if there is none."""
    account = await find_by_identity_or_email(session, region=region, value=value)
    if account is None or account.email is None:  # no address to send the code to
        return None
    code = await issue_code(session, box=box, account=account, purpose=CodePurpose.RESET_PASSWORD, now=now)
    return account, code


async def finish_reset(
    session: AsyncSession,
    *,
    box: SecretBox,
    hasher: PasswordHasher,
    region: Region,
    value: str,
    code: str,
    password: str,
    now: datetime,
) -> Account | None:
    """Set a new password with a reset code; None when the code (or the account) is wrong.

    A reset by email code also proves the address, so it verifies it.
    """
    account = await find_by_identity_or_email(session, region=region, value=value)
    if account is None:
        return None
    check_password_rules(password, related=_related(account.username, account.email or ""))
    if not await use_code(
        session, box=box, account=account, purpose=CodePurpose.RESET_PASSWORD, code=code, now=now
    ):
        return None
    account.password_hash = await hasher.hash_off_loop(password)
    account.email_verified = True
    account.grace_until = None
    await session.flush()
    return account


async def change_password(
    session: AsyncSession, *, hasher: PasswordHasher, account: Account, current: str, new: str
) -> bool:
    """Replace the password if ``current`` is right; False otherwise."""
    if not await hasher.verify_off_loop(current, account.password_hash):
        return False
    check_password_rules(new, related=_related(account.username, account.email or ""))
    account.password_hash = await hasher.hash_off_loop(new)
    await session.flush()
    return True


# -- devices -------------------------------------------------------------------------------------


async def remember_this_device(
    session: AsyncSession, *, account: Account, mac: str, now: datetime, period: timedelta
) -> Device:
    """Let this device reconnect by MAC authentication for ``period``, on every hotspot of the region."""
    return await remember_device(session, account=account, mac=mac, label=None, until=now + period)


async def rename_device(session: AsyncSession, *, account: Account, mac: str, label: str) -> Device:
    device = await session.scalar(
        select(Device).where(Device.account_id == account.id, Device.mac == normalize_mac(mac))
    )
    if device is None:
        raise NotFound("no such device")
    device.label = display_name(label, what="device", max_length=64) if label.strip() else None
    await session.flush()
    return device


# -- my data -------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Connection:
    """One of the person's connections, as their account page shows it."""

    start: datetime | None
    stop: datetime | None
    seconds: int | None
    device: str | None
    place: str | None  # "Commune · Site"


async def recent_sessions(session: AsyncSession, *, account: Account, limit: int = 20) -> list[Connection]:
    """The account's latest connections: when, how long, with which device, where."""
    query = (
        select(AccountingSession, Site.name, Commune.name)
        .outerjoin(Site, Site.id == AccountingSession.site_id)
        .outerjoin(Commune, Commune.id == Site.commune_id)
        .where(AccountingSession.account_id == account.id)
        .order_by(AccountingSession.acctstarttime.desc(), AccountingSession.radacctid.desc())
        .limit(limit)
    )
    return [
        Connection(
            start=row.acctstarttime,
            stop=row.acctstoptime,
            seconds=row.acctsessiontime,
            device=row.callingstationid,
            place=f"{commune} · {site}" if site else None,
        )
        for row, site, commune in (await session.execute(query)).all()
    ]


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


async def export_data(session: AsyncSession, *, account: Account) -> dict[str, Any]:
    """Everything kept about the account, as JSON-ready data (GDPR arts. 15 and 20).

    Secrets are left out (password hash, device credentials' NT hashes, codes, tokens); a
    remembered device, its MAC and label are included, and every connection and login record.
    """
    devices = (await session.scalars(select(Device).where(Device.account_id == account.id))).all()
    phone = await session.scalar(select(AccountPhone).where(AccountPhone.account_id == account.id))
    sessions = (
        await session.scalars(
            select(AccountingSession)
            .where(AccountingSession.account_id == account.id)
            .order_by(AccountingSession.acctstarttime)
        )
    ).all()
    logins = (
        await session.scalars(
            select(AuthRecord).where(AuthRecord.account_id == account.id).order_by(AuthRecord.authdate)
        )
    ).all()
    links = (
        await session.scalars(
            select(IdentityLink).where(IdentityLink.account_id == account.id).order_by(IdentityLink.provider)
        )
    ).all()
    return {
        "account": {
            "identity": account.identity,
            "email": account.email if has_mailbox(account.email) else None,
            "email_verified": account.email_verified,
            "mobile_number": phone.number if phone is not None else None,
            "mobile_number_verified_at": _when(phone.verified_at) if phone is not None else None,
            "status": str(account.status),
            "created_at": _when(account.created_at),
            "terms_version": account.terms_version,
            "terms_accepted_at": _when(account.terms_accepted_at),
            "language": account.locale,
        },
        "identity_providers": [
            {
                "provider": link.provider,
                "subject": link.subject,
                "civil_identity_kept": link.civil_ciphertext is not None,
                "created_at": _when(link.created_at),
                "last_used_at": _when(link.last_used_at),
            }
            for link in links
        ],
        "devices": [
            {
                "mac": d.mac,
                "label": d.label,
                "remembered_until": _when(d.remembered_until),
                "created_at": _when(d.created_at),
            }
            for d in devices
        ],
        "connections": [
            {
                "start": _when(s.acctstarttime),
                "stop": _when(s.acctstoptime),
                "seconds": s.acctsessiontime,
                "octets_in": s.acctinputoctets,
                "octets_out": s.acctoutputoctets,
                "device": s.callingstationid,
                "ip": s.framedipaddress,
                "access_point": s.nasipaddress,
                "end": s.acctterminatecause,
            }
            for s in sessions
        ],
        "logins": [
            {
                "time": _when(r.authdate),
                "result": r.reply,
                "method": r.method,
                "reason": r.reason,
                "device": r.callingstationid,
            }
            for r in logins
        ],
    }
