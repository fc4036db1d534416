"""The admin API's documentation gives the fields of every request body (issue 16): every field
has a description in the OpenAPI schema (what Swagger UI at ``/api/docs`` shows), and
docs/admin-api.md carries the tables generated from it."""

from __future__ import annotations

import re
from pathlib import Path

from portal.api import bodies

DOC = Path(__file__).resolve().parents[2] / "docs" / "admin-api.md"


def test_every_request_body_field_is_described() -> None:
    assert bodies.undescribed() == []


def test_every_changing_operation_with_a_body_documents_it() -> None:
    spec = bodies.openapi()
    described = set(re.findall(r"^`(POST|PUT|PATCH) (\S+)`", bodies.bodies_markdown(spec), re.M))
    assert ("POST", "/api/v1/access-points") in described
    assert ("PATCH", "/api/v1/partners/{partner_id}/servers/{server_id}") in described
    assert ("POST", "/api/v1/auth/token") in described  # a form: described by hand (openapi_extra)
    for path, operations in spec["paths"].items():
        for method in ("post", "put", "patch"):
            operation = operations.get(method)
            if operation is not None and "requestBody" in operation:
                assert (method.upper(), path) in described


def test_the_documentation_carries_the_request_bodies() -> None:
    text = DOC.read_text(encoding="utf-8")
    found = re.search(r"<!-- request bodies: .*? -->\n(.*?)<!-- end of request bodies -->", text, re.S)
    assert found, "docs/admin-api.md lost its request bodies markers"
    assert found.group(1) == bodies.bodies_markdown(), "regenerate it: python -m portal.api.bodies"
