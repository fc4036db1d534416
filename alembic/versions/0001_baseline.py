"""Baseline: region, commune, site, nas (access points), account, device.

Revision ID: 0001
Revises: (none)
Create Date: 2026-11-22 03:08:37.840576
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0001'
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('region',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('realm', sa.String(length=253), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_region')),
    sa.UniqueConstraint('realm', name=op.f('uq_region_realm'))
    )
    op.create_table('account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=64), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('email_verified', sa.Boolean(), nullable=False),
    sa.Column('password_hash', sa.String(length=255), nullable=True),
    sa.Column('status', sa.String(length=16), server_default='active', nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("status IN ('active', 'disabled', 'locked')", name=op.f('ck_account_status')),
    sa.ForeignKeyConstraint(['region_id'], ['region.id'], name=op.f('fk_account_region_id_region'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account')),
    sa.UniqueConstraint('region_id', 'email', name=op.f('uq_account_region_id_email')),
    sa.UniqueConstraint('region_id', 'username', name=op.f('uq_account_region_id_username'))
    )
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_account_region_id'), ['region_id'], unique=False)

    op.create_table('commune',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('insee_code', sa.String(length=5), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['region_id'], ['region.id'], name=op.f('fk_commune_region_id_region'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_commune')),
    sa.UniqueConstraint('insee_code', name=op.f('uq_commune_insee_code'))
    )
    with op.batch_alter_table('commune', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_commune_region_id'), ['region_id'], unique=False)

    op.create_table('device',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('mac', sa.String(length=17), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=True),
    sa.Column('remembered_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_device_account_id_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device')),
    sa.UniqueConstraint('mac', name=op.f('uq_device_mac'))
    )
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_account_id'), ['account_id'], unique=False)

    op.create_table('site',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('commune_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('address', sa.String(length=255), nullable=True),
    sa.Column('latitude', sa.Float(), nullable=True),
    sa.Column('longitude', sa.Float(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('latitude IS NULL OR (latitude >= -90 AND latitude <= 90)', name=op.f('ck_site_latitude')),
    sa.CheckConstraint('longitude IS NULL OR (longitude >= -180 AND longitude <= 180)', name=op.f('ck_site_longitude')),
    sa.ForeignKeyConstraint(['commune_id'], ['commune.id'], name=op.f('fk_site_commune_id_commune'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_site')),
    sa.UniqueConstraint('commune_id', 'name', name=op.f('uq_site_commune_id_name'))
    )
    with op.batch_alter_table('site', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_site_commune_id'), ['commune_id'], unique=False)

    op.create_table('nas',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('site_id', sa.Integer(), nullable=False),
    sa.Column('shortname', sa.String(length=64), nullable=False),
    sa.Column('nasname', sa.String(length=64), nullable=False),
    sa.Column('type', sa.String(length=30), nullable=False),
    sa.Column('handoff', sa.String(length=30), nullable=False),
    sa.Column('secret_ciphertext', sa.Text(), nullable=False),
    sa.Column('coa_port', sa.Integer(), nullable=False),
    sa.Column('require_message_authenticator', sa.Boolean(), nullable=False),
    sa.Column('description', sa.String(length=255), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('coa_port >= 1 AND coa_port <= 65535', name=op.f('ck_nas_coa_port')),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], name=op.f('fk_nas_site_id_site'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_nas')),
    sa.UniqueConstraint('nasname', name=op.f('uq_nas_nasname')),
    sa.UniqueConstraint('shortname', name=op.f('uq_nas_shortname'))
    )
    with op.batch_alter_table('nas', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_nas_site_id'), ['site_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_nas_updated_at'), ['updated_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('nas', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_nas_updated_at'))
        batch_op.drop_index(batch_op.f('ix_nas_site_id'))

    op.drop_table('nas')
    with op.batch_alter_table('site', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_site_commune_id'))

    op.drop_table('site')
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_account_id'))

    op.drop_table('device')
    with op.batch_alter_table('commune', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_commune_region_id'))

    op.drop_table('commune')
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_region_id'))

    op.drop_table('account')
    op.drop_table('region')
