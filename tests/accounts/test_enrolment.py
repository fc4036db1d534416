"""A citizen's devices on the secure network: certificates issued by the device CA (checked with
openssl: chain, clientAuth, PKCS#12 under its password), password credentials, one-time links
(used once, for their account only, expiring), the daily limit, the audit log and forgetting a
device; on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import certificates, credentials, enrolment, users
from accounts.deviceca import DeviceIssuer, make_certificate
from accounts.enrolment import CredentialKind, LinkRefused, TooManyProfiles
from accounts.errors import InvalidInput, NotFound
from accounts.models import Account, AuditEntry, Region
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from radius.eap.trialpki import make_ca
from tests.conftest import TEST_REALM

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CA = make_ca("device CA (test)", now=NOW - timedelta(days=1))
ISSUER = DeviceIssuer.load(CA.certificate_pem(), CA.key_pem())
YEAR = timedelta(days=365)


def openssl(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    tool = shutil.which("openssl")
    if tool is None:
        pytest.skip("openssl is needed")
    return subprocess.run([tool, *args], input=stdin, capture_output=True, check=False)


async def _account(session: AsyncSession, region: Region, hasher: PasswordHasher, name: str) -> Account:
    account = await users.create_account(
        session, hasher=hasher, region=region, username=name, email=f"{name}@example.fr", password=None
    )
    await session.refresh(account, ["region"])
    return account


def test_a_device_certificate_chains_to_the_device_ca_for_client_authentication(tmp_path: Path) -> None:
    certificate, _ = make_certificate(
        ISSUER, identity="alice@wifi.test", device_name="iPhone", now=NOW, valid_for=YEAR
    )
    (tmp_path / "ca.pem").write_bytes(CA.certificate_pem())
    (tmp_path / "device.pem").write_bytes(certificate.public_bytes(Encoding.PEM))
    at = str(int((NOW + timedelta(hours=1)).timestamp()))
    verified = openssl(
        "verify", "-attime", at, "-purpose", "sslclient", "-CAfile", str(tmp_path / "ca.pem"),
        str(tmp_path / "device.pem"),
    )  # fmt: skip
    assert verified.returncode == 0, verified.stderr
    wrong = openssl(
        "verify", "-attime", at, "-purpose", "sslserver", "-CAfile", str(tmp_path / "ca.pem"),
        str(tmp_path / "device.pem"),
    )  # fmt: skip
    assert wrong.returncode != 0  # not usable as a server: an evil twin gains nothing from it
    assert certificate.extensions.get_extension_for_class(
        x509.ExtendedKeyUsage
    ).value == x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH])
    san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["alice@wifi.test"]
    assert certificate.not_valid_after_utc == NOW + YEAR
    with pytest.raises(InvalidInput):
        make_certificate(ISSUER, identity="a@b", device_name="x", now=NOW, valid_for=timedelta(days=3000))


def test_the_issuer_refuses_a_key_that_is_not_its_certificates() -> None:
    other = make_ca("another CA")
    with pytest.raises(InvalidInput, match="does not belong"):
        DeviceIssuer.load(CA.certificate_pem(), other.key_pem())
    with pytest.raises(InvalidInput):
        DeviceIssuer.load(CA.certificate_pem(), b"not a key")


async def test_a_link_gives_a_registered_certificate_once(
    session: AsyncSession, region: Region, hasher: PasswordHasher, box: SecretBox, tmp_path: Path
) -> None:
    alice = await _account(session, region, hasher, "alice")
    link = await enrolment.make_link(
        session, box=box, account=alice, format="ios/mobileconfig", kind=CredentialKind.CERTIFICATE,
        label="iPhone de Alice", now=NOW,
    )  # fmt: skip
    got = await enrolment.redeem_link(
        session, box=box, token=link, account=alice, now=NOW + timedelta(minutes=9), issuer=ISSUER,
        valid_for=YEAR,
    )  # fmt: skip
    assert got.format == "ios/mobileconfig" and got.label == "iPhone de Alice"
    issued = got.issued
    assert isinstance(issued, enrolment.IssuedCertificate)
    # the PKCS#12 opens with its password, with openssl and with cryptography, and holds the key
    # of the certificate and the device CA
    (tmp_path / "device.p12").write_bytes(issued.pkcs12)
    opened = openssl(
        "pkcs12", "-in", str(tmp_path / "device.p12"), "-passin", f"pass:{issued.pkcs12_password}",
        "-nodes", "-info",
    )  # fmt: skip
    assert opened.returncode == 0, opened.stderr
    assert b"BEGIN PRIVATE KEY" in opened.stdout and opened.stdout.count(b"BEGIN CERTIFICATE") == 2
    assert openssl(
        "pkcs12", "-in", str(tmp_path / "device.p12"), "-passin", "pass:wrong", "-nodes"
    ).returncode
    key, certificate, extra = pkcs12.load_key_and_certificates(issued.pkcs12, issued.pkcs12_password.encode())
    assert certificate == issued.certificate and extra == [CA.certificate]
    assert key is not None and key.public_key() == certificate.public_key()
    # registered: RADIUS finds alice's device by issuer and serial
    owner = await certificates.certificate_owner(
        session, region_id=region.id, issuer_der=certificate.issuer.public_bytes(),
        serial=certificate.serial_number, now=NOW,
    )  # fmt: skip
    assert owner is not None and owner.username == "alice"
    # the same link again: refused, nothing more issued
    with pytest.raises(LinkRefused) as refused:
        await enrolment.redeem_link(
            session, box=box, token=link, account=alice, now=NOW, issuer=ISSUER, valid_for=YEAR
        )
    assert refused.value.reason == LinkRefused.USED
    assert len(await certificates.list_certificates(session, account=alice)) == 1
    entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "device.profile.issue"))
    assert entry is not None and entry.actor == "citizen:alice" and "iPhone de Alice" in (entry.after or "")


async def test_a_link_is_for_its_account_only_while_fresh_and_untampered(
    session: AsyncSession, region: Region, hasher: PasswordHasher, box: SecretBox
) -> None:
    alice = await _account(session, region, hasher, "alice")
    bob = await _account(session, region, hasher, "bob")
    link = await enrolment.make_link(
        session, box=box, account=alice, format="android/passpoint", kind=CredentialKind.PASSWORD,
        label="Pixel", now=NOW,
    )  # fmt: skip

    async def refused(token: str, account: Account, now: datetime) -> str:
        with pytest.raises(LinkRefused) as caught:
            await enrolment.redeem_link(
                session, box=box, token=token, account=account, now=now, issuer=None, valid_for=YEAR
            )
        return caught.value.reason

    assert await refused(link, bob, NOW) == LinkRefused.NOT_YOURS
    assert await refused(link, alice, NOW + enrolment.LINK_LIFETIME) == LinkRefused.EXPIRED
    body, _, digest = link.partition(".")
    forged = enrolment.LinkClaims.decode(enrolment.read_link(box, link).encode().replace(b"Pixel", b"Pixol"))
    assert await refused(f"{body[:-2]}AA.{digest}", alice, NOW) == LinkRefused.MALFORMED
    assert await refused(f"{enrolment._b64(forged.encode())}.{digest}", alice, NOW) == LinkRefused.MALFORMED
    assert await refused("x" * 5000, alice, NOW) == LinkRefused.MALFORMED
    assert await refused("%%%.", alice, NOW) == LinkRefused.MALFORMED
    # a link made under another secret key is not ours
    other = SecretBox("another secret key of at least 32 characters!!")
    assert (
        await refused(
            f"{body}.{other.digest(enrolment.read_link(box, link).encode(), purpose=enrolment.LINK_PURPOSE)}",
            alice,
            NOW,
        )
        == LinkRefused.MALFORMED
    )
    assert await credentials.list_device_credentials(session, account=alice) == []
    # still good for alice, within its ten minutes: a password credential whose NT hash RADIUS reads
    got = await enrolment.redeem_link(
        session, box=box, token=link, account=alice, now=NOW, issuer=None, valid_for=YEAR
    )
    assert isinstance(got.issued, enrolment.IssuedPassword)
    assert got.issued.username == f"alice@{TEST_REALM}"
    hashes = await credentials.active_nt_hashes(session, box=box, account_id=alice.id)
    assert hashes == [(got.issued.row.id, credentials.nt_hash(got.issued.password))]


async def test_a_certificate_link_without_a_device_ca_issues_nothing(
    session: AsyncSession, region: Region, hasher: PasswordHasher, box: SecretBox
) -> None:
    alice = await _account(session, region, hasher, "alice")
    link = await enrolment.make_link(
        session, box=box, account=alice, format="windows/wlan", kind=CredentialKind.CERTIFICATE,
        label="PC", now=NOW,
    )  # fmt: skip
    with pytest.raises(InvalidInput):
        await enrolment.redeem_link(
            session, box=box, token=link, account=alice, now=NOW, issuer=None, valid_for=YEAR
        )


async def test_a_newer_download_spends_older_links(
    session: AsyncSession, region: Region, hasher: PasswordHasher, box: SecretBox
) -> None:
    alice = await _account(session, region, hasher, "alice")
    links = [
        await enrolment.make_link(
            session,
            box=box,
            account=alice,
            format="linux/nm",
            kind=CredentialKind.PASSWORD,
            label=f"laptop {n}",
            now=NOW,
        )
        for n in range(2)
    ]
    await enrolment.redeem_link(
        session, box=box, token=links[1], account=alice, now=NOW, issuer=None, valid_for=YEAR
    )
    with pytest.raises(LinkRefused) as refused:
        await enrolment.redeem_link(
            session, box=box, token=links[0], account=alice, now=NOW, issuer=None, valid_for=YEAR
        )
    assert refused.value.reason == LinkRefused.USED


async def test_the_daily_limit_counts_credentials_and_certificates_of_the_last_24_hours(
    session: AsyncSession, region: Region, hasher: PasswordHasher, box: SecretBox
) -> None:
    alice = await _account(session, region, hasher, "alice")
    bob = await _account(session, region, hasher, "bob")

    async def download(account: Account, kind: CredentialKind, now: datetime) -> None:
        link = await enrolment.make_link(
            session, box=box, account=account, format="f", kind=kind, label="d", now=now, daily_limit=3
        )
        await enrolment.redeem_link(
            session, box=box, token=link, account=account, now=now, issuer=ISSUER, valid_for=YEAR,
            daily_limit=3,
        )  # fmt: skip

    for kind in (CredentialKind.CERTIFICATE, CredentialKind.PASSWORD, CredentialKind.CERTIFICATE):
        await download(alice, kind, NOW)
    assert await enrolment.issued_today(session, account=alice, now=NOW) == 3
    with pytest.raises(TooManyProfiles):
        await download(alice, CredentialKind.PASSWORD, NOW + timedelta(hours=23))
    await download(bob, CredentialKind.PASSWORD, NOW)  # each account its own count
    # forgetting a device does not give its place back; a day later the count has gone
    (first, *_) = await enrolment.enrolled_devices(session, account=alice)
    await enrolment.forget_enrolled(session, account=alice, kind=first.kind, id=first.id, now=NOW)
    with pytest.raises(TooManyProfiles):
        await download(alice, CredentialKind.PASSWORD, NOW + timedelta(hours=1))
    await download(alice, CredentialKind.PASSWORD, NOW + timedelta(days=1, seconds=1))


async def test_forgetting_a_device_revokes_it_for_its_account_only(
    session: AsyncSession, region: Region, hasher: PasswordHasher, box: SecretBox
) -> None:
    alice = await _account(session, region, hasher, "alice")
    bob = await _account(session, region, hasher, "bob")
    for kind in (CredentialKind.CERTIFICATE, CredentialKind.PASSWORD):
        link = await enrolment.make_link(
            session, box=box, account=alice, format="f", kind=kind, label=kind.value, now=NOW
        )
        await enrolment.redeem_link(
            session, box=box, token=link, account=alice, now=NOW, issuer=ISSUER, valid_for=YEAR
        )
    devices = await enrolment.enrolled_devices(session, account=alice)
    assert [(d.kind, d.label) for d in devices] == [
        (CredentialKind.CERTIFICATE, "certificate"),
        (CredentialKind.PASSWORD, "password"),
    ]
    for device in devices:
        with pytest.raises(NotFound):
            await enrolment.forget_enrolled(session, account=bob, kind=device.kind, id=device.id, now=NOW)
    (certificate,) = await certificates.list_certificates(session, account=alice)
    for device in devices:
        await enrolment.forget_enrolled(session, account=alice, kind=device.kind, id=device.id, now=NOW)
    assert await enrolment.enrolled_devices(session, account=alice) == []
    assert await credentials.active_nt_hashes(session, box=box, account_id=alice.id) == []
    owner = await certificates.certificate_owner(
        session, region_id=region.id, issuer_der=CA.certificate.subject.public_bytes(),
        serial=int(certificate.serial, 16), now=NOW,
    )  # fmt: skip
    assert owner is None
    actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert actions == ["device.profile.issue"] * 2 + ["device.forget"] * 2
