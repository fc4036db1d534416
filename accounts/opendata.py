"""The open data: daily statistics per commune and per site, as French open-data portals take them
(data.gouv.fr, schema.data.gouv.fr): CSV in UTF-8, comma-separated, a header of lower-case
``snake_case`` names without accents, dates ``AAAA-MM-JJ`` (ISO 8601), the commune by its INSEE
code ``code_insee``, and a `Table Schema <https://specs.frictionlessdata.io/table-schema/>`_ that
documents every column (:func:`table_schema`); the same rows as JSON, with a JSON Schema
(:func:`json_schema`) built from the same field list, so the three cannot drift apart.

Small counts are left empty by :mod:`accounts.disclosure` (``secret_statistique`` says so), and
only whole days are published: a day is published once it is over by :data:`SETTLE` (its sessions
have ended, its numbers stop moving — numbers that move during a day would let two downloads a few
minutes apart isolate one person's connection).
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.disclosure import MIN_THRESHOLD, Cell, suppress
from accounts.history import DayUsage, Level, Period, daily_usage
from accounts.models import Commune, Site


@dataclass(frozen=True, slots=True, kw_only=True)
class OpenDataPolicy:
    """What the region decided (settings ``[opendata]``): whether anyone may download the files
    without signing in, the smallest count shown, and how long a public answer is reused."""

    public: bool = False
    threshold: int = 10
    cache_seconds: int = 3600

    def __post_init__(self) -> None:
        if self.threshold < MIN_THRESHOLD:
            raise ValueError(f"the open data's threshold must be at least {MIN_THRESHOLD}")


#: how long after a day's end it is published
SETTLE = timedelta(days=1)
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"
MEASURES = ("nombre_connexions", "nombre_usagers", "volume_montant_octets", "volume_descendant_octets")


@dataclass(frozen=True, slots=True, kw_only=True)
class Field:
    name: str
    type: str  # Table Schema's: string, integer, number, date, boolean
    title: str
    description: str
    example: str
    required: bool = True
    pattern: str | None = None
    minimum: int | None = None


_DAY = Field(
    name="date",
    type="date",
    title="Date",
    example="2026-11-22",
    description="Jour civil UTC des connexions (début de la session), AAAA-MM-JJ",
)
_PLACE = (
    Field(
        name="code_insee",
        type="string",
        title="Code INSEE de la commune",
        example="26362",
        description="Code officiel géographique de la commune (5 caractères)",
        pattern=r"^[0-9][0-9AB][0-9]{3}$",
    ),
    Field(
        name="nom_commune",
        type="string",
        title="Nom de la commune",
        example="Valence",
        description="Nom de la commune tel que l'enregistre la région",
    ),
)
_SITE = (
    Field(
        name="identifiant_site",
        type="integer",
        title="Identifiant du site",
        example="12",
        minimum=1,
        description="Identifiant stable du site (lieu équipé) dans Sésame",
    ),
    Field(
        name="nom_site",
        type="string",
        title="Nom du site",
        example="Médiathèque",
        description="Nom du lieu équipé du Wi-Fi public",
    ),
    Field(
        name="latitude",
        type="number",
        title="Latitude",
        example="44.9334",
        required=False,
        description="Latitude du site en degrés décimaux (WGS 84), vide si inconnue",
    ),
    Field(
        name="longitude",
        type="number",
        title="Longitude",
        example="4.8924",
        required=False,
        description="Longitude du site en degrés décimaux (WGS 84), vide si inconnue",
    ),
)
_HIDDEN = "vide si masqué (secret statistique)"
_MEASURES = (
    Field(
        name="nombre_connexions",
        type="integer",
        title="Nombre de connexions",
        example="154",
        required=False,
        minimum=0,
        description=f"Sessions commencées ce jour-là ; {_HIDDEN}",
    ),
    Field(
        name="nombre_usagers",
        type="integer",
        title="Nombre d'usagers distincts",
        example="87",
        required=False,
        minimum=0,
        description=f"Personnes distinctes connectées ce jour-là ; {_HIDDEN}",
    ),
    Field(
        name="volume_montant_octets",
        type="integer",
        title="Volume montant (octets)",
        example="123456789",
        required=False,
        minimum=0,
        description=f"Octets envoyés par les appareils pendant les sessions du jour ; {_HIDDEN}",
    ),
    Field(
        name="volume_descendant_octets",
        type="integer",
        title="Volume descendant (octets)",
        example="987654321",
        required=False,
        minimum=0,
        description=f"Octets reçus par les appareils pendant les sessions du jour ; {_HIDDEN}",
    ),
    Field(
        name="secret_statistique",
        type="boolean",
        title="Secret statistique",
        example="false",
        description="true si les mesures de la ligne sont masquées (aucune personne ne doit être isolée)",
    ),
)

FIELDS: dict[Level, tuple[Field, ...]] = {
    Level.COMMUNE: (_DAY, *_PLACE, *_MEASURES),
    Level.SITE: (_DAY, *_PLACE, *_SITE, *_MEASURES),
}
_KEYS: dict[Level, list[str]] = {
    Level.COMMUNE: ["date", "code_insee"],
    Level.SITE: ["date", "identifiant_site"],
}
_TITLES = {
    Level.COMMUNE: "Wi-Fi public : fréquentation quotidienne par commune",
    Level.SITE: "Wi-Fi public : fréquentation quotidienne par site",
}


def _levels(level: Level) -> tuple[Field, ...]:
    if level not in FIELDS:
        raise ValueError(f"no open data at the {level} level")
    return FIELDS[level]


def table_schema(level: Level) -> dict[str, Any]:
    """The Table Schema (frictionless, as schema.data.gouv.fr publishes them) of the CSV file."""
    fields = []
    for field in _levels(level):
        constraints: dict[str, Any] = {"required": field.required}
        if field.pattern is not None:
            constraints["pattern"] = field.pattern
        if field.minimum is not None:
            constraints["minimum"] = field.minimum
        fields.append(
            {"name": field.name, "title": field.title, "description": field.description,
             "type": field.type, "example": field.example, "constraints": constraints}
        )  # fmt: skip
    return {
        "$schema": "https://frictionlessdata.io/schemas/table-schema.json",
        "name": f"sesame-frequentation-{level.value}",
        "title": _TITLES[level],
        "description": "Connexions, usagers distincts et volumes par jour ; petits effectifs masqués.",
        "fields": fields,
        "missingValues": [""],
        "primaryKey": _KEYS[level],
    }


_JSON_TYPES = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "date": "string",
}


def json_schema(level: Level) -> dict[str, Any]:
    """The JSON Schema (2020-12) of the JSON file: an array of rows, ``null`` where the CSV is empty."""
    properties: dict[str, Any] = {}
    for field in _levels(level):
        spec: dict[str, Any] = {"type": _JSON_TYPES[field.type], "description": field.description}
        if field.type == "date":
            spec["format"] = "date"
            spec["pattern"] = r"^\d{4}-\d{2}-\d{2}$"
        if field.pattern is not None:
            spec["pattern"] = field.pattern
        if field.minimum is not None:
            spec["minimum"] = field.minimum
        if not field.required:
            spec["type"] = [spec["type"], "null"]
        properties[field.name] = spec
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": _TITLES[level],
        "type": "array",
        "items": {
            "type": "object",
            "properties": properties,
            "required": [f.name for f in _levels(level)],
            "additionalProperties": False,
        },
    }


def last_published_day(now: datetime) -> date:
    """The most recent day over by :data:`SETTLE` at ``now`` (UTC)."""
    return (now - SETTLE).date() - timedelta(days=1)


def publishable(period: Period, now: datetime) -> Period | None:
    """``period`` cut to the days already published at ``now``; ``None`` if none of it is."""
    last = min(period.last, last_published_day(now))
    return Period(first=period.first, last=last) if last >= period.first else None


async def rows(
    session: AsyncSession, *, period: Period, level: Level, threshold: int, commune_id: int | None = None
) -> list[dict[str, Any]]:
    """The rows of the ``level`` file (commune or site) over ``period``, small counts hidden;
    ``commune_id`` keeps one commune's rows (the rule is applied per commune-day, so its rows are
    the same as in the whole file)."""
    _levels(level)
    communes = await daily_usage(session, period=period, level=Level.COMMUNE, commune_id=commune_id)
    sites = await daily_usage(session, period=period, level=Level.SITE, commune_id=commune_id)
    names = {c.id: c for c in await session.scalars(_communes(commune_id))}
    places = {s.id: s for s in await session.scalars(_sites(commune_id))}
    by_commune: dict[tuple[date, int], list[DayUsage]] = {}
    for usage in sites:
        if usage.place.commune_id is not None:
            by_commune.setdefault((usage.day, usage.place.commune_id), []).append(usage)
    out: list[dict[str, Any]] = []
    for usage in communes:
        commune = names.get(usage.place.commune_id) if usage.place.commune_id is not None else None
        if commune is None:
            continue  # sessions of no known commune are in no file
        parts = by_commune.get((usage.day, commune.id), [])
        known = {u.place.site_id: u for u in parts if u.place.site_id in places}
        unsited = [u for u in parts if u.place.site_id not in places]
        hidden = suppress(
            _cell(usage),
            {key: _cell(u) for key, u in known.items()},
            unsited=Cell(
                people=sum(u.people for u in unsited), connections=sum(u.connections for u in unsited)
            )
            if unsited
            else None,
            threshold=threshold,
        )
        place = {"date": usage.day.isoformat(), "code_insee": commune.insee_code, "nom_commune": commune.name}
        if level is Level.COMMUNE:
            out.append(place | _measures(usage, hidden.commune))
            continue
        for key in known:
            site = places[key]
            out.append(
                place
                | {"identifiant_site": site.id, "nom_site": site.name, "latitude": site.latitude,
                   "longitude": site.longitude}
                | _measures(known[key], key in hidden.sites)
            )  # fmt: skip
    # the file's order: by day, then INSEE code, then site name (and id, should two share one)
    return sorted(
        out, key=lambda r: (r["date"], r["code_insee"], r.get("nom_site", ""), r.get("identifiant_site", 0))
    )


def _communes(commune_id: int | None) -> Any:
    query = select(Commune)
    return query.where(Commune.id == commune_id) if commune_id is not None else query


def _sites(commune_id: int | None) -> Any:
    query = select(Site)
    return query.where(Site.commune_id == commune_id) if commune_id is not None else query


def _cell(usage: DayUsage) -> Cell:
    return Cell(people=usage.people, connections=usage.connections)


def _measures(usage: DayUsage, hidden: bool) -> dict[str, Any]:
    if hidden:
        return dict.fromkeys(MEASURES) | {"secret_statistique": True}
    return {
        "nombre_connexions": usage.connections,
        "nombre_usagers": usage.people,
        "volume_montant_octets": usage.octets_in,
        "volume_descendant_octets": usage.octets_out,
        "secret_statistique": False,
    }


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def to_csv(level: Level, table: Iterable[dict[str, Any]]) -> bytes:
    """The CSV file: UTF-8 without a byte-order mark, comma-separated, CRLF line ends (RFC 4180),
    a header of the schema's names; empty cells for hidden or unknown values."""
    names = [field.name for field in _levels(level)]
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(names)
    for row in table:
        writer.writerow([_text(row[name]) for name in names])
    return buffer.getvalue().encode("utf-8")


def to_json(table: list[dict[str, Any]]) -> bytes:
    return json.dumps(table, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def filename(level: Level, period: Period, extension: str) -> str:
    """``frequentation-wifi-communes-2026-11-01-2026-11-30.csv``: ASCII, no spaces (the header's
    ``filename`` needs no quoting rules)."""
    plural = {Level.COMMUNE: "communes", Level.SITE: "sites"}[level]
    return f"frequentation-wifi-{plural}-{period.first.isoformat()}-{period.last.isoformat()}.{extension}"


__all__ = [
    "CSV_MEDIA_TYPE",
    "FIELDS",
    "SETTLE",
    "OpenDataPolicy",
    "filename",
    "json_schema",
    "last_published_day",
    "publishable",
    "rows",
    "table_schema",
    "to_csv",
    "to_json",
]
