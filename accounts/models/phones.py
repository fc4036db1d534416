"""Citizens who signed up with a mobile number (issue 19): the number, the codes sent to it by
SMS, and the daily count of SMS sent, which the region's budget caps."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from accounts.models.base import Base, utcnow


class AccountPhone(Base):
    """An account's mobile number, E.164 (``+33612345678``), unique in its region; ``verified_at``
    once a code sent to it came back. Deleted with the account."""

    __tablename__ = "account_phone"
    __table_args__ = (UniqueConstraint("region_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), unique=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id", ondelete="RESTRICT"), index=True)
    number: Mapped[str] = mapped_column(String(16))
    verified_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PhoneCodePurpose(enum.StrEnum):
    VERIFY_PHONE = "verify_phone"
    RESET_PASSWORD = "reset_password"  # noqa: S105 - a purpose, not a password


class PhoneCode(Base):
    """A short code sent by SMS: only a keyed digest (bound to the account, the number and the
    purpose) is kept; it expires, allows a few wrong guesses, and works once."""

    __tablename__ = "phone_code"
    __table_args__ = (
        CheckConstraint("purpose IN ('verify_phone', 'reset_password')", name="purpose"),
        Index("ix_phone_code_account_purpose", "account_id", "purpose"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"))
    purpose: Mapped[PhoneCodePurpose] = mapped_column(String(16))
    digest: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    used_at: Mapped[datetime | None] = mapped_column()


class SmsSpend(Base):
    """SMS sent in a region on a day (UTC, ``YYYY-MM-DD``): ``scope`` ``*`` for all of them, or a
    destination country (ISO 3166 alpha-2). Counted by one ``UPDATE … WHERE sent < budget`` per SMS,
    so every worker and host shares the count and none goes past the budget."""

    __tablename__ = "sms_spend"
    __table_args__ = (UniqueConstraint("region_id", "day", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id", ondelete="CASCADE"))
    day: Mapped[str] = mapped_column(String(10))
    scope: Mapped[str] = mapped_column(String(2))
    sent: Mapped[int] = mapped_column(Integer, default=0)
