"""Short codes sent by email: to verify an address, to reset a password.

A code is six digits, easy to type on a phone. Only a keyed digest of it is stored (HMAC under
the secret key, bound to the account and the purpose), so a database dump reveals no live code.
A code expires, works once, and allows :data:`MAX_ATTEMPTS` wrong guesses before it is spent:
with a million possible codes that leaves a guesser one chance in 200,000 per code sent — the
portal also limits how often codes are sent and checked. A new code replaces the account's
previous one of the same purpose.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Account, AccountCode, CodePurpose
from accounts.secretbox import SecretBox

CODE_PURPOSE = "account-code"
CODE_DIGITS = 6
MAX_ATTEMPTS = 5
LIFETIMES = {
    CodePurpose.VERIFY_EMAIL: timedelta(hours=24),
    CodePurpose.RESET_PASSWORD: timedelta(minutes=30),
}


def _digest(box: SecretBox, *, account_id: int, purpose: CodePurpose, code: str) -> str:
    return box.digest(f"{purpose.value}:{account_id}:{code}".encode(), purpose=CODE_PURPOSE)


def _matches(box: SecretBox, stored: str, *, account_id: int, purpose: CodePurpose, code: str) -> bool:
    """Whether the code is the stored one, under any accepted key (a code sent before a key
    rotation keeps working for its lifetime)."""
    value = f"{purpose.value}:{account_id}:{code}".encode()
    return any(hmac.compare_digest(stored, d) for d in box.digests(value, purpose=CODE_PURPOSE))


def normalize_code(raw: str) -> str:
    """What people type: spaces and dashes are ignored ("123 456", "123-456")."""
    return "".join(c for c in raw if c not in " -\t")


async def issue_code(
    session: AsyncSession, *, box: SecretBox, account: Account, purpose: CodePurpose, now: datetime
) -> str:
    """A new code for ``purpose``; the account's previous ones of that purpose stop working."""
    await session.execute(
        delete(AccountCode).where(AccountCode.account_id == account.id, AccountCode.purpose == purpose)
    )
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    session.add(
        AccountCode(
            account_id=account.id,
            purpose=purpose,
            digest=_digest(box, account_id=account.id, purpose=purpose, code=code),
            created_at=now,
            expires_at=now + LIFETIMES[purpose],
        )
    )
    await session.flush()
    return code


async def use_code(
    session: AsyncSession,
    *,
    box: SecretBox,
    account: Account,
    purpose: CodePurpose,
    code: str,
    now: datetime,
) -> bool:
    """True, once, for the account's live code; a wrong guess counts against the code."""
    live = await session.scalar(
        select(AccountCode)
        .where(
            AccountCode.account_id == account.id,
            AccountCode.purpose == purpose,
            AccountCode.used_at.is_(None),
            AccountCode.expires_at > now,
            AccountCode.attempts < MAX_ATTEMPTS,
        )
        .with_for_update()
    )
    if live is None:
        return False
    if not _matches(box, live.digest, account_id=account.id, purpose=purpose, code=normalize_code(code)):
        live.attempts += 1
        await session.flush()
        return False
    live.used_at = now
    await session.flush()
    return True
