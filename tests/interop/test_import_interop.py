"""The same FreeRADIUS users, in a real FreeRADIUS and then in Sésame after ``sesame import radius``.

FreeRADIUS 3.2 (Debian) reads ``radcheck`` from PostgreSQL with its stock schema and queries
(tests/support/sqlradius.py); radtest logs each user in over PAP (and MS-CHAP where FreeRADIUS
can: a clear password or an NT hash). Then ``sesame import radius --apply`` copies them into a
``sesame serve``, and radtest does the same there: every password FreeRADIUS accepted is accepted,
a wrong one refused, Auth-Type Reject and daloRADIUS's disabled group refused, MS-CHAP works for
the NT-Password account. The first PAP log-in replaces an imported hash with argon2id, after
which the password still works.
"""

from __future__ import annotations

import asyncio
import sqlite3
import subprocess
import time
from collections.abc import Iterator

import pytest

from tests.conftest import postgres_database
from tests.interop.conftest import REALM, Server, need_tool, received
from tests.support import radcheck
from tests.support.sqlradius import SQL_DRIVER, SqlFreeRadius

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

ACCEPTED = [name for name in radcheck.PASSWORDS if name not in ("dalo", "rejected")]


@pytest.fixture(scope="module")
def source() -> Iterator[str]:
    with postgres_database("radius_interop") as url:
        asyncio.run(radcheck.fill(url))
        yield url


@pytest.fixture(scope="module")
def freeradius(source: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SqlFreeRadius]:
    need_tool("freeradius")
    if not SQL_DRIVER.exists():
        pytest.fail(f"{SQL_DRIVER} is needed: apt-get install freeradius-postgresql", pytrace=False)
    server = SqlFreeRadius(tmp_path_factory.mktemp("fr-sql"), source)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _radtest(port: int, secret: str, user: str, password: str, method: str = "pap") -> str | None:
    done = subprocess.run(
        [need_tool("radtest"), "-t", method, user, password, f"127.0.0.1:{port}", "0", secret],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return received(done.stdout + done.stderr)


def _hash(server: Server, username: str) -> str:
    with sqlite3.connect(server.workdir / "interop.db") as db:
        row = db.execute("SELECT password_hash FROM account WHERE username = ?", (username,)).fetchone()
    return str(row[0])


def test_what_freeradius_accepted_sesame_accepts_after_the_import(
    freeradius: SqlFreeRadius, source: str, server: Server
) -> None:
    fr = (freeradius.port, freeradius.secret)
    for name in ACCEPTED:
        assert _radtest(*fr, name, radcheck.PASSWORDS[name]) == "Access-Accept", name
        assert _radtest(*fr, name, "wrong-password") == "Access-Reject", name
    assert _radtest(*fr, "rejected", radcheck.PASSWORDS["rejected"]) == "Access-Reject"
    assert _radtest(*fr, "ntuser", radcheck.PASSWORDS["ntuser"], "mschap") == "Access-Accept"

    out = server.cli("import", "radius", source.replace("+asyncpg", ""), "--apply")
    assert "created: 10" in out, out

    legacy_before = _hash(server, "sasha")
    assert legacy_before.startswith("{SSHA}")
    for name in ACCEPTED:
        assert received(server.radtest(f"{name}@{REALM}", radcheck.PASSWORDS[name])) == "Access-Accept", name
        assert received(server.radtest(f"{name}@{REALM}", "wrong-password")) == "Access-Reject", name
    for name in ("rejected", "dalo"):  # disabled: refused, with the right password
        assert received(server.radtest(f"{name}@{REALM}", radcheck.PASSWORDS[name])) == "Access-Reject"
    out = server.radtest(f"ntuser@{REALM}", radcheck.PASSWORDS["ntuser"], method="mschap")
    assert received(out) == "Access-Accept", out

    deadline = time.monotonic() + 20  # the re-hash runs in the background after the accept
    while time.monotonic() < deadline and not all(
        _hash(server, name).startswith("$argon2id$") for name in ("sasha", "crypto")
    ):
        time.sleep(0.2)
    assert _hash(server, "sasha").startswith("$argon2id$")
    assert _hash(server, "crypto").startswith("$argon2id$")
    assert received(server.radtest(f"sasha@{REALM}", radcheck.PASSWORDS["sasha"])) == "Access-Accept"
    assert received(server.radtest(f"sasha@{REALM}", "wrong-password")) == "Access-Reject"
