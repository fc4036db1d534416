"""RadSec (RFC 6614) end to end through a real ``sesame serve``, with radsecproxy on the other side.

We are Sud (``wifi.interop.example``; RadSec certificate ``radsec.sud.example``). Liguria runs
radsecproxy 1.9 (Debian; certificate ``radsec.liguria.example``, same test CA) as its federation
proxy in front of a FreeRADIUS home server (127.0.0.2) that knows ``mario@liguria.example``::

    radclient ─UDP─► Sésame ─RadSec─► radsecproxy ─UDP (from 127.0.0.6)─► FreeRADIUS   (Ligurians)
                       └────────────UDP (from 127.0.0.5, priority 10)──────┘           (fail-over)
    radclient ─UDP─► radsecproxy ─RadSec─► Sésame's RadSec listener                 (our roamers)

Sésame's partner ``liguria`` has both home servers and accepts requests; its RadSec server's
TLS name is what identifies radsecproxy's certificate on our listener. FreeRADIUS counts the
requests that reach it and radsecproxy's log (``LogLevel 5``) names each one it relays, so each
test proves which path a request took. Sésame runs with short federation timers, as in
test_federation.py. Without radsecproxy, FreeRADIUS or radclient the tests are skipped on a
workstation and fail in CI (``need_tool``).
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import pytest

from federation.tls import TlsFiles
from tests.federation.pki import Authority
from tests.interop.conftest import (
    FAST_FEDERATION,
    PASSWORD,
    REALM,
    SECRET,
    Server,
    launch,
    need_tool,
    radclient,
    wait_until_served,
)
from tests.interop.peers import FreeRadiusPeer, radclient_reply
from tests.support import processes
from tests.support.ports import closed_tcp_port, free_tcp_port, free_udp_port

pytestmark = pytest.mark.slow

SUD_NAME = "radsec.sud.example"
LIGURIA_NAME = "radsec.liguria.example"
LIGURIA = "liguria.example"
MARIO_PASSWORD = "pizza margherita"
HOME_SECRET = "liguria-home-secret"  # radsecproxy → FreeRADIUS
PARTNER_SECRET = "liguria-secret-1"  # Sésame → FreeRADIUS, the UDP fail-over
LIGURIA_NAS_SECRET = "liguria-nas-secret"  # radclient → radsecproxy
SESAME_SOURCE = "127.0.0.5"  # where Sésame's UDP requests come from
PROXY_SOURCE = "127.0.0.6"  # where radsecproxy's UDP requests come from


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


class RadSecProxy:
    """radsecproxy (``-f``, ``LogLevel 5``) as a partner's federation proxy, configured here; a
    context manager that prints its log at the end. The log accumulates over restarts.

    It presents ``tls`` (certificate, key, the CA it trusts) and serves what is given:
    ``tls_port`` takes RadSec from Sésame (told by its certificate's DNS name, whatever its
    address) and ``home_port`` relays ``liguria.example`` to FreeRADIUS at 127.0.0.2 over UDP
    (from ``source``); ``udp_port`` takes RADIUS from access points at 127.0.0.1 and
    ``sesame_port`` relays our realm to Sésame's RadSec listener. ``secret`` is the RadSec
    shared secret both ways.
    """

    def __init__(
        self,
        directory: Path,
        tls: TlsFiles,
        *,
        tls_port: int | None = None,
        udp_port: int | None = None,
        home_port: int | None = None,
        sesame_port: int | None = None,
        source: str | None = None,
        secret: str = "radsec",
    ) -> None:
        self.binary = need_tool("radsecproxy")
        directory.mkdir(parents=True, exist_ok=True)
        self.conf, self.log = directory / "radsecproxy.conf", directory / "radsecproxy.log"
        sud = [
            "CertificateNameCheck off",
            f"MatchCertificateAttribute SubjectAltName:DNS:/^{re.escape(SUD_NAME)}$/",
        ]
        lines = [f"ListenTLS 127.0.0.1:{tls_port}"] if tls_port else []
        lines += [f"ListenUDP 127.0.0.1:{udp_port}"] if udp_port else []
        lines += [f"SourceUDP {source}"] if source else []
        lines += ["LogLevel 5"]
        lines += _block(
            "tls default",
            f"CACertificateFile {tls.ca}",
            f"CertificateFile {tls.certificate}",
            f"CertificateKeyFile {tls.private_key}",
        )
        if tls_port:
            lines += _block("client sud", "host 127.0.0.1", "type tls", f"secret {secret}", *sud)
        if udp_port:
            lines += _block(
                "client access-points", "host 127.0.0.1", "type udp", f"secret {LIGURIA_NAS_SECRET}"
            )
        if home_port:
            lines += _block(
                "server liguria-home",
                "host 127.0.0.2",
                f"port {home_port}",
                "type udp",
                f"secret {HOME_SECRET}",
            )
            lines += _block(f"realm {LIGURIA}", "server liguria-home")
        if sesame_port:
            lines += _block(
                "server sud", "host 127.0.0.1", f"port {sesame_port}", "type tls", f"secret {secret}", *sud
            )
            lines += _block(f"realm {REALM}", "server sud")
        self.conf.write_text("\n".join(lines) + "\n")
        self.ready = [f"listening for tls on 127.0.0.1:{tls_port}"] if tls_port else []
        self.ready += [f"listening for udp on 127.0.0.1:{udp_port}"] if udp_port else []
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> None:
        """Start, and return once it listens."""
        logged = len(self.text())
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [self.binary, "-f", "-c", str(self.conf)],
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while not all(line in self.text()[logged:] for line in self.ready):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise AssertionError(f"radsecproxy did not start:\n{self.text()[logged:]}")
            time.sleep(0.05)

    def stop(self) -> None:
        """SIGTERM (then SIGKILL if it lingers); also how a test simulates an outage."""
        proc, self.proc = self.proc, None
        processes.stop(proc, 10)

    def text(self) -> str:
        """What it has logged so far."""
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> RadSecProxy:
        self.start()
        return self

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
        print(f"--- radsecproxy log ({self.log}) ---\n{self.text()[-6000:]}")


def _block(title: str, *options: str) -> list[str]:
    return [f"{title} {{", *(f"    {option}" for option in options), "}"]


@dataclass
class Federation:
    sesame: Server
    home: FreeRadiusPeer
    proxy: RadSecProxy
    tls_port: int  # radsecproxy's RadSec listener (Sésame's home server)
    udp_port: int  # radsecproxy's RADIUS listener (Liguria's access points)
    radsec_port: int  # Sésame's RadSec listener
    ca: Authority
    workdir: Path


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    need_tool("radclient")
    need_tool("freeradius")
    need_tool("radsecproxy")
    workdir = tmp_path_factory.mktemp("federation-radsec")
    ca = Authority.create("Sesame federation test CA")
    sud = ca.files(workdir / "pki", "sud", ca.issue(SUD_NAME, dns=(SUD_NAME,)))
    liguria = ca.files(workdir / "pki", "liguria", ca.issue("liguria", dns=(LIGURIA_NAME,)))
    home = FreeRadiusPeer(
        workdir / "liguria-home",
        host="127.0.0.2",
        users={"mario": MARIO_PASSWORD},
        clients={PROXY_SOURCE: HOME_SECRET, SESAME_SOURCE: PARTNER_SECRET},
    )
    radsec_port, tls_port, udp_port = free_tcp_port(), free_tcp_port(), free_udp_port()
    with contextlib.ExitStack() as stack:
        stack.enter_context(home)
        sesame = launch(
            workdir,
            f"sqlite:///{workdir / 'federation.db'}",
            **FAST_FEDERATION,
            SESAME_FEDERATION_SOURCE_ADDRESS=SESAME_SOURCE,
            SESAME_FEDERATION_RADSEC_BIND="127.0.0.1",
            SESAME_FEDERATION_RADSEC_PORT=str(radsec_port),
            SESAME_FEDERATION_RADSEC_CERTIFICATE=str(sud.certificate),
            SESAME_FEDERATION_RADSEC_PRIVATE_KEY=str(sud.private_key),
            SESAME_FEDERATION_RADSEC_CA=str(sud.ca),
            SESAME_POLICY_SESSION_TIMEOUT="3600",
        )
        stack.callback(_stop, sesame)
        sesame.cli("commune", "add", "Nice", "--insee", "06088")
        sesame.cli("site", "add", "Promenade", "--commune", "Nice")
        sesame.cli("nas", "add", "ap-nice", "--ip", "127.0.0.1", "--secret", SECRET, "--site", "Promenade")
        sesame.cli("user", "add", "alice", "--email", "alice@example.fr", "--password", PASSWORD)
        sesame.cli(
            "partner", "add", "liguria", "--realm", LIGURIA,
            "--server", f"127.0.0.1:{tls_port}", "--radsec", "--tls-name", LIGURIA_NAME,
        )  # fmt: skip
        sesame.cli(
            "partner", "server", "add", "liguria", f"127.0.0.2:{home.auth_port}",
            "--secret", PARTNER_SECRET, "--priority", "10",
        )  # fmt: skip
        wait_until_served(sesame)
        wait_loaded(sesame, partners=1, servers=2)
        proxy = RadSecProxy(
            workdir / "radsecproxy",
            liguria,
            tls_port=tls_port,
            udp_port=udp_port,
            home_port=home.auth_port,
            sesame_port=radsec_port,
            source=PROXY_SOURCE,
        )
        stack.enter_context(proxy)
        yield Federation(
            sesame=sesame,
            home=home,
            proxy=proxy,
            tls_port=tls_port,
            udp_port=udp_port,
            radsec_port=radsec_port,
            ca=ca,
            workdir=workdir,
        )


def _stop(sesame: Server) -> None:
    sesame.proc.terminate()
    sesame.proc.wait(timeout=30)
    print(f"--- sesame log ---\n{sesame.log.read_text()[-6000:]}")


# -- helpers ---------------------------------------------------------------------------------------


def wait_loaded(sesame: Server, *, partners: int, servers: int) -> None:
    """Until Sésame has read the partners from the database (it polls every 2 s). radsecproxy
    connects to its servers as it starts and, refused, waits 30 s to try again: a partner's
    radsecproxy starts once Sésame knows the partner, so that its certificate is recognised."""
    loaded = re.compile(r"federation: (\d+) partners, (\d+) home servers")

    def done() -> bool:
        found = loaded.findall(sesame.log.read_text())
        return bool(found) and found[-1] == (str(partners), str(servers))

    wait_for(done, f"Sésame to load {partners} partners with {servers} home servers")


def ask_sesame(
    fed: Federation, user: str, password: str, *, timeout: float = 3.0
) -> tuple[str, dict[str, str]]:
    """An access point (radclient at 127.0.0.1) asks Sésame; the reply's type and attributes."""
    lines = f'User-Name = "{user}"\nUser-Password = "{password}"\nMessage-Authenticator = 0x00\n'
    out = radclient(fed.sesame.auth_port, SECRET, lines, timeout=timeout, retries=1)
    reply = radclient_reply(out)
    assert reply is not None, out + fed.sesame.log.read_text()[-3000:]
    return reply[0], dict(reply[1])


