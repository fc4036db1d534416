"""The staff console's second factor (issue 18): ``admin_totp`` (an admin's TOTP secret, sealed,
with the step of the last code accepted), ``admin_recovery_code`` (keyed digests of single-use
recovery codes), and ``region.require_two_factor`` (the region requires a second factor of every
password sign-in). New tables and a column with a server default: the release before never reads
them and keeps running against this schema during a rolling upgrade (its inserts into ``region``
get false).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07 22:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a plain ADD COLUMN (SQLite has it): a batch copy of ``region`` would trip its communes' keys
    op.add_column(
        "region", sa.Column("require_two_factor", sa.Boolean(), server_default=sa.false(), nullable=False)
    )
    op.create_table(
        "admin_totp",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("admin_id", sa.Integer(), nullable=False),
        sa.Column("secret_ciphertext", sa.String(length=255), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_step", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["admin_id"], ["admin.id"], name=op.f("fk_admin_totp_admin_id_admin"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_totp")),
        sa.UniqueConstraint("admin_id", name=op.f("uq_admin_totp_admin_id")),
    )
    op.create_table(
        "admin_recovery_code",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("admin_id", sa.Integer(), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["admin_id"],
            ["admin.id"],
            name=op.f("fk_admin_recovery_code_admin_id_admin"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_recovery_code")),
        sa.UniqueConstraint("digest", name=op.f("uq_admin_recovery_code_digest")),
    )
    op.create_index(
        op.f("ix_admin_recovery_code_admin_id"), "admin_recovery_code", ["admin_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_admin_recovery_code_admin_id"), table_name="admin_recovery_code")
    op.drop_table("admin_recovery_code")
    op.drop_table("admin_totp")
    op.drop_column("region", "require_two_factor")  # SQLite ≥ 3.35 drops a column in place
