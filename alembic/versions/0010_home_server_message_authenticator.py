"""Message-Authenticator required per home server (issue 16): ``home_server`` gains
``require_message_authenticator`` (true for every existing server, as the federation-wide setting
said), so one legacy partner that does not sign its replies no longer forces the whole federation
to accept unsigned ones. A column with a server default: the version before keeps running
against this schema during a rolling upgrade (its inserts get true).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 18:10:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("home_server", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "require_message_authenticator", sa.Boolean(), server_default=sa.true(), nullable=False
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("home_server", schema=None) as batch_op:
        batch_op.drop_column("require_message_authenticator")
