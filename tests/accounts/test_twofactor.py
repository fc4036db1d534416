"""Staff's second factor (accounts/twofactor.py) on SQLite and PostgreSQL: TOTP codes as RFC 6238
defines them, at time steps the test chooses (no sleeping), never accepted twice, the secret sealed
at rest; recovery codes single use; the region's rule."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import admins, twofactor
from accounts.errors import InvalidInput, SecretUnreadable
from accounts.models import Admin, AdminRecoveryCode, AdminRole, AdminTotp, Region
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox

NOW = datetime(2026, 12, 7, 22, 0, 15, tzinfo=UTC)  # 15 s into a 30-second step
STEP = timedelta(seconds=30)


def test_codes_are_rfc_6238_appendix_b_sha1_vectors() -> None:
    """RFC 6238 Appendix B, SHA-1 (seed "12345678901234567890"): the 8-digit values' last six
    digits are the 6-digit codes (RFC 4226 §5.3 truncation keeps the low decimal digits)."""
    secret = base64.b32encode(b"12345678901234567890").decode()
    vectors = {59: "94287082", 1111111109: "07081804", 1234567890: "89005924", 2000000000: "69279037"}
    for seconds, eight_digits in vectors.items():
        assert twofactor.code_at(secret, datetime.fromtimestamp(seconds, UTC)) == eight_digits[-6:]


async def _admin(session: AsyncSession, hasher: PasswordHasher) -> Admin:
    return await admins.create_admin(
        session, hasher=hasher, email="it@test.example", role=AdminRole.SUPPORT, password="a passphrase 42"
    )


async def _enrolled(session: AsyncSession, box: SecretBox, admin: Admin) -> tuple[str, list[str]]:
    secret = await twofactor.start_enrolment(session, box=box, admin=admin)
    codes = await twofactor.confirm_enrolment(
        session, box=box, admin=admin, code=twofactor.code_at(secret, NOW - STEP), now=NOW - STEP
    )
    assert codes is not None
    return secret, codes


async def test_enrolment_is_confirmed_by_a_first_good_code_only(
    session: AsyncSession, region: Region, hasher: PasswordHasher, box: SecretBox
) -> None:
    admin = await _admin(session, hasher)
    secret = await twofactor.start_enrolment(session, box=box, admin=admin)
    assert len(base64.b32decode(secret)) == 20  # 160 bits (RFC 4226 §4)
    assert not await twofactor.has_two_factor(session, admin=admin)
    assert not await twofactor.verify(  # pending: not a factor yet
        session, box=box, admin=admin, code=twofactor.code_at(secret, NOW), now=NOW
    )
    wrong = f"{(int(twofactor.code_at(secret, NOW)) + 1) % 1_000_000:06d}"
    assert await twofactor.confirm_enrolment(session, box=box, admin=admin, code=wrong, now=NOW) is None
    codes = await twofactor.confirm_enrolment(
        session, box=box, admin=admin, code=twofactor.code_at(secret, NOW), now=NOW
    )
    assert codes is not None and len(codes) == len(set(codes)) == 10
    assert await twofactor.has_two_factor(session, admin=admin)
    with pytest.raises(InvalidInput):  # a confirmed factor is not replaced by a new enrolment
        await twofactor.start_enrolment(session, box=box, admin=admin)


async def test_the_secret_is_sealed_at_rest(
    session: AsyncSession, region: Region, hasher: PasswordHasher, box: SecretBox
) -> None:
    admin = await _admin(session, hasher)
    secret = await twofactor.start_enrolment(session, box=box, admin=admin)
    row = await session.scalar(select(AdminTotp).where(AdminTotp.admin_id == admin.id))
    assert row is not None
    assert secret not in row.secret_ciphertext and secret.lower() not in row.secret_ciphertext.lower()
    assert box.open(row.secret_ciphertext, purpose=twofactor.TOTP_PURPOSE) == secret.encode()
    with pytest.raises(SecretUnreadable):  # bound to its purpose: unreadable as another kind of secret
        box.open(row.secret_ciphertext, purpose="nas-secret")


async def test_a_code_is_good_in_its_step_and_the_next_and_never_twice(
    session: AsyncSession, region: Region, hasher: PasswordHasher, box: SecretBox
) -> None:
    admin = await _admin(session, hasher)
    secret, _ = await _enrolled(session, box, admin)

    async def verify(code: str, at: datetime) -> bool:
        return await twofactor.verify(session, box=box, admin=admin, code=code, now=at)

    code = twofactor.code_at(secret, NOW)
    assert await verify(code, NOW)
    assert not await verify(code, NOW)  # replayed in its own step
    assert not await verify(code, NOW + STEP)  # replayed in the next step, still within the drift
    following = twofactor.code_at(secret, NOW + STEP)
    assert await verify(f"{following[:3]} {following[3:]}", NOW)  # a phone one step ahead; spaces typed
    assert not await verify(twofactor.code_at(secret, NOW + 3 * STEP), NOW + 3 * STEP - 2 * STEP)  # too far
    late = twofactor.code_at(secret, NOW + 10 * STEP)
    assert await verify(late, NOW + 11 * STEP)  # a phone one step behind
    assert not await verify(twofactor.code_at(secret, NOW + 20 * STEP), NOW + 22 * STEP)  # two behind
    for junk in ("", "12345", "1234567", "abcdef", "١٢٣٤٥٦"):  # Arabic-Indic digits are not ASCII
        assert not await verify(junk, NOW + 30 * STEP)


async def test_recovery_codes_are_single_use_and_replaced_together(
    session: AsyncSession, region: Region, hasher: PasswordHasher, box: SecretBox
) -> None:
    admin = await _admin(session, hasher)
    _, codes = await _enrolled(session, box, admin)
    stored = (await session.scalars(select(AdminRecoveryCode.digest))).all()
    assert not {code.replace("-", "") for code in codes} & set(stored)  # digests only
    assert await twofactor.recovery_codes_left(session, admin=admin) == 10

    async def use(code: str) -> bool:
        return await twofactor.use_recovery_code(session, box=box, admin=admin, code=code, now=NOW)

    assert await use(codes[0].upper())  # case and the dash do not matter
    assert not await use(codes[0])  # used
    assert not await use("aaaaa-aaaaa")
    assert await twofactor.recovery_codes_left(session, admin=admin) == 9
    other = await admins.create_admin(
        session, hasher=hasher, email="other@test.example", role=AdminRole.AUDITOR
    )
    assert not await twofactor.use_recovery_code(session, box=box, admin=other, code=codes[1], now=NOW)

    fresh = await twofactor.new_recovery_codes(session, box=box, admin=admin)
    assert not await use(codes[1])  # the old set is gone
    assert await use(fresh[1])
    assert await twofactor.recovery_codes_left(session, admin=admin) == 9


async def test_removing_the_factor_and_the_regions_rule(
    session: AsyncSession, region: Region, hasher: PasswordHasher, box: SecretBox
) -> None:
    admin = await _admin(session, hasher)
    await _enrolled(session, box, admin)
    await twofactor.remove(session, admin=admin)
    assert not await twofactor.has_two_factor(session, admin=admin)
    assert await twofactor.recovery_codes_left(session, admin=admin) == 0
    assert region.require_two_factor is False
    await twofactor.set_required(session, region=region, required=True)
    await session.refresh(region)
    assert region.require_two_factor is True
