"""Federation against real FreeRADIUS 3.2 servers playing the Ligurian region.

``liguria-home`` (127.0.0.2) is Liguria's home server; ``liguria-proxy`` (127.0.0.3) is its
federation proxy, which also authenticates Ligurians and forwards our realm (and a few others)
to us. Sésame's partner "liguria" has both as home servers (.2 first), and accepts requests
from them. The access point is radclient at 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from radius import codec
from radius.eap.trialpki import make_trial_pki
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
from tests.interop.peers import FreeRadiusPeer, eapol_test, radclient_reply

LIGURIA = "liguria.example"
PARTNER_SECRET = "liguria-secret-1"
MARIO_PASSWORD = "pizza margherita"
LIGURIA_NAS_SECRET = "liguria-nas-secret"
SESAME_SOURCE = "127.0.0.5"  # what Sésame proxies from: Liguria tells it from the access points


@dataclass
class Federation:
    sesame: Server
    home: FreeRadiusPeer
    proxy: FreeRadiusPeer
    workdir: Path


def wait_for(condition, what: str, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.2)


@pytest.fixture(scope="module")
def federation(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Federation]:
    need_tool("radclient")
    need_tool("freeradius")
    workdir = tmp_path_factory.mktemp("federation")
    users = {"mario": MARIO_PASSWORD}
    home = FreeRadiusPeer(
        workdir / "liguria-home",
        host="127.0.0.2",
        users=users,
        eap=True,
        clients={SESAME_SOURCE: PARTNER_SECRET},
    )
    stack = contextlib.ExitStack()
    stack.enter_context(home)
    pki = make_trial_pki(workdir / "pki", realm=REALM)  # EAP of our realm is served here
    sesame = launch(
        workdir,
        f"sqlite:///{workdir / 'federation.db'}",
        **FAST_FEDERATION,
        SESAME_EAP_CERTIFICATE=str(pki.server_certificate),
        SESAME_EAP_PRIVATE_KEY=str(pki.server_key),
        SESAME_POLICY_SESSION_TIMEOUT="3600",
        SESAME_FEDERATION_SOURCE_ADDRESS=SESAME_SOURCE,
    )
    proxy = FreeRadiusPeer(
        workdir / "liguria-proxy",
        host="127.0.0.3",
        users=users,
        clients={"127.0.0.1": LIGURIA_NAS_SECRET, SESAME_SOURCE: PARTNER_SECRET},
        proxy_realms={
            REALM: ("127.0.0.1", sesame.auth_port, PARTNER_SECRET),
            "piemonte.example": ("127.0.0.1", sesame.auth_port, PARTNER_SECRET),
            "loop.liguria.example": ("127.0.0.1", sesame.auth_port, PARTNER_SECRET),
        },
    )
    stack.callback(_stop, sesame)
    stack.enter_context(proxy)
    with stack:
        sesame.cli("commune", "add", "Nice", "--insee", "06088")
        sesame.cli("site", "add", "Promenade", "--commune", "Nice")
        sesame.cli("nas", "add", "ap-nice", "--ip", "127.0.0.1", "--secret", SECRET, "--site", "Promenade")
        sesame.cli("user", "add", "alice", "--email", "alice@example.fr", "--password", PASSWORD)
        sesame.cli(
            "partner", "add", "liguria",
            "--realm", LIGURIA, "--realm", f"*.{LIGURIA}",
            "--server", f"127.0.0.2:{home.auth_port}", "--secret", PARTNER_SECRET,
            "--acct-port", str(home.acct_port), "--forward-accounting",
        )  # fmt: skip
        sesame.cli(
            "partner", "server", "add", "liguria", f"127.0.0.3:{proxy.auth_port}",
            "--secret", PARTNER_SECRET, "--priority", "10", "--acct-port", str(proxy.acct_port),
        )  # fmt: skip
        wait_until_served(sesame)
        wait_for(lambda: "1 partners, 4 home servers" in sesame.log.read_text(), "the partner to be loaded")
        yield Federation(sesame=sesame, home=home, proxy=proxy, workdir=workdir)


def _stop(sesame: Server) -> None:
    sesame.proc.terminate()
    sesame.proc.wait(timeout=30)


def ask_sesame(
    fed: Federation, user: str, password: str, *extra: str, timeout: float = 3.0
) -> tuple[str, dict]:  # type: ignore[type-arg]
    lines = [f'User-Name = "{user}"', f'User-Password = "{password}"', "Message-Authenticator = 0x00", *extra]
    out = radclient(fed.sesame.auth_port, SECRET, "\n".join(lines) + "\n", timeout=timeout, retries=1)
    reply = radclient_reply(out)
    assert reply is not None, out + fed.sesame.log.read_text()[-3000:]
    code, attributes = reply
    return code, dict(attributes)


def wait_partner_loaded(fed: Federation) -> None:
    def proxied() -> bool:
        code, _attrs = ask_sesame(fed, f"mario@{LIGURIA}", MARIO_PASSWORD)
        return code == "Access-Accept"

    wait_for(proxied, "the partner to be loaded")


def test_a_ligurian_visitor_is_proxied_to_liguria_and_the_answer_relayed(federation: Federation) -> None:
    wait_partner_loaded(federation)
    seen = federation.home.requests_seen()
    code, attrs = ask_sesame(
        federation, f"mario@{LIGURIA}", MARIO_PASSWORD, 'Calling-Station-Id = "02-00-00-00-00-01"'
    )
    assert code == "Access-Accept"
    assert attrs["Reply-Message"] == "Benvenuto"
    assert attrs["Session-Timeout"] == "3600"  # ours (3600) is stricter than Liguria's 7200
    assert federation.home.requests_seen() == seen + 1
    forwarded = federation.home.last_request()
    assert forwarded["Operator-Name"] == f"1{REALM}"  # RFC 5580
    assert forwarded["Calling-Station-Id"] == "02-00-00-00-00-01"
    assert "Chargeable-User-Identity" in forwarded  # asked for on the NAS's behalf (RFC 4372)
    assert "Proxy-State" in forwarded
    # the partner's CUI answer reaches the access point
    assert "Chargeable-User-Identity" in attrs


def test_a_wrong_password_is_rejected_by_liguria_and_relayed(federation: Federation) -> None:
    wait_partner_loaded(federation)
    code, attrs = ask_sesame(federation, f"mario@{LIGURIA}", "wrong")
    assert code == "Access-Reject"
    assert attrs["Reply-Message"] == "Credenziali errate"


def test_an_unknown_realm_is_rejected_with_a_reason(federation: Federation) -> None:
    code, attrs = ask_sesame(federation, "hans@uni-wien.example", "x")
    assert code == "Access-Reject"
    assert attrs["Reply-Message"] == "Ce réseau ne dessert pas ce domaine"  # the region's language


def ask_via_liguria(fed: Federation, user: str, password: str, *extra: str) -> tuple[str, dict]:  # type: ignore[type-arg]
    lines = [f'User-Name = "{user}"', f'User-Password = "{password}"', "Message-Authenticator = 0x00", *extra]
    out = radclient(
        fed.proxy.auth_port, LIGURIA_NAS_SECRET, "\n".join(lines) + "\n", host="127.0.0.3", timeout=5
    )
    reply = radclient_reply(out)
    assert reply is not None, out + fed.proxy.log_tail()
    code, attributes = reply
    return code, dict(attributes)


def test_one_of_ours_roaming_in_liguria_is_authenticated_by_us(federation: Federation) -> None:
    wait_partner_loaded(federation)
    code, attrs = ask_via_liguria(federation, f"alice@{REALM}", PASSWORD, "Chargeable-User-Identity = 0x00")
    assert code == "Access-Accept", attrs
    cui = attrs["Chargeable-User-Identity"]
    assert cui and "alice" not in cui
    again = ask_via_liguria(federation, f"alice@{REALM}", PASSWORD, "Chargeable-User-Identity = 0x00")[1]
    assert again["Chargeable-User-Identity"] == cui  # stable
    code, attrs = ask_via_liguria(federation, f"alice@{REALM}", "wrong password")
    assert code == "Access-Reject"
    assert "F-TICKS/sesame/1.0#REALM=" + REALM in federation.sesame.log.read_text()


def test_one_of_ours_roaming_in_liguria_gets_eap_served_here_and_the_keys_reach_the_access_point(
    federation: Federation,
) -> None:
    """The eduroam way: Liguria's proxy routes our realm's EAP to us by the outer (anonymous)
    identity; the tunnel runs from the device to Sésame, and the MS-MPPE keys go back encrypted
    with Liguria's secret, which its proxy re-encrypts for its access point."""
    need_tool("eapol_test")
    wait_partner_loaded(federation)
    out = eapol_test(
        federation.workdir,
        federation.proxy.auth_port,
        LIGURIA_NAS_SECRET,
        host="127.0.0.3",
        identity=f"alice@{REALM}",
        anonymous_identity=f"anonymous@{REALM}",
        password=PASSWORD,
        method="TTLS",
        ca_cert=federation.workdir / "pki" / "ca.pem",
        server_name=f"radius.{REALM}",
    )
    assert "MPPE keys OK: 1  mismatch: 0" in out, out[-3000:]
    assert out.rstrip().endswith("SUCCESS")


