"""Onboarding (issue 17): ``onboarding_network``, what devices' profiles say of the secure network
besides the credential and the CA — per region its SSID(s) and Passpoint Home SP (FQDN, friendly
name, NAI realm, Roaming Consortium OIs, whether eduroam's and OpenRoaming's OIs are added), per
commune optionally SSIDs of its own. A new table only: the release before never reads it and keeps
running against this schema during a rolling upgrade.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07 21:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "onboarding_network",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=True),
        sa.Column("commune_id", sa.Integer(), nullable=True),
        sa.Column("ssids", sa.JSON(), nullable=False),
        sa.Column("passpoint_fqdn", sa.String(length=253), nullable=True),
        sa.Column("passpoint_friendly_name", sa.String(length=252), nullable=True),
        sa.Column("nai_realm", sa.String(length=253), nullable=True),
        sa.Column("roaming_consortium_ois", sa.JSON(), nullable=False),
        sa.Column("eduroam", sa.Boolean(), nullable=False),
        sa.Column("openroaming", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(region_id IS NULL) <> (commune_id IS NULL)", name=op.f("ck_onboarding_network_one_scope")
        ),
        sa.CheckConstraint(
            "commune_id IS NULL OR (passpoint_fqdn IS NULL AND passpoint_friendly_name IS NULL "
            "AND nai_realm IS NULL)",
            name=op.f("ck_onboarding_network_passpoint_region_only"),
        ),
        sa.ForeignKeyConstraint(
            ["commune_id"],
            ["commune.id"],
            name=op.f("fk_onboarding_network_commune_id_commune"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["region_id"],
            ["region.id"],
            name=op.f("fk_onboarding_network_region_id_region"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_onboarding_network")),
        sa.UniqueConstraint("commune_id", name=op.f("uq_onboarding_network_commune_id")),
        sa.UniqueConstraint("region_id", name=op.f("uq_onboarding_network_region_id")),
    )


def downgrade() -> None:
    op.drop_table("onboarding_network")