def ask_via_radsecproxy(
    port: int, user: str, password: str, *, timeout: float = 5.0
) -> tuple[str, dict[str, str]] | None:
    """A partner's access point (radclient) asks its radsecproxy; None when no answer came."""
    lines = f'User-Name = "{user}"\nUser-Password = "{password}"\nMessage-Authenticator = 0x00\n'
    reply = radclient_reply(radclient(port, LIGURIA_NAS_SECRET, lines, timeout=timeout, retries=1))
    return None if reply is None else (reply[0], dict(reply[1]))


def relayed_by_radsecproxy(fed: Federation, user: str) -> int:
    """How many Access-Requests for ``user`` radsecproxy got from Sésame over RadSec (its log)."""
    return fed.proxy.text().count(f"with username: {user} from client sud (127.0.0.1)")


def server_state(sesame: Server, server: str) -> str:
    """A RadSec home server's health in ``sesame partner list`` (``server``: host:port)."""
    for line in sesame.cli("partner", "list").splitlines():
        if line.split()[:2] == ["radsec", server]:
            return line.split()[4]
    raise AssertionError(f"radsec {server} is not listed")


def radsec_state(fed: Federation) -> str:
    return server_state(fed.sesame, f"127.0.0.1:{fed.tls_port}")


def wait_radsec_alive(fed: Federation) -> None:
    """Connected, then revived by a Status-Server that radsecproxy answered (RFC 5997)."""
    wait_for(lambda: radsec_state(fed) == "alive", "the RadSec home server to be alive")


