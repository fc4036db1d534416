"""The small-count rule of the open data (accounts.disclosure): worked cases, then any commune-day
hypothesis draws, attacked as a reader of the published files would: subtract the shown rows from
the commune's and bound what is hidden."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from accounts.disclosure import Cell, Hidden, suppress

K = 10


def cell(people: int, connections: int | None = None) -> Cell:
    return Cell(people=people, connections=people if connections is None else connections)


def test_a_commune_under_the_threshold_hides_everything() -> None:
    assert suppress(cell(9, 40), {"a": cell(5), "b": cell(4)}, threshold=K) == Hidden(
        commune=True, sites=frozenset({"a", "b"})
    )


def test_nothing_small_hides_nothing() -> None:
    assert suppress(cell(30), {"a": cell(10), "b": cell(20)}, threshold=K) == Hidden(
        commune=False, sites=frozenset()
    )


def test_one_small_site_takes_the_smallest_other_with_it() -> None:
    """A lone hidden row would be exactly the commune minus the shown ones (61 − 50 = 11): the
    next smallest row is hidden with it."""
    hidden = suppress(cell(60, 61), {"big": cell(30), "middle": cell(20), "small": cell(1, 11)}, threshold=K)
    assert hidden == Hidden(commune=False, sites=frozenset({"small", "middle"}))


def test_two_small_sites_that_add_up_to_a_small_group_take_a_third() -> None:
    hidden = suppress(cell(45), {"a": cell(2), "b": cell(3), "c": cell(40)}, threshold=K)
    assert hidden == Hidden(commune=False, sites=frozenset({"a", "b", "c"}))  # a + b = 5 < 10


def test_hidden_rows_that_would_be_pinned_take_another() -> None:
    """Ten sites of one person and one connection each: ten people, two parts or more, but ten
    connections over ten rows pins each row to exactly one."""
    sites = {f"s{n}": cell(1) for n in range(10)} | {"big": cell(50)}
    hidden = suppress(cell(60), sites, threshold=K)
    assert hidden == Hidden(commune=False, sites=frozenset(sites))


def test_the_unsited_remainder_counts_as_a_hidden_part() -> None:
    # a small unsited remainder alone would be commune − sites: a site goes too
    assert suppress(cell(31), {"a": cell(30), "b": cell(12)}, unsited=cell(1), threshold=K) == Hidden(
        commune=False, sites=frozenset({"b"})
    )
    # a large one is harmless by itself …
    assert suppress(cell(60), {"a": cell(30)}, unsited=cell(30), threshold=K) == Hidden(
        commune=False, sites=frozenset()
    )
    # … and protects a small site beside it
    assert suppress(cell(35), {"a": cell(30), "b": cell(2)}, unsited=cell(12), threshold=K) == Hidden(
        commune=False, sites=frozenset({"b"})
    )


def test_with_nothing_left_to_hide_the_commune_goes() -> None:
    assert suppress(cell(12), {"a": cell(3)}, unsited=cell(1), threshold=K) == Hidden(
        commune=True, sites=frozenset({"a"})
    )


def test_a_threshold_that_protects_nobody_is_refused() -> None:
    with pytest.raises(ValueError, match="protects nobody"):
        suppress(cell(1), {}, threshold=2)


@st.composite
def commune_days(draw: st.DrawFn) -> tuple[Cell, dict[int, Cell], Cell | None]:
    def part() -> Cell:
        people = draw(st.integers(1, 40))
        return Cell(people=people, connections=people + draw(st.integers(0, 30)))

    sites = {n: part() for n in range(draw(st.integers(0, 6)))}
    unsited = part() if draw(st.booleans()) else None
    parts = list(sites.values()) + ([unsited] if unsited else [])
    if not parts:
        sites = {0: part()}
        parts = list(sites.values())
    # the commune's distinct people: at least its largest part, at most the sum (people overlap)
    people = draw(st.integers(max(p.people for p in parts), sum(p.people for p in parts)))
    return Cell(people=people, connections=sum(p.connections for p in parts)), sites, unsited


@settings(max_examples=400, deadline=None)
@given(commune_days(), st.integers(3, 15))
def test_no_published_file_lets_a_small_row_be_recomputed(
    day: tuple[Cell, dict[int, Cell], Cell | None], threshold: int
) -> None:
    commune, sites, unsited = day
    hidden = suppress(commune, sites, unsited=unsited, threshold=threshold)
    shown = {key: c for key, c in sites.items() if key not in hidden.sites}
    # what is shown counts enough people
    assert all(c.people >= threshold for c in shown.values())
    if hidden.commune:
        assert hidden.sites == frozenset(sites)  # nothing to subtract from, nothing beside it shown
        return
    assert commune.people >= threshold
    # the attacker: the commune minus the shown rows is what the hidden rows and the unsited share
    total = commune.connections - sum(c.connections for c in shown.values())
    parts = len(hidden.sites) + (1 if unsited else 0)
    small = [sites[k] for k in hidden.sites if sites[k].people < threshold] + (
        [unsited] if unsited and unsited.people < threshold else []
    )
    if not small:
        return  # what can be recomputed is a total of `threshold` people or more
    assert parts >= 2, "a lone hidden row would be the difference itself"
    # each hidden part: at least 1 connection; at most the total less one for every other part
    assert total - (parts - 1) >= threshold, "a hidden row would be known to be small, or pinned"
    assert total - (parts - 1) > 1


@settings(max_examples=200, deadline=None)
@given(commune_days())
def test_rows_that_need_no_hiding_are_shown(day: tuple[Cell, dict[int, Cell], Cell | None]) -> None:
    commune, sites, unsited = day
    if (
        commune.people >= K
        and all(c.people >= K for c in sites.values())
        and (unsited is None or unsited.people >= K)
    ):
        assert suppress(commune, sites, unsited=unsited, threshold=K) == Hidden(
            commune=False, sites=frozenset()
        )
