"""The benchmarks' result tables: columns of (header, unit, width), the first left-aligned and the
others right-aligned, then free notes; and the numbers and ratios in their cells."""

from __future__ import annotations

Columns = tuple[tuple[str, str, int], ...]


def number(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def ratio(x: float | None, y: float | None) -> str:
    return f"{x / y:.2f}×" if x is not None and y else "-"


def row(columns: Columns, cells: list[str]) -> str:
    first, *rest = cells
    widths = [w for _, _, w in columns]
    return f"{first:<{widths[0]}}" + "".join(f"{c:>{w}}" for c, w in zip(rest, widths[1:], strict=False))


def heading(title: str, columns: Columns) -> list[str]:
    """A table's first lines: its title, underlined, then the headers (and "notes") and the units."""
    return [
        "",
        title,
        "=" * len(title),
        row(columns, [h for h, _, _ in columns]) + "  notes",
        row(columns, [u for _, u, _ in columns]),
    ]