# -- 1. Sésame → RadSec → radsecproxy → FreeRADIUS -------------------------------------------------


def test_a_ligurian_is_proxied_over_radsec_through_radsecproxy(federation: Federation) -> None:
    wait_radsec_alive(federation)
    mario = f"mario@{LIGURIA}"
    seen, relayed = federation.home.requests_seen(), relayed_by_radsecproxy(federation, mario)
    code, attrs = ask_sesame(federation, mario, MARIO_PASSWORD)
    assert (code, attrs["Reply-Message"]) == ("Access-Accept", "Benvenuto")
    assert attrs["Session-Timeout"] == "3600"  # ours, stricter than Liguria's 7200
    assert "Chargeable-User-Identity" in attrs  # RFC 4372: asked for by Sésame, answered by FreeRADIUS
    # one request reached FreeRADIUS, and it went through radsecproxy, not the UDP fail-over
    assert federation.home.requests_seen() == seen + 1
    assert relayed_by_radsecproxy(federation, mario) == relayed + 1
    assert federation.home.last_request()["Operator-Name"] == f"1{REALM}"  # RFC 5580, kept by radsecproxy

    code, attrs = ask_sesame(federation, mario, "wrong")
    assert (code, attrs["Reply-Message"]) == ("Access-Reject", "Credenziali errate")
    assert federation.home.requests_seen() == seen + 2
    assert relayed_by_radsecproxy(federation, mario) == relayed + 2
    assert radsec_state(federation) == "alive"
    # radsecproxy answered our Status-Server itself (RFC 5997 §4: a proxy does not forward it)
    assert "Access-Accept (response to Status-Server) from _self_ to sud" in federation.proxy.text()


