"""The dependency rules of ARCHITECTURE.md, checked on the import statements of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("accounts", "radius", "portal", "federation", "sesame")

#: package -> top-level modules it must never import
FORBIDDEN = {
    "accounts": {"sesame", "radius", "portal", "federation", "fastapi", "pyrad"},
    "portal": {"sesame", "radius", "federation"},
    "radius": {"sesame", "portal", "federation"},
    "federation": {"sesame", "portal"},
}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_dependencies_point_one_way(package: str) -> None:
    offenders = {
        str(path.relative_to(ROOT)): sorted(imports_of(path) & FORBIDDEN[package])
        for path in (ROOT / package).rglob("*.py")
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_pyrad_is_imported_in_the_codec_only() -> None:
    importers = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "pyrad" in imports_of(path)
    ]
    assert importers == ["radius/codec.py"]


CORE = ["codec", "core", "clients", "duplicates", "events", "methods", "mschap", "ratelimit", "verifycache"]


@pytest.mark.parametrize("module", CORE)
def test_the_radius_core_does_no_io(module: str) -> None:
    assert (
        imports_of(ROOT / "radius" / f"{module}.py") & {"asyncio", "sqlalchemy", "fastapi", "socket"} == set()
    )
