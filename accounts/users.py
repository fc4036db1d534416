"""Services for citizens' accounts and their devices."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from accounts.errors import Conflict, InvalidInput, NotFound
from accounts.identity import (
    normalize_email,
    normalize_mac,
    normalize_realm,
    normalize_username,
    split_identity,
)
from accounts.models import (
    Account,
    AccountingSession,
    AccountStatus,
    AuthRecord,
    ClosedAccount,
    Device,
    Region,
    Tombstone,
    utcnow,
)
from accounts.network import flush_or_conflict
from accounts.passwords import PasswordHasher, check_password_rules
from accounts.secretbox import SecretBox
from accounts.vouchercodes import is_voucher_username

PSEUDONYM_PURPOSE = "account-pseudonym"
CLOSED_EMAIL_PURPOSE = "closed-account-email"
PSEUDONYM_PREFIX = "deleted-"


async def create_account(
    session: AsyncSession,
    *,
    hasher: PasswordHasher,
    region: Region,
    username: str,
    email: str | None,
    password: str | None,
    verified: bool = False,
) -> Account:
    """A new active account; ``password=None`` leaves it without one (set later by a reset);
    ``email=None`` only for one made through an identity provider (:mod:`accounts.identitylinks`)."""
    username, _ = split_identity(username, home_realm=region.realm)
    email = normalize_email(email) if email is not None else None
    if password is not None:
        check_password_rules(password)
    taken = select(Account.id).where(Account.region_id == region.id, Account.username == username)
    if await session.scalar(taken) is not None:
        raise Conflict(f"the username {username}@{region.realm} is taken")
    used = select(Account.id).where(Account.region_id == region.id, Account.email == email)
    if email is not None and await session.scalar(used) is not None:
        raise Conflict("another account already uses this email address")
    account = Account(
        region=region,
        username=username,
        email=email,
        email_verified=verified,
        password_hash=hasher.hash(password) if password is not None else None,
        status=AccountStatus.ACTIVE,
    )
    session.add(account)
    await flush_or_conflict(session, f"the username {username}@{region.realm} or this email is taken")
    return account


async def find_account(session: AsyncSession, identity: str, *, region: Region) -> Account:
    """An account of our region by ``username`` or ``username@realm``."""
    username, realm = split_identity(identity, home_realm=region.realm)
    if realm != region.realm:
        raise NotFound(f"{username}@{realm} is not an account of this region ({region.realm})")
    account = await session.scalar(
        select(Account)
        .where(Account.region_id == region.id, Account.username == username)
        .options(selectinload(Account.region))
    )
    if account is None:
        raise NotFound(f"no account {username}@{realm}")
    return account


async def list_accounts(
    session: AsyncSession, *, region: Region, status: AccountStatus | None = None, limit: int = 1000
) -> Sequence[Account]:
    query = (
        select(Account)
        .where(Account.region_id == region.id)
        .options(selectinload(Account.region))
        .order_by(Account.username)
        .limit(limit)
    )
    if status is not None:
        query = query.where(Account.status == status)
    return (await session.scalars(query)).all()


async def set_status(session: AsyncSession, *, account: Account, status: AccountStatus) -> Account:
    account.status = status
    await session.flush()
    return account


async def set_password(
    session: AsyncSession, *, hasher: PasswordHasher, account: Account, password: str
) -> None:
    check_password_rules(password)
    account.password_hash = hasher.hash(password)
    await session.flush()


async def upgrade_password_hash(
    session: AsyncSession, *, account_id: int, old_hash: str, new_hash: str
) -> bool:
    """Replace an imported hash by ``new_hash`` (argon2id of the password just proved right),
    unless it changed meanwhile (a reset, another log-in's upgrade): True when replaced."""
    result = await session.execute(
        update(Account)
        .where(Account.id == account_id, Account.password_hash == old_hash)
        .values(password_hash=new_hash, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return bool(getattr(result, "rowcount", 0))


async def remember_device(
    session: AsyncSession, *, account: Account, mac: str, label: str | None, until: datetime | None
) -> Device:
    """Register (or re-register) a device of this account by MAC address."""
    mac = normalize_mac(mac)
    device = await session.scalar(select(Device).where(Device.mac == mac))
    if device is not None and device.account_id != account.id:
        raise Conflict("this device is registered to another account")
    if device is None:
        device = Device(account=account, mac=mac)
        session.add(device)
    device.label = label
    device.remembered_until = until
    await flush_or_conflict(session, "this device is registered to another account")
    return device


async def list_devices(session: AsyncSession, *, account: Account) -> Sequence[Device]:
    return (
        await session.scalars(select(Device).where(Device.account_id == account.id).order_by(Device.mac))
    ).all()


async def forget_device(session: AsyncSession, *, account: Account, mac: str) -> None:
    """Forget a device of this account: MAC authentication stops at once."""
    device = await session.scalar(
        select(Device).where(Device.mac == normalize_mac(mac), Device.account_id == account.id)
    )
    if device is None:
        raise NotFound(f"{account.username} has no device {normalize_mac(mac)}")
    session.add(Tombstone(kind="device", key=device.mac))
    await session.delete(device)
    await session.flush()


# -- deletion ------------------------------------------------------------------------------------


def pseudonym_of(box: SecretBox, identity: str) -> str:
    """The name the kept records of ``username@realm`` carry once its account is deleted.

    A keyed digest (HMAC under the secret key): the same identity always gives the same
    pseudonym, so an operator answering a judicial requisition about a deleted identity can find
    its records; without the secret key the pseudonym reveals nothing.
    """
    user, sep, realm = identity.strip().rpartition("@")
    if not sep:
        raise InvalidInput(f"{identity!r}: give the full identity, username@realm")
    # a guest voucher's account (accounts.vouchercodes) has a name no citizen may choose
    name = user.lower() if is_voucher_username(user.lower()) else normalize_username(user)
    canonical = f"{name}@{normalize_realm(realm)}"
    return PSEUDONYM_PREFIX + box.digest(canonical.encode(), purpose=PSEUDONYM_PURPOSE)[:24]


async def delete_account(session: AsyncSession, *, box: SecretBox, account: Account, now: datetime) -> str:
    """Delete an account, keeping under a pseudonym what the law still requires; returns the pseudonym.

    Connection records (``radacct``) and authentication records (``radpostauth``) must be kept a
    year from the connection (décret 2021-1361): they keep their technical data (MAC, IP, access
    point, times, volumes), but their username becomes the pseudonym and their link to the account
    is cut. Records are the account's by ``account_id``, or, for those linked to no account (a
    login refused before the account was known, a session accounted without one), by a username
    of ``username`` or ``username@realm`` in any case. The sign-up data (the email) is kept sealed
    in ``closed_account`` for :func:`accounts.retention.purge` to delete after its own period.
    Everything else (devices, tokens, device credentials) goes with the account (``ON DELETE
    CASCADE``).

    An identity deleted, created again and deleted again has one ``closed_account`` row: it holds
    every email the identity had, one per line, and the latest closing date.
    """
    realm = (await session.get_one(Region, account.region_id)).realm
    identity = f"{account.username}@{realm}"
    pseudonym = pseudonym_of(box, identity)
    names = [account.username, identity]
    for model in (AccountingSession, AuthRecord):
        await session.execute(
            update(model)
            .where(_records_of(model, account_id=account.id, names=names))
            .values(username=pseudonym, account_id=None)
            .execution_options(synchronize_session=False)
        )
    closed = await session.scalar(select(ClosedAccount).where(ClosedAccount.pseudonym == pseudonym))
    if closed is None:
        closed = ClosedAccount(region_id=account.region_id, pseudonym=pseudonym)
        session.add(closed)
        emails = [account.email or ""]
    else:
        emails = box.open(closed.email_ciphertext, purpose=CLOSED_EMAIL_PURPOSE).decode().splitlines()
        emails += [] if (account.email or "") in emails else [account.email or ""]
    closed.email_ciphertext = box.seal("\n".join(emails).encode(), purpose=CLOSED_EMAIL_PURPOSE)
    closed.closed_at = now
    macs = (await session.scalars(select(Device.mac).where(Device.account_id == account.id))).all()
    session.add(Tombstone(kind="account", key=account.username, deleted_at=now))
    session.add_all(Tombstone(kind="device", key=mac, deleted_at=now) for mac in macs)
    await session.delete(account)
    await session.flush()
    return pseudonym


def _records_of(
    model: type[AccountingSession] | type[AuthRecord], *, account_id: int, names: list[str]
) -> ColumnElement[bool]:
    unlinked = model.account_id.is_(None) & func.lower(model.username).in_(names)
    return or_(model.account_id == account_id, unlinked)
