"""Passpoint on the RADIUS side (issue 17): ``radpostauth`` gains what a request says about the
network it came through — ``operator_name`` (RFC 5580 Operator-Name), ``venue`` (RFC 7268
WLAN-Venue-Name or WISPr-Location-Name), ``roaming_consortium`` (the OI the device matched, hex),
``hs20_ap_release`` and ``hs20_device_release`` (Hotspot 2.0 releases). Nullable columns only: the
version before keeps running against this schema during a rolling upgrade (its COPY names its
columns, and these stay empty).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 22:30:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("radpostauth", schema=None) as batch_op:
        batch_op.add_column(sa.Column("operator_name", sa.String(length=253), nullable=True))
        batch_op.add_column(sa.Column("venue", sa.String(length=253), nullable=True))
        batch_op.add_column(sa.Column("roaming_consortium", sa.String(length=30), nullable=True))
        batch_op.add_column(sa.Column("hs20_ap_release", sa.SmallInteger(), nullable=True))
        batch_op.add_column(sa.Column("hs20_device_release", sa.SmallInteger(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("radpostauth", schema=None) as batch_op:
        batch_op.drop_column("hs20_device_release")
        batch_op.drop_column("hs20_ap_release")
        batch_op.drop_column("roaming_consortium")
        batch_op.drop_column("venue")
        batch_op.drop_column("operator_name")
