"""Devices' EAP-TLS client certificates: registering one for an account, revoking it, and finding
whose a certificate presented in a handshake is.

The TLS handshake checks that a certificate chains to the device CA; this decides whether it
still grants access: it must be registered here, for an account, and not revoked (see
:class:`~accounts.models.DeviceCertificate`). Issuing (the device CA's key, profiles) belongs to
onboarding; this takes the certificate it issued.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.errors import Conflict, InvalidInput, NotFound
from accounts.identity import display_name
from accounts.models import Account, DeviceCertificate


def issuer_key(issuer_der: bytes) -> str:
    """How a certificate's issuer is looked up: SHA-256 of its DER-encoded name."""
    return hashlib.sha256(issuer_der).hexdigest()


def serial_text(serial: int) -> str:
    return format(serial, "x")


def load_certificate(data: bytes) -> x509.Certificate:
    """A certificate from PEM or DER bytes, or :class:`InvalidInput`."""
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        return x509.load_der_x509_certificate(data)
    except ValueError:
        raise InvalidInput("not an X.509 certificate (PEM or DER)") from None


async def register_certificate(
    session: AsyncSession, *, account: Account, certificate: x509.Certificate, label: str, now: datetime
) -> DeviceCertificate:
    """Let ``certificate`` (issued by the device CA) connect as ``account``'s device."""
    if certificate.not_valid_after_utc <= now:
        raise InvalidInput("this certificate has expired")
    if certificate.serial_number <= 0 or certificate.serial_number.bit_length() > 160:
        raise InvalidInput("a certificate serial number is a positive number of at most 20 octets")
    der = certificate.public_bytes(Encoding.DER)
    fingerprint = hashlib.sha256(der).hexdigest()
    existing = await session.scalar(
        select(DeviceCertificate.id).where(DeviceCertificate.fingerprint == fingerprint)
    )
    if existing is not None:
        raise Conflict("this certificate is already registered")
    row = DeviceCertificate(
        account_id=account.id,
        label=display_name(label, what="device", max_length=64),
        issuer_key=issuer_key(certificate.issuer.public_bytes()),
        serial=serial_text(certificate.serial_number),
        subject=certificate.subject.rfc4514_string()[:1024],
        fingerprint=fingerprint,
        not_after=certificate.not_valid_after_utc,
    )
    session.add(row)
    await session.flush()
    return row


async def list_certificates(session: AsyncSession, *, account: Account) -> Sequence[DeviceCertificate]:
    query = select(DeviceCertificate).where(DeviceCertificate.account_id == account.id)
    return (await session.scalars(query.order_by(DeviceCertificate.id))).all()


async def revoke_certificate(
    session: AsyncSession, *, account: Account, certificate_id: int, now: datetime
) -> bool:
    """Revoke one of ``account``'s certificates; False when it was revoked already (it keeps the
    first date)."""
    row = await session.get(DeviceCertificate, certificate_id)
    if row is None or row.account_id != account.id:
        raise NotFound(f"no device certificate {certificate_id} for {account.username}")
    if row.revoked_at is not None:
        return False
    row.revoked_at = now
    await session.flush()
    return True


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateOwner:
    certificate_id: int
    account_id: int
    username: str


async def certificate_owner(
    session: AsyncSession, *, region_id: int, issuer_der: bytes, serial: int, now: datetime
) -> CertificateOwner | None:
    """Whose device presented this certificate, if it is registered, unrevoked and unexpired in
    the region; else None (the handshake is refused)."""
    row = (
        await session.execute(
            select(DeviceCertificate.id, Account.id, Account.username)
            .join(Account, Account.id == DeviceCertificate.account_id)
            .where(
                DeviceCertificate.issuer_key == issuer_key(issuer_der),
                DeviceCertificate.serial == serial_text(serial),
                DeviceCertificate.revoked_at.is_(None),
                DeviceCertificate.not_after > now,
                Account.region_id == region_id,
            )
        )
    ).first()
    if row is None:
        return None
    return CertificateOwner(certificate_id=row[0], account_id=row[1], username=row[2])
