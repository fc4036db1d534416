"""The ``[requisition]`` section of the settings (``SESAME_REQUISITION_*``): how wide a judicial
requisition's search may be, and the certificate and key that sign its answers (docs/privacy.md,
"Answering a judicial requisition").

The signing files are files on the host, never rows an admin can change through the API: whoever
could swap the certificate could sign answers the region never gave. :func:`load_records_signer`
reads them and checks that the key is the certificate's; ``sesame serve`` runs it before start-up
and the API's export uses what it returns.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from accounts.recordsexport import PrivateKey, RecordsSigner
from accounts.requisition import Limits

__all__ = ["RecordsFileError", "RequisitionSettings", "limits", "load_records_signer"]


class RequisitionSettings(BaseModel):
    """Judicial requisitions (issue 18)."""

    model_config = ConfigDict(extra="forbid")

    #: the records-signing certificate (PEM) and its key; the chain holds intermediate CAs ("": none).
    #: Without them searches work but exports are refused.
    signing_certificate: str = ""
    signing_key: str = ""
    signing_key_password: SecretStr = SecretStr("")
    signing_chain: str = ""
    #: the longest window one search may cover, in days
    max_window_days: int = Field(default=31, ge=1, le=366)
    #: the most records (sessions and decisions) one search returns; past it: "narrow the window"
    max_records: int = Field(default=1000, ge=1, le=100_000)

    @field_validator("signing_certificate", "signing_key", "signing_chain")
    @classmethod
    def _file(cls, value: str) -> str:
        if value and not Path(value).is_file():
            raise ValueError(f"no file at {value}")
        return value

    @model_validator(mode="after")
    def _together(self) -> RequisitionSettings:
        if bool(self.signing_certificate) != bool(self.signing_key):
            raise ValueError(
                "set both the records-signing certificate and its key "
                "(SESAME_REQUISITION_SIGNING_CERTIFICATE, _SIGNING_KEY)"
            )
        if self.signing_chain and not self.signing_certificate:
            raise ValueError("a signing chain without a signing certificate")
        return self


class RecordsFileError(Exception):
    """A file of the ``[requisition]`` section cannot be used; the message names it and says why."""


def limits(settings: RequisitionSettings, *, connection_days: int) -> Limits:
    return Limits(
        max_window=timedelta(days=settings.max_window_days),
        max_records=settings.max_records,
        connection_days=connection_days,
    )


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise RecordsFileError(f"{path}: cannot read {what}: {exc.strerror or exc}") from None


def _certificates(path: str, what: str) -> list[x509.Certificate]:
    try:
        found = x509.load_pem_x509_certificates(_read(path, what))
    except ValueError:
        found = []
    if not found:
        raise RecordsFileError(f"{path}: {what} is not a PEM certificate")
    return found


def _key(path: str, password: SecretStr) -> PrivateKey:
    secret = password.get_secret_value().encode() or None
    try:
        key = serialization.load_pem_private_key(_read(path, "the signing key"), secret)
    except TypeError:  # encrypted without a password, or a password for a key that has none
        raise RecordsFileError(f"{path}: the signing key's password is missing, or it has none") from None
    except ValueError:
        raise RecordsFileError(f"{path}: not a PEM private key, or its password is wrong") from None
    if not isinstance(key, PrivateKey):
        raise RecordsFileError(f"{path}: the signing key must be an ECDSA or RSA key")
    return key


def load_records_signer(settings: RequisitionSettings) -> RecordsSigner | None:
    """The records signer, or None when none is configured (exports are refused)."""
    if not settings.signing_certificate:
        return None
    certificate = _certificates(settings.signing_certificate, "the records-signing certificate")[0]
    key = _key(settings.signing_key, settings.signing_key_password)
    info = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if certificate.public_key().public_bytes(der, info) != key.public_key().public_bytes(der, info):
        raise RecordsFileError(f"{settings.signing_key}: not the key of {settings.signing_certificate}")
    chain = _certificates(settings.signing_chain, "the signing chain") if settings.signing_chain else []
    return RecordsSigner(certificate, key, tuple(chain))
