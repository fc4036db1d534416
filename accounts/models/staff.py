"""Who manages the network: admins and service clients of the admin API, revoked access tokens,
and the audit log of their changes."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from accounts.models.base import Base, utcnow


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


class AdminTotp(Base):
    """An admin's TOTP second factor (RFC 6238; migration 0013): the shared secret sealed with the
    secret box (purpose ``admin-totp``), never stored or logged in clear; ``confirmed_at`` is set
    once the admin typed a first good code (before that, the enrolment is pending and not asked
    for at sign-in); ``last_step`` is the time step of the last code accepted, so a code seen over
    a shoulder or a proxy cannot be replayed (RFC 6238 §5.2)."""

    __tablename__ = "admin_totp"

    id: Mapped[int] = mapped_column(primary_key=True)  # what accounts.rekey walks in batches
    admin_id: Mapped[int] = mapped_column(ForeignKey("admin.id", ondelete="CASCADE"), unique=True)
    secret_ciphertext: Mapped[str] = mapped_column(String(255))
    confirmed_at: Mapped[datetime | None] = mapped_column()
    last_step: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class AdminRecoveryCode(Base):
    """A single-use recovery code of an admin (migration 0013), by its keyed digest: the codes
    are random (50 bits), shown once, and a digest under the secret key is enough to check one."""

    __tablename__ = "admin_recovery_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    admin_id: Mapped[int] = mapped_column(ForeignKey("admin.id", ondelete="CASCADE"), index=True)
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    used_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