def test_a_partner_may_not_use_us_for_other_realms_nor_loop(federation: Federation) -> None:
    wait_partner_loaded(federation)
    code, attrs = ask_via_liguria(federation, "gianni@piemonte.example", "x")
    assert (code, attrs["Reply-Message"]) == (
        "Access-Reject",
        "Ce réseau n'authentifie que ses propres domaines",
    )
    code, attrs = ask_via_liguria(federation, f"mario@loop.{LIGURIA}", MARIO_PASSWORD)
    loop = "Boucle de routage entre les proxys de la fédération"
    assert (code, attrs["Reply-Message"]) == ("Access-Reject", loop)


def test_eap_passes_through_untouched_and_the_keys_are_rekeyed(federation: Federation) -> None:
    need_tool("eapol_test")
    wait_partner_loaded(federation)
    out = eapol_test(
        federation.workdir,
        federation.sesame.auth_port,
        SECRET,
        identity=f"mario@{LIGURIA}",
        anonymous_identity=f"anonymous@{LIGURIA}",
        password=MARIO_PASSWORD,
        method="PEAP",
        ca_cert=federation.home.ca_cert,
        server_name=federation.home.server_name,
    )
    assert "MPPE keys OK: 1  mismatch: 0" in out, out[-3000:]
    assert out.rstrip().endswith("SUCCESS")


