"""The FreeRADIUS test peer (tests/interop/peers.py) in the roles the federation tests rely on.

Each test starts its own FreeRADIUS (about 40 ms): the counts and the last request it logged
belong to that test alone.
"""

from __future__ import annotations

import hashlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.interop.conftest import radclient
from tests.interop.peers import (
    FreeRadiusPeer,
    Record,
    eapol_test,
    flatten,
    radclient_reply,
    read_detail,
)
from tests.support.status_server import answers_status_server

pytestmark = pytest.mark.slow

PASSWORD = "Segreto-di-Mario"
OPERATOR = "1wifi.interop.example"


def pap(user: str, password: str, *extra: str, signed: bool = True) -> str:
    lines = [f'User-Name = "{user}"', f'User-Password = "{password}"', *extra]
    return "\n".join([*lines, "Message-Authenticator = 0x00"] if signed else lines) + "\n"


def cui_of(user: str) -> str:
    """What the peer answers for a Chargeable-User-Identity: MD5 hex of the lower-cased identity,
    as octets."""
    return "0x" + hashlib.md5(user.lower().encode()).hexdigest().encode().hex()


@pytest.fixture
def home(tmp_path: Path) -> Iterator[FreeRadiusPeer]:
    with FreeRadiusPeer(tmp_path / "liguria", users={"mario": PASSWORD}) as peer:
        yield peer


def test_the_home_server_accepts_its_realm_and_says_why_it_rejects(home: FreeRadiusPeer) -> None:
    accept = radclient_reply(radclient(home.auth_port, home.secret, pap("mario@liguria.example", PASSWORD)))
    assert accept is not None and accept[0] == "Access-Accept", home.log_tail()
    attributes = flatten(accept[1])
    # BlastRADIUS mitigation as FreeRADIUS >= 3.2.5 does it: Message-Authenticator comes first
    assert accept[1][0][0] == "Message-Authenticator"
    assert attributes["Reply-Message"] == "Benvenuto"
    assert attributes["Session-Timeout"] == "7200"
    assert attributes["Class"].startswith("0x" + b"liguria:".hex())
    assert "Chargeable-User-Identity" not in attributes  # nobody asked for one

    reject = radclient_reply(radclient(home.auth_port, home.secret, pap("mario@liguria.example", "wrong")))
    assert reject is not None and reject[0] == "Access-Reject"
    assert flatten(reject[1])["Reply-Message"] == "Credenziali errate"
    unknown = radclient_reply(radclient(home.auth_port, home.secret, pap("luigi@liguria.example", "x")))
    assert unknown is not None and unknown[0] == "Access-Reject"

    assert home.requests_seen() == 3
    last = home.last_request()
    assert last["User-Name"] == "luigi@liguria.example"
    assert last["User-Password"] == "x"
    assert last["Message-Authenticator"].startswith("0x") and len(last["Message-Authenticator"]) == 34


def test_the_home_server_answers_a_cui_request_and_logs_what_it_received(home: FreeRadiusPeer) -> None:
    request = pap(
        "mario@liguria.example",
        PASSWORD,
        "Chargeable-User-Identity = 0x00",  # RFC 4372 §2.1: a NAS asks with one NUL byte
        f'Operator-Name = "{OPERATOR}"',
        "Proxy-State = 0x01",
        "Proxy-State = 0x0203",
    )
    accept = radclient_reply(radclient(home.auth_port, home.secret, request))
    assert accept is not None and accept[0] == "Access-Accept"
    reply = flatten(accept[1])
    assert reply["Chargeable-User-Identity"] == cui_of("mario@liguria.example")
    assert reply["Proxy-State"] == "0x01, 0x0203"  # every Proxy-State echoed, in order
    last = home.last_request()
    assert last["Operator-Name"] == OPERATOR
    assert last["Chargeable-User-Identity"] == "0x00"
    assert last["Proxy-State"] == "0x01, 0x0203"
    assert [name for name, _ in home.requests()[-1]].count("Proxy-State") == 2


def test_a_request_without_message_authenticator_is_dropped(home: FreeRadiusPeer) -> None:
    out = radclient(home.auth_port, home.secret, pap("mario@liguria.example", PASSWORD, signed=False))
    assert radclient_reply(out) is None, out
    assert home.requests_seen() == 0


