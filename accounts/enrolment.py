"""A citizen enrols a device on the secure network: a one-time download link, the device's own
credential made when the link is used, a daily limit, the audit log, and "forget this device".

**Why the link stores nothing.** The link must work once, for ten minutes, for the account that
asked, and nothing secret may wait in the database between the request and the download: the
credential (a certificate's key, a password) is made only when the link is used, and returned in
the file. ``account_code`` (:mod:`accounts.codes`) was the candidate, but its ``purpose`` column
has a CHECK constraint listing the email codes' two purposes: widening it means dropping and
re-creating a check on an existing table, which the expand-only rule (alembic/README.md) forbids
outside a contract migration. So the link carries its own claims — account, format, credential
kind, device label, expiry — under a keyed digest (:meth:`SecretBox.digest`, purpose
:data:`LINK_PURPOSE`, any accepted key during a rotation), plus a *watermark*: how many device
credentials and certificates the account had ever been issued when the link was made. Using the
link issues one more, under a lock on the account's row, so the same link (or any other link
made before) no longer matches: single use without a table. Revoked rows stay (revoking sets
``revoked_at``), and nothing purges them, so the count never goes back.

The daily limit counts the same rows: credentials and certificates created in the last 24 hours.
Each issue and each "forget" is written to the audit log with the actor ``citizen:<username>``
(the audit log's ``actor`` is free text naming who acted; a citizen acts on their own account).
"""

from __future__ import annotations

import base64
import binascii
import enum
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import audit
from accounts.certificates import revoke_certificate
from accounts.credentials import revoke_device_credential
from accounts.deviceca import (
    DeviceIssuer,
    IssuedCertificate,
    IssuedPassword,
    issue_certificate,
    issue_password,
)
from accounts.errors import DomainError, InvalidInput
from accounts.identity import display_name
from accounts.models import Account, DeviceCertificate, DeviceCredential
from accounts.secretbox import SecretBox

__all__ = [
    "DAILY_LIMIT",
    "LINK_LIFETIME",
    "CredentialKind",
    "EnrolledDevice",
    "Enrolment",
    "IssuedCertificate",
    "IssuedPassword",
    "LinkRefused",
    "TooManyProfiles",
    "enrolled_devices",
    "forget_enrolled",
    "issued_today",
    "make_link",
    "redeem_link",
]

LINK_PURPOSE = "profile-link"
LINK_LIFETIME = timedelta(minutes=10)
#: profiles an account may download in 24 hours (each one is a new credential)
DAILY_LIMIT = 5
#: longer than any link this module makes: what is longer is refused unread
MAX_LINK_LENGTH = 1024


class CredentialKind(enum.StrEnum):
    CERTIFICATE = "certificate"  # EAP-TLS, from the device CA
    PASSWORD = "password"  # noqa: S105 - a kind, not a password: EAP-TTLS/PEAP device credential


class LinkRefused(DomainError):
    """A download link that cannot be used; ``reason`` says why, for the page that says so."""

    MALFORMED = "malformed"  # not a link this portal made (or its key was retired)
    NOT_YOURS = "not_yours"  # made for another account
    EXPIRED = "expired"
    USED = "used"  # used already, or another profile was downloaded since

    def __init__(self, reason: str) -> None:
        super().__init__(f"this download link cannot be used ({reason})")
        self.reason = reason


