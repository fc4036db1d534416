"""The ``[onboarding]`` section of the settings (``SESAME_ONBOARDING_*``): what devices' onboarding
profiles need that must be files on the host, never rows an admin can change through the API —
the device CA's private key (which issues devices' EAP-TLS certificates), the certificate and key
that sign the profiles, and how long issued certificates last (docs/onboarding.md,
docs/configuration.md).

What the network is (SSIDs, Passpoint) lives in the database instead (:mod:`accounts.onboarding`),
so that region admins can change it through the admin API, audited.

:func:`load_signer` and :func:`load_device_issuer` read the files and check that each key belongs
to its certificate: ``sesame check`` (:mod:`sesame.preflight`) runs them before start-up, and
whatever signs or issues uses what they return.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from accounts.deviceca import DeviceIssuer

__all__ = [
    "DeviceIssuer",
    "OnboardingFileError",
    "OnboardingSettings",
    "ProfileSigner",
    "load_device_issuer",
    "load_signer",
]

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey


class OnboardingSettings(BaseModel):
    """Devices' profiles for the secure network (issue 17)."""

    model_config = ConfigDict(extra="forbid")

    #: the private key of the device CA (``SESAME_EAP_DEVICE_CA``), PEM, possibly encrypted with
    #: ``device_ca_key_password``: with it onboarding issues devices' EAP-TLS certificates ("":
    #: profiles carry a per-device TTLS/PEAP credential instead)
    device_ca_key: str = ""
    device_ca_key_password: SecretStr = SecretStr("")
    #: the certificate (PEM) and key that sign Apple's profiles (CMS), so that devices show them as
    #: verified; the chain holds its intermediate CAs (PEM, "" if none)
    signing_certificate: str = ""
    signing_key: str = ""
    signing_key_password: SecretStr = SecretStr("")
    signing_chain: str = ""
    #: how long a device's issued certificate is valid
    certificate_days: int = Field(default=365, ge=1, le=3650)

    @field_validator("device_ca_key", "signing_certificate", "signing_key", "signing_chain")
    @classmethod
    def _file(cls, value: str) -> str:
        if value and not Path(value).is_file():
            raise ValueError(f"no file at {value}")
        return value

    @model_validator(mode="after")
    def _together(self) -> OnboardingSettings:
        if bool(self.signing_certificate) != bool(self.signing_key):
            raise ValueError(
                "set both the signing certificate and its key "
                "(SESAME_ONBOARDING_SIGNING_CERTIFICATE, _SIGNING_KEY)"
            )
        if self.signing_chain and not self.signing_certificate:
            raise ValueError("a signing chain without a signing certificate")
        return self


class OnboardingFileError(Exception):
    """A file of the ``[onboarding]`` section cannot be used; the message names it and says why."""


@dataclass(frozen=True, slots=True)
class ProfileSigner:
    """What signs profiles: the certificate, its key and the intermediates sent with it."""

    certificate: x509.Certificate
    key: PrivateKey
    chain: tuple[x509.Certificate, ...] = ()


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise OnboardingFileError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None


def _certificates(path: str, what: str) -> list[x509.Certificate]:
    data = _read(path, what)
    try:
        found = x509.load_pem_x509_certificates(data)
    except ValueError:
        found = []
    if not found:
        raise OnboardingFileError(f"{path}: {what} is not a PEM certificate")
    return found


def _key(path: str, password: SecretStr, what: str) -> PrivateKey:
    secret = password.get_secret_value().encode() or None
    try:
        key = serialization.load_pem_private_key(_read(path, what), secret)
    except TypeError:  # encrypted without a password, or a password for a key that has none
        raise OnboardingFileError(
            f"{path}: {what} is {'not ' if secret else ''}encrypted: "
            f"{'remove' if secret else 'set'} its password"
        ) from None
    except ValueError:  # not PEM, or the wrong password: the library does not tell which
        raise OnboardingFileError(
            f"{path}: {what} is not a PEM private key, or its password is wrong"
        ) from None
    if not isinstance(key, PrivateKey):
        raise OnboardingFileError(f"{path}: {what} must be an ECDSA or RSA key")
    return key


def _same_key(certificate: x509.Certificate, key: PrivateKey) -> bool:
    info = serialization.PublicFormat.SubjectPublicKeyInfo
    return certificate.public_key().public_bytes(
        serialization.Encoding.DER, info
    ) == key.public_key().public_bytes(serialization.Encoding.DER, info)


def load_signer(settings: OnboardingSettings) -> ProfileSigner | None:
    """The profile signer, or None when none is configured (profiles go unsigned)."""
    if not settings.signing_certificate:
        return None
    certificate = _certificates(settings.signing_certificate, "the signing certificate")[0]
    key = _key(settings.signing_key, settings.signing_key_password, "the signing key")
    if not _same_key(certificate, key):
        raise OnboardingFileError(
            f"{settings.signing_key}: the signing key is not the key of {settings.signing_certificate}"
        )
    chain = _certificates(settings.signing_chain, "the signing chain") if settings.signing_chain else []
    return ProfileSigner(certificate, key, tuple(chain))


def load_device_issuer(settings: OnboardingSettings, *, device_ca: str) -> DeviceIssuer | None:
    """The device CA with its key (``device_ca``: ``SESAME_EAP_DEVICE_CA``), which issues each
    citizen's device its own EAP-TLS certificate; None when no key is configured (devices then get
    a password credential). How long those certificates live is ``certificate_days``."""
    if not settings.device_ca_key:
        return None
    if not device_ca:
        raise OnboardingFileError(
            "SESAME_ONBOARDING_DEVICE_CA_KEY is set but SESAME_EAP_DEVICE_CA is not: "
            "the certificates it would issue would be refused"
        )
    certificate = _certificates(device_ca, "the device CA")[0]
    key = _key(settings.device_ca_key, settings.device_ca_key_password, "the device CA's key")
    if not _same_key(certificate, key):
        raise OnboardingFileError(f"{settings.device_ca_key}: not the key of the device CA {device_ca}")
    try:
        is_ca = certificate.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if not is_ca:
        raise OnboardingFileError(f"{device_ca}: the device CA is not a CA certificate (basicConstraints)")
    return DeviceIssuer(certificate=certificate, key=key)
