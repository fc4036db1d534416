"""EAP-TLS (issue 15): ``device_certificate``, a device's client certificate — whose it is (the
account), found by issuer and serial, and whether it is revoked. A certificate that chains to the
device CA but has no row here, or a revoked one, is refused. ``radpostauth.method`` widens to 32
characters for the EAP methods' names ("eap-ttls/eap-mschapv2").

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 14:12:05.614690
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "device_certificate",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("account_id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=False),
        sa.Column("issuer_key", sa.String(length=64), nullable=False),
        sa.Column("serial", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=1024), nullable=False),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("not_after", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["account.id"],
            name=op.f("fk_device_certificate_account_id_account"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_device_certificate")),
        sa.UniqueConstraint("fingerprint", name=op.f("uq_device_certificate_fingerprint")),
        sa.UniqueConstraint("issuer_key", "serial", name=op.f("uq_device_certificate_issuer_key_serial")),
    )
    with op.batch_alter_table("device_certificate", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_device_certificate_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_device_certificate_updated_at"), ["updated_at"], unique=False)
    with op.batch_alter_table("radpostauth", schema=None) as batch_op:
        batch_op.alter_column(
            "method", existing_type=sa.String(length=16), type_=sa.String(length=32), existing_nullable=False
        )


def downgrade() -> None:
    op.execute("UPDATE radpostauth SET method = substr(method, 1, 16) WHERE length(method) > 16")
    with op.batch_alter_table('radpostauth', schema=None) as batch_op:
        batch_op.alter_column(
            'method', existing_type=sa.String(length=32), type_=sa.String(length=16), existing_nullable=False
        )
    with op.batch_alter_table("device_certificate", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_device_certificate_updated_at"))
        batch_op.drop_index(batch_op.f("ix_device_certificate_account_id"))

    op.drop_table("device_certificate")
