"""Vouchers for guests (issue 19): a batch of printed codes a staff member makes for an event or a
desk, each code an account of its own kind (``voucher``, linked to its ``account``).

``voucher_batch`` holds what every voucher of the batch may do: its validity window, how long a
voucher lasts from its first use, its data allowance, how many devices at once, and where it works
(``voucher_place``: communes or sites; none — the batch's commune, or the whole region for a
region's batch). ``voucher`` holds one code: a keyed digest for the look-up, the code sealed for a
re-print of the sheet, the first use and the instant it expires (``expires_at``: the end of the
window, brought forward at the first use to the end of its duration, or to the batch's revocation).
The rules are :mod:`accounts.vouchers`'s.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from accounts.models.base import Base, utcnow


class VoucherBatch(Base):
    """N vouchers made together by one staff member."""

    __tablename__ = "voucher_batch"
    __table_args__ = (
        CheckConstraint("valid_until > valid_from", name="window"),
        CheckConstraint("count >= 1", name="count"),
        CheckConstraint("duration_seconds >= 1", name="duration"),
        CheckConstraint("max_devices >= 1", name="devices"),
        CheckConstraint("octets_limit IS NULL OR octets_limit >= 1", name="octets"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int] = mapped_column(ForeignKey("region.id", ondelete="RESTRICT"), index=True)
    #: the commune whose batch it is (a commune admin's reach); None: the region's
    commune_id: Mapped[int | None] = mapped_column(ForeignKey("commune.id", ondelete="CASCADE"), index=True)
    #: what it is for: an event, a desk
    label: Mapped[str] = mapped_column(String(120))
    count: Mapped[int] = mapped_column(Integer)
    valid_from: Mapped[datetime] = mapped_column()
    valid_until: Mapped[datetime] = mapped_column(index=True)
    #: how long a voucher lasts from its first use (never past ``valid_until``)
    duration_seconds: Mapped[int] = mapped_column(Integer)
    #: octets in + out over the voucher's life; None: no allowance
    octets_limit: Mapped[int | None] = mapped_column(BigInteger)
    #: devices connected at once
    max_devices: Mapped[int] = mapped_column(Integer, default=1)
    created_by: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column()


class VoucherPlace(Base):
    """A commune or a site where a batch's vouchers work."""

    __tablename__ = "voucher_place"
    __table_args__ = (CheckConstraint("(commune_id IS NULL) <> (site_id IS NULL)", name="one_place"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("voucher_batch.id", ondelete="CASCADE"), index=True)
    commune_id: Mapped[int | None] = mapped_column(ForeignKey("commune.id", ondelete="CASCADE"))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("site.id", ondelete="CASCADE"))


class Voucher(Base):
    """One code of a batch, and the account it logs in as."""

    __tablename__ = "voucher"

    id: Mapped[int] = mapped_column(primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("voucher_batch.id", ondelete="CASCADE"), index=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), unique=True)
    #: its place on the printed sheet (1…count)
    number: Mapped[int] = mapped_column(Integer)
    #: keyed digest of the code (the look-up); the code itself only sealed, for a re-print
    digest: Mapped[str] = mapped_column(String(64), unique=True)
    code_ciphertext: Mapped[str] = mapped_column(Text)
    first_used_at: Mapped[datetime | None] = mapped_column()
    expires_at: Mapped[datetime] = mapped_column(index=True)
