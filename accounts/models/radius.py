"""What the RADIUS servers check and write: single-use portal tokens, per-device credentials
(MS-CHAPv2 NT hashes, EAP-TLS certificates), and the legal records (``radpostauth`` decisions,
``radacct`` sessions)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from accounts.models.base import Base, utcnow


class RadiusToken(Base):
    """A single-use credential the portal gives the browser to hand to the access point.

    ``digest`` (keyed HMAC) finds a token sent over PAP in one indexed lookup; the token itself
    is kept sealed for CHAP, whose response can only be checked against the clear value.
    ``nas_id`` is the access point the portal handed it to: only that access point's
    Access-Requests may use it (a token without one is used nowhere; see docs/security.md).
    """

    __tablename__ = "radius_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    nas_id: Mapped[int | None] = mapped_column(ForeignKey("nas.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    token_ciphertext: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column()


class DeviceCredential(Base):
    """A random per-device password for 802.1X / MS-CHAPv2, stored as a sealed NT hash."""

    __tablename__ = "device_credential"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(64))
    nt_hash_ciphertext: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()


class DeviceCertificate(Base):
    """A device's EAP-TLS client certificate: whose it is, and whether it is still good.

    A certificate is accepted only when it chains to the configured device CA (checked by the TLS
    handshake) *and* has a row here that is not revoked: issuing alone does not grant access, and
    revoking takes effect on the next handshake (looked up every time, never cached). Found by
    ``issuer_key`` (SHA-256 of the issuer's DER name) and ``serial`` (lower-case hex), the pair
    that names an X.509 certificate.
    """

    __tablename__ = "device_certificate"
    __table_args__ = (UniqueConstraint("issuer_key", "serial"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    label: Mapped[str] = mapped_column(String(64))
    issuer_key: Mapped[str] = mapped_column(String(64))
    serial: Mapped[str] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(1024))
    fingerprint: Mapped[str] = mapped_column(String(64), unique=True)  # SHA-256 of the DER certificate
    not_after: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)
    revoked_at: Mapped[datetime | None] = mapped_column()
    last_used_at: Mapped[datetime | None] = mapped_column()


class AuthRecord(Base):
    """One authentication decision (FreeRADIUS ``radpostauth`` columns, plus where, how and why).

    Never holds a password. Kept for the legal retention period, then purged.
    """

    __tablename__ = "radpostauth"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    username: Mapped[str] = mapped_column(String(253))
    reply: Mapped[str] = mapped_column(String(32))
    authdate: Mapped[datetime] = mapped_column(index=True)
    calledstationid: Mapped[str | None] = mapped_column(String(64))
    callingstationid: Mapped[str | None] = mapped_column(String(64))
    nasipaddress: Mapped[str | None] = mapped_column(String(45))
    class_: Mapped[str | None] = mapped_column("class", String(64))
    nas_id: Mapped[int | None] = mapped_column(Integer)
    site_id: Mapped[int | None] = mapped_column(Integer, index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"), index=True)
    method: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(64))
    # Passpoint and roaming (migration 0012): who runs the visited network, the venue, the Roaming
    # Consortium OI the device matched (hex), the Hotspot 2.0 releases; what the request said
    operator_name: Mapped[str | None] = mapped_column(String(253))
    venue: Mapped[str | None] = mapped_column(String(253))
    roaming_consortium: Mapped[str | None] = mapped_column(String(30))
    hs20_ap_release: Mapped[int | None] = mapped_column(SmallInteger)
    hs20_device_release: Mapped[int | None] = mapped_column(SmallInteger)


_OPEN = text("acctstoptime IS NULL")


class AccountingSession(Base):
    """One connection of a device at an access point, from accounting (RFC 2866).

    Column names are FreeRADIUS's ``radacct`` (its PostgreSQL schema, lower case), so operators'
    reports and dashboards written for FreeRADIUS read this table as they are; addresses are text
    rather than ``inet`` so the same table works on SQLite. Sésame adds the links a report needs
    (account, access point, site, commune) and when a disconnection was asked for. Counters are
    64-bit totals (Gigawords folded in). Kept for the legal retention period, then purged.

    No index covers the columns an Interim-Update changes (``acctupdatetime``, counters), so
    PostgreSQL can update those rows in place (HOT) without touching any index.
    """

    __tablename__ = "radacct"
    __table_args__ = (
        # every open session's account and device, read by index alone (simultaneous use)
        Index(
            "ix_radacct_open_account", "account_id", "device_mac", postgresql_where=_OPEN, sqlite_where=_OPEN
        ),
        Index("ix_radacct_open_nas", "nas_id", postgresql_where=_OPEN, sqlite_where=_OPEN),
        Index("ix_radacct_account_start", "account_id", "acctstarttime"),
    )

    radacctid: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    acctsessionid: Mapped[str] = mapped_column(String(64))
    acctuniqueid: Mapped[str] = mapped_column(String(32), unique=True)
    username: Mapped[str | None] = mapped_column(String(253))
    realm: Mapped[str | None] = mapped_column(String(253))
    nasipaddress: Mapped[str] = mapped_column(String(45))
    nasportid: Mapped[str | None] = mapped_column(String(64))
    nasporttype: Mapped[str | None] = mapped_column(String(32))
    acctstarttime: Mapped[datetime | None] = mapped_column(index=True)
    acctupdatetime: Mapped[datetime | None] = mapped_column()
    acctstoptime: Mapped[datetime | None] = mapped_column()
    acctinterval: Mapped[int | None] = mapped_column(BigInteger)
    acctsessiontime: Mapped[int | None] = mapped_column(BigInteger)
    acctauthentic: Mapped[str | None] = mapped_column(String(32))
    connectinfo_start: Mapped[str | None] = mapped_column(String(128))
    connectinfo_stop: Mapped[str | None] = mapped_column(String(128))
    acctinputoctets: Mapped[int | None] = mapped_column(BigInteger)
    acctoutputoctets: Mapped[int | None] = mapped_column(BigInteger)
    calledstationid: Mapped[str | None] = mapped_column(String(64))
    callingstationid: Mapped[str | None] = mapped_column(String(64))
    acctterminatecause: Mapped[str | None] = mapped_column(String(32))
    servicetype: Mapped[str | None] = mapped_column(String(32))
    framedprotocol: Mapped[str | None] = mapped_column(String(32))
    framedipaddress: Mapped[str | None] = mapped_column(String(45))
    framedipv6address: Mapped[str | None] = mapped_column(String(45))
    framedipv6prefix: Mapped[str | None] = mapped_column(String(64))
    framedinterfaceid: Mapped[str | None] = mapped_column(String(64))
    delegatedipv6prefix: Mapped[str | None] = mapped_column(String(64))
    class_: Mapped[str | None] = mapped_column("class", String(64), index=True)
    account_id: Mapped[int | None] = mapped_column(ForeignKey("account.id", ondelete="SET NULL"))
    nas_id: Mapped[int | None] = mapped_column(Integer)
    site_id: Mapped[int | None] = mapped_column(Integer, index=True)
    commune_id: Mapped[int | None] = mapped_column(Integer, index=True)
    device_mac: Mapped[str | None] = mapped_column(String(17))
    disconnect_requested_at: Mapped[datetime | None] = mapped_column()

    def __repr__(self) -> str:
        return f"AccountingSession(radacctid={self.radacctid!r}, acctuniqueid={self.acctuniqueid!r})"
