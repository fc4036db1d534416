"""Guessing never locks the owner out (issue 14, point 5), with real packets from radclient to a
running ``sesame serve`` on PostgreSQL: 1,500 guesses from one device at an access point, then the
owner's right password from another device there, and a token and MAC authentication from the
guessing device itself."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.conftest import PASSWORD, REALM, SECRET, Server, add_valence, launch, need_tool, received

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

GUESSER = "02-00-5E-20-00-01"
OWNER = "02-00-5E-20-00-02"


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[Server]:
    srv = launch(tmp_path, database_url.replace("+asyncpg", ""))
    try:
        add_valence(srv)
        yield srv
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=30)


def pap(user: str, password: str, device: str) -> str:
    return (
        f'User-Name = "{user}"\nUser-Password = "{password}"\n'
        f'Calling-Station-Id = "{device}"\nMessage-Authenticator = 0x00\n'
    )


def many(server: Server, requests: list[str]) -> str:
    """Send these requests, 32 in flight at a time (radclient reads packets separated by blank lines)."""
    done = subprocess.run(
        [
            need_tool("radclient"),
            "-p",
            "32",
            "-r",
            "3",
            "-t",
            "5",
            f"127.0.0.1:{server.auth_port}",
            "auth",
            SECRET,
        ],
        input="\n".join(requests),
        capture_output=True,
        text=True,
        timeout=300,
    )
    return done.stdout + done.stderr


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_a_guessing_device_does_not_lock_out_the_owner_nor_the_other_devices(server: Server) -> None:
    out = many(server, [pap(f"nobody{i}@{REALM}", "guess", GUESSER) for i in range(1500)])
    out += many(server, [pap(f"alice@{REALM}", f"guess {i}", GUESSER) for i in range(30)])
    assert out.count("Received Access-Reject") == 1530, out[-2000:]

    owner = server.radclient(pap(f"alice@{REALM}", PASSWORD, OWNER))  # another device at that NAS
    assert received(owner) == "Access-Accept", owner
    guesser = server.radclient(pap(f"alice@{REALM}", "yet another guess", GUESSER))
    assert 'Reply-Message = "Trop de tentatives échouées : réessayez dans quelques minutes"' in guesser
    known_good = server.radclient(pap(f"alice@{REALM}", PASSWORD, GUESSER))  # verified just now
    assert received(known_good) == "Access-Accept", known_good

    token = server.cli("token", "issue", "alice", "--nas", "local-ap").strip().splitlines()[-1]
    assert received(server.radclient(pap(f"alice@{REALM}", token, GUESSER))) == "Access-Accept"
    server.cli("device", "remember", "alice", "--mac", GUESSER.replace("-", ":").lower())
    assert received(server.radclient(pap(GUESSER, GUESSER, GUESSER))) == "Access-Accept"
