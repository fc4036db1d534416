"""Sponsored access (issue 19): a visitor at a hotspot asks one of the commune's named sponsors,
who approves by a link; the visitor is let in for the day with a one-voucher batch.

``sponsorship`` is a commune's setting: on or off, and its named sponsors (``sponsors``: a JSON list
of ``{"email", "name"}`` the commune chose — the portal only ever mails these addresses).
``sponsor_request`` is one visitor's request: the sponsor asked, the visitor's note, the keyed digest
of the one-time approval link's token, its status and, once approved, the voucher made. The rules
are :mod:`accounts.sponsorship`'s.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from accounts.models.base import Base, utcnow


class Sponsorship(Base):
    """Whether a commune offers sponsored access, and who may sponsor."""

    __tablename__ = "sponsorship"

    id: Mapped[int] = mapped_column(primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("commune.id", ondelete="CASCADE"), unique=True)
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: [{"email": …, "name": …}, …]: the commune's named sponsors
    sponsors: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SponsorRequest(Base):
    """A visitor's request for the day, and what the sponsor decided."""

    __tablename__ = "sponsor_request"
    __table_args__ = (
        CheckConstraint("status IN ('pending', 'approved', 'refused', 'expired')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    commune_id: Mapped[int] = mapped_column(ForeignKey("commune.id", ondelete="CASCADE"), index=True)
    sponsor_email: Mapped[str] = mapped_column(String(254), index=True)
    #: what the visitor typed (their name, a word): cleaned, at most 200 characters
    note: Mapped[str] = mapped_column(String(200), default="")
    #: keyed digest of the approval link's token (the token itself is only in the mail)
    token_digest: Mapped[str] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(10), default="pending")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)
    decided_at: Mapped[datetime | None] = mapped_column()
    voucher_id: Mapped[int | None] = mapped_column(ForeignKey("voucher.id", ondelete="SET NULL"))
