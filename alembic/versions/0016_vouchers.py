"""Vouchers for guests (issue 19): ``voucher_batch`` (what a batch's vouchers may do: window,
duration from first use, data allowance, devices at once; who made it), ``voucher_place`` (the
communes or sites where they work) and ``voucher`` (a code's keyed digest and sealed code, its
account, first use and expiry). New tables only: the release before never reads them.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-08 01:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "voucher_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("commune_id", sa.Integer(), nullable=True),
        sa.Column("label", sa.String(length=120), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("valid_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("octets_limit", sa.BigInteger(), nullable=True),
        sa.Column("max_devices", sa.Integer(), nullable=False),
        sa.Column("created_by", sa.String(length=255), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("valid_until > valid_from", name=op.f("ck_voucher_batch_window")),
        sa.CheckConstraint("count >= 1", name=op.f("ck_voucher_batch_count")),
        sa.CheckConstraint("duration_seconds >= 1", name=op.f("ck_voucher_batch_duration")),
        sa.CheckConstraint("max_devices >= 1", name=op.f("ck_voucher_batch_devices")),
        sa.CheckConstraint("octets_limit IS NULL OR octets_limit >= 1", name=op.f("ck_voucher_batch_octets")),
        sa.ForeignKeyConstraint(
            ["region_id"], ["region.id"], name=op.f("fk_voucher_batch_region_id_region"), ondelete="RESTRICT"
        ),
        sa.ForeignKeyConstraint(
            ["commune_id"], ["commune.id"], name=op.f("fk_voucher_batch_commune_id_commune"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_batch")),
    )
    op.create_index(op.f("ix_voucher_batch_region_id"), "voucher_batch", ["region_id"], unique=False)
    op.create_index(op.f("ix_voucher_batch_commune_id"), "voucher_batch", ["commune_id"], unique=False)
    op.create_index(op.f("ix_voucher_batch_valid_until"), "voucher_batch", ["valid_until"], unique=False)
    op.create_table(
        "voucher_place",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("commune_id", sa.Integer(), nullable=True),
        sa.Column("site_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("(commune_id IS NULL) <> (site_id IS NULL)", name=op.f("ck_voucher_place_one_place")),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["voucher_batch.id"], name=op.f("fk_voucher_place_batch_id_voucher_batch"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["commune_id"], ["commune.id"], name=op.f("fk_voucher_place_commune_id_commune"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["site.id"], name=op.f("fk_voucher_place_site_id_site"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher_place")),
    )
    op.create_index(op.f("ix_voucher_place_batch_id"), "voucher_place", ["batch_id"], unique=False)
    op.create_table(
        "voucher",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("code_ciphertext", sa.Text(), nullable=False),
        sa.Column("first_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["voucher_batch.id"], name=op.f("fk_voucher_batch_id_voucher_batch"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_voucher_account_id_account"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_voucher")),
        sa.UniqueConstraint("account_id", name=op.f("uq_voucher_account_id")),
        sa.UniqueConstraint("digest", name=op.f("uq_voucher_digest")),
    )
    op.create_index(op.f("ix_voucher_batch_id"), "voucher", ["batch_id"], unique=False)
    op.create_index(op.f("ix_voucher_expires_at"), "voucher", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_voucher_expires_at"), table_name="voucher")
    op.drop_index(op.f("ix_voucher_batch_id"), table_name="voucher")
    op.drop_table("voucher")
    op.drop_index(op.f("ix_voucher_place_batch_id"), table_name="voucher_place")
    op.drop_table("voucher_place")
    op.drop_index(op.f("ix_voucher_batch_valid_until"), table_name="voucher_batch")
    op.drop_index(op.f("ix_voucher_batch_commune_id"), table_name="voucher_batch")
    op.drop_index(op.f("ix_voucher_batch_region_id"), table_name="voucher_batch")
    op.drop_table("voucher_batch")
