"""Throwaway certificates for EAP tests, made with ``cryptography``: the server's CA and certificate,
a device CA and device (client) certificates.

ECDSA P-256 keys (fast to make). Leaves carry the extended key usage they are for, so a device
certificate is a TLS client's and the server's a TLS server's, as a strict verifier wants.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

_LIFETIME = datetime.timedelta(days=2)


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Sesame EAP tests"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _usage(*, ca: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


@dataclass(frozen=True)
class Leaf:
    """A certificate and its key, written as PEM files."""

    certificate: x509.Certificate
    certificate_file: Path
    key_file: Path

    @property
    def pair(self) -> tuple[str, str]:
        """The certificate and key files, as a TLS client loads them."""
        return str(self.certificate_file), str(self.key_file)


@dataclass(frozen=True)
class Authority:
    name: str
    key: ec.EllipticCurvePrivateKey
    certificate: x509.Certificate
    file: Path

    @classmethod
    def create(cls, directory: Path, name: str) -> Authority:
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(_name(name))
            .issuer_name(_name(name))
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + _LIFETIME)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_usage(ca=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256())
        )
        file = directory / f"{name.replace(' ', '-').lower()}.pem"
        file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return cls(name=name, key=key, certificate=certificate, file=file)

    def issue(
        self,
        directory: Path,
        common_name: str,
        *,
        usage: x509.ObjectIdentifier,
        emails: tuple[str, ...] = (),
        chain: bool = False,
        expired: bool = False,
    ) -> Leaf:
        """A leaf for ``usage`` (server or client auth); with ``chain`` its file holds this CA after it."""
        key = ec.generate_private_key(ec.SECP256R1())
        now = datetime.datetime.now(datetime.UTC)
        start, end = (
            (now - datetime.timedelta(days=10), now - datetime.timedelta(days=1))
            if expired
            else (
                now - datetime.timedelta(hours=1),
                now + _LIFETIME,
            )
        )
        builder = (
            x509.CertificateBuilder()
            .subject_name(_name(common_name))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(start)
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_usage(ca=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(self.key.public_key()), critical=False
            )
        )
        if emails:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.RFC822Name(email) for email in emails]), critical=False
            )
        certificate = builder.sign(self.key, hashes.SHA256())
        stem = common_name.replace(" ", "-").lower()
        certificate_file, key_file = directory / f"{stem}.pem", directory / f"{stem}.key"
        pem = certificate.public_bytes(serialization.Encoding.PEM)
        if chain:
            pem += self.certificate.public_bytes(serialization.Encoding.PEM)
        certificate_file.write_bytes(pem)
        key_file.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
        return Leaf(certificate=certificate, certificate_file=certificate_file, key_file=key_file)


SERVER_AUTH = ExtendedKeyUsageOID.SERVER_AUTH
CLIENT_AUTH = ExtendedKeyUsageOID.CLIENT_AUTH


@dataclass(frozen=True)
class Pki:
    """Everything a test of EAP's TLS needs."""

    server_ca: Authority
    server: Leaf  # its file holds the chain up to server_ca
    device_ca: Authority
    device: Leaf  # a device certificate of alice@example.org
    stranger_ca: Authority  # a CA nobody trusts
    stranger: Leaf  # a client certificate from it
    expired_device: Leaf
    server_usage_device: Leaf  # from the device CA, but for TLS servers only

    @classmethod
    def create(cls, directory: Path) -> Pki:
        directory.mkdir(parents=True, exist_ok=True)
        server_ca = Authority.create(directory, "Server CA")
        device_ca = Authority.create(directory, "Device CA")
        stranger_ca = Authority.create(directory, "Stranger CA")
        return cls(
            server_ca=server_ca,
            server=server_ca.issue(directory, "radius.example.org", usage=SERVER_AUTH, chain=True),
            device_ca=device_ca,
            device=device_ca.issue(directory, "device 1", usage=CLIENT_AUTH, emails=("alice@example.org",)),
            stranger_ca=stranger_ca,
            stranger=stranger_ca.issue(directory, "stranger", usage=CLIENT_AUTH),
            expired_device=device_ca.issue(directory, "old device", usage=CLIENT_AUTH, expired=True),
            server_usage_device=device_ca.issue(directory, "odd device", usage=SERVER_AUTH),
        )
