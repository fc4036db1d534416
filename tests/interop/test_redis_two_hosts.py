"""Two ``sesame serve`` instances as two hosts (127.0.0.1 and 127.0.0.2), one PostgreSQL database,
one Redis (issue 16), the second with two worker processes: a device's wrong passwords through
one count on the other, as the access point fails over from server to server, and the owner still
gets in through either."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.conftest import PASSWORD, REALM, SECRET, Server, add_valence, launch, need_tool, received
from tests.support.redisserver import drop_keys, need_shared_redis, unique_prefix
from tests.support.status_server import answers_status_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

GUESSER = "02-00-5E-20-00-01"
OWNER = "02-00-5E-20-00-02"
TOO_MANY = 'Reply-Message = "Trop de tentatives échouées : réessayez dans quelques minutes"'


def pap(user: str, password: str, device: str) -> str:
    return (
        f'User-Name = "{user}"\nUser-Password = "{password}"\n'
        f'Calling-Station-Id = "{device}"\nMessage-Authenticator = 0x00\n'
    )


def stop(server: Server) -> None:
    server.proc.terminate()
    server.proc.wait(timeout=30)


@pytest.fixture
def servers(database_url: str, tmp_path: Path) -> Iterator[tuple[Server, Server]]:
    need_tool("radclient")
    redis_url, prefix = need_shared_redis(), unique_prefix()
    shared = {"SESAME_REDIS_URL": redis_url, "SESAME_REDIS_PREFIX": prefix}
    url = database_url.replace("+asyncpg", "")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = launch(tmp_path / "a", url, SESAME_RADIUS_BIND="127.0.0.1", **shared)
    try:
        # the second with two worker processes: each its own connection to Redis
        second = launch(
            tmp_path / "b", url, SESAME_RADIUS_BIND="127.0.0.2", SESAME_RADIUS_WORKERS="2", **shared
        )
        try:
            add_valence(first)  # one database: the second server loads the access point too
            deadline = time.monotonic() + 15
            while not answers_status_server("127.0.0.2", second.auth_port, SECRET, timeout=0.5):
                assert time.monotonic() < deadline, second.log.read_text()
                time.sleep(0.3)
            yield first, second
        finally:
            stop(second)
    finally:
        stop(first)
        drop_keys(redis_url, prefix)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_wrong_passwords_through_one_server_count_on_the_other(servers: tuple[Server, Server]) -> None:
    first, second = servers
    for i in range(5):  # the default budget of one device for one account (guesses_per_account_device)
        reply = first.radclient(pap(f"alice@{REALM}", f"guess {i}", GUESSER))
        assert received(reply) == "Access-Reject" and TOO_MANY not in reply, reply
    # the access point fails over to the second server: the guesser's budget is spent there too
    reply = second.radclient(pap(f"alice@{REALM}", "guess 5", GUESSER), host="127.0.0.2")
    assert received(reply) == "Access-Reject" and TOO_MANY in reply, reply
    # the owner, from her own device, gets in through either
    reply = second.radclient(pap(f"alice@{REALM}", PASSWORD, OWNER), host="127.0.0.2")
    assert received(reply) == "Access-Accept", reply
    reply = first.radclient(pap(f"alice@{REALM}", PASSWORD, OWNER))
    assert received(reply) == "Access-Accept", reply
    for server, processes in ((first, 1), (second, 3)):  # the second: the parent and two workers
        log = server.log.read_text()
        assert log.count("redis: connected") == processes and "unreachable" not in log, log
