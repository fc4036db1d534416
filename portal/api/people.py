"""Citizens' accounts under ``/api/v1/accounts``: search, show, disable/enable, unlock, resend the
verification, delete (with the retention rules), an account's remembered devices (MACs), and its
enrolled devices (the EAP credentials and certificates onboarding issued), one of which may be
revoked.

Accounts are the region's, not a commune's: region admins, support and auditors see them; commune
admins have no ``accounts:*`` scope, so no account, remembered or enrolled device is within a
commune admin's reach (403, whatever the commune). Support may unlock, resend and forget a device
(``accounts:help``), not disable, enable or delete (``accounts:write``: region admins). Nothing
secret is ever returned (no password hash, no device password or NT hash, no key or PKCS#12: an
enrolled device is shown by what names it — label, dates, a certificate's subject, serial and
fingerprint).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Response
from pydantic import BaseModel
from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from accounts import audit, selfservice
from accounts.admins import HELP_ACCOUNTS, READ_ACCOUNTS, WRITE_ACCOUNTS
from accounts.certificates import list_certificates
from accounts.credentials import list_device_credentials
from accounts.disconnect import disconnect_account
from accounts.enrolment import CredentialKind, forget_enrolled
from accounts.errors import Conflict, NotFound
from accounts.models import Account, AccountStatus, Device, DeviceCertificate, DeviceCredential
from accounts.users import delete_account, list_devices, set_status
from portal.api.auth import Principal, require
from portal.api.common import Id, Page, PageParams, paginate
from portal.api.inputs import Text
from portal.context import PortalDep

router = APIRouter(prefix="/accounts", tags=["accounts"])

Reader = Annotated[Principal, Depends(require(READ_ACCOUNTS))]
Helper = Annotated[Principal, Depends(require(HELP_ACCOUNTS))]  # support's: unlock, resend
Writer = Annotated[Principal, Depends(require(WRITE_ACCOUNTS))]  # disable, enable, delete


class AccountOut(BaseModel):
    id: int
    identity: str
    email: str | None  # none: an account made through an identity provider without email
    email_verified: bool
    status: Literal["active", "disabled", "locked"]
    created_at: datetime
    terms_version: str | None


class DeviceOut(BaseModel):
    mac: str
    label: str | None
    remembered_until: datetime | None


class EnrolledDeviceOut(BaseModel):
    """A device's EAP credential (``password``: TTLS/PEAP) or certificate (EAP-TLS), by what
    names it; the certificate's fields are null for a password."""

    kind: CredentialKind
    id: int
    label: str
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    subject: str | None = None
    serial: str | None = None  # lower-case hexadecimal
    fingerprint: str | None = None  # SHA-256 of the DER certificate, hexadecimal
    not_after: datetime | None = None


def _enrolled(row: DeviceCredential | DeviceCertificate) -> EnrolledDeviceOut:
    certificate = row if isinstance(row, DeviceCertificate) else None  # a password's NT hash stays sealed
    return EnrolledDeviceOut(
        kind=CredentialKind.PASSWORD if certificate is None else CredentialKind.CERTIFICATE,
        id=row.id,
        label=row.label,
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
        subject=certificate.subject if certificate else None,
        serial=certificate.serial if certificate else None,
        fingerprint=certificate.fingerprint if certificate else None,
        not_after=certificate.not_after if certificate else None,
    )


def _account(a: Account) -> AccountOut:
    return AccountOut(
        id=a.id,
        identity=a.identity,
        email=a.email,
        email_verified=a.email_verified,
        status=AccountStatus(a.status).value,
        created_at=a.created_at,
        terms_version=a.terms_version,
    )


async def _get(session: AsyncSession, account_id: int) -> Account:
    account = await session.scalar(
        select(Account).where(Account.id == account_id).options(selectinload(Account.region))
    )
    if account is None:
        raise NotFound(f"no account {account_id}")
    return account


@router.get("", response_model=Page[AccountOut])
async def search_accounts(
    who: Reader,
    portal: PortalDep,
    params: Annotated[PageParams, Depends()],
    q: Annotated[Text | None, Query(max_length=254, description="part of the username or email")] = None,
    status: Annotated[Literal["active", "disabled", "locked"] | None, Query()] = None,
) -> Page[AccountOut]:
    query = select(Account).options(selectinload(Account.region)).order_by(Account.username)
    if q:
        pattern = "%" + q.strip().lower().replace("\\", "").replace("%", "").replace("_", r"\_") + "%"
        query = query.where(
            or_(
                Account.username.like(pattern, escape="\\"),
                func.lower(Account.email).like(pattern, escape="\\"),
            )
        )
    if status:
        query = query.where(Account.status == status)
    async with portal.transaction() as session:
        return await paginate(session, query, params, _account)


@router.get("/{account_id}", response_model=AccountOut)
async def get_account(account_id: Id, who: Reader, portal: PortalDep) -> AccountOut:
    async with portal.transaction() as session:
        return _account(await _get(session, account_id))