class TooManyProfiles(DomainError):
    """The account reached :data:`DAILY_LIMIT` profiles in the last 24 hours."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"at most {limit} profiles a day")
        self.limit = limit


@dataclass(frozen=True, slots=True, kw_only=True)
class LinkClaims:
    account_id: int
    #: the portal's name of the file's format (``ios/mobileconfig``): opaque here
    format: str
    kind: CredentialKind
    label: str
    expires_at: datetime
    watermark: int

    def encode(self) -> bytes:
        data = {
            "a": self.account_id,
            "f": self.format,
            "k": self.kind.value,
            "l": self.label,
            "e": int(self.expires_at.timestamp()),
            "w": self.watermark,
        }
        return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode()

    @classmethod
    def decode(cls, raw: bytes) -> LinkClaims:
        data: Any = json.loads(raw)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        account_id, expires, watermark = (_integer(data.get(k)) for k in ("a", "e", "w"))
        fmt, kind, label = (_text(data.get(k)) for k in ("f", "k", "l"))
        return cls(
            account_id=account_id,
            format=fmt,
            kind=CredentialKind(kind),
            label=label,
            expires_at=datetime.fromtimestamp(expires, UTC),
            watermark=watermark,
        )


def _integer(value: object) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("a claim is not an integer")
    return value


def _text(value: object) -> str:
    if not isinstance(value, str):
        raise ValueError("a claim is not text")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class Enrolment:
    """What a used link gave: the format asked for, and the device's new credential."""

    format: str
    label: str
    issued: IssuedCertificate | IssuedPassword


@dataclass(frozen=True, slots=True, kw_only=True)
class EnrolledDevice:
    """A device's credential or certificate still in force, as "My account" lists them."""

    kind: CredentialKind
    id: int
    label: str
    created_at: datetime
    not_after: datetime | None


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


async def _issued_count(session: AsyncSession, account_id: int, since: datetime | None = None) -> int:
    total = 0
    for model in (DeviceCredential, DeviceCertificate):
        query = select(func.count()).select_from(model).where(model.account_id == account_id)
        if since is not None:
            query = query.where(model.created_at > since)
        total += int(await session.scalar(query) or 0)
    return total


async def issued_today(session: AsyncSession, *, account: Account, now: datetime) -> int:
    """Credentials and certificates made for the account in the last 24 hours."""
    return await _issued_count(session, account.id, now - timedelta(days=1))


async def make_link(
    session: AsyncSession,
    *,
    box: SecretBox,
    account: Account,
    format: str,
    kind: CredentialKind,
    label: str,
    now: datetime,
    daily_limit: int = DAILY_LIMIT,
) -> str:
    """A download token for one profile, good for :data:`LINK_LIFETIME` and one use by ``account``.
    :class:`TooManyProfiles` when the day's limit is reached (said now, not at the download)."""
    label = display_name(label, what="device", max_length=64)
    if await issued_today(session, account=account, now=now) >= daily_limit:
        raise TooManyProfiles(daily_limit)
    claims = LinkClaims(
        account_id=account.id,
        format=format,
        kind=kind,
        label=label,
        expires_at=now + LINK_LIFETIME,
        watermark=await _issued_count(session, account.id),
    )
    payload = claims.encode()
    return f"{_b64(payload)}.{box.digest(payload, purpose=LINK_PURPOSE)}"


def read_link(box: SecretBox, token: str) -> LinkClaims:
    """The claims of a token this portal made (under any accepted key), else :class:`LinkRefused`."""
    body, _, digest = token.partition(".")
    if len(token) > MAX_LINK_LENGTH or not body or not digest:
        raise LinkRefused(LinkRefused.MALFORMED)
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        raise LinkRefused(LinkRefused.MALFORMED) from None
    if not any(
        hmac.compare_digest(digest.encode(), d.encode()) for d in box.digests(payload, purpose=LINK_PURPOSE)
    ):
        raise LinkRefused(LinkRefused.MALFORMED)
    try:
        return LinkClaims.decode(payload)
    except (ValueError, UnicodeDecodeError):  # signed by us, so our bug: still refused, never a 500
        raise LinkRefused(LinkRefused.MALFORMED) from None


