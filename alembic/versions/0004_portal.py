"""The captive portal: email codes (verification, password reset), accepted terms and the grace
connection of unverified accounts, per-commune/site branding, access points' hand-off settings
and UAM secret, and sites' WiFi4EU network identifiers.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22 07:50:50.296101
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('account_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=16), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('used_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("purpose IN ('verify_email', 'reset_password')", name=op.f('ck_account_code_purpose')),
    sa.ForeignKeyConstraint(['account_id'], ['account.id'], name=op.f('fk_account_code_account_id_account'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_account_code'))
    )
    with op.batch_alter_table('account_code', schema=None) as batch_op:
        batch_op.create_index('ix_account_code_account_purpose', ['account_id', 'purpose'], unique=False)
        batch_op.create_index(batch_op.f('ix_account_code_expires_at'), ['expires_at'], unique=False)

    op.create_table('portal_branding',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('commune_id', sa.Integer(), nullable=True),
    sa.Column('site_id', sa.Integer(), nullable=True),
    sa.Column('title', sa.String(length=120), nullable=True),
    sa.Column('logo_url', sa.String(length=500), nullable=True),
    sa.Column('color', sa.String(length=7), nullable=True),
    sa.Column('welcome_text', sa.Text(), nullable=True),
    sa.Column('terms_text', sa.Text(), nullable=True),
    sa.Column('terms_version', sa.String(length=32), nullable=True),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('(commune_id IS NULL) <> (site_id IS NULL)', name=op.f('ck_portal_branding_one_scope')),
    sa.CheckConstraint('color IS NULL OR length(color) = 7', name=op.f('ck_portal_branding_color')),
    sa.ForeignKeyConstraint(['commune_id'], ['commune.id'], name=op.f('fk_portal_branding_commune_id_commune'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['site_id'], ['site.id'], name=op.f('fk_portal_branding_site_id_site'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_portal_branding')),
    sa.UniqueConstraint('commune_id', name=op.f('uq_portal_branding_commune_id')),
    sa.UniqueConstraint('site_id', name=op.f('uq_portal_branding_site_id'))
    )
    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.add_column(sa.Column('grace_until', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('terms_version', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('terms_accepted_at', sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('locale', sa.String(length=8), nullable=True))

    with op.batch_alter_table('nas', schema=None) as batch_op:
        batch_op.add_column(sa.Column('handoff_options', sa.Text(), nullable=True))
        batch_op.add_column(sa.Column('uam_secret_ciphertext', sa.Text(), nullable=True))

    with op.batch_alter_table('site', schema=None) as batch_op:
        batch_op.add_column(sa.Column('wifi4eu_network_id', sa.String(length=64), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('site', schema=None) as batch_op:
        batch_op.drop_column('wifi4eu_network_id')

    with op.batch_alter_table('nas', schema=None) as batch_op:
        batch_op.drop_column('uam_secret_ciphertext')
        batch_op.drop_column('handoff_options')

    with op.batch_alter_table('account', schema=None) as batch_op:
        batch_op.drop_column('locale')
        batch_op.drop_column('terms_accepted_at')
        batch_op.drop_column('terms_version')
        batch_op.drop_column('grace_until')

    op.drop_table('portal_branding')
    with op.batch_alter_table('account_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_account_code_expires_at'))
        batch_op.drop_index('ix_account_code_account_purpose')

    op.drop_table('account_code')
