"""Which published cells must be left empty so that no person can be singled out (statistical
disclosure control, the French *secret statistique*): pure, no database.

The open data publish, for each day, one row per commune and one row per site. A row counts
connections, distinct people and volumes. Two rules, applied to each commune on each day on its
own — so the answer for a commune-day never depends on what else was asked (another period,
another commune), and two downloads cannot be compared to undo it:

1. **Primary suppression.** A row counting fewer than ``k`` people is hidden, all its measures.
   A commune row under ``k`` hides all its sites' rows too (each counts a subset of its people).
2. **Complementary suppression.** Connections and volumes add up: a commune's row is the sum of
   its sites' rows *plus* the sessions of no known site (never published as a row of their own).
   So the hidden site rows and that unsited remainder together — the *hidden group* — can be
   recomputed as the commune minus the shown sites. Knowing the group's total, and that each
   part counts at least one connection, an attacker bounds each part between 1 and the total
   minus one per other part. The group is safe when it has at least two parts, counts at least
   ``k`` people in all, and that upper bound reaches ``k`` — a hidden row could then be anywhere
   from 1 to ``k`` or more, so it cannot be told to be small, nor pinned (ten hidden sites of one
   connection each, ten connections in all, would each be pinned to exactly one). Otherwise more
   site rows are hidden, fewest people first (least information lost), until it holds; when no
   site row is left to hide, the commune row is hidden, and with it nothing is left to subtract
   from.

A group of no sensitive part (the unsited remainder alone counting ``k`` people or more) needs
nothing: what can be recomputed then is a total over ``k`` people or more.

People in different rows may be the same person (someone seen at two sites), so summed people
overstate a group: the rule asks for ``k`` *summed* people across at least two parts, the
conventional threshold-plus-complement rule, not a guarantee of ``k`` distinct people.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)

#: the smallest threshold that protects anything (1 hides nothing, 2 still shows pairs)
MIN_THRESHOLD = 3


@dataclass(frozen=True, slots=True, kw_only=True)
class Cell:
    """One row's numbers that the rule looks at."""

    people: int
    connections: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Hidden(Generic[K]):
    """What to leave empty for one commune on one day."""

    commune: bool
    sites: frozenset[K]


def _safe(group: list[Cell], threshold: int) -> bool:
    if not any(cell.people < threshold for cell in group):
        return True
    parts, connections = len(group), sum(cell.connections for cell in group)
    largest_possible = connections - (parts - 1)  # the others at one connection each
    return parts >= 2 and sum(cell.people for cell in group) >= threshold and largest_possible >= threshold


def suppress(
    commune: Cell, sites: Mapping[K, Cell], *, unsited: Cell | None = None, threshold: int
) -> Hidden[K]:
    """The rows to hide for one commune-day: ``sites`` by key, ``unsited`` the sessions of no
    known site (``None`` if there are none)."""
    if threshold < MIN_THRESHOLD:
        raise ValueError(f"a threshold below {MIN_THRESHOLD} protects nobody")
    if commune.people < threshold:
        return Hidden(commune=True, sites=frozenset(sites))
    hidden = {key for key, cell in sites.items() if cell.people < threshold}
    group = [sites[key] for key in hidden] + ([unsited] if unsited is not None else [])
    shown = sorted(
        (key for key in sites if key not in hidden),
        key=lambda key: (sites[key].people, sites[key].connections, repr(key)),
    )
    while not _safe(group, threshold):
        if not shown:
            return Hidden(commune=True, sites=frozenset(hidden))
        key = shown.pop(0)
        hidden.add(key)
        group.append(sites[key])
    return Hidden(commune=False, sites=frozenset(hidden))


__all__ = ["MIN_THRESHOLD", "Cell", "Hidden", "suppress"]
