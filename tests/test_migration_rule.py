"""The expand-only rule for migrations (alembic/README.md, docs/operations.md "Upgrades"), checked
on every migration from :data:`FIRST_CHECKED` on — the release before keeps running against the new
schema during a rolling upgrade — and on the next release's probe migration that
tests/interop/test_rolling_upgrade.py rolls under load. The check itself
(:mod:`tests.support.expandonly`) is shown to catch what breaks a running release.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from accounts.models import Base
from sesame import migrations
from tests.support import expandonly, nextrelease

#: the first revision written under the rule (those before it predate rolling upgrades)
FIRST_CHECKED = "0010"
VERSIONS = migrations.SCRIPT_LOCATION / "versions"
MODEL_COLUMNS = {
    table.name: {column.name for column in table.columns} for table in Base.metadata.tables.values()
}


def check(source: str) -> list[str]:
    return expandonly.check(source, MODEL_COLUMNS)


def _assigned(path: Path, name: str) -> object:
    for node in ast.parse(path.read_text()).body:
        target: ast.expr
        if isinstance(node, ast.AnnAssign) and node.value is not None:
            target, value = node.target, node.value
        elif isinstance(node, ast.Assign) and len(node.targets) == 1:
            target, value = node.targets[0], node.value
        else:
            continue
        if isinstance(target, ast.Name) and target.id == name:
            return ast.literal_eval(value)
    raise AssertionError(f"{path.name} assigns no {name}")


SCRIPTS = sorted(VERSIONS.glob("[0-9]*.py"))
CHECKED = [path for path in SCRIPTS if str(_assigned(path, "revision")) >= FIRST_CHECKED]


def test_revisions_are_a_numbered_sequence() -> None:
    """Four-digit numbers, each following the one before: what lets a release tell a newer schema
    from one it does not know (sesame/migrations.py)."""
    previous: str | None = None
    for path in SCRIPTS:
        revision = _assigned(path, "revision")
        assert isinstance(revision, str) and len(revision) == 4 and revision.isdigit(), path.name
        assert path.name.startswith(f"{revision}_")
        assert _assigned(path, "down_revision") == previous, path.name
        assert int(revision) == (int(previous) + 1 if previous else 1), path.name
        previous = revision
    assert previous == migrations.head_revision()


@pytest.mark.parametrize("path", CHECKED, ids=[path.name for path in CHECKED])
def test_migrations_only_expand_from_the_first_checked_revision_on(path: Path) -> None:
    assert check(path.read_text()) == []


def test_the_probe_migration_of_the_rolling_upgrade_test_only_expands() -> None:
    assert check(nextrelease.migration_source()) == []


def test_the_check_would_have_caught_a_migration_before_the_rule() -> None:
    """0007 made existing names unique: the release before could still have written duplicates."""
    (path,) = VERSIONS.glob("0007_*.py")
    assert any("unique index on site's existing columns" in finding for finding in check(path.read_text()))


def _upgrade(body: str, *, contract: bool = False) -> str:
    lines = "".join(f"    {line}\n" for line in body.strip().splitlines())
    header = 'CONTRACT = "the code stopped using it in the release before"\n' if contract else ""
    return f"import sqlalchemy as sa\nfrom alembic import op\n{header}\n\ndef upgrade() -> None:\n{lines}"


EXPANDS = {
    "nullable column": 'op.add_column("nas", sa.Column("note", sa.Text(), nullable=True))',
    "column with a default": (
        'op.add_column("nas", sa.Column("n", sa.Integer(), server_default="0", nullable=False))'
    ),
    "batch column": """
with op.batch_alter_table("account", schema=None) as batch_op:
    batch_op.add_column(sa.Column("flag", sa.Boolean(), server_default=sa.false(), nullable=False))
""",
    "new table with its indexes": """
op.create_table("t", sa.Column("id", sa.Integer(), nullable=False), sa.Column("k", sa.Text()))
op.create_index("ix_t_k", "t", ["k"], unique=True)
with op.batch_alter_table("t", schema=None) as batch_op:
    batch_op.create_index(batch_op.f("ix_t_id"), ["id"], unique=False)
""",
    "concurrent index": """
with op.get_context().autocommit_block():
    op.create_index("ix_radacct_x", "radacct", ["username"], postgresql_concurrently=True)
""",
    "constraints on a new column": """