def test_status_server_needs_the_secret_and_can_be_turned_off(home: FreeRadiusPeer, tmp_path: Path) -> None:
    assert answers_status_server("127.0.0.1", home.auth_port, home.secret)
    assert not answers_status_server("127.0.0.1", home.auth_port, "not-the-secret", timeout=0.3)
    with FreeRadiusPeer(tmp_path / "quiet", users={"mario": PASSWORD}, status_server=False) as quiet:
        assert not answers_status_server("127.0.0.1", quiet.auth_port, quiet.secret, timeout=0.3)
        out = radclient(quiet.auth_port, quiet.secret, pap("mario@liguria.example", PASSWORD))
        assert radclient_reply(out) is not None
    assert home.requests_seen() == 0  # Status-Server is not an Access-Request


def test_stop_is_an_outage_and_restart_keeps_the_ports_and_the_count(home: FreeRadiusPeer) -> None:
    request = pap("mario@liguria.example", PASSWORD)
    assert radclient_reply(radclient(home.auth_port, home.secret, request)) is not None
    ports = home.auth_port, home.acct_port
    home.stop()
    assert radclient_reply(radclient(home.auth_port, home.secret, request, timeout=0.5, retries=1)) is None
    home.restart()  # returns once it answers Status-Server again: no fixed wait, no time limit
    assert home.running and answers_status_server("127.0.0.1", home.auth_port, home.secret)
    assert (home.auth_port, home.acct_port) == ports
    assert radclient_reply(radclient(home.auth_port, home.secret, request)) is not None
    assert home.requests_seen() == 2


def test_a_port_taken_before_the_first_start_means_other_ports(tmp_path: Path) -> None:
    """The ports a peer chose were free, not reserved: another socket taking one before FreeRADIUS
    binds it is a new choice and another try, not a failed test."""
    peer = FreeRadiusPeer(tmp_path / "clash", users={"mario": PASSWORD})
    taken = peer.auth_port
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", taken))
        with peer:
            assert peer.auth_port != taken
            request = pap("mario@liguria.example", PASSWORD)
            assert radclient_reply(radclient(peer.auth_port, peer.secret, request)) is not None


def test_a_port_taken_before_a_restart_is_an_error_not_a_move(home: FreeRadiusPeer) -> None:
    """Once started, the peer's ports are known to the tests (and to Sésame's partner table): a
    restart never moves them."""
    ports = home.auth_port, home.acct_port
    home.stop()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as squatter:
        squatter.bind(("127.0.0.1", home.auth_port))
        with pytest.raises(RuntimeError):
            home.start()
    assert (home.auth_port, home.acct_port) == ports
    assert not home.running


def test_a_proxy_forwards_a_realm_whole_from_its_own_address_and_keeps_accounting(tmp_path: Path) -> None:
    """A on 127.0.0.2 proxies x.example to B, which knows no client but 127.0.0.2: every request
    B answers came from A's address."""
    with (
        FreeRadiusPeer(
            tmp_path / "b",
            realm="x.example",
            secret="b-secret",
            users={"luigi": "pw-b"},
            clients={"127.0.0.2": "b-secret"},
        ) as b,
        FreeRadiusPeer(
            tmp_path / "a",
            users={"mario": PASSWORD},
            proxy_realms={"x.example": ("127.0.0.1", b.auth_port, "b-secret")},
            host="127.0.0.2",
        ) as a,
    ):

        def ask(request: str, command: str = "auth") -> tuple[str, Record]:
            port = a.auth_port if command == "auth" else a.acct_port
            reply = radclient_reply(radclient(port, a.secret, request, command=command, host=a.host))
            assert reply is not None, a.log_tail()
            return reply

        code, attributes = ask(pap("luigi@x.example", "pw-b", "Chargeable-User-Identity = 0x00"))
        assert code == "Access-Accept", a.log_tail()
        assert attributes[0][0] == "Message-Authenticator"
        assert flatten(attributes)["Chargeable-User-Identity"] == cui_of("luigi@x.example")
        forwarded = b.last_request()
        assert forwarded["User-Name"] == "luigi@x.example"  # nostrip
        assert forwarded["User-Password"] == "pw-b"  # re-encrypted with B's secret (RFC 2865 §5.2)
        assert "Proxy-State" in forwarded and "Message-Authenticator" in forwarded

        code, attributes = ask(pap("luigi@x.example", "nope"))
        assert code == "Access-Reject"
        assert flatten(attributes)["Reply-Message"] == "Credenziali errate"  # B's words, passed on
        assert ask(pap("mario@liguria.example", PASSWORD))[0] == "Access-Accept"  # A's own realm
        assert (a.requests_seen(), b.requests_seen()) == (3, 2)

        accounting = 'User-Name = "luigi@x.example"\nAcct-Status-Type = Start\nAcct-Session-Id = "s1"\n'
        assert ask(accounting, command="acct")[0] == "Accounting-Response"
        assert len(a.accounting_requests()) == 1
        assert b.accounting_requests() == []


