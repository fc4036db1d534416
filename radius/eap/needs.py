"""What an EAP conversation needs from its caller before it can go on: the only steps wanting I/O.

A method returns one of these instead of an answer; the caller (the RADIUS pipeline) looks the
account up, checks the credential with its own limits and caches, and hands the answer back
through ``supply``. The conversation wraps a need with its handle before the caller sees it.
The inner phase that asked is the one that reads the answer:

* :class:`NeedPassword` → ``bool`` (the password is the account's);
* :class:`NeedNtHashes` → ``list[bytes]`` (the account's device NT hashes, 16 octets each;
  ``[]`` for an unknown user);
* :class:`NeedCertificate` → ``str | None`` (the account's ``user@realm``, or None when the
  certificate is unknown or revoked).
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["Need", "NeedCertificate", "NeedNtHashes", "NeedPassword"]


@dataclass(frozen=True, slots=True, kw_only=True)
class NeedPassword:
    """Fired when a peer sent a clear password inside the tunnel (EAP-TTLS inner PAP)."""

    identity: str  # inner "user@realm", lower case
    password: str = field(repr=False)  # never logged, never recorded


@dataclass(frozen=True, slots=True, kw_only=True)
class NeedNtHashes:
    """Fired when a peer answered an MS-CHAPv2 challenge and its NT-Response must be checked."""

    identity: str  # inner "user@realm", lower case


@dataclass(frozen=True, slots=True, kw_only=True)
class NeedCertificate:
    """Fired when a peer's certificate chained to the device CA and its owner must be found."""

    serial: int
    issuer: bytes  # DER-encoded issuer name
    subject: str
    san: list[str]


Need = NeedPassword | NeedNtHashes | NeedCertificate
