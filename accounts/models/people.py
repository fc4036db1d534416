"""Citizens: accounts, their devices, the codes sent to them by email, and what remains once one
is deleted (the legal pseudonym, the tombstone the RADIUS caches read)."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models.base import Base, utcnow
from accounts.models.inventory import Region


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
    #: none for an account made through an identity provider that gave no (verified) email
    email: Mapped[str | None] = mapped_column(String(254))
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
    #: when the person was warned that their unused account would be deleted (accounts.lifecycle)
    inactivity_warned_at: Mapped[datetime | None] = mapped_column()

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
