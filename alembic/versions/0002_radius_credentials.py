"""RADIUS: single-use tokens, device credentials, access policies, authentication records (radpostauth);
updated_at on account and device for cache invalidation.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 03:24:22.270356
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0002'
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('device_credential',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('label', sa.String(length=64), nullable=False),
    sa.Column('nt_hash_ciphertext', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('last_used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_device_credential_account_id_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_device_credential'))
    )
    with op.batch_alter_table('device_credential', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_device_credential_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_device_credential_updated_at'), ['updated_at'], unique=False)

    op.create_table('radius_token',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('token_ciphertext', sa.Text(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_radius_token_account_id_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_radius_token')),
    sa.UniqueConstraint('digest', name=op.f('uq_radius_token_digest'))
    )
    with op.batch_alter_table('radius_token', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_radius_token_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_radius_token_expires_at'), ['expires_at'], unique=False)

    op.create_table('radpostauth',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('username', sa.String(length=253), nullable=False),
    sa.Column('reply', sa.String(length=32), nullable=False),
    sa.Column('authdate', sa.DateTime(timezone=True), nullable=False),
    sa.Column('calledstationid', sa.String(length=64), nullable=True),
    sa.Column('callingstationid', sa.String(length=64), nullable=True),
    sa.Column('nasipaddress', sa.String(length=45), nullable=True),
    sa.Column('class', sa.String(length=64), nullable=True),
    sa.Column('nas_id', sa.Integer(), nullable=True),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('method', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=64), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_radpostauth_account_id_account'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_radpostauth'))
    )
    with op.batch_alter_table('radpostauth', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_radpostauth_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_radpostauth_authdate'), ['authdate'], unique=False)
        batch_op.create_index(batch_op.f('ix_radpostauth_site_id'), ['site_id'], unique=False)

    op.create_table('access_policy',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('commune_id', sa.Integer(), nullable=True),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('session_timeout', sa.Integer(), nullable=True),
    sa.Column('idle_timeout', sa.Integer(), nullable=True),
    sa.Column('interim_interval', sa.Integer(), nullable=True),
    sa.Column('bandwidth_up_kbps', sa.Integer(), nullable=True),
    sa.Column('bandwidth_down_kbps', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(commune_id IS NULL) <> (site_id IS NULL)', name=op.f('ck_access_policy_one_scope')),
    sa.ForeignKeyConstraint(['commune_id'], ['commune.id'], name=op.f('fk_access_policy_commune_id_commune'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], name=op.f('fk_access_policy_site_id_site'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_access_policy')),
    sa.UniqueConstraint('commune_id', name=op.f('uq_access_policy_commune_id')),
    sa.UniqueConstraint('site_id', name=op.f('uq_access_policy_site_id'))
    )
    # Existing rows get updated_at = created_at before the column becomes NOT NULL.
    for table in ('account', 'device'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('updated_at', sa.DateTime(timezone=True), nullable=True))
        op.execute(f'UPDATE {table} SET updated_at = created_at')
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.alter_column('updated_at', existing_type=sa.DateTime(timezone=True), nullable=False)
            batch_op.create_index(batch_op.f(f'ix_{table}_updated_at'), ['updated_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('device', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_updated_at'))
        batch_op.drop_column('updated_at')

    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_updated_at'))
        batch_op.drop_column('updated_at')

    op.drop_table('access_policy')
    with op.batch_alter_table('radpostauth', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_radpostauth_site_id'))
        batch_op.drop_index(batch_op.f('ix_radpostauth_authdate'))
        batch_op.drop_index(batch_op.f('ix_radpostauth_account_id'))

    op.drop_table('radpostauth')
    with op.batch_alter_table('radius_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_radius_token_expires_at'))
        batch_op.drop_index(batch_op.f('ix_radius_token_account_id'))

    op.drop_table('radius_token')
    with op.batch_alter_table('device_credential', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_device_credential_updated_at'))
        batch_op.drop_index(batch_op.f('ix_device_credential_account_id'))

    op.drop_table('device_credential')
