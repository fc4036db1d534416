"""The next release, made up for rolling-upgrade tests: a copy of this source tree with one more
migration that follows the expand-only rule (alembic/README.md) — a nullable column on ``radacct``
(written by every accounting record), a column with a server default on ``account`` (read by every
Access-Request), a new table, and an index built concurrently on PostgreSQL.

Run it with its folder first on ``PYTHONPATH``: ``python -m sesame`` then imports the copy, whose
``alembic/`` folder has the extra migration (``sesame.migrations`` finds its scripts next to itself),
and not this checkout.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from alembic import command
from sesame import migrations

ROOT = Path(__file__).resolve().parents[2]
#: what ``python -m sesame`` imports, and the migration scripts
TREE = ("accounts", "federation", "portal", "radius", "sesame", "alembic")


def revision() -> str:
    """The next release's head: the revision after this checkout's (four-digit sequence numbers)."""
    head = migrations.head_revision()
    assert head is not None and head.isdigit(), head
    return f"{int(head) + 1:04d}"


MIGRATION = '''"""Rolling-upgrade probe, made by tests/support/nextrelease.py: only expands the schema.

Revision ID: {revision}
Revises: {down_revision}
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "{revision}"
down_revision: str | None = "{down_revision}"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("radacct", schema=None) as batch_op:
        batch_op.add_column(sa.Column("rolling_note", sa.String(length=64), nullable=True))
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("rolling_flag", sa.Boolean(), server_default=sa.false(), nullable=False)
        )
    op.create_table(
        "rolling_probe",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("note", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rolling_probe")),
    )
    with op.get_context().autocommit_block():  # CREATE INDEX CONCURRENTLY cannot run in a transaction
        op.create_index(
            "ix_radacct_rolling_note", "radacct", ["rolling_note"], postgresql_concurrently=True
        )


def downgrade() -> None:
    op.drop_index("ix_radacct_rolling_note", table_name="radacct")
    op.drop_table("rolling_probe")
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_column("rolling_flag")
    with op.batch_alter_table("radacct", schema=None) as batch_op:
        batch_op.drop_column("rolling_note")
'''


def migration_source() -> str:
    return MIGRATION.format(revision=revision(), down_revision=migrations.head_revision())


def make(folder: Path, tree: tuple[str, ...] = TREE) -> Path:
    """The next release in ``folder`` (created); returns the folder to put first on PYTHONPATH."""
    for name in tree:
        shutil.copytree(ROOT / name, folder / name, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "alembic" / "versions" / f"{revision()}_rolling_probe.py").write_text(migration_source())
    return folder


def migrate(database_url: str, folder: Path) -> None:
    """Apply the next release's migrations to ``database_url`` in this process (its scripts are
    copied into ``folder``; the models and the engine are this checkout's, which is all
    ``alembic/env.py`` needs)."""
    make(folder, ("alembic",))
    config = migrations.alembic_config(database_url)
    config.set_main_option("script_location", str(folder / "alembic"))
    command.upgrade(config, "head")
