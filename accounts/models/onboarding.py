"""The secure network's description, what onboarding profiles carry besides the credential and the
CA (issue 17): per region its SSID(s) and Passpoint Home SP, per commune optionally its own SSIDs.

One table, one row per scope, as ``access_policy`` and ``portal_branding``: a region's row holds
everything, a commune's row only SSIDs that replace the region's there (Passpoint identifies the
home provider, not a place, so it is the region's alone — a check says so). The rules on the
values (SSID octets, host names, OIs) are :mod:`accounts.onboarding`'s.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Boolean, CheckConstraint, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from accounts.models.base import Base, utcnow


class OnboardingNetwork(Base):
    """The secure network as a region (or, for its SSIDs only, a commune) describes it."""

    __tablename__ = "onboarding_network"
    __table_args__ = (
        CheckConstraint("(region_id IS NULL) <> (commune_id IS NULL)", name="one_scope"),
        CheckConstraint(
            "commune_id IS NULL OR (passpoint_fqdn IS NULL AND passpoint_friendly_name IS NULL "
            "AND nai_realm IS NULL)",
            name="passpoint_region_only",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    region_id: Mapped[int | None] = mapped_column(ForeignKey("region.id", ondelete="CASCADE"), unique=True)
    commune_id: Mapped[int | None] = mapped_column(ForeignKey("commune.id", ondelete="CASCADE"), unique=True)
    #: the secure SSID(s), in order of preference (a JSON array of strings)
    ssids: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Passpoint's Home SP: its FQDN (Passpoint is off while it is empty), what devices show as the
    #: provider (the region's name when empty), and the NAI realm (the home realm when empty)
    passpoint_fqdn: Mapped[str | None] = mapped_column(String(253))
    passpoint_friendly_name: Mapped[str | None] = mapped_column(String(252))
    nai_realm: Mapped[str | None] = mapped_column(String(253))
    #: the region's own Roaming Consortium OIs (upper-case hex), a JSON array
    roaming_consortium_ois: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: whether profiles also carry eduroam's OI (001BC50460) and OpenRoaming's (5A03BA0000): only
    #: where the region is an eduroam identity provider or an OpenRoaming member
    eduroam: Mapped[bool] = mapped_column(Boolean, default=False)
    openroaming: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        scope = f"region_id={self.region_id!r}" if self.region_id else f"commune_id={self.commune_id!r}"
        return f"OnboardingNetwork(id={self.id!r}, {scope})"
