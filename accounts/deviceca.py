"""Issuing a device's own credential for the secure network: an EAP-TLS client certificate from
the device CA, or a generated password for EAP-TTLS/PEAP.

Each device gets its own credential, never the account's password, so that forgetting one device
(revoking its certificate or credential) leaves the others working. The certificate's key is made
here and leaves only inside the file the citizen downloads: nothing of it is stored, only the
certificate's row (:func:`accounts.certificates.register_certificate`), which the RADIUS servers
read at every handshake.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import (
    Encoding,
    NoEncryption,
    PrivateFormat,
    load_pem_private_key,
    pkcs12,
)
from cryptography.hazmat.primitives.serialization.pkcs12 import PBES
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.certificates import load_certificate, register_certificate
from accounts.credentials import create_device_credential
from accounts.errors import InvalidInput
from accounts.models import Account, DeviceCertificate, DeviceCredential
from accounts.secretbox import SecretBox

__all__ = [
    "DeviceIssuer",
    "IssuedCertificate",
    "IssuedPassword",
    "issue_certificate",
    "issue_password",
    "make_certificate",
]

#: the longest a device certificate may live: a forgotten phone's certificate is revoked anyway,
#: but one never forgotten should still be renewed with the device CA's rotation in sight
MAX_VALIDITY = timedelta(days=825)
#: a backdate for devices whose clocks run a little late (a certificate "not yet valid" is refused)
BACKDATE = timedelta(minutes=5)

CaKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True, slots=True)
class DeviceIssuer:
    """The device CA: its certificate (what the RADIUS servers' ``eap.device_ca`` names) and its
    key. Built once by the composition root."""

    certificate: x509.Certificate
    key: CaKey

    @classmethod
    def load(cls, certificate_pem: bytes, key_pem: bytes, password: bytes | None = None) -> DeviceIssuer:
        """From PEM files, or :class:`InvalidInput` saying which part cannot be used."""
        certificate = load_certificate(certificate_pem)
        try:
            key = load_pem_private_key(key_pem, password or None)
        except (ValueError, TypeError):
            raise InvalidInput("the device CA's key is not a PEM private key this password opens") from None
        if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey):
            raise InvalidInput("the device CA's key must be ECDSA or RSA")
        if key.public_key().public_numbers() != certificate.public_key().public_numbers():  # type: ignore[union-attr]
            raise InvalidInput("the device CA's key does not belong to its certificate")
        try:
            constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value
        except x509.ExtensionNotFound:
            constraints = None
        if constraints is None or not constraints.ca:
            raise InvalidInput("the device CA's certificate is not a CA certificate")
        return cls(certificate=certificate, key=key)


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedCertificate:
    """A device's certificate and its key, as the profile carries them. Never stored."""

    row: DeviceCertificate
    certificate: x509.Certificate
    private_key_pem: bytes
    #: certificate, key and the device CA, as PKCS#12 under ``pkcs12_password``
    pkcs12: bytes
    pkcs12_password: str
    identity: str

    @property
    def certificate_der(self) -> bytes:
        return self.certificate.public_bytes(Encoding.DER)


@dataclass(frozen=True, slots=True, kw_only=True)
class IssuedPassword:
    """A device credential for EAP-TTLS/PEAP; the password is shown once and never stored."""

    row: DeviceCredential
    username: str
    password: str


def make_certificate(
    issuer: DeviceIssuer, *, identity: str, device_name: str, now: datetime, valid_for: timedelta
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    """A client certificate for one device (sans-I/O): a new P-256 key, the identity as the
    subject's CN and as the SAN's rfc822Name (what supplicants offer as the EAP identity), the
    device's name as the subject's OU (what a person reads in the device's certificate list),
    clientAuth only, and a random 159-bit serial (the issuer and serial name its row)."""
    if not timedelta(0) < valid_for <= MAX_VALIDITY:
        raise InvalidInput(f"a device certificate lives between a second and {MAX_VALIDITY.days} days")
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, identity[:64]),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, (device_name or "device")[:64]),
        ]
    )
    ca_public = issuer.certificate.public_key()
    assert isinstance(ca_public, ec.EllipticCurvePublicKey | rsa.RSAPublicKey)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(min(now + valid_for, issuer.certificate.not_valid_after_utc))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(identity)]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_public), critical=False)
        .sign(issuer.key, hashes.SHA256())
    )
    return certificate, key


def pkcs12_bundle(
    issuer: DeviceIssuer, certificate: x509.Certificate, key: ec.EllipticCurvePrivateKey, *, name: str
) -> tuple[bytes, str]:
    """The key, its certificate and the device CA as PKCS#12, under a random password.

    Encrypted with PBES1 3DES and a SHA-1 MAC, not PBES2/AES: the file only carries the key during
    one download (inside a profile that is itself single use), and older Windows 10 builds and
    macOS's ``security import`` before macOS 14 refuse AES-encrypted PKCS#12, as Apple's and
    Microsoft's configurators produce the 3DES form. Platforms refuse an empty password."""
    password = secrets.token_urlsafe(18)
    encryption = (
        PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)
        .key_cert_algorithm(PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())  # noqa: S303 - the PKCS#12 MAC the platforms above read
        .build(password.encode())
    )
    bundle = pkcs12.serialize_key_and_certificates(
        name.encode()[:64], key, certificate, [issuer.certificate], encryption
    )
    return bundle, password


async def issue_certificate(
    session: AsyncSession,
    *,
    issuer: DeviceIssuer,
    account: Account,
    label: str,
    now: datetime,
    valid_for: timedelta,
) -> IssuedCertificate:
    """A certificate for one of ``account``'s devices, registered (so it connects) under ``label``."""
    identity = account.identity
    certificate, key = make_certificate(
        issuer, identity=identity, device_name=label, now=now, valid_for=valid_for
    )
    row = await register_certificate(session, account=account, certificate=certificate, label=label, now=now)
    bundle, password = pkcs12_bundle(issuer, certificate, key, name=label or identity)
    return IssuedCertificate(
        row=row,
        certificate=certificate,
        private_key_pem=key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption()),
        pkcs12=bundle,
        pkcs12_password=password,
        identity=identity,
    )


async def issue_password(
    session: AsyncSession, *, box: SecretBox, account: Account, label: str
) -> IssuedPassword:
    """The EAP-TTLS/PEAP alternative: a generated password for this device only (its NT hash is
    sealed, see :mod:`accounts.credentials`), for platforms without a usable certificate store."""
    row, password = await create_device_credential(session, box=box, account=account, label=label)
    return IssuedPassword(row=row, username=account.identity, password=password)