# -- 2. radsecproxy → RadSec → Sésame --------------------------------------------------------------


def test_one_of_ours_roaming_in_liguria_reaches_us_over_radsec(federation: Federation) -> None:
    reply = ask_via_radsecproxy(federation.udp_port, f"alice@{REALM}", PASSWORD)
    assert reply is not None, federation.sesame.log.read_text()[-3000:]
    code, attrs = reply
    assert code == "Access-Accept", attrs
    assert attrs["Session-Timeout"] == "3600"  # our policy: Sésame decided
    log = federation.sesame.log.read_text()
    # identified by its certificate: the TLS name of partner liguria's RadSec home server
    assert f"radsec: {LIGURIA_NAME} connected from 127.0.0.1:" in log
    assert f"F-TICKS/sesame/1.0#REALM={REALM}#VISCOUNTRY=#VISINST=liguria#CSI=#RESULT=OK#" in log

    reply = ask_via_radsecproxy(federation.udp_port, f"alice@{REALM}", "wrong password")
    assert reply is not None and reply[0] == "Access-Reject", reply


def test_a_proxy_with_a_certificate_from_another_ca_is_refused(federation: Federation) -> None:
    """The same name, radsec.liguria.example, from a CA we do not trust: no TLS, no answer."""
    rogue_ca = Authority.create("Rogue CA")
    rogue = rogue_ca.files(
        federation.workdir / "pki",
        "rogue",
        rogue_ca.issue("liguria", dns=(LIGURIA_NAME,)),
        trust=federation.ca,  # it trusts us: the refusal is ours
    )
    udp_port = free_udp_port()
    logged = len(federation.sesame.log.read_text())
    with RadSecProxy(
        federation.workdir / "rogue-radsecproxy", rogue, udp_port=udp_port, sesame_port=federation.radsec_port
    ) as proxy:
        assert ask_via_radsecproxy(udp_port, f"alice@{REALM}", PASSWORD, timeout=2.0) is None
    refused = federation.sesame.log.read_text()[logged:]
    assert re.search(
        r"radsec: tls_handshake from 127\.0\.0\.1:\d+ "
        r"\(certificate refused: unable to get local issuer certificate\)",
        refused,
    ), refused
    # With TLS 1.3 radsecproxy's side of the handshake was over before ours: it saw the
    # connection up, then lost at its first read; alice's request had nowhere to go.
    said = proxy.text()
    assert "SSL routines::unexpected eof while reading" in said
    assert "tlsclientrd: connection to server sud lost" in said
    assert f"with username: alice@{REALM} from client access-points" in said


