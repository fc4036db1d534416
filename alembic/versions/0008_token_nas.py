"""Single-use tokens bound to the access point they were handed to (issue 14): ``radius_token``
gains ``nas_id``; only that access point's Access-Requests may use the token. Tokens live two
minutes, so the ones alive at the upgrade (without a NAS) are simply refused.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-10 10:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('radius_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('nas_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_radius_token_nas_id'), ['nas_id'], unique=False)
        batch_op.create_foreign_key(
            batch_op.f('fk_radius_token_nas_id_nas'), 'nas', ['nas_id'], ['id'], ondelete='CASCADE'
        )


def downgrade() -> None:
    with op.batch_alter_table('radius_token', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_radius_token_nas_id_nas'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_radius_token_nas_id'))
        batch_op.drop_column('nas_id')
