"""Per-device credentials for the secure SSID (802.1X with MS-CHAPv2).

MS-CHAPv2 can only be checked with the NT hash (MD4 of the UTF-16LE password), which is
password-equivalent: it is stored sealed (AES-GCM, :mod:`accounts.secretbox`), and only for
random passwords generated here, never for a person's account password.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import datetime

from passlib.crypto.digest import lookup_hash
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.errors import NotFound
from accounts.identity import display_name
from accounts.models import Account, DeviceCredential
from accounts.secretbox import SecretBox

NT_HASH_PURPOSE = "nt-hash"
_md4 = lookup_hash("md4").const  # hashlib's MD4 is missing on OpenSSL 3 without the legacy provider


def nt_hash(password: str) -> bytes:
    return bytes(_md4(password.encode("utf-16-le")).digest())


def generate_device_password() -> str:
    """20 characters from a 32-letter alphabet without look-alikes (~100 bits), easy to type once."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "".join(secrets.choice(alphabet) for _ in range(20))


async def create_device_credential(
    session: AsyncSession, *, box: SecretBox, account: Account, label: str
) -> tuple[DeviceCredential, str]:
    """A new credential; the clear password is returned once and never stored."""
    password = generate_device_password()
    credential = DeviceCredential(
        account_id=account.id,
        label=display_name(label, what="device", max_length=64),
        nt_hash_ciphertext=box.seal(nt_hash(password), purpose=NT_HASH_PURPOSE),
    )
    session.add(credential)
    await session.flush()
    return credential, password


async def active_nt_hashes(
    session: AsyncSession, *, box: SecretBox, account_id: int
) -> list[tuple[int, bytes]]:
    rows = await session.execute(
        select(DeviceCredential.id, DeviceCredential.nt_hash_ciphertext).where(
            DeviceCredential.account_id == account_id, DeviceCredential.revoked_at.is_(None)
        )
    )
    return [(cid, box.open(sealed, purpose=NT_HASH_PURPOSE)) for cid, sealed in rows.all()]


async def list_device_credentials(session: AsyncSession, *, account: Account) -> Sequence[DeviceCredential]:
    query = (
        select(DeviceCredential)
        .where(DeviceCredential.account_id == account.id)
        .order_by(DeviceCredential.id)
    )
    return (await session.scalars(query)).all()


async def revoke_device_credential(
    session: AsyncSession, *, account: Account, credential_id: int, now: datetime
) -> bool:
    """Revoke one of ``account``'s credentials; False when it was revoked already (it keeps the
    first date, and its ``updated_at`` does not move again: nothing for the RADIUS caches)."""
    credential = await session.get(DeviceCredential, credential_id)
    if credential is None or credential.account_id != account.id:
        raise NotFound(f"no device credential {credential_id} for {account.username}")
    if credential.revoked_at is not None:
        return False
    credential.revoked_at = now
    await session.flush()
    return True
