"""Short codes sent by SMS: to verify a mobile number, to reset a password (issue 19).

As :mod:`accounts.codes` does for email: six digits, only a keyed digest stored (HMAC under the
secret key, bound to the account, the number it was sent to and the purpose), so a database dump
reveals no live code and a code sent to another number never works. A code expires, works once,
and allows :data:`MAX_ATTEMPTS` wrong guesses; a new code replaces the account's previous one of
the same purpose. The portal limits how often codes are sent (per number, address and prefix) and
checked; :mod:`accounts.smsbudget` caps how many leave a day.
"""

from __future__ import annotations

import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.codes import normalize_code
from accounts.models import Account, PhoneCode, PhoneCodePurpose
from accounts.secretbox import SecretBox

CODE_PURPOSE = "phone-code"
CODE_DIGITS = 6
MAX_ATTEMPTS = 5
LIFETIMES = {
    PhoneCodePurpose.VERIFY_PHONE: timedelta(minutes=30),
    PhoneCodePurpose.RESET_PASSWORD: timedelta(minutes=15),
}


def _value(*, account_id: int, number: str, purpose: PhoneCodePurpose, code: str) -> bytes:
    return f"{purpose.value}:{account_id}:{number}:{code}".encode()


async def issue_phone_code(
    session: AsyncSession,
    *,
    box: SecretBox,
    account: Account,
    number: str,
    purpose: PhoneCodePurpose,
    now: datetime,
) -> str:
    """A new code for ``purpose`` sent to ``number``; the account's previous ones stop working."""
    await session.execute(
        delete(PhoneCode).where(PhoneCode.account_id == account.id, PhoneCode.purpose == purpose)
    )
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    value = _value(account_id=account.id, number=number, purpose=purpose, code=code)
    session.add(
        PhoneCode(
            account_id=account.id,
            purpose=purpose,
            digest=box.digest(value, purpose=CODE_PURPOSE),
            created_at=now,
            expires_at=now + LIFETIMES[purpose],
        )
    )
    await session.flush()
    return code


async def use_phone_code(
    session: AsyncSession,
    *,
    box: SecretBox,
    account: Account,
    number: str,
    purpose: PhoneCodePurpose,
    code: str,
    now: datetime,
) -> bool:
    """True, once, for the account's live code sent to ``number``; a wrong guess counts against it."""
    live = await session.scalar(
        select(PhoneCode)
        .where(
            PhoneCode.account_id == account.id,
            PhoneCode.purpose == purpose,
            PhoneCode.used_at.is_(None),
            PhoneCode.expires_at > now,
            PhoneCode.attempts < MAX_ATTEMPTS,
        )
        .with_for_update()
    )
    if live is None:
        return False
    value = _value(account_id=account.id, number=number, purpose=purpose, code=normalize_code(code)[:16])
    if not any(hmac.compare_digest(live.digest, d) for d in box.digests(value, purpose=CODE_PURPOSE)):
        live.attempts += 1
        await session.flush()
        return False
    live.used_at = now
    await session.flush()
    return True
