"""Sign-up and recovery by SMS (issue 19): ``account_phone`` (an account's mobile number, E.164,
unique per region), ``phone_code`` (keyed digests of codes sent by SMS) and ``sms_spend`` (SMS sent
per region, day and destination country, which the daily budget caps). New tables only: the release
before never reads them and keeps running against this schema during a rolling upgrade.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-08 01:19:30.127106
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sms_spend",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("scope", sa.String(length=2), nullable=False),
        sa.Column("sent", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["region_id"], ["region.id"], name=op.f("fk_sms_spend_region_id_region"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sms_spend")),
        sa.UniqueConstraint("region_id", "day", "scope", name=op.f("uq_sms_spend_region_id_day_scope")),
    )
    op.create_table(
        "account_phone",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("region_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=16), nullable=False),
        sa.Column("verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_account_phone_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["region_id"], ["region.id"], name=op.f("fk_account_phone_region_id_region"), ondelete="RESTRICT"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_account_phone")),
        sa.UniqueConstraint("account_id", name=op.f("uq_account_phone_account_id")),
        sa.UniqueConstraint("region_id", "number", name=op.f("uq_account_phone_region_id_number")),
    )
    op.create_index(op.f("ix_account_phone_region_id"), "account_phone", ["region_id"], unique=False)
    op.create_table(
        "phone_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=16), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "purpose IN ('verify_phone', 'reset_password')", name=op.f("ck_phone_code_purpose")
        ),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_phone_code_account_id_account"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_code")),
    )
    op.create_index("ix_phone_code_account_purpose", "phone_code", ["account_id", "purpose"], unique=False)
    op.create_index(op.f("ix_phone_code_expires_at"), "phone_code", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_phone_code_expires_at"), table_name="phone_code")
    op.drop_index("ix_phone_code_account_purpose", table_name="phone_code")
    op.drop_table("phone_code")
    op.drop_index(op.f("ix_account_phone_region_id"), table_name="account_phone")
    op.drop_table("account_phone")
    op.drop_table("sms_spend")
