"""Property-based fuzzing of the admin API from its own OpenAPI schema (schemathesis) against a real
``sesame serve``, on SQLite and on PostgreSQL: whatever a client sends, with a region admin's token
or without one, no answer is a 5xx — including the values schemathesis itself never generates
(issue 14, point 8): lone surrogates as escapes and as raw bytes, NUL, ``NaN``/``Infinity``/``1e400``,
``null``, naive date-times, put in any body field or query parameter of a generated request."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import APIOperation
from schemathesis.core.result import Ok
from schemathesis.schemas import BaseSchema

from tests.conftest import postgres_database
from tests.interop.conftest import Server, add_valence, launch, need_tool
from tests.support.ports import free_tcp_port

pytestmark = pytest.mark.slow
PASSWORD = "a long test passphrase 2026"


SENTINEL = "__bad_value__"
#: what schemathesis never sends, as JSON tokens (raw bytes) and in a query string
BAD_JSON = (
    b'"\\ud800"', b'"a\\u0000b"', b'"\xed\xa0\x80"', b"NaN", b"-Infinity", b"1e400", b"null",
    b'"2026-11-22T12:00:00"', b'"a\x00b"',
)  # fmt: skip
#: generated requests per operation (twice as many calls with the unauthenticated twins). Five
#: were enough to catch a token revoked midway on both backends (/work notes of issue 21); a
#: thorough run sets SESAME_FUZZ_EXAMPLES=50
FUZZ_EXAMPLES = int(os.environ.get("SESAME_FUZZ_EXAMPLES", "6"))
BAD_QUERY = ("%00", "%ED%A0%80", "%FF", "a%1Bb", "NaN", "1e400", "2026-11-22T12:00:00", "")


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('fuzzdb') / 'fuzz.db'}"
        return
    with postgres_database("sesame_fuzz", template=request.getfixturevalue("postgres_template")) as url:
        yield url


@pytest.fixture
def api_server(tmp_path_factory: pytest.TempPathFactory, database: str) -> Iterator[tuple[Server, str, str]]:
    need_tool("radclient")
    workdir = tmp_path_factory.mktemp("fuzz")
    port = free_tcp_port()
    base = f"http://127.0.0.1:{port}"
    srv = launch(
        workdir,
        database,
        SESAME_WEB_ENABLED="true",
        SESAME_WEB_PORT=str(port),
        SESAME_PORTAL_PUBLIC_URL=base,
        SESAME_MAIL_OUTBOX=str(workdir / "outbox"),
    )
    try:
        add_valence(srv, ap="ap-1")
        srv.cli("admin", "create", "fuzz@test.example", "--role", "region_admin", "--password", PASSWORD)
        token = httpx.post(
            f"{base}/api/v1/auth/token",
            data={"grant_type": "password", "username": "fuzz@test.example", "password": PASSWORD},
        ).json()["access_token"]
        yield srv, base, token
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=30)


class Tokens:
    """A fresh region-admin token for each request of the fuzzing: a generated request may revoke
    the tokens it is sent with (a successful ``PATCH /admins/{id}``, a client disabled), and from
    then on an "authenticated" request would only test the 401 path. The tokens come from a
    service client (client credentials, no password the fuzzing could change); when the fuzzing
    disabled it, a new one is created with the CLI."""

    def __init__(self, srv: Server, base: str) -> None:
        self.srv, self.base, self.clients = srv, base, 0
        self.credentials = self._new_client()

    def _new_client(self) -> tuple[str, str]:
        self.clients += 1
        out = self.srv.cli("admin", "client", f"fuzzer {self.clients}", "--role", "region_admin")
        client_id, secret = out.strip().splitlines()[-2:]
        return client_id.removeprefix("client_id: "), secret

    def fresh(self) -> str:
        for _ in range(2):
            client_id, secret = self.credentials
            response = httpx.post(
                f"{self.base}/api/v1/auth/token",
                data={"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret},
            )
            if response.status_code == 200:
                return str(response.json()["access_token"])
            self.credentials = self._new_client()
        raise AssertionError(f"no token for a new service client: {response.status_code} {response.text}")


@dataclass
class Answers:
    """How the requests sent with a token were answered: a 401 means the fuzzing tested nothing."""

    authenticated: int = 0
    unauthorized: int = 0

    def count(self, status: int) -> None:
        self.authenticated += 1
        self.unauthorized += status == 401

    def check(self) -> None:
        assert self.authenticated > 0
        assert self.unauthorized == 0, (
            f"{self.unauthorized} of {self.authenticated} requests with a token were answered 401"
        )


@pytest.mark.parametrize("database", ["sqlite"], indirect=True)  # tests the RADIUS reload, not the backend
def test_a_secret_rotated_through_the_api_reaches_the_radius_server(
    api_server: tuple[Server, str, str],
) -> None:
    """Rotate ap-1's shared secret through the API; within seconds the real radclient is answered
    with the new secret only. (A server of its own: the fuzzing changes and deletes things.)"""
    srv, base, token = api_server
    request = 'User-Name = "alice"\nUser-Password = "correct horse battery"\nMessage-Authenticator = 0x00\n'
    assert "Access-Accept" in srv.radclient(request)
    headers = {"Authorization": f"Bearer {token}"}
    aps = httpx.get(f"{base}/api/v1/access-points", headers=headers).json()["items"]
    ap = next(a for a in aps if a["name"] == "ap-1")
    new_secret = "rotated-through-the-api-1"
    response = httpx.patch(
        f"{base}/api/v1/access-points/{ap['id']}", json={"secret": new_secret}, headers=headers
    )
    assert response.status_code == 200 and new_secret not in response.text
    deadline = time.monotonic() + 15
    while "Access-Accept" not in srv.radclient(request, secret=new_secret, timeout=1.0):
        assert time.monotonic() < deadline, "the new secret never reached the RADIUS server"
    assert "Access-Accept" not in srv.radclient(request, timeout=1.0)  # the old one is refused


Operation = APIOperation[Any, Any, Any, Any]


def operations_of(schema: BaseSchema) -> list[Operation]:
    """Every operation of the schema; one that schemathesis cannot read fails the test."""
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result.err()
        operations.append(result.ok())
    return operations


def test_no_request_makes_the_api_fail(api_server: tuple[Server, str, str]) -> None:
    """Every operation of the schema, FUZZ_EXAMPLES generated requests each, with and without a
    token (a fresh region admin's token each time, and none of those requests refused as unauthenticated).

    (schemathesis' own pytest plugin does not run under this pytest, so the operations are driven
    through their hypothesis strategies here.)"""
    srv, base, _token = api_server
    schema = schemathesis.openapi.from_url(f"{base}/api/openapi.json")
    failures: list[str] = []
    operations = operations_of(schema)
    assert len(operations) >= 20
    tokens, answers = Tokens(srv, base), Answers()

    for operation in operations:
        if operation.path == "/api/v1/auth/revoke":
            continue  # would end the token the other requests use

        @given(case=operation.as_strategy())
        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def run(case: schemathesis.Case[Operation]) -> None:
            for headers in ({"Authorization": f"Bearer {tokens.fresh()}"}, {}):
                response = case.call(headers=headers, timeout=30)
                if headers:
                    answers.count(response.status_code)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}"
                    )

        run()
    assert failures == []
    answers.check()
    assert srv.proc.poll() is None


def test_values_schemathesis_never_sends_make_no_500(api_server: tuple[Server, str, str]) -> None:
    """Every operation, FUZZ_EXAMPLES generated requests each, one body field or query parameter replaced by
    one of the values JSON parsers and databases choke on (the generated request otherwise as
    schemathesis drew it); with a fresh region admin's token each time, every answer is below
    500, and the requests were authenticated (answered otherwise than 401)."""
    srv, base, _token = api_server
    schema = schemathesis.openapi.from_url(f"{base}/api/openapi.json")
    failures: list[str] = []
    operations = operations_of(schema)
    tokens, answers = Tokens(srv, base), Answers()

    for operation in operations:
        if operation.path.startswith("/api/v1/auth/"):
            continue  # form-encoded; tests/portal/test_admin_api_inputs.py sends them bad forms

        @given(case=operation.as_strategy(), data=st.data())
        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        )
        def run(case: schemathesis.Case[Operation], data: st.DataObject) -> None:
            query = {k: quote(str(v), safe="") for k, v in dict(case.query or {}).items()}
            body = case.body if isinstance(case.body, dict) else None
            places = [("body", k) for k in sorted(body or {})] + [("query", k) for k in sorted(query)]
            if not places:
                return
            where, key = data.draw(st.sampled_from(places))
            raw = json.dumps(body).encode() if body is not None else None
            if where == "body":
                assert body is not None
                token_ = data.draw(st.sampled_from(BAD_JSON))
                raw = (
                    json.dumps(body | {key: SENTINEL}).encode().replace(json.dumps(SENTINEL).encode(), token_)
                )
            else:
                query[key] = data.draw(st.sampled_from(BAD_QUERY))
            url = (
                base
                + case.formatted_path
                + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")
            )
            extra = {"Content-Type": "application/json"} if raw is not None else {}
            headers = {"Authorization": f"Bearer {tokens.fresh()}"} | extra
            response = httpx.request(case.method, url, content=raw, headers=headers, timeout=30)
            answers.count(response.status_code)
            if response.status_code >= 500:
                failures.append(f"{case.method} {url} {raw!r}: {response.status_code} {response.text[:200]}")

        run()
    assert failures == []
    answers.check()
    assert srv.proc.poll() is None
