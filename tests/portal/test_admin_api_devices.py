"""An account's enrolled devices through the admin API (issues 17 and 18), on SQLite and PostgreSQL:
support and auditors list what onboarding issued — by what names it, never a secret —, support
and region admins revoke one as the citizen's "forget this device" does, audited under their own
name, idempotently; a commune admin has no account in reach, another account's device is 404."""

from __future__ import annotations

import base64
import hashlib
import json
from datetime import timedelta

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key, pkcs12
from sqlalchemy import select

from accounts import certificates, credentials, enrolment
from accounts.deviceca import DeviceIssuer, IssuedCertificate, IssuedPassword
from accounts.enrolment import CredentialKind
from accounts.models import Account, AuditEntry, DeviceCertificate, DeviceCredential
from accounts.users import create_account
from radius.eap.trialpki import make_ca
from tests.portal.conftest import NOW, Browser, Clock, World, bearer, citizen_and_partner, token

CA = make_ca("device CA (test)", now=NOW - timedelta(days=1))
ISSUER = DeviceIssuer.load(CA.certificate_pem(), CA.key_pem())
YEAR = timedelta(days=365)
FIELDS = {
    "kind", "id", "label", "created_at", "last_used_at", "revoked_at",
    "subject", "serial", "fingerprint", "not_after",
}  # fmt: skip


def _devices(account_id: int) -> str:
    return f"/api/v1/accounts/{account_id}/enrolled-devices"


def _revoke(account_id: int, kind: str, device_id: int) -> str:
    return f"{_devices(account_id)}/{kind}/{device_id}/revoke"


async def _enrol(browser: Browser, account: Account, kind: CredentialKind, label: str) -> enrolment.Enrolment:
    """A profile downloaded as the portal does it: a link, then the credential made when it is used."""
    portal = browser.portal
    async with portal.transaction() as session:
        account = await session.get(Account, account.id) or account  # this session's copy
        link = await enrolment.make_link(
            session, box=portal.box, account=account, format="linux/keyfile", kind=kind, label=label,
            now=NOW,
        )  # fmt: skip
        return await enrolment.redeem_link(
            session, box=portal.box, token=link, account=account, now=NOW, issuer=ISSUER, valid_for=YEAR
        )


async def _issued(browser: Browser) -> tuple[Account, IssuedCertificate, IssuedPassword]:
    citizen, _ = await citizen_and_partner(browser.portal)
    got_certificate = await _enrol(browser, citizen, CredentialKind.CERTIFICATE, "iPhone de Léa")
    got_password = await _enrol(browser, citizen, CredentialKind.PASSWORD, "Linux laptop")
    assert isinstance(got_certificate.issued, IssuedCertificate)
    assert isinstance(got_password.issued, IssuedPassword)
    return citizen, got_certificate.issued, got_password.issued


async def _audit(browser: Browser) -> list[AuditEntry]:
    async with browser.portal.transaction() as session:
        found = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == "device.forget").order_by(AuditEntry.id)
        )
        return list(found.all())


