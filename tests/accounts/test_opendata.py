"""The open data files (accounts.opendata) from a seeded set of sessions, on SQLite and PostgreSQL:
the numbers shown are the seed's, small counts are hidden so that subtraction gives nothing away,
the CSV is read back with the csv module and checked against its Table Schema, the JSON against its
JSON Schema (jsonschema-rs)."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import date, datetime
from typing import Any

import jsonschema_rs
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import opendata
from accounts.history import Level, Period
from accounts.models import Region
from accounts.passwords import PasswordHasher
from tests.accounts.statsworld import DAYS, NOW, World, seed

PERIOD = Period(first=DAYS[0], last=DAYS[-1])
THRESHOLD = 5
TABLE_SCHEMA_TYPES = {"string", "integer", "number", "date", "boolean"}


def read_csv(body: bytes, schema: dict[str, Any]) -> list[dict[str, Any]]:
    """The CSV's rows typed as its Table Schema says, every constraint checked (missing values:
    the schema's ``missingValues``)."""
    text = body.decode("utf-8")  # UTF-8, or this raises
    assert not text.startswith("\ufeff")
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=",", strict=True)
    fields = {f["name"]: f for f in schema["fields"]}
    assert reader.fieldnames == list(fields)
    typed = []
    for row in reader:
        assert None not in row and None not in row.values(), f"a row of another width: {row}"
        out: dict[str, Any] = {}
        for name, raw in row.items():
            assert name is not None and raw is not None
            field = fields[name]
            constraints = field.get("constraints", {})
            if raw in schema["missingValues"]:
                assert not constraints.get("required"), (name, row)
                out[name] = None
                continue
            value: Any
            if field["type"] == "integer":
                assert re.fullmatch(r"-?[0-9]+", raw), (name, raw)
                value = int(raw)
            elif field["type"] == "number":
                value = float(raw)
            elif field["type"] == "date":
                assert re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw), raw
                value = date.fromisoformat(raw)
            elif field["type"] == "boolean":
                assert raw in ("true", "false"), raw
                value = raw == "true"
            else:
                value = raw
            if "pattern" in constraints:
                assert re.fullmatch(constraints["pattern"], raw), (name, raw)
            if "minimum" in constraints:
                assert value >= constraints["minimum"], (name, raw)
            out[name] = value
        typed.append(out)
    keys = [tuple(r[k] for k in schema["primaryKey"]) for r in typed]
    assert len(keys) == len(set(keys)), "the primary key repeats"
    return typed


def test_the_schemas_describe_every_column() -> None:
    for level in (Level.COMMUNE, Level.SITE):
        schema = opendata.table_schema(level)
        assert [f["name"] for f in schema["fields"]] == [f.name for f in opendata.FIELDS[level]]
        for field in schema["fields"]:
            assert re.fullmatch(r"[a-z][a-z0-9_]*", field["name"]), "snake_case, no accents"
            assert field["type"] in TABLE_SCHEMA_TYPES and field["description"] and field["title"]
        assert {"date", "code_insee"} <= {f["name"] for f in schema["fields"]}
        assert set(schema["primaryKey"]) <= {f["name"] for f in schema["fields"]}
        assert jsonschema_rs.meta.is_valid(opendata.json_schema(level))
    with pytest.raises(ValueError):
        opendata.table_schema(Level.REGION)


def test_only_days_that_are_over_are_published() -> None:
    assert opendata.last_published_day(NOW) == date(2026, 3, 1)  # 3 March noon: 1 March is over by a day
    assert opendata.publishable(PERIOD, NOW) == Period(first=DAYS[0], last=date(2026, 3, 1))
    assert opendata.publishable(Period(first=DAYS[1], last=DAYS[2]), NOW) is None
    assert opendata.publishable(PERIOD, datetime(2026, 3, 5, tzinfo=NOW.tzinfo)) == PERIOD


