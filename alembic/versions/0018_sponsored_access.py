"""Sponsored access (issue 19): ``sponsorship`` (a commune's setting: on or off, its named sponsors)
and ``sponsor_request`` (a visitor's request, the keyed digest of the sponsor's one-time link, the
decision and the voucher made). New tables only: the release before never reads them.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-08 03:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sponsorship",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("commune_id", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("sponsors", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["commune_id"], ["commune.id"], name=op.f("fk_sponsorship_commune_id_commune"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sponsorship")),
        sa.UniqueConstraint("commune_id", name=op.f("uq_sponsorship_commune_id")),
    )
    op.create_table(
        "sponsor_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("commune_id", sa.Integer(), nullable=False),
        sa.Column("sponsor_email", sa.String(length=254), nullable=False),
        sa.Column("note", sa.String(length=200), nullable=False),
        sa.Column("token_digest", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("voucher_id", sa.Integer(), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'approved', 'refused', 'expired')", name=op.f("ck_sponsor_request_status")
        ),
        sa.ForeignKeyConstraint(
            ["commune_id"],
            ["commune.id"],
            name=op.f("fk_sponsor_request_commune_id_commune"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["voucher_id"],
            ["voucher.id"],
            name=op.f("fk_sponsor_request_voucher_id_voucher"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sponsor_request")),
        sa.UniqueConstraint("token_digest", name=op.f("uq_sponsor_request_token_digest")),
    )
    op.create_index(op.f("ix_sponsor_request_commune_id"), "sponsor_request", ["commune_id"], unique=False)
    op.create_index(op.f("ix_sponsor_request_expires_at"), "sponsor_request", ["expires_at"], unique=False)
    op.create_index(
        op.f("ix_sponsor_request_sponsor_email"), "sponsor_request", ["sponsor_email"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_sponsor_request_sponsor_email"), table_name="sponsor_request")
    op.drop_index(op.f("ix_sponsor_request_expires_at"), table_name="sponsor_request")
    op.drop_index(op.f("ix_sponsor_request_commune_id"), table_name="sponsor_request")
    op.drop_table("sponsor_request")
    op.drop_table("sponsorship")
