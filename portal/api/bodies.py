"""The admin API's request bodies in Markdown, from its own OpenAPI schema: the copy
``docs/admin-api.md`` carries (``python -m portal.api.bodies`` prints it;
``tests/portal/test_admin_api_docs.py`` fails when the copy differs, or when a field has no
description — what Swagger UI at ``/api/docs`` shows comes from the same schema)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import FastAPI

CHANGING = ("post", "put", "patch")


def openapi() -> dict[str, Any]:
    """The admin API's OpenAPI schema, as ``/api/openapi.json`` serves its ``/api/v1`` part."""
    from portal import api

    app = FastAPI(title="Sésame")
    app.include_router(api.router)
    return app.openapi()


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    found: Any = spec
    for part in ref.removeprefix("#/").split("/"):
        found = found[part]
    return dict(found)


def _type(spec: dict[str, Any], schema: dict[str, Any]) -> str:
    """``string``, ``integer``, ``array of HomeServerIn``, ``one of udp, radsec``, ``… or null``."""
    if "anyOf" in schema:
        kinds = [_type(spec, s) for s in schema["anyOf"] if s.get("type") != "null"]
        nullable = any(s.get("type") == "null" for s in schema["anyOf"])
        return " or ".join(kinds) + (" or null" if nullable else "")
    if "$ref" in schema:
        target = _resolve(spec, schema)
        if "enum" in target:
            return "one of " + ", ".join(str(v) for v in target["enum"])
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "enum" in schema:
        return "one of " + ", ".join(str(v) for v in schema["enum"])
    kind = schema.get("type", "any")
    if kind == "array":
        return "array of " + _type(spec, schema.get("items", {}))
    if kind == "object":
        return "object of strings" if schema.get("additionalProperties") else "object"
    if schema.get("format") == "password":
        return "string (secret, write-only)"
    return str(kind)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def bodies_markdown(spec: dict[str, Any] | None = None) -> str:
    """One table per changing operation that takes a body: its fields, type, whether required,
    default and meaning."""
    spec = spec or openapi()
    out: list[str] = []
    for path, operations in spec["paths"].items():
        for method in CHANGING:
            body = operations.get(method, {}).get("requestBody")
            if body is None:
                continue
            [(media, content)] = body["content"].items()
            schema = _resolve(spec, content["schema"])
            required = set(schema.get("required", []))
            out.append(f"`{method.upper()} {path}` ({media})\n")
            out.append("| field | type | required | default | meaning |")
            out.append("|---|---|---|---|---|")
            for name, field in schema.get("properties", {}).items():
                default = f"`{json.dumps(field['default'])}`" if "default" in field else ""
                out.append(
                    f"| `{name}` | {_cell(_type(spec, field))} | {'yes' if name in required else ''} "
                    f"| {_cell(default)} | {_cell(field.get('description', ''))} |"
                )
            out.append("")
    return "\n".join(out)


def undescribed(spec: dict[str, Any] | None = None) -> list[str]:
    """``METHOD path field`` for every request-body field without a description."""
    spec = spec or openapi()
    missing = []
    for path, operations in spec["paths"].items():
        for method in CHANGING:
            body = operations.get(method, {}).get("requestBody")
            for content in (body or {}).get("content", {}).values():
                for name, field in _resolve(spec, content["schema"]).get("properties", {}).items():
                    if not field.get("description"):
                        missing.append(f"{method.upper()} {path} {name}")
    return missing


if __name__ == "__main__":  # pragma: no cover - prints the documentation's copy
    print(bodies_markdown(), end="")