def _attack(world: World, communes: list[dict[str, Any]], sites: list[dict[str, Any]]) -> None:
    """What a reader of both files learns: a commune's connections less its shown sites' is what its
    hidden sites and its sessions of no known site share; no hidden row may be pinned or small."""
    unsited_days = {(s.start.date(), s.commune) for s in world.sessions if s.site is None}
    insee = {world.valence: "26362", world.die: "26113"}
    for commune in communes:
        day, code = commune["date"], commune["code_insee"]
        mine = [s for s in sites if s["date"] == day and s["code_insee"] == code]
        hidden = [s for s in mine if s["secret_statistique"]]
        if commune["secret_statistique"]:
            assert all(s["secret_statistique"] for s in mine)
            continue
        assert commune["nombre_usagers"] >= THRESHOLD
        commune_id = next(k for k, v in insee.items() if v == code)
        parts = len(hidden) + ((date.fromisoformat(day), commune_id) in unsited_days)
        if not hidden and parts == 0:
            assert commune["nombre_connexions"] == sum(s["nombre_connexions"] for s in mine)
            continue
        share = commune["nombre_connexions"] - sum(
            s["nombre_connexions"] for s in mine if not s["secret_statistique"]
        )
        if hidden:
            assert parts >= 2 and share - (parts - 1) >= THRESHOLD, (day, code, parts, share)


async def test_the_files_show_the_seeds_numbers_and_hide_small_ones(
    session: AsyncSession, region: Region, hasher: PasswordHasher
) -> None:
    world = await seed(session, region, hasher, sessions=600)
    communes = await opendata.rows(session, period=PERIOD, level=Level.COMMUNE, threshold=THRESHOLD)
    sites = await opendata.rows(session, period=PERIOD, level=Level.SITE, threshold=THRESHOLD)
    names = {world.valence: ("26362", "Valence"), world.die: ("26113", "Die")}
    site_names = {
        world.library: "Médiathèque",
        world.town_hall: "Mairie",
        world.square: "Place",
        world.station: "Gare",
    }
    expected_communes = world.usage("commune")
    expected_sites = {k: v for k, v in world.usage("site").items() if k[2] is not None}
    assert len(communes) == len(expected_communes) and len(sites) == len(expected_sites)
    shown = hidden = complementary = 0
    for level_rows, expected in ((communes, expected_communes), (sites, expected_sites)):
        for row in level_rows:
            commune = next(k for k, v in names.items() if v[0] == row["code_insee"])
            assert names[commune][1] == row["nom_commune"]
            key: tuple[object, ...] = (date.fromisoformat(row["date"]), commune)
            if "identifiant_site" in row:
                assert row["nom_site"] == site_names[row["identifiant_site"]]
                key = (*key, row["identifiant_site"])
            connections, people, octets_in, octets_out = expected[key]
            measures = [row[m] for m in opendata.MEASURES]
            if people < THRESHOLD:
                assert row["secret_statistique"] is True
            if row["secret_statistique"]:
                assert measures == [None] * 4
                hidden += 1
                complementary += people >= THRESHOLD  # hidden to protect another row
            else:
                assert measures == [connections, people, octets_in, octets_out]
                shown += 1
    assert shown and hidden and complementary, "the seed should give all three (the Gare hides the Place)"
    _attack(world, communes, sites)
    # one commune's rows are the same as in the whole file: the rule is per commune and day
    die = await opendata.rows(
        session, period=PERIOD, level=Level.SITE, threshold=THRESHOLD, commune_id=world.die
    )
    assert die == [r for r in sites if r["code_insee"] == "26113"]


@pytest.mark.parametrize("level", [Level.COMMUNE, Level.SITE])
async def test_csv_and_json_read_back_against_their_schemas(
    session: AsyncSession, region: Region, hasher: PasswordHasher, level: Level
) -> None:
    await seed(session, region, hasher, sessions=600)
    table = await opendata.rows(session, period=PERIOD, level=level, threshold=THRESHOLD)
    from_csv = read_csv(opendata.to_csv(level, table), opendata.table_schema(level))
    from_json = json.loads(opendata.to_json(table).decode("utf-8"))
    validator = jsonschema_rs.Draft202012Validator(opendata.json_schema(level), validate_formats=True)
    validator.validate(from_json)
    assert len(from_csv) == len(from_json) == len(table) > 0
    for csv_row, json_row in zip(from_csv, from_json, strict=True):
        assert {**csv_row, "date": csv_row["date"].isoformat()} == json_row
    # a hidden row is empty cells in the CSV, nulls in the JSON; a wrong row fails the JSON Schema
    if level is Level.SITE:  # the seed hides some sites' rows (not its communes', all large)
        assert any(r["secret_statistique"] and r["nombre_connexions"] is None for r in from_json)
    assert not validator.is_valid([{**from_json[0], "nombre_connexions": -1}])
    assert not validator.is_valid([{**from_json[0], "date": "2026-02-30"}])
    assert not validator.is_valid([{**from_json[0], "code_insee": "2636"}])
    assert opendata.filename(level, PERIOD, "csv").isascii()
