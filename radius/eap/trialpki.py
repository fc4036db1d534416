"""Certificates for a trial: a CA, the RADIUS server's certificate, and a device CA with its
devices' certificates (``sesame eap make-certs``; the tests use it too).

A production server certificate comes from the region's own PKI (a public CA is neither needed
nor advisable: devices pin the CA and the server name in their profile). Keys are ECDSA P-256 by
default (a handshake signs once; P-256 costs a fraction of RSA-2048's CPU), RSA-2048 on request
for old supplicants.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


@dataclass(frozen=True, slots=True)
class Issued:
    certificate: x509.Certificate
    key: PrivateKey

    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    def key_pem(self) -> bytes:
        return self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )


def new_key(kind: str = "ec") -> PrivateKey:
    if kind == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organisation: str | None = None) -> x509.Name:
    parts = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organisation:
        parts.insert(0, x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation))
    return x509.Name(parts)


def _builder(
    subject: x509.Name, issuer: x509.Name, key: PrivateKey, now: datetime, days: int
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(os.urandom(16), "big") >> 1 or 1)
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=days))
    )


def make_ca(
    common_name: str,
    *,
    organisation: str | None = None,
    kind: str = "ec",
    days: int = 3650,
    now: datetime | None = None,
) -> Issued:
    now = now or datetime.now(UTC)
    key = new_key(kind)
    name = _name(common_name, organisation)
    certificate = (
        _builder(name, name, key, now, days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return Issued(certificate, key)


def _leaf(
    ca: Issued,
    subject: x509.Name,
    *,
    usage: x509.ObjectIdentifier,
    names: list[x509.GeneralName],
    kind: str,
    days: int,
    now: datetime | None,
) -> Issued:
    now = now or datetime.now(UTC)
    key = new_key(kind)
    builder = (
        _builder(subject, ca.certificate.subject, key, now, days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.key.public_key()), critical=False
        )
    )
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return Issued(builder.sign(ca.key, hashes.SHA256()), key)


def make_server(
    ca: Issued, server_name: str, *, kind: str = "ec", days: int = 825, now: datetime | None = None
) -> Issued:
    """The RADIUS server's certificate: devices check ``server_name`` (its DNS SAN) and the CA."""
    return _leaf(
        ca,
        _name(server_name),
        usage=ExtendedKeyUsageOID.SERVER_AUTH,
        names=[x509.DNSName(server_name)],
        kind=kind,
        days=days,
        now=now,
    )


def make_device(
    ca: Issued, identity: str, *, kind: str = "ec", days: int = 365, now: datetime | None = None
) -> Issued:
    """A device's EAP-TLS certificate for the account ``identity`` (``user@realm``)."""
    return _leaf(
        ca,
        _name(identity),
        usage=ExtendedKeyUsageOID.CLIENT_AUTH,
        names=[x509.RFC822Name(identity)],
        kind=kind,
        days=days,
        now=now,
    )


def make_signer(
    ca: Issued, common_name: str, *, kind: str = "ec", days: int = 825, now: datetime | None = None
) -> Issued:
    """A certificate that signs documents (Apple configuration profiles): S/MIME's extended key
    usage, which ``openssl cms -verify`` checks by default."""
    return _leaf(
        ca,
        _name(common_name),
        usage=ExtendedKeyUsageOID.EMAIL_PROTECTION,
        names=[],
        kind=kind,
        days=days,
        now=now,
    )


@dataclass(frozen=True, slots=True)
class TrialFiles:
    ca: Path
    server_certificate: Path
    server_key: Path
    device_ca: Path
    device_ca_key: Path


def write(path: Path, data: bytes, *, secret: bool = False) -> Path:
    path.write_bytes(data)
    if secret:
        path.chmod(0o600)
    return path


def make_trial_pki(directory: Path, *, realm: str, kind: str = "ec") -> TrialFiles:
    """Write a CA, a server certificate for ``radius.<realm>`` and a device CA into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    ca = make_ca(f"{realm} RADIUS CA (trial)", organisation=realm, kind=kind)
    server = make_server(ca, f"radius.{realm}", kind=kind)
    devices = make_ca(f"{realm} device CA (trial)", organisation=realm, kind=kind)
    return TrialFiles(
        ca=write(directory / "ca.pem", ca.certificate_pem()),
        server_certificate=write(directory / "server.pem", server.certificate_pem() + ca.certificate_pem()),
        server_key=write(directory / "server.key", server.key_pem(), secret=True),
        device_ca=write(directory / "device-ca.pem", devices.certificate_pem()),
        device_ca_key=write(directory / "device-ca.key", devices.key_pem(), secret=True),
    )
