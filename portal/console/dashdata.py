"""What the dashboards show, shaped from the ``accounts`` services' rows: the tables a screen
reader reads and the series the charts draw are made here from the same rows, so the two can
never disagree. Plain functions over plain data: no request, no database.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from accounts.history import DayRefusals, DayUsage, Period
from accounts.live import Minute, OpenCount
from accounts.reach import CommuneSummary, SitePlace


@dataclass(frozen=True, slots=True, kw_only=True)
class Names:
    """Places by id, for the tables (a place out of reach is never among them)."""

    communes: dict[int, str]
    sites: dict[int, str]

    @classmethod
    def of(cls, communes: Iterable[CommuneSummary], sites: Iterable[SitePlace]) -> Names:
        return cls(communes={c.id: c.name for c in communes}, sites={s.id: s.name for s in sites})

    def commune(self, ident: int | None) -> str:
        return self.communes.get(ident or 0, "")

    def site(self, ident: int | None) -> str:
        return self.sites.get(ident or 0, "")


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenRow:
    commune: str
    site: str  # "" for sessions of no known site
    sessions: int


def open_rows(counts: Sequence[OpenCount], names: Names) -> list[OpenRow]:
    """Sessions open now per site, by commune and site name."""
    rows = [
        OpenRow(
            commune=names.commune(c.place.commune_id), site=names.site(c.place.site_id), sessions=c.sessions
        )
        for c in counts
    ]
    return sorted(rows, key=lambda r: (r.commune, r.site == "", r.site))


def open_by_site(counts: Sequence[OpenCount]) -> dict[int, int]:
    return {c.place.site_id: c.sessions for c in counts if c.place.site_id is not None}


def epoch(day: date) -> int:
    """A day as the chart's x value: seconds since 1970 at its UTC midnight (uPlot's time axis)."""
    return int(datetime.combine(day, time(), UTC).timestamp())


def minutes_series(minutes: Sequence[Minute]) -> dict[str, list[int]]:
    return {
        "t": [int(m.start.timestamp()) for m in minutes],
        "accepted": [m.accepted for m in minutes],
        "refused": [m.refused for m in minutes],
    }


def usage_series(period: Period, totals: Sequence[DayUsage]) -> dict[str, list[int]]:
    """One point per day of the period (a day without sessions is a zero, not a gap): connections,
    people and volumes of the whole selection — its own query, since people do not add up."""
    by_day = {row.day: row for row in totals}
    days = period.days()

    def column(field: str) -> list[int]:
        return [int(getattr(by_day[d], field)) if d in by_day else 0 for d in days]

    return {
        "t": [epoch(d) for d in days],
        "connections": column("connections"),
        "people": column("people"),
        "octets_in": column("octets_in"),
        "octets_out": column("octets_out"),
    }


def refusal_series(period: Period, rows: Sequence[DayRefusals]) -> dict[str, Any]:
    """Refusals per day of the period, one series per reason (reasons by name)."""
    counted: Counter[tuple[date, str]] = Counter()
    for row in rows:
        counted[(row.day, row.reason)] += row.count
    reasons = sorted({reason for _, reason in counted})
    days = period.days()
    return {
        "t": [epoch(d) for d in days],
        "reasons": reasons,
        "counts": [[counted[(d, r)] for d in days] for r in reasons],
    }


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageRow:
    day: date
    commune: str
    site: str
    connections: int
    people: int
    octets_in: int
    octets_out: int


def usage_rows(rows: Sequence[DayUsage], names: Names) -> list[UsageRow]:
    return [
        UsageRow(
            day=r.day,
            commune=names.commune(r.place.commune_id),
            site=names.site(r.place.site_id),
            connections=r.connections,
            people=r.people,
            octets_in=r.octets_in,
            octets_out=r.octets_out,
        )
        for r in rows
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class RefusalRow:
    day: date
    commune: str
    site: str
    reason: str
    count: int


def refusal_rows(rows: Sequence[DayRefusals], names: Names) -> list[RefusalRow]:
    return [
        RefusalRow(
            day=r.day,
            commune=names.commune(r.place.commune_id),
            site=names.site(r.place.site_id),
            reason=r.reason,
            count=r.count,
        )
        for r in rows
    ]


def markers(sites: Sequence[SitePlace], open_now: dict[int, int]) -> list[dict[str, Any]]:
    """The map's markers: one per site with coordinates, named, with its sessions open now."""
    return [
        {
            "name": f"{s.name} ({s.commune_name})",
            "lat": s.latitude,
            "lon": s.longitude,
            "open": open_now.get(s.id, 0),
        }
        for s in sites
        if s.latitude is not None and s.longitude is not None
    ]


def csv_cell(value: object) -> object:
    """A cell as a spreadsheet cannot run it: a text starting with ``=``, ``+``, ``-``, ``@``, a
    tab or a carriage return gets a leading quote (OWASP's CSV injection advice); numbers as is."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
