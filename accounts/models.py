"""SQLAlchemy 2 typed models of the identity domain.

Table and column names follow FreeRADIUS where an operator's existing tools read the table
(``nas``: ``nasname``, ``shortname``, ``type``); everything else uses plain English names.
Timestamps are timezone-aware UTC on every backend (see :class:`UTCDateTime`).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship, validates

from accounts.identity import fold_name


class UTCDateTime(TypeDecorator[datetime]):
    """An aware UTC datetime on every backend.

    PostgreSQL stores ``timestamptz``; SQLite has no time zones, so values are stored as naive
    UTC and made aware again on the way out. Naive datetimes are refused on the way in: they
    are always a bug.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {datetime: UTCDateTime()}


class Region(Base):
    """A region: the authority for one home realm (``username@realm``)."""

    __tablename__ = "region"

    id: Mapped[int] = mapped_column(primary_key=True)
    realm: Mapped[str] = mapped_column(String(253), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    communes: Mapped[list[Commune]] = relationship(back_populates="region")

    def __repr__(self) -> str:
        return f"Region(id={self.id!r}, realm={self.realm!r})"


class Commune(Base):
    """A commune of the region that runs public hotspots, identified by its INSEE code."""

    __tablename__ = "commune"

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    #: ``fold_name(name)``, set with the name: what lookups by name compare (names may repeat:
    #: communes are told apart by INSEE code)
    name_key: Mapped[str] = mapped_column(String(255), index=True, server_default="")
    insee_code: Mapped[str] = mapped_column(String(5), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    region: Mapped[Region] = relationship(back_populates="communes")
    sites: Mapped[list[Site]] = relationship(back_populates="commune")

    @validates("name")
    def _keyed(self, _: str, name: str) -> str:
        self.name_key = fold_name(name)
        return name

    def __repr__(self) -> str:
        return f"Commune(id={self.id!r}, name={self.name!r}, insee_code={self.insee_code!r})"


class Site(Base):
    """A place with public Wi-Fi (a library, a square, a town hall) in one commune."""

    __tablename__ = "site"
    __table_args__ = (
        UniqueConstraint("commune_id", "name"),
        Index("ix_site_commune_id_name_key", "commune_id", "name_key", unique=True),
        CheckConstraint("latitude IS NULL OR (latitude >= -90 AND latitude <= 90)", name="latitude"),
        CheckConstraint("longitude IS NULL OR (longitude >= -180 AND longitude <= 180)", name="longitude"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("commune.id", ondelete="RESTRICT"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    #: ``fold_name(name)``, set with the name: unique per commune, so ``--site NAME`` finds one
    name_key: Mapped[str] = mapped_column(String(255), server_default="")
    address: Mapped[str | None] = mapped_column(String(255))
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    #: the network identifier the WiFi4EU portal gave this site's network (its monitoring snippet)
    wifi4eu_network_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    commune: Mapped[Commune] = relationship(back_populates="sites")
    access_points: Mapped[list[Nas]] = relationship(back_populates="site")

    @validates("name")
    def _keyed(self, _: str, name: str) -> str:
        self.name_key = fold_name(name)
        return name

    def __repr__(self) -> str:
        return f"Site(id={self.id!r}, name={self.name!r}, commune_id={self.commune_id!r})"


class Nas(Base):
    """An access point or hotspot controller allowed to talk RADIUS to us (a NAS client).

    ``nasname`` holds one IP address or a CIDR network (IPv4 or IPv6), as in FreeRADIUS's
    ``nas`` table. The shared secret is stored only encrypted (``secret_ciphertext``, see
    :mod:`accounts.secretbox`) and is kept out of ``repr``.
    """

    __tablename__ = "nas"
    __table_args__ = (CheckConstraint("coa_port >= 1 AND coa_port <= 65535", name="coa_port"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("site.id", ondelete="RESTRICT"), index=True)
    shortname: Mapped[str] = mapped_column(String(64), unique=True)
    #: ``fold_name(shortname)``, set with it: unique, what lookups by name compare
    shortname_key: Mapped[str] = mapped_column(String(128), unique=True, index=True, server_default="")
    nasname: Mapped[str] = mapped_column(String(64), unique=True)
    type: Mapped[str] = mapped_column(String(30), default="other")
    handoff: Mapped[str] = mapped_column(String(30), default="none")
    #: the captive-portal integration's settings (JSON object of strings: login URL, field names…)
    handoff_options: Mapped[str | None] = mapped_column(Text)
    #: the controller's UAM secret (CoovaChilli ``uamsecret``), sealed like the shared secret
    uam_secret_ciphertext: Mapped[str | None] = mapped_column(Text)
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    coa_port: Mapped[int] = mapped_column(Integer, default=3799)
    require_message_authenticator: Mapped[bool] = mapped_column(Boolean, default=True)
    description: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)

    site: Mapped[Site] = relationship(back_populates="access_points")

    @validates("shortname")
    def _keyed(self, _: str, shortname: str) -> str:
        self.shortname_key = fold_name(shortname)
        return shortname

    def __repr__(self) -> str:
        return f"Nas(id={self.id!r}, shortname={self.shortname!r}, nasname={self.nasname!r})"


class AccountStatus(enum.StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"
    LOCKED = "locked"


class Account(Base):
    """A citizen's regional identity, ``username@realm``."""

    __tablename__ = "account"
    __table_args__ = (
        UniqueConstraint("region_id", "username"),
        UniqueConstraint("region_id", "email"),
        CheckConstraint("status IN ('active', 'disabled', 'locked')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id", ondelete="RESTRICT"), index=True)
    username: Mapped[str] = mapped_column(String(64))
    email: Mapped[str] = mapped_column(String(254))
    email_verified: Mapped[bool] = mapped_column(Boolean, default=False)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[AccountStatus] = mapped_column(
        String(16), default=AccountStatus.ACTIVE, server_default=AccountStatus.ACTIVE.value
    )
    #: until then an unverified account may connect (to read the verification email)
    grace_until: Mapped[datetime | None] = mapped_column()
    #: the terms of use and privacy notice accepted at sign-up: which version, when
    terms_version: Mapped[str | None] = mapped_column(String(64))
    terms_accepted_at: Mapped[datetime | None] = mapped_column()
    #: the language the person uses the portal in (for the emails we send)
    locale: Mapped[str | None] = mapped_column(String(8))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)
    last_seen_at: Mapped[datetime | None] = mapped_column()

    region: Mapped[Region] = relationship()
    devices: Mapped[list[Device]] = relationship(
        back_populates="account", cascade="all, delete-orphan", passive_deletes=True
    )

    @property
    def identity(self) -> str:
        return f"{self.username}@{self.region.realm}"

    def __repr__(self) -> str:
        return f"Account(id={self.id!r}, username={self.username!r}, status={self.status!r})"


class Device(Base):
    """A device (by MAC address) an account registered; it may be remembered for MAC authentication."""

    __tablename__ = "device"

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    mac: Mapped[str] = mapped_column(String(17), unique=True)
    label: Mapped[str | None] = mapped_column(String(64))
    remembered_until: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)
    last_seen_at: Mapped[datetime | None] = mapped_column()

    account: Mapped[Account] = relationship(back_populates="devices")

    def __repr__(self) -> str:
        return f"Device(id={self.id!r}, mac={self.mac!r}, account_id={self.account_id!r})"


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


class AccessPolicy(Base):
    """Reply settings for a commune or a site; a field left empty falls back to the wider level
    (site → commune → region defaults from the settings)."""

    __tablename__ = "access_policy"
    __table_args__ = (CheckConstraint("(commune_id IS NULL) <> (site_id IS NULL)", name="one_scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    commune_id: Mapped[int | None] = mapped_column(ForeignKey("commune.id", ondelete="CASCADE"), unique=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"), unique=True)
    session_timeout: Mapped[int | None] = mapped_column(Integer)
    idle_timeout: Mapped[int | None] = mapped_column(Integer)
    interim_interval: Mapped[int | None] = mapped_column(Integer)
    bandwidth_up_kbps: Mapped[int | None] = mapped_column(Integer)
    bandwidth_down_kbps: Mapped[int | None] = mapped_column(Integer)
    simultaneous_use: Mapped[int | None] = mapped_column(Integer)
    daily_time_limit: Mapped[int | None] = mapped_column(Integer)
    daily_octets_limit: Mapped[int | None] = mapped_column(BigInteger)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


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
    method: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(64))


class CodePurpose(enum.StrEnum):
    VERIFY_EMAIL = "verify_email"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose, not a password


class AccountCode(Base):
    """A short code sent by email (verify the address, reset the password): only a keyed digest is
    kept; it expires, allows a few wrong guesses, and works once."""

    __tablename__ = "account_code"
    __table_args__ = (
        CheckConstraint("purpose IN ('verify_email', 'reset_password')", name="purpose"),
        Index("ix_account_code_account_purpose", "account_id", "purpose"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    purpose: Mapped[CodePurpose] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column()


class Branding(Base):
    """How the captive portal looks at a commune or a site (a site's fields override its commune's):
    the name shown, a logo, a colour, a welcome text, and the commune's own terms of use."""

    __tablename__ = "portal_branding"
    __table_args__ = (
        CheckConstraint("(commune_id IS NULL) <> (site_id IS NULL)", name="one_scope"),
        CheckConstraint("color IS NULL OR length(color) = 7", name="color"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    commune_id: Mapped[int | None] = mapped_column(ForeignKey("commune.id", ondelete="CASCADE"), unique=True)
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"), unique=True)
    title: Mapped[str | None] = mapped_column(String(120))
    logo_url: Mapped[str | None] = mapped_column(String(500))
    color: Mapped[str | None] = mapped_column(String(7))
    welcome_text: Mapped[str | None] = mapped_column(Text)
    terms_text: Mapped[str | None] = mapped_column(Text)
    terms_version: Mapped[str | None] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class AdminRole(enum.StrEnum):
    """What a network admin may do (see :mod:`accounts.admins` for the scopes of each)."""

    REGION_ADMIN = "region_admin"
    COMMUNE_ADMIN = "commune_admin"
    SUPPORT = "support"
    AUDITOR = "auditor"


_ROLES = "role IN ('region_admin', 'commune_admin', 'support', 'auditor')"
_COMMUNE_ROLE = "(role = 'commune_admin') = (commune_id IS NOT NULL)"


class _ApiHolder:
    """What an admin and a service client share: a role (a commune admin's commune), a state,
    and the token version that revokes every token issued before it moved."""

    role: Mapped[AdminRole] = mapped_column(String(16))
    commune_id: Mapped[int | None] = mapped_column(ForeignKey("commune.id", ondelete="RESTRICT"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: raised to revoke every token issued before (log out everywhere, role change, disable)
    token_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Admin(_ApiHolder, Base):
    """A person who manages the network through the admin API (a region's or a commune's staff)."""

    __tablename__ = "admin"
    __table_args__ = (
        CheckConstraint(_ROLES, name="role"),
        CheckConstraint(_COMMUNE_ROLE, name="commune_role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str | None] = mapped_column(String(255))
    last_login_at: Mapped[datetime | None] = mapped_column()


class ServiceClient(_ApiHolder, Base):
    """A machine that uses the admin API (OAuth 2 client credentials): a commune's IT, monitoring.

    Its secret is random and long, so a keyed digest (not a slow hash) is enough to check it."""

    __tablename__ = "service_client"
    __table_args__ = (
        CheckConstraint(_ROLES, name="role"),
        CheckConstraint(_COMMUNE_ROLE, name="commune_role"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    secret_digest: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))


class RevokedToken(Base):
    """An access token revoked before it expired (RFC 7009), by its ``jti``; purged once expired."""

    __tablename__ = "revoked_token"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class AuditEntry(Base):
    """A change made through the admin API or the command line: who, when, what, before and after
    (secrets masked)."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(254))  # an admin's email, a client id, "cli:<user>"
    action: Mapped[str] = mapped_column(String(64))  # "nas.update", "account.disable", …
    target: Mapped[str] = mapped_column(String(120))  # "nas:12", "account:alice"
    commune_id: Mapped[int | None] = mapped_column(Integer, index=True)
    before: Mapped[str | None] = mapped_column(Text)  # JSON
    after: Mapped[str | None] = mapped_column(Text)  # JSON


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


class ClosedAccount(Base):
    """What the law keeps of a deleted account: the pseudonym its records now carry and, sealed,
    the sign-up data (the email), for one year after the account closed (décret 2021-1361)."""

    __tablename__ = "closed_account"

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id", ondelete="RESTRICT"), index=True)
    pseudonym: Mapped[str] = mapped_column(String(64), unique=True)
    email_ciphertext: Mapped[str] = mapped_column(Text)
    closed_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Tombstone(Base):
    """A deleted account or device, so caches that hold it (the RADIUS servers') forget it within
    seconds; a deletion leaves no row whose ``updated_at`` could say so. Purged after a day."""

    __tablename__ = "tombstone"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "account" (key: username) or "device" (key: MAC)
    key: Mapped[str] = mapped_column(String(253))
    deleted_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


class Partner(Base):
    """A partner region, or the upstream federation proxy, that we exchange RADIUS requests with
    (the eduroam model: requests are routed on the realm of the outer User-Name).

    ``accept_requests``: they may send us requests for *our* realm (our citizens roaming there);
    ``transit``: requests from them for realms that are not ours may be proxied onwards;
    ``forward_accounting``: accounting for their realms is forwarded to them rather than answered
    here (by default accounting stays with the visited network).
    """

    __tablename__ = "partner"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(63), unique=True)  # a lower-case slug
    display_name: Mapped[str | None] = mapped_column(String(120))
    accept_requests: Mapped[bool] = mapped_column(Boolean, default=True)
    transit: Mapped[bool] = mapped_column(Boolean, default=False)
    forward_accounting: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: moved by every change of the partner, its realms or its home servers (the RADIUS servers poll it)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)

    realms: Mapped[list[PartnerRealm]] = relationship(
        back_populates="partner",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="PartnerRealm.pattern",
    )
    servers: Mapped[list[HomeServer]] = relationship(
        back_populates="partner",
        cascade="all, delete-orphan",
        passive_deletes=True,
        order_by="(HomeServer.priority, HomeServer.id)",
    )

    def __repr__(self) -> str:
        return f"Partner(id={self.id!r}, name={self.name!r})"


class PartnerRealm(Base):
    """A realm pattern routed to a partner: ``liguria.example`` (exact), ``*.liguria.example`` (any
    subdomain, not the bare name) or ``*`` (everything else: the upstream proxy). Stored lower-case,
    internationalised names as A-labels; a pattern belongs to one partner only."""

    __tablename__ = "partner_realm"

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), index=True)
    pattern: Mapped[str] = mapped_column(String(253), unique=True)

    partner: Mapped[Partner] = relationship(back_populates="realms")

    def __repr__(self) -> str:
        return f"PartnerRealm(id={self.id!r}, pattern={self.pattern!r}, partner_id={self.partner_id!r})"


class HomeServer(Base):
    """A partner's RADIUS server we proxy to: over UDP (RFC 2865) or RadSec (RFC 6614, TLS over TCP).

    The shared secret is stored only sealed (``secret_ciphertext``) and kept out of ``repr``. The
    health columns are written by the RADIUS processes (Status-Server probes, RFC 5997) without
    moving ``updated_at``, which only configuration changes move.
    """

    __tablename__ = "home_server"
    __table_args__ = (
        UniqueConstraint("partner_id", "host", "port", "transport"),
        CheckConstraint("port >= 1 AND port <= 65535", name="port"),
        CheckConstraint("acct_port IS NULL OR (acct_port >= 1 AND acct_port <= 65535)", name="acct_port"),
        CheckConstraint("transport IN ('udp', 'radsec')", name="transport"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id", ondelete="CASCADE"), index=True)
    host: Mapped[str] = mapped_column(String(253))  # an IP literal or a DNS name (A-labels)
    port: Mapped[int] = mapped_column(Integer)
    #: UDP: where accounting goes when the partner wants it forwarded (None: ``port`` + 1, as
    #: 1812/1813); RadSec carries both on one connection
    acct_port: Mapped[int | None] = mapped_column(Integer)
    transport: Mapped[str] = mapped_column(String(8))
    secret_ciphertext: Mapped[str] = mapped_column(Text)
    #: the name the RadSec server's certificate must carry (None: the host)
    tls_name: Mapped[str | None] = mapped_column(String(253))
    priority: Mapped[int] = mapped_column(Integer, default=0)  # lower is tried first
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)
    state: Mapped[str] = mapped_column(String(16), default="unknown", server_default="unknown")
    state_changed_at: Mapped[datetime | None] = mapped_column()

    partner: Mapped[Partner] = relationship(back_populates="servers")

    def __repr__(self) -> str:
        return (
            f"HomeServer(id={self.id!r}, host={self.host!r}, port={self.port!r}, "
            f"transport={self.transport!r})"
        )


__all__ = [
    "AccessPolicy",
    "Account",
    "AccountCode",
    "AccountStatus",
    "AccountingSession",
    "Admin",
    "AdminRole",
    "AuditEntry",
    "AuthRecord",
    "Base",
    "Branding",
    "ClosedAccount",
    "CodePurpose",
    "Commune",
    "Device",
    "DeviceCredential",
    "HomeServer",
    "Nas",
    "Partner",
    "PartnerRealm",
    "RadiusToken",
    "Region",
    "RevokedToken",
    "ServiceClient",
    "Site",
    "Tombstone",
    "UTCDateTime",
    "utcnow",
]
