"""A real ``sesame serve`` process for interop tests with FreeRADIUS's radclient and radtest.

The tools come from Debian's ``freeradius-utils`` (installed by ``.ci/run``). Without them the
tests are skipped on a workstation and fail in CI.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import IN_CI, need_ipv6_loopback
from tests.support.ports import free_tcp_port, free_udp_port
from tests.support.status_server import answers_status_server

SECRET = "interop-secret-123"
REALM = "wifi.interop.example"
PASSWORD = "correct horse battery"
#: Federation timers short enough for tests: a home server is given up after 1.5 s and probed every 0.5 s
FAST_FEDERATION = {
    "SESAME_FEDERATION_ENABLED": "true",
    "SESAME_FEDERATION_RESPONSE_WINDOW": "1.5",
    "SESAME_FEDERATION_RETRY_INTERVAL": "0.5",
    "SESAME_FEDERATION_RETRIES": "1",
    "SESAME_FEDERATION_ZOMBIE_PERIOD": "3",
    "SESAME_FEDERATION_CHECK_INTERVAL": "0.5",
    "SESAME_FEDERATION_ANSWERS_TO_ALIVE": "2",
}


PACKAGES = {"freeradius": "freeradius", "eapol_test": "eapoltest", "radsecproxy": "radsecproxy"}


def need_tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        package = PACKAGES.get(name, "freeradius-utils")
        message = f"{name} (Debian {package}) is needed for interop tests"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


@dataclass
class Server:
    env: dict[str, str]
    workdir: Path
    auth_port: int
    acct_port: int
    proc: subprocess.Popen[bytes]
    log: Path

    def cli(self, *args: str, input: str | None = None) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "sesame", *args],
            env=self.env,
            cwd=self.workdir,
            capture_output=True,
            text=True,
            input=input,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def radclient(
        self,
        attributes: str,
        *,
        command: str = "auth",
        port: int | None = None,
        secret: str = SECRET,
        retries: int = 1,
        timeout: float = 2.0,
        host: str = "127.0.0.1",
    ) -> str:
        """:func:`radclient` to this server (its authentication port unless ``port``)."""
        return radclient(
            port or self.auth_port,
            secret,
            attributes,
            command=command,
            host=host,
            timeout=timeout,
            retries=retries,
        )

    def radtest(self, user: str, password: str, *, method: str = "pap", secret: str = SECRET) -> str:
        done = subprocess.run(
            [
                need_tool("radtest"),
                "-x",
                "-t",
                method,
                user,
                password,
                f"127.0.0.1:{self.auth_port}",
                "0",
                secret,
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
        return done.stdout + done.stderr


def radclient(
    port: int,
    secret: str,
    attributes: str,
    *,
    command: str = "auth",
    host: str = "127.0.0.1",
    timeout: float = 2.0,
    retries: int = 1,
) -> str:
    """radclient's verbose output for one request (attributes one per line, as radclient reads them;
    add ``Message-Authenticator = 0x00`` to have it signed; an IPv6 ``host`` in brackets). Its exit
    code is not asserted (no reply = 1)."""
    if retries < 1:  # radclient refuses -r 0: it would print its usage and send nothing
        raise ValueError("radclient sends a request at least once: retries >= 1")
    done = subprocess.run(
        [
            need_tool("radclient"),
            "-x",
            "-r",
            str(retries),
            "-t",
            str(timeout),
            *(["-6"] if ":" in host else []),
            f"{host}:{port}",
            command,
            secret,
        ],
        input=attributes,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout + done.stderr


def received(output: str) -> str | None:
    """The kind of reply radclient received (``Access-Accept``…), None when none came."""
    match = re.search(r"Received (Access-\w+|Accounting-Response)", output)
    return match.group(1) if match else None


def launch(workdir: Path, database_url: str, **settings: str) -> Server:
    """Start ``sesame serve`` on free ports (or those the settings name) and wait until both RADIUS
    ports listen."""
    need_ipv6_loopback()  # it listens on ::1 too
    auth_port = int(settings.pop("SESAME_RADIUS_AUTH_PORT", 0)) or free_udp_port()
    acct_port = int(settings.pop("SESAME_RADIUS_ACCT_PORT", 0)) or free_udp_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SESAME_")} | {
        "SESAME_ENVIRONMENT": "development",
        "SESAME_DATABASE_URL": database_url,
        "SESAME_REALM": REALM,
        "SESAME_RADIUS_BIND": "127.0.0.1,::1",
        "SESAME_RADIUS_AUTH_PORT": str(auth_port),
        "SESAME_RADIUS_ACCT_PORT": str(acct_port),
        "SESAME_WEB_ENABLED": "false",
        "SESAME_METRICS_PORT": str(free_tcp_port()),  # not the default 9812: servers run side by side
        **settings,
    }
    log = workdir / "serve.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sesame", "serve"],
            env=env,
            cwd=workdir,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    srv = Server(env=env, workdir=workdir, auth_port=auth_port, acct_port=acct_port, proc=proc, log=log)
    deadline = time.monotonic() + 60  # a bound for a busy machine (4 test workers), not a measure
    workers = int(settings.get("SESAME_RADIUS_WORKERS", "1"))
    while (
        "radius: acct listening" not in log.read_text()
        if workers == 1
        else log.read_text().count(" ready (pid") < workers
    ):
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(log.read_text())
        time.sleep(0.1)
    return srv


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    need_tool("radclient")
    workdir = tmp_path_factory.mktemp("interop")
    srv = launch(workdir, f"sqlite:///{workdir / 'interop.db'}")
    try:
        add_valence(srv, ipv6=True)
        yield srv
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=30)


def add_valence(srv: Server, *, ap: str = "local-ap", ipv6: bool = False) -> None:
    """Valence's Médiathèque with the access point ``ap`` at 127.0.0.1 (secret SECRET; with ``ipv6``,
    ``ap``6 at ::1, secret SECRET-v6) and alice (PASSWORD); returns once the server answers there."""
    srv.cli("commune", "add", "Valence", "--insee", "26362")
    srv.cli("site", "add", "Médiathèque", "--commune", "Valence")
    srv.cli("nas", "add", ap, "--ip", "127.0.0.1", "--secret", SECRET, "--site", "Médiathèque")
    if ipv6:
        srv.cli("nas", "add", f"{ap}6", "--ip", "::1", "--secret", SECRET + "-v6", "--site", "Médiathèque")
    srv.cli("user", "add", "alice", "--email", "alice@example.fr", "--password", PASSWORD)
    wait_until_served(srv)


def wait_until_served(srv: Server, *, served: bool = True) -> None:
    """Access points are reloaded within a couple of seconds of a change: wait until 127.0.0.1 is
    answered a Status-Server (or, ``served=False``, no longer is)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if answers_status_server("127.0.0.1", srv.auth_port, SECRET, timeout=0.5) == served:
            return
        time.sleep(0.3)
    raise AssertionError(f"the server did not {'start' if served else 'stop'} answering 127.0.0.1")
