"""Issue 16, several hosts, one network: two real ``sesame serve`` instances — host A on 127.0.0.1,
host B on 127.0.0.2, the same ports, as two machines would have — share one PostgreSQL database.
An access point (radclient, from 127.0.0.1) talks to both, as access points configured with two
RADIUS servers do; the portal and the admin API of each are driven over HTTP; a UDP listener of the
test is the access point's CoA port.

What must hold across them, one test per statement: a token used on one is refused on the other; a
session started through one and stopped through the other is one session; simultaneous-use and
daily limits count both; a password change, a disabled account or a forgotten device takes effect
on both within seconds; CoA/Disconnect for a session goes out from whichever instance is asked.

"Within seconds" is polled against a generous deadline, never timed: the RADIUS processes poll the
database every 2 s (``RadiusService.refresh_interval``: ``AccountCache.refresh`` forgets changed
accounts and devices, ``PlacePolicies.refresh`` re-reads policies and open sessions), so a change
made on one host shows on the other after one poll; docs/operations.md ("Several hosts") gives the
bound. PostgreSQL only (SQLite is one file on one host); in CI a missing PostgreSQL fails the tests.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from sqlalchemy.engine import make_url

from tests.conftest import postgres_database
from tests.interop.conftest import PASSWORD, REALM, SECRET, Server, launch, need_tool, radclient, received
from tests.support.coanas import CoaNas
from tests.support.ports import free_tcp_port, free_udp_port
from tests.support.status_server import answers_status_server

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

HOSTS = ("127.0.0.1", "127.0.0.2")
#: a change made on one host must show on the other well before this (the poll is every 2 s)
DEADLINE = 20.0
ADMIN = "ops@region.example"
NEW_PASSWORD = "quite another stable password"
USER_NAME, ACCT_SESSION_ID, MESSAGE_AUTHENTICATOR = 1, 44, 80
DISCONNECT_REQUEST, COA_REQUEST = 40, 43


@dataclass
class Host:
    """One ``sesame serve`` instance: RADIUS, portal and admin API on one address."""

    address: str
    server: Server
    web: str  # the portal's base URL

    def auth(self, attributes: str) -> str | None:
        """The reply radclient got from this host's authentication port (None: no reply)."""
        return received(self.radclient(attributes))

    def radclient(self, attributes: str, *, command: str = "auth") -> str:
        port = self.server.auth_port if command == "auth" else self.server.acct_port
        return radclient(port, SECRET, attributes, command=command, host=self.address, retries=3)

    def accounting(self, attributes: str) -> None:
        out = self.radclient(attributes, command="acct")
        assert received(out) == "Accounting-Response", out


@dataclass
class Network:
    a: Host
    b: Host
    database_url: str
    coa: CoaNas

    def cli(self, *args: str) -> str:
        return self.a.server.cli(*args)

    def sql(self, query: str, *args: object) -> list[asyncpg.Record]:
        dsn = make_url(self.database_url).set(drivername="postgresql").render_as_string(False)

        async def run() -> list[asyncpg.Record]:
            connection = await asyncpg.connect(dsn)
            try:
                return list(await connection.fetch(query, *args))
            finally:
                await connection.close()

        return asyncio.run(run())

    def api_token(self, host: Host) -> str:
        reply = httpx.post(
            f"{host.web}/api/v1/auth/token",
            data={"grant_type": "password", "username": ADMIN, "password": PASSWORD},
        )
        assert reply.status_code == 200, reply.text
        return str(reply.json()["access_token"])

    def api(self, host: Host, method: str, path: str) -> httpx.Response:
        token = self.api_token(host)
        return httpx.request(
            method, f"{host.web}/api/v1{path}", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )

    def add_user(self, name: str) -> int:
        self.cli("user", "add", name, "--email", f"{name}@example.fr", "--password", PASSWORD)
        (row,) = self.sql("SELECT id FROM account WHERE username = $1", name)
        return int(row["id"])


# -- the two hosts ---------------------------------------------------------------------------------


def answers(host: Host, reply: str, request: str = "", *, status_server: bool = False) -> Callable[[], bool]:
    """A condition for :func:`eventually`: ``host`` answers ``request`` with ``reply`` (or, with
    ``status_server``, answers a Status-Server from the access point at all)."""
    if status_server:
        return lambda: answers_status_server(host.address, host.server.auth_port, SECRET, timeout=0.5)
    return lambda: host.auth(request) == reply


def eventually(what: str, condition: Callable[[], bool]) -> None:
    """Poll ``condition`` until it holds; fail once :data:`DEADLINE` has passed."""
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {DEADLINE:.0f} s: {what}")
        time.sleep(0.3)


