"""Staff's second factor: TOTP (RFC 6238) and single-use recovery codes, and the region's rule
that everyone signing in with a password gives one.

* **TOTP**: a 160-bit random secret (RFC 4226 §4 recommends 160 bits), SHA-1, 6 digits, 30-second
  steps — what every authenticator app reads from an ``otpauth://`` URI (pyotp builds and checks
  the codes). The secret is sealed with the secret box under :data:`TOTP_PURPOSE`; it is shown to
  the admin once, while enrolling, and never logged. A code is accepted in the step of ``now`` or
  the one before or after (RFC 6238 §5.2: a clock drifting by a step), and only in a step after
  the last one accepted, so that a code cannot be used twice.
* **Recovery codes**: ten random codes of ten base-32 characters (50 bits each), shown once;
  stored as keyed digests (:meth:`SecretBox.digest`: random, long values need no slow hash, as
  service clients' secrets). Spending one is one ``UPDATE … WHERE used_at IS NULL``, so two
  requests racing with the same code cannot both succeed.

Time is always given by the caller (``now``): tests choose the step, nothing here reads the clock.
Services never commit (the request owns the transaction).
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime

import pyotp
from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.errors import InvalidInput
from accounts.models import Admin, AdminRecoveryCode, AdminTotp, Region
from accounts.secretbox import SecretBox

TOTP_PURPOSE = "admin-totp"
RECOVERY_PURPOSE = "admin-recovery-code"
STEP = 30  # seconds (RFC 6238 §4.1, X)
DIGITS = 6
DRIFT = 1  # steps accepted either side of now
RECOVERY_CODES = 10
_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read aloud or copied by hand


def _totp(secret: str) -> pyotp.TOTP:
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP)


def step_of(now: datetime) -> int:
    """The RFC 6238 time step ``T`` of an instant."""
    return int(now.timestamp()) // STEP


def code_at(secret: str, now: datetime) -> str:
    """The code an authenticator shows at ``now`` (what tests type, as the admin's phone would)."""
    return _totp(secret).at(now)


def clean_code(raw: str) -> str:
    """What a person typed as a TOTP code, spaces and dashes removed."""
    return "".join(ch for ch in raw if ch not in " -\u00a0")[:16]


async def enrolment(session: AsyncSession, *, admin: Admin) -> AdminTotp | None:
    return await session.scalar(select(AdminTotp).where(AdminTotp.admin_id == admin.id))


async def has_two_factor(session: AsyncSession, *, admin: Admin) -> bool:
    """Whether the admin has a confirmed second factor (asked at every password sign-in)."""
    row = await enrolment(session, admin=admin)
    return row is not None and row.confirmed_at is not None


async def start_enrolment(session: AsyncSession, *, box: SecretBox, admin: Admin) -> str:
    """A new secret, stored sealed and not yet confirmed; replaces a pending one. An admin who
    already has a confirmed factor must remove it first (:func:`remove`): a stolen session alone
    cannot swap the factor under its owner's feet without the console asking for a code."""
    row = await enrolment(session, admin=admin)
    if row is not None and row.confirmed_at is not None:
        raise InvalidInput("two-factor authentication is already set up")
    secret = pyotp.random_base32(32)  # 32 base-32 characters: 160 bits
    sealed = box.seal(secret.encode("ascii"), purpose=TOTP_PURPOSE)
    if row is None:
        session.add(AdminTotp(admin_id=admin.id, secret_ciphertext=sealed, last_step=0))
    else:
        row.secret_ciphertext, row.last_step = sealed, 0
    await session.flush()
    return secret


def pending_secret(box: SecretBox, row: AdminTotp) -> str:
    """The secret of an enrolment not yet confirmed (to show its QR code again)."""
    if row.confirmed_at is not None:
        raise InvalidInput("two-factor authentication is already set up")
    return box.open(row.secret_ciphertext, purpose=TOTP_PURPOSE).decode("ascii")


def provisioning_uri(secret: str, *, email: str, issuer: str) -> str:
    """The ``otpauth://totp/…`` URI of the QR code (Google Authenticator's key URI format)."""
    return _totp(secret).provisioning_uri(name=email, issuer_name=issuer)


async def _check(session: AsyncSession, *, box: SecretBox, row: AdminTotp, code: str, now: datetime) -> bool:
    code = clean_code(code)
    if len(code) != DIGITS or not (code.isascii() and code.isdigit()):
        return False
    totp = _totp(box.open(row.secret_ciphertext, purpose=TOTP_PURPOSE).decode("ascii"))
    current = step_of(now)
    for step in range(current - DRIFT, current + DRIFT + 1):
        if step > row.last_step and hmac.compare_digest(totp.generate_otp(step), code):
            # compare and set: of two requests with the same code, one moves the step
            moved = await session.execute(
                update(AdminTotp)
                .where(AdminTotp.id == row.id, AdminTotp.last_step < step)
                .values(last_step=step)
            )
            await session.refresh(row)
            return getattr(moved, "rowcount", 1) == 1
    return False


async def confirm_enrolment(
    session: AsyncSession, *, box: SecretBox, admin: Admin, code: str, now: datetime
) -> list[str] | None:
    """The first good code confirms the factor: the new recovery codes (shown once), or None."""
    row = await enrolment(session, admin=admin)
    if row is None or row.confirmed_at is not None:
        return None
    if not await _check(session, box=box, row=row, code=code, now=now):
        return None
    row.confirmed_at = now
    return await new_recovery_codes(session, box=box, admin=admin)


async def verify(session: AsyncSession, *, box: SecretBox, admin: Admin, code: str, now: datetime) -> bool:
    """Whether ``code`` is the admin's TOTP code for ``now`` and was not used before."""
    row = await enrolment(session, admin=admin)
    if row is None or row.confirmed_at is None:
        return False
    return await _check(session, box=box, row=row, code=code, now=now)


async def remove(session: AsyncSession, *, admin: Admin) -> None:
    """The admin's factor and recovery codes are gone (the caller checked a code first)."""
    await session.execute(delete(AdminTotp).where(AdminTotp.admin_id == admin.id))
    await session.execute(delete(AdminRecoveryCode).where(AdminRecoveryCode.admin_id == admin.id))
    await session.flush()


# -- recovery codes ---------------------------------------------------------------------------------


def _normal(code: str) -> str:
    return "".join(ch for ch in code.lower() if ch.isalnum())[:32]


def _new_code() -> str:
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(10))
    return f"{raw[:5]}-{raw[5:]}"