def test_a_partner_with_a_radsec_secret_of_its_own(federation: Federation) -> None:
    """RFC 6614 §2.3 says ``radsec``; radsecproxy lets a block set another, and so does
    ``sesame partner add --radsec --secret``: both directions must then use it."""
    name, secret = "radsec.piemonte.example", "piemonte-radsec-secret"
    files = federation.ca.files(federation.workdir / "pki", "piemonte", federation.ca.issue("p", dns=(name,)))
    tls_port, udp_port = free_tcp_port(), free_udp_port()
    server = f"127.0.0.1:{tls_port}"
    federation.sesame.cli(
        "partner", "add", "piemonte", "--radsec", "--secret", secret, "--server", server, "--tls-name", name
    )  # fmt: skip
    proxy = RadSecProxy(
        federation.workdir / "piemonte-radsecproxy",
        files,
        tls_port=tls_port,
        udp_port=udp_port,
        sesame_port=federation.radsec_port,
        secret=secret,
    )
    try:
        wait_loaded(federation.sesame, partners=2, servers=3)
        with proxy:
            # our Status-Server, signed with their secret, answered and checked with it
            wait_for(lambda: server_state(federation.sesame, server) == "alive", "Piemonte to be alive")
            probed = federation.sesame.cli("partner", "test", "piemonte")
            assert probed.startswith(f"radsec {server}: alive ("), probed
            # their request, signed with their secret, accepted by us
            reply = ask_via_radsecproxy(udp_port, f"alice@{REALM}", PASSWORD)
            assert reply is not None and reply[0] == "Access-Accept", reply
    finally:
        federation.sesame.cli("partner", "remove", "piemonte")


# -- 3. fail-over from RadSec to UDP, and back ------------------------------------------------------


def test_fail_over_when_radsecproxy_stops_and_back_when_it_returns(federation: Federation) -> None:
    wait_radsec_alive(federation)
    mario = f"mario@{LIGURIA}"
    federation.proxy.stop()
    # the connection closes: the RadSec server is dead at once, requests go to FreeRADIUS directly
    wait_for(lambda: radsec_state(federation) == "dead", "the RadSec home server to be dead")
    seen, relayed = federation.home.requests_seen(), relayed_by_radsecproxy(federation, mario)
    for _ in range(3):
        code, attrs = ask_sesame(federation, mario, MARIO_PASSWORD)
        assert (code, attrs["Reply-Message"]) == ("Access-Accept", "Benvenuto")
    assert federation.home.requests_seen() == seen + 3
    assert radsec_state(federation) == "dead"

    federation.proxy.start()
    started = time.monotonic()
    # Sésame reconnects (backing off 1, 2, 4… s): a zombie until radsecproxy answers a Status-Server
    wait_radsec_alive(federation)
    print(f"the RadSec home server was alive {time.monotonic() - started:.1f} s after radsecproxy restarted")
    code, _attrs = ask_sesame(federation, mario, MARIO_PASSWORD)
    assert code == "Access-Accept"
    assert federation.home.requests_seen() == seen + 4
    assert relayed_by_radsecproxy(federation, mario) == relayed + 1  # back to the first of the pool


# -- 4. sesame partner test over RadSec -------------------------------------------------------------


def test_partner_test_probes_radsecproxy_with_status_server(federation: Federation) -> None:
    wait_radsec_alive(federation)
    out = federation.sesame.cli("partner", "test", "liguria", "--timeout", "1").splitlines()
    # radsecproxy 1.9 answers Status-Server itself, without Message-Authenticator (20 octets)
    assert re.fullmatch(
        rf"radsec 127\.0\.0\.1:{federation.tls_port}: "
        r"alive \(\d+\.\d ms; reply without Message-Authenticator\)",
        out[0],
    ), out
    # FreeRADIUS answers only Sésame's source address (SESAME_FEDERATION_SOURCE_ADDRESS), and the
    # UDP probe leaves from the kernel's choice (127.0.0.1): that line is not this test's subject
    assert out[1].startswith(f"udp 127.0.0.2:{federation.home.auth_port}: "), out

    closed = closed_tcp_port()
    federation.sesame.cli(
        "partner", "add", "impostor", "--no-accept-requests", "--radsec",
        "--server", f"127.0.0.1:{federation.tls_port}", "--tls-name", "radsec.impostor.example",
    )  # fmt: skip
    federation.sesame.cli("partner", "server", "add", "impostor", f"127.0.0.1:{closed}", "--radsec",
                          "--tls-name", "radsec.closed.example")  # fmt: skip
    try:
        done = subprocess.run(
            [sys.executable, "-m", "sesame", "partner", "test", "impostor", "--timeout", "2"],
            env=federation.sesame.env,
            cwd=federation.sesame.workdir,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        federation.sesame.cli("partner", "remove", "impostor")
    assert done.returncode == 1, done
    assert done.stdout.splitlines() == [
        f"radsec 127.0.0.1:{federation.tls_port}: refused: its certificate names {LIGURIA_NAME}, "
        "not radsec.impostor.example",
        f"radsec 127.0.0.1:{closed}: no connection (Connection refused)",
    ]
    assert done.stderr == "error: no home server of partner impostor answered\n"
