"""The dependency rules of ARCHITECTURE.md, checked on the import statements of every module and on
everything each module brings in transitively through our own packages (importing ``a.b`` runs
``a/__init__.py`` too; imports inside functions and under ``TYPE_CHECKING`` count as well)."""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("accounts", "radius", "portal", "federation", "sesame")

#: package -> top-level modules it must never import, directly or through another of our modules
FORBIDDEN = {
    "accounts": {"sesame", "radius", "portal", "federation", "fastapi", "pyrad"},
    "portal": {"sesame", "radius", "federation"},
    "radius": {"sesame", "portal", "federation"},
    "federation": {"sesame", "portal"},
}

#: what a sans-I/O module must never reach
IO = {"asyncio", "sqlalchemy", "fastapi", "starlette", "socket", "uvloop", "asyncpg", "aiosqlite"}

#: protocol cores and other sans-I/O modules: bytes, values and ``now`` in; bytes, events, deadlines out
SANS_IO = [
    *(f"radius.{name}" for name in ("codec", "core", "clients", "duplicates", "events", "methods", "mschap")),
    "radius.ratelimit",
    "radius.passpoint",
    "radius.verifycache",
    "radius.workerroute",
    # EAP (issue 15): the TLS side and the inner methods
    *(
        f"radius.eap.{name}"
        for name in (
            "packet",
            "tlsframe",
            "tlsengine",
            "keys",
            "eaptls",
            "steps",
            "needs",
            "inner",
            "conversation",
            "server",
            "mschapv2",
            "ttls",
            "peap",
            "tunnels",
        )
    ),
    "federation.routing",
    "federation.health",
    "federation.proxy",
    "federation.relay",
    "federation.stream",
    "federation.status",
    "federation.fticks",
    "portal.handoff",
    "portal.onboarding.spec",
    "portal.onboarding.apple",
    "portal.onboarding.untrusted",
    "portal.onboarding.android",
    "portal.onboarding.eapconfig",
    "portal.onboarding.windows",
    "portal.onboarding.linux",
    "portal.onboarding.detect",
    "portal.onboarding.formats",
    "portal.onboarding.builders",
]


def _path(module: str) -> Path | None:
    """The file of one of our modules or packages, None for anything else."""
    if module.split(".")[0] not in PACKAGES:
        return None
    base = ROOT.joinpath(*module.split("."))
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def _name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _with_parents(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


@functools.cache
def direct_imports(path: Path) -> frozenset[str]:
    """Every module a file imports, as dotted names, with the packages they sit in."""
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    package = _name(path) if path.name == "__init__.py" else _name(path).rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.update(_with_parents(alias.name))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            found.update(_with_parents(base))
            for alias in node.names:  # ``from radius import codec``: the module radius.codec
                if _path(f"{base}.{alias.name}") is not None:
                    found.add(f"{base}.{alias.name}")
    return frozenset(found)


def imports_of(path: Path) -> set[str]:
    """The top-level names a file imports directly."""
    return {module.split(".")[0] for module in direct_imports(path)}


@functools.cache
def reach(module: str) -> dict[str, tuple[str, ...]]:
    """Every module importing ``module`` brings in, ours and others, each with the chain of our
    modules that leads to it (for the failure message)."""
    chains: dict[str, tuple[str, ...]] = {module: (module,)}
    queue = [module]
    while queue:
        current = queue.pop(0)
        path = _path(current)
        if path is None:
            continue
        for imported in sorted(direct_imports(path)):
            if imported not in chains:
                chains[imported] = (*chains[current], imported)
                queue.append(imported)
    return chains


def offenders(module: str, forbidden: set[str]) -> dict[str, str]:
    """Forbidden top-level names ``module`` reaches, each with the shortest chain that leads to it."""
    found: dict[str, str] = {}
    for reached, chain in sorted(reach(module).items(), key=lambda item: len(item[1])):
        top = reached.split(".")[0]
        if top in forbidden and top not in found:
            found[top] = " -> ".join(chain)
    return found


def _modules(package: str) -> list[str]:
    return sorted(_name(path) for path in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_dependencies_point_one_way(package: str) -> None:
    found = {module: offenders(module, FORBIDDEN[package]) for module in _modules(package)}
    assert {k: v for k, v in found.items() if v} == {}


def test_pyrad_is_imported_in_the_codec_only() -> None:
    importers = [
        str(path.relative_to(ROOT))
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        if "pyrad" in imports_of(path)
    ]
    assert importers == ["radius/codec.py"]


@pytest.mark.parametrize("module", SANS_IO)
def test_sans_io_modules_reach_no_io(module: str) -> None:
    assert _path(module) is not None, f"{module} is gone: update SANS_IO"
    assert offenders(module, IO) == {}


def test_the_check_sees_through_our_modules() -> None:
    """Not vacuous: the pipeline imports no SQLAlchemy itself, but reaches it through accounts'
    services; and a ``from package import module`` counts as importing the module."""
    assert "sqlalchemy" not in imports_of(ROOT / "radius" / "pipeline.py")
    assert offenders("radius.pipeline", {"sqlalchemy"})
    assert "radius.codec" in reach("federation.status")
    assert "pyrad" in reach("federation.status")
