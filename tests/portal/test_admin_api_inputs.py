"""No input makes the admin API fail (issue 14, point 8), on SQLite and PostgreSQL.

Each class of bad value is tried in every place the app's own OpenAPI schema says a client may put
one — every string body field (arrays of strings too), every string query and path parameter,
every number, every field set to ``null``, every date-time parameter — on every endpoint, with a
region admin's token (so nothing is refused for want of a right). The answer must be a 4xx with a
reason where the value is wrong, and never a 5xx. A new endpoint or field is covered by itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from accounts import network
from accounts.models import Commune
from tests.portal.conftest import NOW, Browser, World, bearer, citizen_and_partner, token
from tests.portal.test_admin_api import add_session

SENTINEL = "__bad_value__"

#: a bad string, as a JSON token (raw bytes) and as it is written in a URL
BAD_TEXT = {
    "nul": (b'"a\\u0000b"', "a%00b"),
    "lone-surrogate-escape": (b'"\\ud800"', "%ED%A0%80"),
    "raw-invalid-utf8": (b'"\xed\xa0\x80"', "%FF%FE"),
    "raw-nul-byte": (b'"a\x00b"', "%00"),
}
BAD_NUMBERS = ("NaN", "Infinity", "-Infinity", "1e400", "-1e400")
NAIVE = "2026-11-22T12:00:00"


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    spec: dict[str, Any]


@dataclass(frozen=True)
class Field:
    name: str
    schema: dict[str, Any]
    required: bool


class Schema:
    def __init__(self, document: dict[str, Any]) -> None:
        self.document = document

    def resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            node: Any = self.document
            for part in schema["$ref"].removeprefix("#/").split("/"):
                node = node[part]
            schema = node
        return schema

    def types(self, schema: dict[str, Any]) -> set[str]:
        schema = self.resolve(schema)
        if "anyOf" in schema or "oneOf" in schema:
            return set().union(*(self.types(s) for s in schema.get("anyOf", schema.get("oneOf", []))))
        if "enum" in schema and "type" not in schema:
            return {"string"}
        return {schema.get("type", "object")}

    def operations(self) -> Iterator[Operation]:
        for path, operations in self.document["paths"].items():
            if path.startswith("/api/v1/") and not path.startswith("/api/v1/auth/"):
                for method, spec in operations.items():
                    yield Operation(method.upper(), path, spec)

    def body_fields(self, op: Operation) -> list[Field]:
        body = op.spec.get("requestBody", {}).get("content", {}).get("application/json", {}).get("schema")
        if body is None:
            return []
        body = self.resolve(body)
        required = set(body.get("required", ()))
        return [Field(n, s, n in required) for n, s in body.get("properties", {}).items()]

    def plausible(self, schema: dict[str, Any]) -> Any:
        """A value of the right type (not necessarily one the domain accepts)."""
        schema = self.resolve(schema)
        options = [self.resolve(s) for s in schema.get("anyOf", [schema])]
        chosen = next((s for s in options if s.get("type") != "null"), options[0])
        if "enum" in chosen:
            return chosen["enum"][0]
        kind = chosen.get("type", "object")
        if kind == "object" and "properties" in chosen:
            return {
                n: self.plausible(s)
                for n, s in chosen["properties"].items()
                if n in chosen.get("required", ())
            }
        return {"string": "x1", "integer": 1, "number": 1.5, "boolean": True, "array": [], "object": {}}.get(
            kind
        )

    def plausible_body(self, op: Operation) -> dict[str, Any]:
        return {f.name: self.plausible(f.schema) for f in self.body_fields(op) if f.required}


@pytest.fixture
async def api(browser: Browser, world: World) -> tuple[Schema, dict[str, str], dict[str, int | str]]:
    portal = browser.portal
    citizen, partner = await citizen_and_partner(portal)
    ids: dict[str, int | str] = {
        "commune_id": world.commune_a, "site_id": world.site_a, "ap_id": world.ap_a,
        "account_id": citizen.id, "admin_id": 2, "client_pk": 1, "partner_id": partner.id,
        "pattern": "liguria.example", "server_id": partner.servers[0].id,
    }  # fmt: skip
    ids["session_id"] = await add_session(browser, world, "sess-a", commune="a", account_id=None)
    headers = bearer(await token(browser, "region@test.example"))
    return Schema(browser.app.openapi()), headers, ids


def _path(op: Operation, ids: dict[str, int | str], **override: str) -> str:
    path = op.path
    for name, value in ids.items():
        path = path.replace("{" + name + "}", override.get(name, quote(str(value), safe="")))
    return path


async def _send(
    browser: Browser, headers: dict[str, str], op: Operation, path: str, body: bytes | None, params: str = ""
) -> httpx.Response:
    extra = {"Content-Type": "application/json"} if body is not None else {}
    return await browser.request(
        op.method, path + (f"?{params}" if params else ""), headers=headers | extra, content=body
    )


def _with(body: dict[str, Any], name: str, token_: bytes, *, in_list: bool = False) -> bytes:
    raw = json.dumps(body | {name: [SENTINEL] if in_list else SENTINEL}).encode()
    return raw.replace(json.dumps(SENTINEL).encode(), token_)


def _refused(response: httpx.Response, where: object) -> None:
    assert 400 <= response.status_code < 500, (where, response.status_code, response.text[:300])
    detail = response.json()["detail"]
    assert detail, where  # a reason


def _required_params(schema: Schema, op: Operation) -> dict[str, str]:
    values = {"since": str(NOW.date()), "until": str(NOW.date())}
    return {
        p["name"]: values.get(p["name"], "1")
        for p in op.spec.get("parameters", [])
        if p["in"] == "query" and p.get("required")
    }


@pytest.mark.parametrize("bad", list(BAD_TEXT), ids=list(BAD_TEXT))
async def test_bad_strings_in_every_field_and_parameter_are_4xx(
    browser: Browser, api: tuple[Schema, dict[str, str], dict[str, int | str]], bad: str
) -> None:
    schema, headers, ids = api
    as_json, in_url = BAD_TEXT[bad]
    tried = 0
    for op in schema.operations():
        base = schema.plausible_body(op)
        required = "&".join(f"{k}={v}" for k, v in _required_params(schema, op).items())
        for field in schema.body_fields(op):
            types = schema.types(field.schema)
            if "string" in types or "array" in types:
                body: bytes | None = _with(base, field.name, as_json, in_list="string" not in types)
                _refused(await _send(browser, headers, op, _path(op, ids), body, required), (op, field.name))
                tried += 1
        for param in op.spec.get("parameters", []):
            if "string" not in schema.types(param["schema"]):
                continue
            body = json.dumps(base).encode() if "requestBody" in op.spec else None
            if param["in"] == "path":
                path, params = _path(op, ids, **{param["name"]: in_url}), required
            else:
                path, params = _path(op, ids), "&".join(filter(None, (required, f"{param['name']}={in_url}")))
            _refused(await _send(browser, headers, op, path, body, params), (op, param["name"]))
            tried += 1
    assert tried >= 40


@pytest.mark.parametrize("number", BAD_NUMBERS)
async def test_non_finite_numbers_anywhere_are_4xx(
    browser: Browser, api: tuple[Schema, dict[str, str], dict[str, int | str]], number: str
) -> None:
    schema, headers, ids = api
    tried = 0
    for op in schema.operations():
        base = schema.plausible_body(op)
        required = "&".join(f"{k}={v}" for k, v in _required_params(schema, op).items())
        for field in schema.body_fields(op):  # every field, whatever its type
            body: bytes | None = _with(base, field.name, number.encode())
            _refused(await _send(browser, headers, op, _path(op, ids), body, required), (op, field.name))
            tried += 1
        for param in op.spec.get("parameters", []):
            if param["in"] == "query":
                params = "&".join(filter(None, (required, f"{param['name']}={number}")))
                body = json.dumps(base).encode() if "requestBody" in op.spec else None
                response = await _send(browser, headers, op, _path(op, ids), body, params)
                if schema.types(param["schema"]) & {"integer", "number", "boolean"}:
                    _refused(response, (op, param["name"]))
                else:
                    assert response.status_code < 500, (op, param["name"], response.text[:300])
                tried += 1
    assert tried >= 40


async def test_null_in_every_field_is_never_a_500_and_refused_where_required(
    browser: Browser, api: tuple[Schema, dict[str, str], dict[str, int | str]]
) -> None:
    schema, headers, ids = api
    tried = 0
    for op in schema.operations():
        base = schema.plausible_body(op)
        for field in schema.body_fields(op):
            body = json.dumps(base | {field.name: None}).encode()
            response = await _send(browser, headers, op, _path(op, ids), body)
            if field.required or "null" not in schema.types(field.schema):
                _refused(response, (op, field.name))
            else:
                assert response.status_code < 500, (op, field.name, response.text[:300])
            tried += 1
    assert tried >= 40


async def test_date_times_without_a_zone_or_beyond_utc_are_4xx(
    browser: Browser, api: tuple[Schema, dict[str, str], dict[str, int | str]]
) -> None:
    schema, headers, ids = api
    tried = 0
    for op in schema.operations():
        for param in op.spec.get("parameters", []):
            options = [
                schema.resolve(s) for s in schema.resolve(param["schema"]).get("anyOf", [param["schema"]])
            ]
            if any(s.get("format") == "date-time" for s in options):
                response = await _send(browser, headers, op, _path(op, ids), None, f"{param['name']}={NAIVE}")
                _refused(response, (op, param["name"]))
                aware = await _send(browser, headers, op, _path(op, ids), None, f"{param['name']}={NAIVE}Z")
                assert aware.status_code == 200, (op, param["name"], aware.text[:300])
                for edge in ("0001-01-01T00:00:00%2B01:00", "9999-12-31T23:59:59-01:00"):  # no UTC form
                    response = await _send(
                        browser, headers, op, _path(op, ids), None, f"{param['name']}={edge}"
                    )
                    _refused(response, (op, param["name"], edge))
                tried += 1
    assert tried >= 3  # /sessions since and until, /audit since


async def test_every_text_input_is_bounded(api: tuple[Schema, dict[str, str], dict[str, int | str]]) -> None:
    """Every string a client sends has a maximum length in the schema (the shared Text type is
    used with a bound everywhere)."""
    schema, _, _ = api
    unbounded = []

    def walk(where: str, node: dict[str, Any]) -> None:
        node = schema.resolve(node)
        for option in node.get("anyOf", []):
            walk(where, option)
        parsed = "enum" in node or node.get("format") in ("date", "date-time")
        if node.get("type") == "string" and not parsed and "maxLength" not in node:
            unbounded.append(where)
        for name, child in node.get("properties", {}).items():
            walk(f"{where}.{name}", child)
        if isinstance(node.get("items"), dict):
            walk(f"{where}[]", node["items"])

    for op in schema.operations():
        for param in op.spec.get("parameters", []):
            walk(f"{op.method} {op.path} {param['name']}", param["schema"])
        for field in schema.body_fields(op):
            walk(f"{op.method} {op.path} {field.name}", field.schema)
    assert unbounded == []


async def test_a_rename_that_conflicts_while_another_field_changes_is_409(
    browser: Browser, world: World
) -> None:
    async with browser.portal.transaction() as session:
        commune = await session.get_one(Commune, world.commune_a)
        other = await network.add_site(session, commune=commune, name="Gare routière")
    region = bearer(await token(browser, "region@test.example"))
    for name in ("Médiathèque", "MEDIATHEQUE", "Me\u200bdiathèque", "Mеdiathèque"):  # the last: Cyrillic е
        response = await browser.patch(
            f"/api/v1/sites/{other.id}", json={"name": name, "wifi4eu_network_id": "abc-123"}, headers=region
        )
        assert response.status_code == 409, (name, response.text)
        assert "Médiathèque" in response.json()["detail"]
    unchanged = (await browser.get(f"/api/v1/sites/{other.id}", headers=region)).json()
    assert unchanged["name"] == "Gare routière" and unchanged["wifi4eu_network_id"] is None


async def test_the_token_endpoint_refuses_nul_and_invalid_utf8(browser: Browser, world: World) -> None:
    for body in (b"grant_type=password&username=a%00b@test.example&password=x", b"username=%ED%A0%80"):
        response = await browser.post(
            "/api/v1/auth/token", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
        )
        _refused(response, body)


async def test_a_body_too_large_is_413(browser: Browser, world: World) -> None:
    region = bearer(await token(browser, "region@test.example"))
    huge = b'{"name": "' + b"x" * (1 << 20) + b'"}'
    response = await browser.post(
        "/api/v1/communes", content=huge, headers=region | {"Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_well_formed_requests_pass_the_guard(browser: Browser, world: World) -> None:
    """The guard refuses what is malformed only: an empty body with a JSON content type (some
    clients send one on GET), accents in paths and queries, line breaks nowhere needed."""
    region = bearer(await token(browser, "region@test.example"))
    json_type = {"Content-Type": "application/json; charset=utf-8"}
    assert (await browser.get("/api/v1/sites", headers=region | json_type)).status_code == 200
    found = await browser.get("/api/v1/accounts?q=%C3%A9l%C3%A9onore", headers=region)
    assert found.status_code == 200
    created = await browser.post(
        "/api/v1/sites",
        content=json.dumps({"commune_id": world.commune_a, "name": "Cafe\u0301 de la Gare"}),
        headers=region | json_type,
    )
    assert created.status_code == 201 and created.json()["name"] == "Café de la Gare"  # NFC
