"""SQLAlchemy 2 typed models of the identity domain, one module per part of it; every name is
re-exported here (``from accounts.models import Account``), and importing this package registers
every table on ``Base.metadata`` (what Alembic and the migration tests compare with).

Table and column names follow FreeRADIUS where an operator's existing tools read the table
(``nas``: ``nasname``, ``shortname``, ``type``); everything else uses plain English names.
Timestamps are timezone-aware UTC on every backend (see :class:`UTCDateTime`).

- :mod:`~accounts.models.base`: ``Base``, its naming convention, ``UTCDateTime``, ``utcnow``
- :mod:`~accounts.models.inventory`: region, communes, sites, access points, their policies and branding
- :mod:`~accounts.models.people`: accounts, devices, email codes, closed accounts, tombstones
- :mod:`~accounts.models.radius`: portal tokens, device credentials and certificates, ``radpostauth``,
  ``radacct``
- :mod:`~accounts.models.staff`: admins, service clients, revoked tokens, the audit log
- :mod:`~accounts.models.federation`: partners, their realms and home servers
- :mod:`~accounts.models.identitylinks`: accounts linked to an identity provider's pairwise subject
- :mod:`~accounts.models.onboarding`: the secure network's SSIDs and Passpoint, per region and commune
- :mod:`~accounts.models.vouchers`: guests' voucher batches, where they work, their codes
- :mod:`~accounts.models.sponsorship`: communes' sponsors and visitors' sponsored requests
- :mod:`~accounts.models.phones`: mobile numbers, SMS codes, the SMS sent per day (the budget)
"""

from __future__ import annotations

from accounts.models.base import Base, UTCDateTime, utcnow
from accounts.models.federation import HomeServer, Partner, PartnerRealm
from accounts.models.identitylinks import IdentityLink
from accounts.models.inventory import AccessPolicy, Branding, Commune, Nas, Region, Site
from accounts.models.onboarding import OnboardingNetwork
from accounts.models.people import (
    Account,
    AccountCode,
    AccountStatus,
    ClosedAccount,
    CodePurpose,
    Device,
    Tombstone,
)
from accounts.models.phones import AccountPhone, PhoneCode, PhoneCodePurpose, SmsSpend
from accounts.models.radius import (
    AccountingSession,
    AuthRecord,
    DeviceCertificate,
    DeviceCredential,
    RadiusToken,
)
from accounts.models.sponsorship import SponsorRequest, Sponsorship
from accounts.models.staff import (
    Admin,
    AdminRecoveryCode,
    AdminRole,
    AdminTotp,
    AuditEntry,
    RevokedToken,
    ServiceClient,
)
from accounts.models.vouchers import Voucher, VoucherBatch, VoucherPlace

__all__ = [
    "AccessPolicy",
    "Account",
    "AccountCode",
    "AccountPhone",
    "AccountStatus",
    "AccountingSession",
    "Admin",
    "AdminRecoveryCode",
    "AdminRole",
    "AdminTotp",
    "AuditEntry",
    "AuthRecord",
    "Base",
    "Branding",
    "ClosedAccount",
    "CodePurpose",
    "Commune",
    "Device",
    "DeviceCertificate",
    "DeviceCredential",
    "HomeServer",
    "IdentityLink",
    "Nas",
    "OnboardingNetwork",
    "Partner",
    "PartnerRealm",
    "PhoneCode",
    "PhoneCodePurpose",
    "RadiusToken",
    "Region",
    "RevokedToken",
    "ServiceClient",
    "Site",
    "SmsSpend",
    "SponsorRequest",
    "Sponsorship",
    "Tombstone",
    "UTCDateTime",
    "Voucher",
    "VoucherBatch",
    "VoucherPlace",
    "utcnow",
]
