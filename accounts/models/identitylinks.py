"""A citizen's account linked to an identity provider's subject (issue 19, FranceConnect): the
provider's slug (settings) and its *pairwise* ``sub`` — an identifier the provider makes for
this region alone, which says nothing of the person elsewhere. The civil identity is kept only
where the region turns it on, sealed (:class:`accounts.secretbox.SecretBox`), and goes with the
account (``ON DELETE CASCADE``)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from accounts.models.base import Base, utcnow


class IdentityLink(Base):
    """``(provider, subject)`` signs in as ``account``; one link per provider and account."""

    __tablename__ = "identity_link"
    __table_args__ = (
        UniqueConstraint("provider", "subject"),
        UniqueConstraint("account_id", "provider"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    account_id: Mapped[int] = mapped_column(ForeignKey("account.id", ondelete="CASCADE"), index=True)
    provider: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(255))
    #: the civil identity (JSON), sealed; only where the region keeps it
    civil_ciphertext: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column()
