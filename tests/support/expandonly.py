"""The expand-only rule for migrations (alembic/README.md), checked by reading a migration's
``upgrade()``: during a rolling upgrade the release before keeps running against the new schema, so
a migration may add (tables; nullable columns or columns with a server default; indexes, built
concurrently on PostgreSQL when the table already exists; constraints on its own new columns) and
widen (a longer ``String``), never remove, rename or tighten what the running release uses.

What the running release can no longer see is removed one release later, by a *contract*
migration: a module-level ``CONTRACT = "why it is safe"`` allows dropping tables and columns that
the models of this checkout no longer have, and indexes and constraints. A rename is never allowed
(add the new, copy, switch the code, drop the old a release later).

Only ``op`` and ``batch_op`` calls are read: SQL given as a string to ``op.execute`` is searched
for DDL that removes or renames; statements built with SQLAlchemy (``sa.update``…) are data, not
schema, and pass; work through ``op.get_bind()`` is not seen (keep DDL in ``op`` calls).
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

#: DDL in SQL strings that the running release would trip over
RISKY_SQL = re.compile(
    r"\b(drop|rename|truncate|set\s+not\s+null|alter\s+column\s+\S+\s+type)\b", re.IGNORECASE
)
#: operations that may only appear in a contract migration
CONTRACTS = {"drop_table", "drop_column", "drop_index", "drop_constraint"}
#: operations that never break the running release by themselves
HARMLESS = {"batch_alter_table", "get_bind", "get_context", "f", "bulk_insert", "inline_literal"}
#: ``op`` operations whose first argument is the table (the batch form has none)
TABLE_FIRST = {"create_table", "add_column", "alter_column", "drop_column", "drop_table", "rename_table"}
#: ``op`` operations whose first argument is a name and second the table (the batch form: no table)
NAME_FIRST = {
    "create_index",
    "drop_index",
    "create_unique_constraint",
    "create_primary_key",
    "create_foreign_key",
    "create_check_constraint",
    "drop_constraint",
}


@dataclass
class Checker:
    #: the tables of this checkout's models, and their columns
    model_columns: dict[str, set[str]]
    contract: bool = False
    findings: list[str] = field(default_factory=list)
    new_tables: set[str] = field(default_factory=set)
    new_columns: set[tuple[str, str]] = field(default_factory=set)

    def problem(self, node: ast.AST, what: str) -> None:
        self.findings.append(f"line {getattr(node, 'lineno', '?')}: {what}")

    def existing(self, table: str | None) -> bool:
        return table not in self.new_tables

    def visit(self, function: ast.FunctionDef) -> None:
        batched: dict[int, str] = {}  # id() of each call inside a batch block: the block's table
        for node in ast.walk(function):
            if isinstance(node, ast.With):
                for item in node.items:
                    call = item.context_expr
                    if (
                        isinstance(call, ast.Call)
                        and _method(call) == ("op", "batch_alter_table")
                        and isinstance(item.optional_vars, ast.Name)
                    ):
                        alias, table = (
                            item.optional_vars.id,
                            (_string(call.args[0]) if call.args else None) or "",
                        )
                        for statement in node.body:
                            for inner in ast.walk(statement):
                                if (
                                    isinstance(inner, ast.Call)
                                    and (target := _method(inner))
                                    and target[0] == alias
                                ):
                                    batched[id(inner)] = table
        for node in _in_order(function):
            if isinstance(node, ast.Call) and (target := _method(node)) is not None:
                receiver, name = target
                if id(node) in batched:
                    self.operation(node, name, batched[id(node)])
                elif receiver == "op":
                    self.operation(node, name, None)

    def operation(self, call: ast.Call, name: str, batch: str | None) -> None:
        """``op.name(...)``, or ``batch_op.name(...)`` on the table ``batch``."""
        keywords = {k.arg: k.value for k in call.keywords if k.arg}
        table, rest = batch, list(call.args)  # rest: the arguments as the batch form takes them
        if batch is None and name in TABLE_FIRST and rest:
            table, rest = _string(rest[0]), rest[1:]
        elif batch is None and name in NAME_FIRST:
            table = _string(rest[1]) if len(rest) > 1 else _string(keywords.get("table_name"))
            rest = rest[:1] + rest[2:]
        if name in HARMLESS:
            return
        if name not in TABLE_FIRST | NAME_FIRST | {"execute"}:
            self.problem(call, f"op.{name} is not known to be expand-only: review it and teach this check")
            return
        if not table and name != "execute":
            self.problem(call, f"op.{name} on a table this check cannot read (write its name as a string)")
            return
        if name == "create_table":
            self.new_tables.add(table or "?")
        elif name == "add_column":
            self.add_column(call, table, rest[0] if rest else keywords.get("column"))
        elif name == "alter_column":
            self.alter_column(call, table, _string(rest[0]) if rest else None, keywords)
        elif name == "create_index":
            self.create_index(call, table, rest[1] if len(rest) > 1 else keywords.get("columns"), keywords)
        elif name in {"create_unique_constraint", "create_primary_key"}:
            self.constrain(call, name, table, rest[1] if len(rest) > 1 else keywords.get("columns"))
        elif name == "create_foreign_key":
            self.constrain(call, name, table, rest[2] if len(rest) > 2 else keywords.get("local_cols"))
        elif name == "create_check_constraint":
            if self.existing(table):
                self.problem(call, f"a check constraint on the existing table {table}")
        elif name in CONTRACTS:
            self.contract_operation(call, name, table, rest)
        elif name == "rename_table":
            self.problem(call, "a rename: add the new, copy, and drop the old one release later")
        elif name == "execute":
            self.execute(call, rest[0] if rest else keywords.get("sqltext"))

    def constrain(self, call: ast.Call, name: str, table: str | None, columns: ast.expr | None) -> None:
        if self.existing(table) and not self.only_new(table, columns):
            self.problem(call, f"{name} on {table}'s existing columns: the running release may break it")

    def add_column(self, call: ast.Call, table: str | None, column: ast.expr | None) -> None:
        if not (isinstance(column, ast.Call) and _callee(column) == "Column" and column.args):
            self.problem(call, "add_column with a column this check cannot read")
            return
        name = _string(column.args[0]) or "?"
        self.new_columns.add((table or "?", name))
        keywords = {k.arg: k.value for k in column.keywords if k.arg}
        not_null = _false(keywords.get("nullable")) or _true(keywords.get("primary_key"))
        if not_null and "server_default" not in keywords:
            self.problem(
                call,
                f"{table}.{name} is NOT NULL without a server default: the running release's inserts fail",
            )

    def alter_column(
        self, call: ast.Call, table: str | None, column: str | None, keywords: dict[str, ast.expr]
    ) -> None:
        fresh = not self.existing(table) or (table or "?", column or "?") in self.new_columns
        if "new_column_name" in keywords:
            self.problem(
                call, f"{table}.{column} renamed: add the new, copy, and drop the old one release later"
            )
        if _false(keywords.get("nullable")) and not fresh:
            self.problem(call, f"{table}.{column} made NOT NULL: the running release may still write NULL")
        default = keywords.get("server_default")
        if isinstance(default, ast.Constant) and default.value is None and not self.contract:
            self.problem(call, f"{table}.{column} loses its server default: the running release may need it")
        if (
            "type_" in keywords
            and not fresh
            and not _widens(keywords["type_"], keywords.get("existing_type"))
        ):
            self.problem(
                call, f"{table}.{column} changes type (only a longer String, with existing_type, is allowed)"
            )

    def create_index(
        self, call: ast.Call, table: str | None, columns: ast.expr | None, keywords: dict[str, ast.expr]
    ) -> None:
        if not self.existing(table):
            return
        if _true(keywords.get("unique")) and not self.only_new(table, columns):
            self.problem(
                call, f"a unique index on {table}'s existing columns: the running release may break it"
            )
        if not _true(keywords.get("postgresql_concurrently")):
            self.problem(
                call,
                f"an index on the existing table {table} must be built with postgresql_concurrently=True",
            )

    def contract_operation(self, call: ast.Call, name: str, table: str | None, args: list[ast.expr]) -> None:
        if not self.contract:
            self.problem(
                call, f"{name} in an expand migration: removals go in a CONTRACT migration one release later"
            )
            return
        if name == "drop_table" and table in self.model_columns:
            self.problem(call, f"drops the table {table}, which the models still have")
        if name == "drop_column" and args and _string(args[0]) in self.model_columns.get(table or "", set()):
            self.problem(call, f"drops {table}.{_string(args[0])}, which the models still have")

    def execute(self, call: ast.Call, statement: ast.expr | None) -> None:
        if isinstance(statement, ast.Call) and _callee(statement) == "text" and statement.args:
            statement = statement.args[0]
        if isinstance(statement, ast.JoinedStr):
            self.problem(call, "op.execute with an f-string this check cannot read")
        sql = _string(statement) if statement is not None else None
        if sql is not None and RISKY_SQL.search(sql) and not self.contract:
            self.problem(call, f"op.execute with SQL that removes, renames or tightens: {sql[:60]!r}")

    def only_new(self, table: str | None, columns: ast.expr | None) -> bool:
        """``columns`` (a literal list) are all added by this migration."""
        if not isinstance(columns, ast.List | ast.Tuple):
            return False
        names = [_string(element) for element in columns.elts]
        return all(name is not None and (table or "?", name) in self.new_columns for name in names)


def check(source: str, model_columns: dict[str, set[str]]) -> list[str]:
    """What in the migration ``source``'s ``upgrade()`` breaks the expand-only rule (empty: nothing)."""
    tree = ast.parse(source)
    checker = Checker(model_columns, contract=any(_assigns(node, "CONTRACT") for node in tree.body))
    upgrades = [n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == "upgrade"]
    if len(upgrades) != 1:
        return ["no upgrade() function"]
    checker.visit(upgrades[0])
    return checker.findings


