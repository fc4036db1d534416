"""Federation partners: partner regions (or the upstream proxy), the realms routed to them, and
their home servers."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
    UniqueConstraint,
    true,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from accounts.models.base import Base, utcnow


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
    #: refuse its Access-* replies without Message-Authenticator (BlastRADIUS, CVE-2024-3596);
    #: off only for one legacy partner's server that cannot sign them (migration 0010)
    require_message_authenticator: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow, index=True)
    state: Mapped[str] = mapped_column(String(16), default="unknown", server_default="unknown")
    state_changed_at: Mapped[datetime | None] = mapped_column()

    partner: Mapped[Partner] = relationship(back_populates="servers")

    def __repr__(self) -> str:
        return (
            f"HomeServer(id={self.id!r}, host={self.host!r}, port={self.port!r}, "
            f"transport={self.transport!r})"
        )