def _secrets(certificate: IssuedCertificate, password: IssuedPassword, sealed: str) -> list[str]:
    """Every form in which what was issued could leak: the device password and its NT hash, its
    sealed copy, the PKCS#12 and its password, the private key (PEM body, DER, the scalar)."""
    key = load_pem_private_key(certificate.private_key_pem, None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    scalar = key.private_numbers().private_value
    pem_body = b"".join(certificate.private_key_pem.splitlines()[1:-1]).decode()
    nt = credentials.nt_hash(password.password)
    return [
        password.password, nt.hex(), nt.hex().upper(), base64.b64encode(nt).decode(), sealed,
        certificate.pkcs12_password, base64.b64encode(certificate.pkcs12).decode()[:64],
        pem_body[:64], pem_body[-64:], format(scalar, "x"), str(scalar),
    ]  # fmt: skip


async def test_support_lists_what_was_issued_and_nothing_secret(browser: Browser, world: World) -> None:
    citizen, certificate, password = await _issued(browser)
    async with browser.portal.transaction() as session:
        sealed = (await session.scalars(select(DeviceCredential.nt_hash_ciphertext))).one()
    for email in ("support@test.example", "auditor@test.example", "region@test.example"):
        listed = await browser.get(_devices(citizen.id), headers=bearer(await token(browser, email)))
        assert listed.status_code == 200, listed.text
        for secret in _secrets(certificate, password, sealed):
            assert secret not in listed.text, (email, secret[:8])
        first, second = listed.json()
        assert set(first) == set(second) == FIELDS
    # what names the certificate is the certificate's own, read back with cryptography
    issued = certificate.certificate
    _, p12_certificate, _ = pkcs12.load_key_and_certificates(
        certificate.pkcs12, certificate.pkcs12_password.encode()
    )
    assert p12_certificate == issued
    assert first["kind"] == "certificate" and first["label"] == "iPhone de Léa"
    assert first["subject"] == issued.subject.rfc4514_string()
    assert x509.Name.from_rfc4514_string(first["subject"]) == issued.subject
    assert int(first["serial"], 16) == issued.serial_number
    assert first["fingerprint"] == hashlib.sha256(issued.public_bytes(Encoding.DER)).hexdigest()
    assert first["not_after"].replace("Z", "+00:00") == issued.not_valid_after_utc.isoformat()
    assert first["revoked_at"] is None and first["last_used_at"] is None
    assert second["kind"] == "password" and second["label"] == "Linux laptop"
    assert second["id"] == password.row.id
    assert [second[f] for f in ("subject", "serial", "fingerprint", "not_after")] == [None] * 4
    # accounts are the region's: a commune admin reads and forgets none
    valence = bearer(await token(browser, "valence@test.example"))
    assert (await browser.get(_devices(citizen.id), headers=valence)).status_code == 403
    refused = await browser.post(_revoke(citizen.id, "password", password.row.id), headers=valence)
    assert refused.status_code == 403
    assert (
        await browser.get(_devices(999999), headers=bearer(await token(browser, "support@test.example")))
    ).status_code == 404


async def test_support_forgets_a_device_audited_and_idempotent(
    browser: Browser, world: World, clock: Clock
) -> None:
    citizen, certificate, password = await _issued(browser)
    support = bearer(await token(browser, "support@test.example"))
    revoked = await browser.post(_revoke(citizen.id, "password", password.row.id), headers=support)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["kind"] == "password" and revoked.json()["revoked_at"] is not None
    async with browser.portal.transaction() as session:
        row = await session.get(DeviceCredential, password.row.id)
        assert row is not None and row.revoked_at == NOW
        assert (
            await credentials.active_nt_hashes(session, box=browser.portal.box, account_id=citizen.id) == []
        )
    (entry,) = await _audit(browser)
    assert (entry.actor, entry.target) == ("support@test.example", "account:citizen")
    assert json.loads(entry.before or "") == {"kind": "password", "id": password.row.id}
    # again: the same answer, nothing new in the log
    clock.now = NOW + timedelta(hours=1)
    again = await browser.post(_revoke(citizen.id, "password", password.row.id), headers=support)
    assert again.status_code == 200 and again.json() == revoked.json()
    assert len(await _audit(browser)) == 1
    # the auditor reads, never revokes; a region admin revokes the certificate
    auditor = bearer(await token(browser, "auditor@test.example"))
    path = _revoke(citizen.id, "certificate", certificate.row.id)
    assert (await browser.post(path, headers=auditor)).status_code == 403
    region = bearer(await token(browser, "region@test.example"))
    assert (await browser.post(path, headers=region)).status_code == 200
    async with browser.portal.transaction() as session:
        row_c = await session.get(DeviceCertificate, certificate.row.id)
        assert row_c is not None and row_c.revoked_at is not None
        owner = await certificates.certificate_owner(
            session, region_id=citizen.region_id, issuer_der=CA.certificate.subject.public_bytes(),
            serial=certificate.certificate.serial_number, now=NOW,
        )  # fmt: skip
        assert owner is None
    assert [e.actor for e in await _audit(browser)] == ["support@test.example", "region@test.example"]
    listed = (await browser.get(_devices(citizen.id), headers=auditor)).json()
    assert all(d["revoked_at"] is not None for d in listed)


async def test_another_accounts_device_is_not_found_and_stays(browser: Browser, world: World) -> None:
    citizen, certificate, password = await _issued(browser)
    async with browser.portal.transaction() as session:
        other = await create_account(
            session, hasher=browser.portal.hasher, region=await browser.portal.region(session),
            username="other", email="other@example.fr", password=None, verified=True,
        )  # fmt: skip
    support = bearer(await token(browser, "support@test.example"))
    for kind, device_id in (("password", password.row.id), ("certificate", certificate.row.id)):
        response = await browser.post(_revoke(other.id, kind, device_id), headers=support)
        assert response.status_code == 404, response.text
    # ids are per kind: a password's id under "certificate" names no certificate of the citizen
    wrong_kind = password.row.id if password.row.id != certificate.row.id else password.row.id + 1
    assert (
        await browser.post(_revoke(citizen.id, "certificate", wrong_kind), headers=support)
    ).status_code == 404
    assert (await browser.post(_revoke(citizen.id, "passwd", 1), headers=support)).status_code == 422
    assert (await browser.get(_devices(other.id), headers=support)).json() == []
    listed = (await browser.get(_devices(citizen.id), headers=support)).json()
    assert [d["revoked_at"] for d in listed] == [None, None]
    assert await _audit(browser) == []