@router.get("/{account_id}/devices", response_model=list[DeviceOut])
async def account_devices(account_id: Id, who: Reader, portal: PortalDep) -> list[DeviceOut]:
    async with portal.transaction() as session:
        devices: list[Device] = list(await list_devices(session, account=await _get(session, account_id)))
    return [DeviceOut(mac=d.mac, label=d.label, remembered_until=d.remembered_until) for d in devices]


@router.get("/{account_id}/enrolled-devices", response_model=list[EnrolledDeviceOut])
async def enrolled_devices(account_id: Id, who: Reader, portal: PortalDep) -> list[EnrolledDeviceOut]:
    """The account's device credentials and certificates, revoked ones too, oldest first."""
    async with portal.transaction() as session:
        account = await _get(session, account_id)
        rows: list[DeviceCredential | DeviceCertificate] = [
            *await list_device_credentials(session, account=account),
            *await list_certificates(session, account=account),
        ]
        devices = [_enrolled(row) for row in rows]
    return sorted(devices, key=lambda d: (d.created_at, d.kind.value, d.id))


@router.post("/{account_id}/enrolled-devices/{kind}/{device_id}/revoke", response_model=EnrolledDeviceOut)
async def revoke_enrolled_device(
    account_id: Id, kind: CredentialKind, device_id: Id, who: Helper, portal: PortalDep
) -> EnrolledDeviceOut:
    """Forget one device, as the citizen's "forget this device" does, audited under the staff
    member's name: refused by RADIUS at the workers' next poll (a password) or the next
    handshake (a certificate). Revoking it again changes nothing (200, the same answer); another
    account's device is 404."""
    async with portal.transaction() as session:
        account = await _get(session, account_id)
        await forget_enrolled(
            session, account=account, kind=kind, id=device_id, now=portal.now(), actor=who.actor
        )
        row: DeviceCredential | DeviceCertificate | None = (
            await session.get(DeviceCertificate, device_id)
            if kind is CredentialKind.CERTIFICATE
            else await session.get(DeviceCredential, device_id)
        )
        if row is None:  # not reached: forget_enrolled found it, or raised NotFound
            raise NotFound(f"no device {device_id}")
        return _enrolled(row)


async def _set_status(
    account_id: int, who: Principal, portal: PortalDep, status: AccountStatus, action: str
) -> AccountOut:
    async with portal.transaction() as session:
        account = await _get(session, account_id)
        before = AccountStatus(account.status).value
        await set_status(session, account=account, status=status)
        out = _account(account)
        await audit.record(
            session, actor=who.actor, action=action, target=f"account:{account.username}",
            before={"status": before}, after={"status": out.status},
        )  # fmt: skip
    return out


@router.post("/{account_id}/disable", response_model=AccountOut)
async def disable(account_id: Id, who: Writer, portal: PortalDep) -> AccountOut:
    return await _set_status(account_id, who, portal, AccountStatus.DISABLED, "account.disable")


@router.post("/{account_id}/enable", response_model=AccountOut)
async def enable(account_id: Id, who: Writer, portal: PortalDep) -> AccountOut:
    return await _set_status(account_id, who, portal, AccountStatus.ACTIVE, "account.enable")


@router.post("/{account_id}/unlock", response_model=AccountOut)
async def unlock(account_id: Id, who: Helper, portal: PortalDep) -> AccountOut:
    async with portal.transaction() as session:
        if (await _get(session, account_id)).status != AccountStatus.LOCKED:
            raise Conflict("this account is not locked")
    return await _set_status(account_id, who, portal, AccountStatus.ACTIVE, "account.unlock")


@router.post("/{account_id}/resend-verification", status_code=202)
async def resend_verification(account_id: Id, who: Helper, portal: PortalDep) -> Response:
    """Send a new verification code to the account's email (409 when already verified)."""
    async with portal.transaction() as session:
        account = await _get(session, account_id)
        code = await selfservice.send_verification(session, box=portal.box, account=account, now=portal.now())
        await audit.record(
            session,
            actor=who.actor,
            action="account.resend_verification",
            target=f"account:{account.username}",
        )
        t, to, identity = portal.translator(account.locale), account.email or "", account.identity
    portal.mail_verification_code(t, to=to, code=code, identity=identity)  # once the code is committed
    return Response(status_code=202)


@router.delete("/{account_id}", status_code=204)
async def delete(account_id: Id, who: Writer, portal: PortalDep) -> Response:
    """Disconnect the account's open sessions, then delete it: its connection records stay, under a
    pseudonym, for the legal period (docs/privacy.md)."""
    async with portal.transaction() as session:
        username = (await _get(session, account_id)).username
    if portal.coa is not None:
        await disconnect_account(portal.sessions, box=portal.box, account_id=account_id, send=portal.coa)
    async with portal.transaction() as session:
        account = await _get(session, account_id)
        pseudonym = await delete_account(session, box=portal.box, account=account, now=portal.now())
        await audit.record(
            session, actor=who.actor, action="account.delete", target=f"account:{username}",
            after={"pseudonym": pseudonym},
        )  # fmt: skip
    return Response(status_code=204)
