"""Accounting sessions (FreeRADIUS radacct columns), closed accounts kept for the law, tombstones
of deleted accounts and devices for the RADIUS caches, and simultaneous-use and daily limits in
access policies.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 05:30:13.766449
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('closed_account',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('region_id', sa.Integer(), nullable=False),
    sa.Column('pseudonym', sa.String(length=64), nullable=False),
    sa.Column('email_ciphertext', sa.Text(), nullable=False),
    sa.Column('closed_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['region_id'], ['region.id'], name=op.f('fk_closed_account_region_id_region'), ondelete='RESTRICT'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_closed_account')),
    sa.UniqueConstraint('pseudonym', name=op.f('uq_closed_account_pseudonym'))
    )
    with op.batch_alter_table('closed_account', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_closed_account_closed_at'), ['closed_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_closed_account_region_id'), ['region_id'], unique=False)

    op.create_table('radacct',
    sa.Column('radacctid', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('acctsessionid', sa.String(length=64), nullable=False),
    sa.Column('acctuniqueid', sa.String(length=32), nullable=False),
    sa.Column('username', sa.String(length=253), nullable=True),
    sa.Column('realm', sa.String(length=253), nullable=True),
    sa.Column('nasipaddress', sa.String(length=45), nullable=False),
    sa.Column('nasportid', sa.String(length=64), nullable=True),
    sa.Column('nasporttype', sa.String(length=32), nullable=True),
    sa.Column('acctstarttime', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acctupdatetime', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acctstoptime', sa.DateTime(timezone=True), nullable=True),
    sa.Column('acctinterval', sa.BigInteger(), nullable=True),
    sa.Column('acctsessiontime', sa.BigInteger(), nullable=True),
    sa.Column('acctauthentic', sa.String(length=32), nullable=True),
    sa.Column('connectinfo_start', sa.String(length=128), nullable=True),
    sa.Column('connectinfo_stop', sa.String(length=128), nullable=True),
    sa.Column('acctinputoctets', sa.BigInteger(), nullable=True),
    sa.Column('acctoutputoctets', sa.BigInteger(), nullable=True),
    sa.Column('calledstationid', sa.String(length=64), nullable=True),
    sa.Column('callingstationid', sa.String(length=64), nullable=True),
    sa.Column('acctterminatecause', sa.String(length=32), nullable=True),
    sa.Column('servicetype', sa.String(length=32), nullable=True),
    sa.Column('framedprotocol', sa.String(length=32), nullable=True),
    sa.Column('framedipaddress', sa.String(length=45), nullable=True),
    sa.Column('framedipv6address', sa.String(length=45), nullable=True),
    sa.Column('framedipv6prefix', sa.String(length=64), nullable=True),
    sa.Column('framedinterfaceid', sa.String(length=64), nullable=True),
    sa.Column('delegatedipv6prefix', sa.String(length=64), nullable=True),
    sa.Column('class', sa.String(length=64), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('nas_id', sa.Integer(), nullable=True),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('commune_id', sa.Integer(), nullable=True),
    sa.Column('device_mac', sa.String(length=17), nullable=True),
    sa.Column('disconnect_requested_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_radacct_account_id_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('radacctid', name=op.f('pk_radacct')),
    sa.UniqueConstraint('acctuniqueid', name=op.f('uq_radacct_acctuniqueid'))
    )
    with op.batch_alter_table('radacct', schema=None) as batch_op:
        batch_op.create_index('ix_radacct_account_start', ['account_id', 'acctstarttime'], unique=False)
        batch_op.create_index(batch_op.f('ix_radacct_acctstarttime'), ['acctstarttime'], unique=False)
        batch_op.create_index(batch_op.f('ix_radacct_class'), ['class'], unique=False)
        batch_op.create_index(batch_op.f('ix_radacct_commune_id'), ['commune_id'], unique=False)
        batch_op.create_index('ix_radacct_open_account', ['account_id', 'device_mac'], unique=False, postgresql_where=sa.text('acctstoptime IS NULL'), sqlite_where=sa.text('acctstoptime IS NULL'))
        batch_op.create_index('ix_radacct_open_nas', ['nas_id'], unique=False, postgresql_where=sa.text('acctstoptime IS NULL'), sqlite_where=sa.text('acctstoptime IS NULL'))
        batch_op.create_index(batch_op.f('ix_radacct_site_id'), ['site_id'], unique=False)
    if op.get_bind().dialect.name == 'postgresql':
        # room on each page for the updated versions of its rows: an Interim-Update then stays on
        # its page and touches no index (a HOT update)
        op.execute('ALTER TABLE radacct SET (fillfactor = 70)')

    op.create_table('tombstone',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('key', sa.String(length=253), nullable=False),
    sa.Column('deleted_at', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_tombstone'))
    )
    with op.batch_alter_table('tombstone', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_tombstone_deleted_at'), ['deleted_at'], unique=False)

    with op.batch_alter_table('access_policy', schema=None) as batch_op:
        batch_op.add_column(sa.Column('simultaneous_use', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('daily_time_limit', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('daily_octets_limit', sa.BigInteger(), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('access_policy', schema=None) as batch_op:
        batch_op.drop_column('daily_octets_limit')
        batch_op.drop_column('daily_time_limit')
        batch_op.drop_column('simultaneous_use')

    with op.batch_alter_table('radacct', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_radacct_site_id'))
        batch_op.drop_index('ix_radacct_open_nas', postgresql_where=sa.text('acctstoptime IS NULL'), sqlite_where=sa.text('acctstoptime IS NULL'))
        batch_op.drop_index('ix_radacct_open_account', postgresql_where=sa.text('acctstoptime IS NULL'), sqlite_where=sa.text('acctstoptime IS NULL'))
        batch_op.drop_index(batch_op.f('ix_radacct_commune_id'))
        batch_op.drop_index(batch_op.f('ix_radacct_class'))
        batch_op.drop_index(batch_op.f('ix_radacct_acctstarttime'))
        batch_op.drop_index('ix_radacct_account_start')

    with op.batch_alter_table('tombstone', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_tombstone_deleted_at'))

    op.drop_table('tombstone')
    op.drop_table('radacct')
    with op.batch_alter_table('closed_account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_closed_account_region_id'))
        batch_op.drop_index(batch_op.f('ix_closed_account_closed_at'))

    op.drop_table('closed_account')