def test_a_visitors_accounting_is_recorded_here_and_a_copy_forwarded(federation: Federation) -> None:
    wait_partner_loaded(federation)
    lines = [
        f'User-Name = "mario@{LIGURIA}"',
        "Acct-Status-Type = Start",
        'Acct-Session-Id = "fed-0001"',
        'Calling-Station-Id = "02-00-00-00-00-09"',
        "NAS-Port = 3",
    ]
    out = radclient(federation.sesame.acct_port, SECRET, "\n".join(lines) + "\n", command="acct", timeout=3)
    assert "Received Accounting-Response" in out, out
    sessions = federation.sesame.cli("session", "list")
    assert f"mario@{LIGURIA}" in sessions  # accounting of visitors stays with us

    def forwarded() -> dict[str, str] | None:
        for record in federation.home.accounting_requests():
            attrs = dict(record)
            if attrs.get("Acct-Session-Id") == "fed-0001":
                return attrs
        return None

    wait_for(lambda: forwarded() is not None, "the copy to reach Liguria", timeout=10)
    copy = forwarded()
    assert copy is not None
    assert copy["Operator-Name"] == f"1{REALM}"
    assert copy["Acct-Status-Type"] == "Start"


def partner_states(fed: Federation) -> dict[str, str]:
    """Each home server's state in ``sesame partner list`` (the host:port → state)."""
    out = fed.sesame.cli("partner", "list")
    states = {}
    for line in out.splitlines():
        for server in ("127.0.0.2", "127.0.0.3"):
            if server in line:
                states[server] = next((s for s in ("alive", "zombie", "dead", "unknown") if s in line), "?")
    return states


