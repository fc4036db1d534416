"""An account's lifecycle (issue 19): ``account.inactivity_warned_at``, when the person was warned
that their unused account would be deleted (accounts/lifecycle.py). A nullable column: the release
before never reads it and keeps running against this schema during a rolling upgrade.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 01:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("account", sa.Column("inactivity_warned_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("account") as batch:
        batch.drop_column("inactivity_warned_at")
