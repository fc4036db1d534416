"""Issue 14, with real packets on a running ``sesame serve``, on SQLite and PostgreSQL: a single-use
token handed to one access point is refused at another (PAP and CHAP, radclient), and is still
good, once, at its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import need_ipv6_loopback
from tests.interop.conftest import PASSWORD, REALM, SECRET, launch, need_tool, received, wait_until_served

pytestmark = pytest.mark.slow


def test_a_token_works_only_at_the_access_point_it_was_issued_for(database_url: str, tmp_path: Path) -> None:
    need_ipv6_loopback()
    need_tool("radclient")
    server = launch(tmp_path, database_url.replace("+aiosqlite", ""))
    try:
        server.cli("commune", "add", "Valence", "--insee", "26362")
        server.cli("commune", "add", "Nice", "--insee", "06088")
        server.cli("site", "add", "Médiathèque", "--commune", "Valence")
        server.cli("site", "add", "Gare", "--commune", "Nice")
        # two access points of two communes: 127.0.0.1 (Valence) and ::1 (Nice)
        server.cli(
            "nas", "add", "ap-valence", "--ip", "127.0.0.1", "--secret", SECRET, "--site", "Médiathèque"
        )
        server.cli("nas", "add", "ap-nice", "--ip", "::1", "--secret", SECRET + "-v6", "--site", "Gare")
        server.cli("user", "add", "alice", "--email", "alice@example.fr", "--password", PASSWORD)
        wait_until_served(server)

        def issue(nas: str) -> str:
            return server.cli("token", "issue", "alice", "--nas", nas).strip().splitlines()[-1]

        def pap(token: str) -> str:
            return f'User-Name = "alice@{REALM}"\nUser-Password = "{token}"\nMessage-Authenticator = 0x00\n'

        def chap(token: str) -> str:
            return f'User-Name = "alice@{REALM}"\nCHAP-Password = "{token}"\nMessage-Authenticator = 0x00\n'

        def at_nice(request: str) -> str:
            return server.radclient(request, host="[::1]", secret=SECRET + "-v6")

        for request in (pap, chap):
            token = issue("ap-nice")
            assert received(elsewhere := server.radclient(request(token))) == "Access-Reject", elsewhere
            assert received(home := at_nice(request(token))) == "Access-Accept", home
            assert received(at_nice(request(token))) == "Access-Reject"  # used
            token = issue("ap-valence")
            assert received(at_nice(request(token))) == "Access-Reject"
            assert received(server.radclient(request(token))) == "Access-Accept"
    finally:
        server.proc.terminate()
        server.proc.wait(timeout=30)