@pytest.fixture(scope="module")
def network(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Network]:
    need_tool("radclient")
    template = request.getfixturevalue("postgres_template")
    # the same RADIUS and web ports on both addresses, as on two machines
    auth_port, acct_port = free_udp_port("127.0.0.2"), free_udp_port("127.0.0.2")
    web_port = free_tcp_port("127.0.0.2")
    coa = CoaNas(secret=SECRET.encode())  # the access point's secret signs CoA too
    coa.sock.bind(("127.0.0.1", 0))
    threading.Thread(target=coa.serve, daemon=True).start()
    with postgres_database("sesame_hosts", template=template) as url:
        hosts: list[Host] = []
        try:
            for address in HOSTS:
                workdir = tmp_path_factory.mktemp(f"host-{address}")
                server = launch(
                    workdir,
                    url,
                    SESAME_RADIUS_AUTH_PORT=str(auth_port),
                    SESAME_RADIUS_ACCT_PORT=str(acct_port),
                    SESAME_RADIUS_BIND=address,
                    SESAME_WEB_ENABLED="true",
                    SESAME_WEB_BIND=address,
                    SESAME_WEB_PORT=str(web_port),
                    SESAME_PORTAL_PUBLIC_URL=f"http://{address}:{web_port}",
                    SESAME_MAIL_OUTBOX=str(workdir / "outbox"),
                )
                hosts.append(Host(address=address, server=server, web=f"http://{address}:{web_port}"))
            net = Network(a=hosts[0], b=hosts[1], database_url=url, coa=coa)
            net.cli("commune", "add", "Valence", "--insee", "26362")
            net.cli("site", "add", "Médiathèque", "--commune", "Valence")
            net.cli(
                "nas", "add", "ap-1", "--ip", "127.0.0.1", "--secret", SECRET, "--site", "Médiathèque",
                "--coa-port", str(coa.sock.getsockname()[1]),
            )  # fmt: skip
            net.cli("admin", "create", ADMIN, "--role", "region_admin", "--password", PASSWORD)
            for host in hosts:  # the access point is loaded by both within a poll
                eventually(f"{host.address} serves ap-1", answers(host, "Access-Accept", status_server=True))
            yield net
        finally:
            coa.sock.close()
            for host in hosts:
                host.server.proc.terminate()
            for host in hosts:
                host.server.proc.wait(timeout=30)


def pap(user: str, password: str, *, mac: str = "02-00-00-00-00-01") -> str:
    return (
        f'User-Name = "{user}@{REALM}"\nUser-Password = "{password}"\nCalling-Station-Id = "{mac}"\n'
        "Message-Authenticator = 0x00\n"
    )


def accounting(
    user: str, session_id: str, status: str, *, mac: str = "02-00-00-00-00-01", extra: str = ""
) -> str:
    return (
        f'User-Name = "{user}"\nAcct-Session-Id = "{session_id}"\nAcct-Status-Type = {status}\n'
        f'Calling-Station-Id = "{mac}"\nNAS-IP-Address = 127.0.0.1\nFramed-IP-Address = 10.9.0.7\n{extra}'
    )


class PortalBrowser(httpx.Client):
    """A citizen's browser on one host's portal (cookies kept, forms posted with their CSRF token)."""

    def submit(self, path: str, data: dict[str, str], *, page: str | None = None) -> httpx.Response:
        form = self.get(page or path)
        found = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        assert found, form.text
        return self.post(path, data={"csrf_token": found.group(1), **data})


def signed_in(host: Host, user: str, password: str = PASSWORD) -> PortalBrowser:
    browser = PortalBrowser(base_url=host.web, headers={"Accept-Language": "en"}, timeout=30)
    reply = browser.submit("/login", {"identity": user, "password": password})
    assert reply.status_code in (302, 303), reply.text
    return browser


# -- the tests -------------------------------------------------------------------------------------


