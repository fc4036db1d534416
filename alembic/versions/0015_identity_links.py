"""Citizens' sign-in through an identity provider (issue 19, FranceConnect): ``identity_link``,
an account linked to a provider's pairwise subject; ``account.email`` becomes nullable (an
account made through a provider that gave no verified email has none). The release before
never writes a null email, and keeps running against this schema during a rolling upgrade.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 02:20:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "identity_link",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("civil_ciphertext", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["account.id"], name=op.f("fk_identity_link_account_id_account"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_identity_link")),
        sa.UniqueConstraint("account_id", "provider", name=op.f("uq_identity_link_account_id_provider")),
        sa.UniqueConstraint("provider", "subject", name=op.f("uq_identity_link_provider_subject")),
    )
    op.create_index(op.f("ix_identity_link_account_id"), "identity_link", ["account_id"], unique=False)
    with op.batch_alter_table("account") as batch:
        batch.alter_column("email", existing_type=sa.String(length=254), nullable=True)


def downgrade() -> None:
    # refused while an account has no email: deleting accounts is no downgrade's decision
    with op.batch_alter_table("account") as batch:
        batch.alter_column("email", existing_type=sa.String(length=254), nullable=False)
    op.drop_index(op.f("ix_identity_link_account_id"), table_name="identity_link")
    op.drop_table("identity_link")
