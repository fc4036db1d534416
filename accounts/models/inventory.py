"""The network: the region, its communes, their sites and access points (FreeRADIUS's ``nas``
table), and what a commune or a site sets for its access points (reply policy, portal branding)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship, validates
from sqlalchemy.sql.expression import false

from accounts.identity import fold_name
from accounts.models.base import Base, utcnow


class Region(Base):
    """A region: the authority for one home realm (``username@realm``)."""

    __tablename__ = "region"

    id: Mapped[int] = mapped_column(primary_key=True)
    realm: Mapped[str] = mapped_column(String(253), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: staff who sign in to the console with a password must also give a TOTP code (migration 0013)
    require_two_factor: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())

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
