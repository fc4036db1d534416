"""What support needs to answer "I can't connect": find a citizen by what they can tell on the
phone — their username, their email, or a device's MAC address read from a sticker or a phone's
settings, in whatever notation — and read their last authentication decisions.

A MAC finds the account that remembers the device, and the accounts whose recent connections or
decisions came from it (a device never remembered still leaves its Calling-Station-Id in the
records). Nothing secret is read here: no password hash, no device credential.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from accounts.identity import canonical_mac
from accounts.models import Account, AccountingSession, AccountPhone, AuthRecord, Device

MAX_FOUND = 50
#: digits a search needs to be read as a mobile number
PHONE_DIGITS = 6


def _mac_notations(mac: str) -> list[str]:
    """The notations a Calling-Station-Id carries a canonical MAC in (access points differ)."""
    digits = mac.replace(":", "")
    return [
        mac,
        mac.upper(),
        mac.replace(":", "-"),
        mac.replace(":", "-").upper(),
        digits,
        digits.upper(),
        ".".join(digits[i : i + 4] for i in range(0, 12, 4)),
    ]


async def find_citizens(session: AsyncSession, query: str, *, limit: int = MAX_FOUND) -> list[Account]:
    """Accounts whose username or email contains ``query``, whose mobile number ends with its
    digits (at least :data:`PHONE_DIGITS`), or — when ``query`` is a MAC in any
    notation :func:`~accounts.identity.canonical_mac` reads — that remember that device or
    connected or tried to from it. Ordered by username; at most ``limit``."""
    text = query.strip()
    if not text:
        return []
    ids: set[int] = set()
    mac = canonical_mac(text)
    if mac is not None:
        notations = _mac_notations(mac)
        ids |= set(await session.scalars(select(Device.account_id).where(Device.mac == mac)))
        ids |= set(
            await session.scalars(
                select(AccountingSession.account_id)
                .where(AccountingSession.callingstationid.in_(notations))
                .where(AccountingSession.account_id.is_not(None))
                .distinct()
                .limit(limit)
            )
        )
        ids |= set(
            await session.scalars(
                select(AuthRecord.account_id)
                .where(AuthRecord.callingstationid.in_(notations))
                .where(AuthRecord.account_id.is_not(None))
                .distinct()
                .limit(limit)
            )
        )
    digits = "".join(c for c in text if c.isdigit())
    if len(digits) >= PHONE_DIGITS and all(c.isdigit() or c in " +.-()" for c in text):
        # a mobile number as the citizen says it (06 12 34 56 78, +33 6 12…): the national digits
        # without a trunk 0 end the E.164 number an account signed up with (accounts.phonesignup)
        ending = "%" + digits.lstrip("0")
        ids |= set(
            await session.scalars(
                select(AccountPhone.account_id).where(AccountPhone.number.like(ending)).limit(limit)
            )
        )
    pattern = "%" + text.lower().replace("\\", "").replace("%", "").replace("_", r"\_") + "%"
    matching = or_(
        Account.username.like(pattern, escape="\\"),
        func.lower(Account.email).like(pattern, escape="\\"),
        Account.id.in_(ids) if ids else false(),
    )
    found = await session.scalars(
        select(Account)
        .where(matching)
        .options(selectinload(Account.region))
        .order_by(Account.username)
        .limit(limit)
    )
    return list(found.all())


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    """One recorded decision as support reads it (what the access point and the device said)."""

    at: datetime
    accepted: bool
    reason: str  # the decision record's code; the console says it in words
    method: str
    device: str | None  # canonical MAC when the Calling-Station-Id is one, else as sent
    access_point: str | None  # the Called-Station-Id


async def last_attempts(session: AsyncSession, *, account: Account, limit: int = 20) -> list[Attempt]:
    """The account's last ``limit`` decisions, newest first: those linked to it, and those made
    under its name before an account was found (a name typed in another case, for instance)."""
    names = [account.username, account.identity]
    rows: Sequence[AuthRecord] = (
        await session.scalars(
            select(AuthRecord)
            .where(or_(AuthRecord.account_id == account.id, func.lower(AuthRecord.username).in_(names)))
            .order_by(AuthRecord.authdate.desc(), AuthRecord.id.desc())
            .limit(limit)
        )
    ).all()
    return [
        Attempt(
            at=row.authdate,
            accepted=row.reply == "Access-Accept",
            reason=row.reason,
            method=row.method,
            device=(canonical_mac(row.callingstationid) or row.callingstationid)
            if row.callingstationid
            else None,
            access_point=row.calledstationid,
        )
        for row in rows
    ]