with op.batch_alter_table("radius_token", schema=None) as batch_op:
    batch_op.add_column(sa.Column("nas_id", sa.Integer(), nullable=True))
    batch_op.create_foreign_key(batch_op.f("fk_t_nas"), "nas", ["nas_id"], ["id"], ondelete="CASCADE")
    batch_op.create_unique_constraint("uq_t_nas", ["nas_id"])
""",
    "a longer string": """
with op.batch_alter_table("radpostauth", schema=None) as batch_op:
    batch_op.alter_column("method", existing_type=sa.String(length=16), type_=sa.String(length=32))
""",
    "a looser column": 'op.alter_column("nas", "description", nullable=True, server_default="")',
    "data": "op.execute(\"UPDATE nas SET description = '' WHERE description IS NULL\")",
}

BREAKS = {
    "drop a column": ('op.drop_column("nas", "description")', "CONTRACT migration"),
    "drop a table": ('op.drop_table("tombstone")', "CONTRACT migration"),
    "drop an index": ('op.drop_index("ix_nas_shortname_key", table_name="nas")', "CONTRACT migration"),
    "rename a column": ('op.alter_column("nas", "secret", new_column_name="key")', "renamed"),
    "rename a table": ('op.rename_table("nas", "access_point")', "a rename"),
    "NOT NULL without default": (
        'op.add_column("nas", sa.Column("zone", sa.Text(), nullable=False))',
        "NOT NULL without a server default",
    ),
    "NOT NULL in a batch": (
        """
with op.batch_alter_table("account", schema=None) as batch_op:
    batch_op.add_column(sa.Column("zone", sa.Text(), nullable=False))
""",
        "account.zone is NOT NULL",
    ),
    "drop a default": (
        """
with op.batch_alter_table("radacct", schema=None) as batch_op:
    batch_op.add_column(sa.Column("note", sa.Text(), server_default="", nullable=False))
    batch_op.alter_column("note", server_default=None)
""",
        "loses its server default",
    ),
    "tighten a column": ('op.alter_column("nas", "description", nullable=False)', "made NOT NULL"),
    "shorter string": (
        'op.alter_column("nas", "shortname", existing_type=sa.String(64), type_=sa.String(32))',
        "changes type",
    ),
    "another type": ('op.alter_column("nas", "ports", type_=sa.Text())', "changes type"),
    "locking index": ('op.create_index("ix_nas_x", "nas", ["description"])', "postgresql_concurrently=True"),
    "unique on old columns": (
        'op.create_index("ix_nas_d", "nas", ["description"], unique=True, postgresql_concurrently=True)',
        "unique index on nas's existing columns",
    ),
    "foreign key on an old column": (
        'op.create_foreign_key("fk_x", "nas", "site", ["site_id"], ["id"])',
        "existing columns",
    ),
    "check on an old table": ('op.create_check_constraint("ck_x", "nas", "ports > 0")', "check constraint"),
    "drop in SQL": ('op.execute("ALTER TABLE nas DROP COLUMN description")', "removes, renames"),
    "NOT NULL in SQL": (
        'op.execute(sa.text("ALTER TABLE nas ALTER COLUMN description SET NOT NULL"))',
        "removes, renames",
    ),
    "SQL unread": ('op.execute(f"DROP TABLE {name}")', "f-string"),
    "table unread": ('op.add_column(name, sa.Column("x", sa.Text()))', "cannot read"),
    "unknown operation": ('op.create_exclude_constraint("ex", "nas", ("ports", "="))', "not known"),
}


@pytest.mark.parametrize("body", EXPANDS.values(), ids=EXPANDS.keys())
def test_the_check_lets_expansions_through(body: str) -> None:
    assert check(_upgrade(body)) == []


@pytest.mark.parametrize(("body", "reason"), BREAKS.values(), ids=BREAKS.keys())
def test_the_check_catches_what_breaks_the_running_release(body: str, reason: str) -> None:
    findings = check(_upgrade(body))
    assert any(reason in finding for finding in findings), findings


def test_a_contract_migration_drops_only_what_the_models_no_longer_have() -> None:
    gone = 'op.drop_column("nas", "legacy_flag")\nop.drop_table("old_sessions")'
    assert check(_upgrade(gone, contract=True)) == []
    still_used = 'op.drop_column("nas", "description")\nop.drop_table("tombstone")'
    findings = check(_upgrade(still_used, contract=True))
    assert any("nas.description, which the models still have" in f for f in findings), findings
    assert any("the table tombstone, which the models still have" in f for f in findings), findings
    assert any("a rename" in f for f in check(_upgrade('op.rename_table("a", "b")', contract=True)))
