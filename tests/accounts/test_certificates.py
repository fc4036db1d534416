"""Devices' EAP-TLS certificates: registered for an account, found by issuer and serial while
good, refused once revoked or expired; on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import certificates, users
from accounts.errors import Conflict, InvalidInput, NotFound
from accounts.models import Account, Region
from accounts.passwords import PasswordHasher
from radius.eap.trialpki import make_ca, make_device

NOW = datetime.now(UTC)
DEVICES = make_ca("device CA (test)")


async def _account(session: AsyncSession, region: Region, hasher: PasswordHasher, name: str) -> Account:
    return await users.create_account(
        session, hasher=hasher, region=region, username=name, email=f"{name}@example.fr", password=None
    )


async def test_a_registered_certificate_names_its_account_until_it_is_revoked(
    session: AsyncSession, region: Region, hasher: PasswordHasher
) -> None:
    alice = await _account(session, region, hasher, "alice")
    bob = await _account(session, region, hasher, "bob")
    phone = make_device(DEVICES, "alice@wifi.test").certificate
    row = await certificates.register_certificate(
        session, account=alice, certificate=phone, label="Téléphone", now=NOW
    )
    issuer = phone.issuer.public_bytes()
    owner = await certificates.certificate_owner(
        session, region_id=region.id, issuer_der=issuer, serial=phone.serial_number, now=NOW
    )
    assert owner == certificates.CertificateOwner(
        certificate_id=row.id, account_id=alice.id, username="alice"
    )
    # another serial, another issuer, another region: nobody's
    for issuer_der, serial, region_id in (
        (issuer, phone.serial_number + 1, region.id),
        (make_ca("another CA").certificate.subject.public_bytes(), phone.serial_number, region.id),
        (issuer, phone.serial_number, region.id + 1),
    ):
        assert (
            await certificates.certificate_owner(
                session, region_id=region_id, issuer_der=issuer_der, serial=serial, now=NOW
            )
            is None
        )
    with pytest.raises(NotFound):  # bob cannot revoke alice's device
        await certificates.revoke_certificate(session, account=bob, certificate_id=row.id, now=NOW)
    await certificates.revoke_certificate(session, account=alice, certificate_id=row.id, now=NOW)
    assert (
        await certificates.certificate_owner(
            session, region_id=region.id, issuer_der=issuer, serial=phone.serial_number, now=NOW
        )
        is None
    )
    assert [
        c.revoked_at is not None for c in await certificates.list_certificates(session, account=alice)
    ] == [True]


async def test_a_certificate_is_registered_once_and_not_past_its_end(
    session: AsyncSession, region: Region, hasher: PasswordHasher
) -> None:
    alice = await _account(session, region, hasher, "alice")
    phone = make_device(DEVICES, "alice@wifi.test").certificate
    await certificates.register_certificate(session, account=alice, certificate=phone, label="p", now=NOW)
    with pytest.raises(Conflict):
        await certificates.register_certificate(session, account=alice, certificate=phone, label="p", now=NOW)
    old = make_device(DEVICES, "alice@wifi.test", days=1, now=NOW - timedelta(days=3)).certificate
    with pytest.raises(InvalidInput):
        await certificates.register_certificate(session, account=alice, certificate=old, label="p", now=NOW)
    # registered while good, then past its end: refused at the handshake
    laptop = make_device(DEVICES, "alice@wifi.test", days=1).certificate
    await certificates.register_certificate(session, account=alice, certificate=laptop, label="l", now=NOW)
    later = NOW + timedelta(days=2)
    assert (
        await certificates.certificate_owner(
            session,
            region_id=region.id,
            issuer_der=laptop.issuer.public_bytes(),
            serial=laptop.serial_number,
            now=later,
        )
        is None
    )


def test_only_certificates_are_loaded() -> None:
    phone = make_device(DEVICES, "alice@wifi.test")
    assert certificates.load_certificate(phone.certificate_pem()) == phone.certificate
    for junk in (b"", b"\x00" * 64, b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"):
        with pytest.raises(InvalidInput):
            certificates.load_certificate(junk)