def test_fail_over_when_the_home_server_stops_and_revival_after_status_server(federation: Federation) -> None:
    wait_partner_loaded(federation)
    federation.home.stop()
    answered = 0
    for i in range(6):  # the first may wait a response window, then fail over to the proxy
        code, _attrs = ask_sesame(federation, f"mario@{LIGURIA}", MARIO_PASSWORD, timeout=4.0)
        answered += code == "Access-Accept"
        del i
    assert answered == 6
    wait_for(lambda: partner_states(federation).get("127.0.0.2") == "dead", "127.0.0.2 to be dead")
    seen = federation.proxy.requests_seen()
    assert ask_sesame(federation, f"mario@{LIGURIA}", MARIO_PASSWORD)[0] == "Access-Accept"
    assert federation.proxy.requests_seen() == seen + 1  # the dead one is skipped at once
    federation.home.restart()
    wait_for(lambda: partner_states(federation).get("127.0.0.2") == "alive", "127.0.0.2 to be revived")
    seen = federation.home.requests_seen()
    assert ask_sesame(federation, f"mario@{LIGURIA}", MARIO_PASSWORD)[0] == "Access-Accept"
    assert federation.home.requests_seen() == seen + 1  # back to the first of the pool


def test_a_silent_partner_never_holds_up_our_own_citizens(tmp_path: Path) -> None:
    """One authentication worker; requests for a partner that never answers are in flight while
    a citizen of ours logs in: the worker is not waiting on the partner, so the citizen is answered."""
    need_tool("radclient")
    blackhole = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blackhole.bind(("127.0.0.6", 0))  # reads nothing, answers nothing
    sesame = launch(
        tmp_path,
        f"sqlite:///{tmp_path / 'silent.db'}",
        SESAME_FEDERATION_ENABLED="true",
        SESAME_FEDERATION_RESPONSE_WINDOW="5",
        SESAME_RADIUS_CONCURRENCY="1",
    )
    try:
        sesame.cli("commune", "add", "Nice", "--insee", "06088")
        sesame.cli("site", "add", "Promenade", "--commune", "Nice")
        sesame.cli("nas", "add", "ap-nice", "--ip", "127.0.0.1", "--secret", SECRET, "--site", "Promenade")
        sesame.cli("user", "add", "alice", "--email", "alice@example.fr", "--password", PASSWORD)
        port = blackhole.getsockname()[1]
        sesame.cli("partner", "add", "silent", "--realm", "silent.example", "--server", f"127.0.0.6:{port}",
                   "--secret", "silent-secret-1")  # fmt: skip
        wait_until_served(sesame)
        wait_for(lambda: "1 partners, 1 home servers" in sesame.log.read_text(), "the partner to be loaded")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as nas:
            nas.connect(("127.0.0.1", sesame.auth_port))
            for identifier in range(4):  # four visitors of the silent partner, all in flight
                attributes = codec.tlv(codec.USER_NAME, b"visitor%d@silent.example" % identifier)
                attributes += codec.tlv(
                    codec.USER_PASSWORD, codec.hide_user_password(b"x", SECRET.encode(), bytes(16))
                )
                nas.send(codec.encode_request(code=1, identifier=identifier, secret=SECRET.encode(),
                                              attributes=attributes, authenticator=bytes(16)))  # fmt: skip
            wait_for(lambda: blackhole_received(blackhole) >= 4, "the visitors to be forwarded")
            code, _attrs = ask_sesame_at(sesame, f"alice@{REALM}", PASSWORD)
            assert code == "Access-Accept"
    finally:
        _stop(sesame)
        blackhole.close()


_received: dict[int, int] = {}


def blackhole_received(sock: socket.socket) -> int:
    sock.setblocking(False)
    try:
        while True:
            sock.recv(4096)
            _received[sock.fileno()] = _received.get(sock.fileno(), 0) + 1
    except BlockingIOError:
        pass
    return _received.get(sock.fileno(), 0)


def ask_sesame_at(sesame: Server, user: str, password: str) -> tuple[str, dict[str, str]]:
    lines = f'User-Name = "{user}"\nUser-Password = "{password}"\nMessage-Authenticator = 0x00\n'
    reply = radclient_reply(radclient(sesame.auth_port, SECRET, lines, timeout=1.0, retries=1))
    assert reply is not None, sesame.log.read_text()[-2000:]
    return reply[0], dict(reply[1])
