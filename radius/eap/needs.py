"""What an EAP conversation needs from its caller before it can go on (placeholder: the inner-methods
side owns this module; its version replaces this one at merge).

Each is a question whose answer only the caller can give, because it takes the database or the
password verifier: the conversation returns it (wrapped with its handle, see
:class:`radius.eap.steps.AnswerNeeded`) and resumes when the caller supplies the answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, kw_only=True)
class NeedPassword:
    """Asked when an inner method (TTLS/PAP) received a password: the answer is ``bool``, whether it is
    the account's password (the pipeline checks it with argon2id, its cache and failure limits)."""

    identity: str
    password: str = field(repr=False)  # never in a log line


@dataclass(frozen=True, slots=True, kw_only=True)
class NeedNtHashes:
    """Asked when an inner MS-CHAPv2 needs the account's device NT hashes: the answer is ``list[bytes]``
    ([] for an unknown account)."""

    identity: str


@dataclass(frozen=True, slots=True, kw_only=True)
class NeedCertificate:
    """Asked when an EAP-TLS peer's certificate chained to the device CA: the answer is the account's
    identity (``user@realm``), or None for a certificate that is unknown or revoked."""

    serial: int
    issuer: bytes  # the issuer's Name, DER
    subject: str
    san: list[str]


Need = NeedPassword | NeedNtHashes | NeedCertificate