def _in_order(function: ast.FunctionDef) -> Iterator[ast.expr | ast.stmt]:
    """The nodes of ``function`` in source order (new tables and columns are known before use)."""
    return iter(
        sorted(
            (n for n in ast.walk(function) if isinstance(n, ast.expr | ast.stmt)),
            key=lambda n: (n.lineno, n.col_offset),
        )
    )


def _method(call: ast.Call) -> tuple[str, str] | None:
    if isinstance(call.func, ast.Attribute) and isinstance(call.func.value, ast.Name):
        return call.func.value.id, call.func.attr
    return None


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    if isinstance(call.func, ast.Name):
        return call.func.id
    return None


def _string(node: ast.expr | None) -> str | None:
    if isinstance(node, ast.Call) and _callee(node) == "f" and node.args:  # op.f("name")
        node = node.args[0]
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _true(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is True


def _false(node: ast.expr | None) -> bool:
    return isinstance(node, ast.Constant) and node.value is False


def _length(node: ast.expr | None) -> int | None:
    """The length of ``sa.String(32)`` / ``sa.String(length=32)``, None for anything else."""
    if not (isinstance(node, ast.Call) and _callee(node) in {"String", "VARCHAR", "Unicode"}):
        return None
    values = [*node.args, *(k.value for k in node.keywords if k.arg == "length")]
    if len(values) == 1 and isinstance(values[0], ast.Constant) and isinstance(values[0].value, int):
        return values[0].value
    return None


def _widens(new: ast.expr, old: ast.expr | None) -> bool:
    before, after = _length(old), _length(new)
    return before is not None and after is not None and after >= before


def _assigns(node: ast.stmt, name: str) -> bool:
    if isinstance(node, ast.Assign):
        return any(isinstance(t, ast.Name) and t.id == name for t in node.targets)
    return isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.target.id == name
