"""Federation: partner regions (and the upstream proxy) with the realm patterns routed to them and
their home servers (UDP or RadSec, secrets sealed, health written by the RADIUS processes).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02 14:57:34.386238
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0006'
down_revision: str | None = '0005'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('partner',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('display_name', sa.String(length=120), nullable=True),
    sa.Column('accept_requests', sa.Boolean(), nullable=False),
    sa.Column('transit', sa.Boolean(), nullable=False),
    sa.Column('forward_accounting', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner')),
    sa.UniqueConstraint('name', name=op.f('uq_partner_name'))
    )
    with op.batch_alter_table('partner', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partner_updated_at'), ['updated_at'], unique=False)

    op.create_table('home_server',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('host', sa.String(length=253), nullable=False),
    sa.Column('port', sa.Integer(), nullable=False),
    sa.Column('acct_port', sa.Integer(), nullable=True),
    sa.Column('transport', sa.String(length=8), nullable=False),
    sa.Column('secret_ciphertext', sa.Text(), nullable=False),
    sa.Column('tls_name', sa.String(length=253), nullable=True),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('state', sa.String(length=16), server_default='unknown', nullable=False),
    sa.Column('state_changed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("transport IN ('udp', 'radsec')", name=op.f('ck_home_server_transport')),
    sa.CheckConstraint('port >= 1 AND port <= 65535', name=op.f('ck_home_server_port')),
    sa.CheckConstraint('acct_port IS NULL OR (acct_port >= 1 AND acct_port <= 65535)', name=op.f('ck_home_server_acct_port')),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_home_server_partner_id_partner'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_home_server')),
    sa.UniqueConstraint('partner_id', 'host', 'port', 'transport', name=op.f('uq_home_server_partner_id_host_port_transport'))
    )
    with op.batch_alter_table('home_server', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_home_server_partner_id'), ['partner_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_home_server_updated_at'), ['updated_at'], unique=False)

    op.create_table('partner_realm',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('pattern', sa.String(length=253), nullable=False),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], name=op.f('fk_partner_realm_partner_id_partner'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_partner_realm')),
    sa.UniqueConstraint('pattern', name=op.f('uq_partner_realm_pattern'))
    )
    with op.batch_alter_table('partner_realm', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_partner_realm_partner_id'), ['partner_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('partner_realm', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partner_realm_partner_id'))

    op.drop_table('partner_realm')
    with op.batch_alter_table('home_server', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_home_server_updated_at'))
        batch_op.drop_index(batch_op.f('ix_home_server_partner_id'))

    op.drop_table('home_server')
    with op.batch_alter_table('partner', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_partner_updated_at'))

    op.drop_table('partner')