async def redeem_link(
    session: AsyncSession,
    *,
    box: SecretBox,
    token: str,
    account: Account,
    now: datetime,
    issuer: DeviceIssuer | None,
    valid_for: timedelta,
    daily_limit: int = DAILY_LIMIT,
) -> Enrolment:
    """Use the link, once: check it, then make the device's credential (registered, audited).

    The caller builds the file from the result *in the same transaction*, so a file that cannot
    be built leaves no credential behind."""
    claims = read_link(box, token)
    if claims.account_id != account.id:
        raise LinkRefused(LinkRefused.NOT_YOURS)
    if claims.expires_at <= now:
        raise LinkRefused(LinkRefused.EXPIRED)
    # one use at a time per account: the row lock orders concurrent downloads (PostgreSQL; SQLite
    # has a single writer), so the second one sees the first one's credential
    await session.execute(select(Account.id).where(Account.id == account.id).with_for_update())
    if await _issued_count(session, account.id) != claims.watermark:
        raise LinkRefused(LinkRefused.USED)
    if await issued_today(session, account=account, now=now) >= daily_limit:
        raise TooManyProfiles(daily_limit)
    await session.refresh(account, ["region"])
    issued: IssuedCertificate | IssuedPassword
    if claims.kind is CredentialKind.CERTIFICATE:
        if issuer is None:
            raise InvalidInput("EAP-TLS certificates are not issued here (no device CA)")
        issued = await issue_certificate(
            session, issuer=issuer, account=account, label=claims.label, now=now, valid_for=valid_for
        )
    else:
        issued = await issue_password(session, box=box, account=account, label=claims.label)
    issued.row.created_at = now  # the day's count and the list read the portal's clock
    await audit.record(
        session,
        actor=f"citizen:{account.username}",
        action="device.profile.issue",
        target=f"account:{account.username}",
        after={
            "label": claims.label,
            "format": claims.format,
            "kind": claims.kind.value,
            "id": issued.row.id,
        },
        at=now,
    )
    return Enrolment(format=claims.format, label=claims.label, issued=issued)


async def enrolled_devices(session: AsyncSession, *, account: Account) -> list[EnrolledDevice]:
    """The account's device credentials and certificates not revoked, oldest first."""
    devices = [
        EnrolledDevice(
            kind=CredentialKind.PASSWORD,
            id=row.id,
            label=row.label,
            created_at=row.created_at,
            not_after=None,
        )
        for row in await session.scalars(
            select(DeviceCredential).where(
                DeviceCredential.account_id == account.id, DeviceCredential.revoked_at.is_(None)
            )
        )
    ]
    devices += [
        EnrolledDevice(
            kind=CredentialKind.CERTIFICATE,
            id=row.id,
            label=row.label,
            created_at=row.created_at,
            not_after=row.not_after,
        )
        for row in await session.scalars(
            select(DeviceCertificate).where(
                DeviceCertificate.account_id == account.id, DeviceCertificate.revoked_at.is_(None)
            )
        )
    ]
    return sorted(devices, key=lambda d: (d.created_at, d.kind.value, d.id))


async def forget_enrolled(
    session: AsyncSession,
    *,
    account: Account,
    kind: CredentialKind,
    id: int,
    now: datetime,
    actor: str | None = None,
) -> bool:
    """Revoke one device's credential or certificate (:class:`NotFound` if it is not the
    account's). RADIUS refuses it at once: certificates are read at every handshake, and a
    credential's ``updated_at`` moves, which every worker's next poll (2 s) sees.

    ``actor`` is who acted, as the audit log names them: the citizen by default, or the staff
    member who forgot the device for them (support's "forget a device"). Idempotent: forgetting
    a device already revoked changes nothing and writes nothing to the audit log (False).
    """
    if kind is CredentialKind.CERTIFICATE:
        changed = await revoke_certificate(session, account=account, certificate_id=id, now=now)
    else:
        changed = await revoke_device_credential(session, account=account, credential_id=id, now=now)
    if changed:
        await audit.record(
            session,
            actor=actor or f"citizen:{account.username}",
            action="device.forget",
            target=f"account:{account.username}",
            before={"kind": kind.value, "id": id},
            at=now,
        )
    return changed