@pytest.fixture
def eap_home(tmp_path: Path) -> Iterator[FreeRadiusPeer]:
    with FreeRadiusPeer(tmp_path / "liguria", users={"mario": PASSWORD}, eap=True) as peer:
        yield peer


@pytest.mark.parametrize("method", ["PEAP", "TTLS", "TTLS-MSCHAPV2"])
def test_eap_with_an_anonymous_outer_identity(eap_home: FreeRadiusPeer, tmp_path: Path, method: str) -> None:
    out = eapol_test(
        tmp_path,
        eap_home.auth_port,
        eap_home.secret,
        identity="mario@liguria.example",
        password=PASSWORD,
        anonymous_identity="anonymous@liguria.example",
        method=method,
        ca_cert=eap_home.ca_cert,
        server_name=eap_home.server_name,
        attributes=["89:x:00"],
    )
    assert out.rstrip().endswith("SUCCESS"), out[-3000:]
    assert "MPPE keys OK: 1  mismatch: 0" in out
    # the CUI is the inner identity's, as for PAP, not the anonymous one's
    assert f"Value: '{hashlib.md5(b'mario@liguria.example').hexdigest()}'" in out
    assert eap_home.last_request()["User-Name"] == "anonymous@liguria.example"
    assert eap_home.requests_seen() >= 5  # one Access-Request per EAP round trip


def test_eap_with_a_wrong_password_fails(eap_home: FreeRadiusPeer, tmp_path: Path) -> None:
    out = eapol_test(
        tmp_path,
        eap_home.auth_port,
        eap_home.secret,
        identity="mario@liguria.example",
        password="not-it",
        anonymous_identity="anonymous@liguria.example",
        ca_cert=eap_home.ca_cert,
    )
    assert out.rstrip().endswith("FAILURE"), out[-3000:]


def test_eap_through_a_proxy_reaches_the_home_server(eap_home: FreeRadiusPeer, tmp_path: Path) -> None:
    route = {"liguria.example": ("127.0.0.1", eap_home.auth_port, eap_home.secret)}
    with FreeRadiusPeer(tmp_path / "visited", realm="visited.example", proxy_realms=route) as visited:
        out = eapol_test(
            tmp_path,
            visited.auth_port,
            visited.secret,
            identity="mario@liguria.example",
            password=PASSWORD,
            anonymous_identity="anonymous@liguria.example",
            ca_cert=eap_home.ca_cert,
            server_name=eap_home.server_name,
        )
        assert out.rstrip().endswith("SUCCESS"), out[-3000:] + visited.log_tail()
        assert visited.requests_seen() == eap_home.requests_seen() > 0


def test_detail_records_read_back_as_freeradius_printed_them(tmp_path: Path) -> None:
    detail = tmp_path / "detail"
    detail.write_text(
        "Wed Dec  2 14:59:26 2026\n"
        "\tPacket-Type = Access-Request\n"
        '\tUser-Name = "m\\303\\251lo \\"q\\" b\\\\s\\ttab\\001"\n'
        "\tNAS-Port = 7\n"
        "\tProxy-State = 0x01\n"
        "\tProxy-State = 0x0203\n"
        "\tTimestamp = 1796223737\n"
        "\n"
        "Wed Dec  2 14:59:27 2026\n"
        '\tUser-Name = "é"\n'
        "\tTimestamp = 1796223738\n"
        "\n"
    )
    first, second = read_detail(detail)
    assert first == [
        ("User-Name", 'mélo "q" b\\s\ttab\x01'),
        ("NAS-Port", "7"),
        ("Proxy-State", "0x01"),
        ("Proxy-State", "0x0203"),
    ]
    assert second == [("User-Name", "é")]
    assert read_detail(tmp_path / "missing") == []


def test_configuration_values_that_would_break_quoting_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not usable"):
        FreeRadiusPeer(tmp_path / "bad", users={'ma"rio': "x"})