def test_a_token_used_on_one_host_is_refused_on_the_other(network: Network) -> None:
    network.add_user("tina")

    def issue() -> str:
        return network.cli("token", "issue", "tina", "--nas", "ap-1").strip().splitlines()[-1]

    for first, second in ((network.a, network.b), (network.b, network.a)):
        token = issue()
        assert first.auth(pap("tina", token)) == "Access-Accept"
        assert second.auth(pap("tina", token)) == "Access-Reject"
        assert first.auth(pap("tina", token)) == "Access-Reject"

    # the same token at both at once, as an access point failing over mid-retransmission would
    token = issue()
    replies: list[str | None] = []
    threads = [
        threading.Thread(target=lambda h=host: replies.append(h.auth(pap("tina", token))))
        for host in (network.a, network.b)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(map(str, replies)) == ["Access-Accept", "Access-Reject"]


def test_a_session_started_through_one_host_and_stopped_through_the_other_is_one_session(
    network: Network,
) -> None:
    network.add_user("sam")
    out = network.a.radclient(pap("sam", PASSWORD))
    klass = re.search(r"Class = (0x[0-9a-f]+)", out)
    assert klass is not None, out
    signed = f"Class = {klass.group(1)}\n"
    network.a.accounting(accounting("sam", "roaming-1", "Start", extra=signed))
    network.b.accounting(
        accounting("sam", "roaming-1", "Interim-Update", extra=signed + "Acct-Session-Time = 60\n")
    )
    network.b.accounting(
        accounting(
            "sam",
            "roaming-1",
            "Stop",
            extra=signed + "Acct-Session-Time = 120\nAcct-Input-Octets = 5000\n"
            "Acct-Terminate-Cause = User-Request\n",
        )
    )
    network.a.accounting(  # a late interim through the first host changes nothing
        accounting("sam", "roaming-1", "Interim-Update", extra=signed + "Acct-Session-Time = 90\n")
    )
    (row,) = network.sql(
        "SELECT r.*, a.username AS owner FROM radacct r JOIN account a ON a.id = r.account_id "
        "WHERE acctsessionid = 'roaming-1'"
    )
    assert row["owner"] == "sam" and row["acctstoptime"] is not None
    assert row["acctsessiontime"] == 120 and row["acctinputoctets"] == 5000
    assert row["acctterminatecause"] == "User-Request"


def test_simultaneous_use_counts_the_sessions_of_both_hosts(network: Network) -> None:
    network.add_user("una")
    network.cli("commune", "add", "Die", "--insee", "26113")
    network.cli("site", "add", "Mairie", "--commune", "Die")
    network.cli("policy", "set", "--commune", "Valence", "--simultaneous-use", "1")
    try:
        phone, laptop, tablet = "02-00-00-00-01-01", "02-00-00-00-01-02", "02-00-00-00-01-03"
        assert network.a.auth(pap("una", PASSWORD, mac=phone)) == "Access-Accept"
        network.a.accounting(accounting("una", "una-phone", "Start", mac=phone))
        # the phone's session is known to host A's accounting only: host B refuses a second device
        eventually(
            "host B counts the session opened through host A",
            lambda: network.b.auth(pap("una", PASSWORD, mac=laptop)) == "Access-Reject",
        )
        eventually(
            "host A counts its own session (at its next poll, which may come after host B's)",
            answers(network.a, "Access-Reject", pap("una", PASSWORD, mac=laptop)),
        )
        assert network.b.auth(pap("una", PASSWORD, mac=phone)) == "Access-Accept"  # its own session
        # the phone's session ends through host B: host A lets the laptop in again
        network.b.accounting(
            accounting("una", "una-phone", "Stop", mac=phone, extra="Acct-Session-Time = 30\n")
        )
        eventually(
            "host A sees the stop received by host B",
            lambda: network.a.auth(pap("una", PASSWORD, mac=laptop)) == "Access-Accept",
        )
        network.a.accounting(accounting("una", "una-laptop", "Start", mac=laptop))
        eventually(
            "host B counts the laptop's session opened through host A",
            lambda: network.b.auth(pap("una", PASSWORD, mac=tablet)) == "Access-Reject",
        )
    finally:
        network.cli("policy", "set", "--commune", "Valence", "--simultaneous-use", "0")


def test_daily_limits_count_the_usage_recorded_by_both_hosts(network: Network) -> None:
    network.add_user("vic")
    network.cli("policy", "set", "--site", "Médiathèque", "--daily-time", "3600")
    try:

        def session_timeout(host: Host) -> int | None:
            """The Session-Timeout ``host`` grants vic; None: refused."""
            out = host.radclient(pap("vic", PASSWORD))
            if received(out) == "Access-Reject":
                return None
            assert received(out) == "Access-Accept", out
            found = re.search(r"Session-Timeout = (\d+)", out)
            assert found, out
            return int(found.group(1))

        def full_day(host: Host) -> Callable[[], bool]:
            return lambda: session_timeout(host) == 3600

        for host in (network.a, network.b):  # each reloads the policies at its own poll
            eventually(f"{host.address} applies the daily limit", full_day(host))
        network.a.accounting(accounting("vic", "vic-1", "Start"))
        network.a.accounting(accounting("vic", "vic-1", "Stop", extra="Acct-Session-Time = 2000\n"))
        # the 2,000 s used through host A shorten what host B grants
        assert session_timeout(network.b) == 1600
        network.b.accounting(accounting("vic", "vic-2", "Start"))
        network.b.accounting(accounting("vic", "vic-2", "Stop", extra="Acct-Session-Time = 1600\n"))
        # and both sessions together use up the day, whichever host is asked
        assert session_timeout(network.a) is None
        assert session_timeout(network.b) is None
    finally:
        network.cli("policy", "set", "--site", "Médiathèque", "--daily-time", "0")


def test_a_password_changed_through_one_host_is_the_only_one_on_both_within_seconds(network: Network) -> None:
    network.add_user("wes")
    for host in (network.a, network.b):  # each host has verified (and cached) the old password
        assert host.auth(pap("wes", PASSWORD)) == "Access-Accept"
    browser = signed_in(network.a, "wes")
    reply = browser.submit(
        "/account/password", {"current": PASSWORD, "password": NEW_PASSWORD}, page="/account/password"
    )
    assert reply.status_code == 200, reply.text
    for host in (network.a, network.b):
        eventually(
            f"the old password refused by {host.address}",
            answers(host, "Access-Reject", pap("wes", PASSWORD)),
        )
        assert host.auth(pap("wes", NEW_PASSWORD)) == "Access-Accept"


def test_an_account_disabled_through_one_host_is_refused_by_both_within_seconds(network: Network) -> None:
    account_id = network.add_user("xia")
    for host in (network.a, network.b):
        assert host.auth(pap("xia", PASSWORD)) == "Access-Accept"
    reply = network.api(network.b, "POST", f"/accounts/{account_id}/disable")
    assert reply.status_code == 200 and reply.json()["status"] == "disabled", reply.text
    for host in (network.a, network.b):
        eventually(
            f"the disabled account refused by {host.address}",
            answers(host, "Access-Reject", pap("xia", PASSWORD)),
        )
    reply = network.api(network.a, "POST", f"/accounts/{account_id}/enable")
    assert reply.status_code == 200, reply.text
    eventually("enabled again on host B", lambda: network.b.auth(pap("xia", PASSWORD)) == "Access-Accept")


def test_a_device_forgotten_through_one_host_is_refused_by_both_within_seconds(network: Network) -> None:
    account_id = network.add_user("yan")
    mac = "02:00:00:00:02:01"
    now = datetime.now(UTC)
    network.sql(  # remembered from a hotspot's hand-off earlier (the portal's "remember this device")
        "INSERT INTO device (account_id, mac, remembered_until, created_at, updated_at) "
        "VALUES ($1, $2, $3, $4, $4)",
        account_id,
        mac,
        now + timedelta(days=30),
        now,
    )
    by_mac = f'User-Name = "{mac.replace(":", "-")}"\nUser-Password = "{mac.replace(":", "-")}"\n'
    by_mac += f'Calling-Station-Id = "{mac.replace(":", "-")}"\nMessage-Authenticator = 0x00\n'
    for host in (network.a, network.b):
        eventually(f"the device known to {host.address}", answers(host, "Access-Accept", by_mac))
    browser = signed_in(network.b, "yan")
    reply = browser.submit("/account/devices", {"action": "forget", "mac": mac}, page="/account")
    assert reply.status_code in (302, 303), reply.text
    assert network.sql("SELECT id FROM device WHERE mac = $1", mac) == []
    for host in (network.a, network.b):
        eventually(f"the forgotten device refused by {host.address}", answers(host, "Access-Reject", by_mac))


def test_a_disconnect_goes_out_from_whichever_host_is_asked(network: Network) -> None:
    network.add_user("zoe")
    sessions: dict[str, int] = {}
    for name in ("zoe-1", "zoe-2"):
        network.a.accounting(accounting("zoe", name, "Start"))
        (row,) = network.sql("SELECT radacctid FROM radacct WHERE acctsessionid = $1", name)
        sessions[name] = int(row["radacctid"])
    before = len(network.coa.received)
    for host, name in ((network.b, "zoe-1"), (network.a, "zoe-2")):
        reply = network.api(host, "POST", f"/sessions/{sessions[name]}/disconnect")
        assert reply.status_code == 200, reply.text
        got = network.coa.received[-1]
        assert (got.source, got.code) == (host.address, DISCONNECT_REQUEST)
        assert got.attributes[ACCT_SESSION_ID] == [name.encode()] and got.attributes[USER_NAME] == [b"zoe"]
    assert len(network.coa.received) == before + 2 and network.coa.problems == []
    requested = network.sql(
        "SELECT acctsessionid FROM radacct "
        "WHERE disconnect_requested_at IS NOT NULL AND acctsessionid LIKE 'zoe-%'"
    )
    assert sorted(r["acctsessionid"] for r in requested) == ["zoe-1", "zoe-2"]

    # a CoA-Request (new limits) from the command line of host B's settings
    reply_cli = network.b.server.cli("session", "change", str(sessions["zoe-1"]), "--session-timeout", "600")
    assert "changed" in reply_cli
    got = network.coa.received[-1]
    assert (got.source, got.code) == (network.b.address, COA_REQUEST)