async def new_recovery_codes(session: AsyncSession, *, box: SecretBox, admin: Admin) -> list[str]:
    """Ten new codes replacing the admin's old ones; only their digests are stored."""
    await session.execute(delete(AdminRecoveryCode).where(AdminRecoveryCode.admin_id == admin.id))
    codes = [_new_code() for _ in range(RECOVERY_CODES)]
    session.add_all(
        AdminRecoveryCode(admin_id=admin.id, digest=box.digest(_normal(c).encode(), purpose=RECOVERY_PURPOSE))
        for c in codes
    )
    await session.flush()
    return codes


async def use_recovery_code(
    session: AsyncSession, *, box: SecretBox, admin: Admin, code: str, now: datetime
) -> bool:
    """Spend one of the admin's unused recovery codes (digests under every accepted key)."""
    normal = _normal(code)
    if len(normal) != 10:
        return False
    digests: Sequence[str] = box.digests(normal.encode(), purpose=RECOVERY_PURPOSE)
    spent = await session.execute(
        update(AdminRecoveryCode)
        .where(
            AdminRecoveryCode.admin_id == admin.id,
            AdminRecoveryCode.digest.in_(digests),
            AdminRecoveryCode.used_at.is_(None),
        )
        .values(used_at=now)
    )
    return getattr(spent, "rowcount", 0) == 1


async def recovery_codes_left(session: AsyncSession, *, admin: Admin) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(AdminRecoveryCode)
        .where(AdminRecoveryCode.admin_id == admin.id, AdminRecoveryCode.used_at.is_(None))
    )
    return int(count or 0)


# -- the region's rule ------------------------------------------------------------------------------


async def set_required(session: AsyncSession, *, region: Region, required: bool) -> None:
    """Whether every admin signing in with a password must give a second factor (those without
    one enrol at their next sign-in, before they reach any page)."""
    region.require_two_factor = required
    await session.flush()
