"""Interop with FreeRADIUS's own clients: radtest and radclient against a real ``sesame serve``."""

from __future__ import annotations

import os
import re
import secrets
import socket
import sqlite3
import time

import pytest

from radius import codec
from radius.codec import Code
from tests.conftest import need_ipv6_loopback
from tests.interop.conftest import PASSWORD, REALM, SECRET, Server, received

pytestmark = pytest.mark.slow


@pytest.fixture
def user(server: Server) -> str:
    """An account of this test's own, with PASSWORD: tokens, credentials, devices, failure counts
    and decision records of one test are never another's, whatever order the tests run in."""
    name = f"user-{secrets.token_hex(4)}"
    server.cli("user", "add", name, "--email", f"{name}@example.fr", "--password", PASSWORD)
    return name


def random_mac() -> str:
    """A locally administered unicast MAC (02-…), written as access points send it."""
    return "02-" + "-".join(f"{b:02X}" for b in secrets.token_bytes(5))


def test_pap_accept_carries_the_policy_and_a_message_authenticator(server: Server, user: str) -> None:
    out = server.radtest(f"{user}@{REALM}", PASSWORD)
    assert received(out) == "Access-Accept", out
    reply = out.split("Received Access-Accept", 1)[1]
    assert "Message-Authenticator = 0x" in reply
    assert "Session-Timeout = 10800" in reply and "Acct-Interim-Interval = 300" in reply
    assert re.search(r"Class = 0x736573616d653a", reply)  # "sesame:"


def test_pap_wrong_password_is_rejected_with_a_reason(server: Server, user: str) -> None:
    out = server.radtest(user, "not the password")
    assert received(out) == "Access-Reject", out
    assert 'Reply-Message = "Utilisateur inconnu ou mot de passe erroné"' in out  # the region's language


def test_a_refusal_speaks_the_accounts_language_once_the_password_is_proved(
    server: Server, user: str
) -> None:
    with sqlite3.connect(server.workdir / "interop.db") as connection:  # as the portal records it
        connection.execute("UPDATE account SET locale = 'it' WHERE username = ?", (user,))
    server.cli("user", "disable", user)
    out = server.radtest(user, PASSWORD)
    assert received(out) == "Access-Reject", out
    assert 'Reply-Message = "Questo account è disattivato"' in out
    # a wrong password answers in the region's language, as for an identity that does not exist:
    # the language tells nothing of whom an identity belongs to
    wrong = server.radtest(user, "not the password")
    unknown = server.radtest(f"nobody-{secrets.token_hex(4)}", "not the password")
    for out in (wrong, unknown):
        assert 'Reply-Message = "Utilisateur inconnu ou mot de passe erroné"' in out, out


def test_a_token_is_accepted_once_over_pap(server: Server, user: str) -> None:
    token = server.cli("token", "issue", user, "--nas", "local-ap").strip().splitlines()[-1]
    assert received(server.radtest(user, token)) == "Access-Accept"
    assert received(server.radtest(user, token)) == "Access-Reject"


def test_a_token_is_accepted_once_over_chap(server: Server, user: str) -> None:
    token = server.cli("token", "issue", user, "--nas", "local-ap").strip().splitlines()[-1]
    request = f'User-Name = "{user}@{REALM}"\nCHAP-Password = "{token}"\nMessage-Authenticator = 0x00\n'
    first = server.radclient(request)
    assert "CHAP-Password = 0x" in first  # radclient computed a real CHAP response
    assert received(first) == "Access-Accept", first
    assert received(server.radclient(request)) == "Access-Reject"


def test_mschap_with_a_device_credential(server: Server, user: str) -> None:
    """radtest -t mschap speaks MS-CHAP version 1 (8-octet challenge, MS-CHAP-Response)."""
    password = server.cli("credential", "add", user, "--label", "laptop").strip().splitlines()[-1]
    out = server.radtest(f"{user}@{REALM}", password, method="mschap")
    assert "MS-CHAP-Response = 0x" in out
    assert received(out) == "Access-Accept", out
    reply = out.split("Received Access-Accept", 1)[1]
    assert "MS-CHAP-MPPE-Keys = 0x" in reply
    out = server.radtest(f"{user}@{REALM}", "wrong-password", method="mschap")
    assert received(out) == "Access-Reject"
    assert "E=691" in out


def mac_request(mac: str) -> str:
    return (
        f'User-Name = "{mac}"\nUser-Password = "{mac}"\n'
        f'Calling-Station-Id = "{mac}"\nMessage-Authenticator = 0x00\n'
    )


def test_mac_authentication_of_a_remembered_device(server: Server, user: str) -> None:
    mac = random_mac()
    assert received(server.radclient(mac_request(mac))) == "Access-Reject"
    server.cli("device", "remember", user, "--mac", mac.replace("-", ":").lower())
    assert received(server.radclient(mac_request(mac))) == "Access-Accept"


def test_status_server_on_both_ports(server: Server) -> None:
    out = server.radclient("Message-Authenticator = 0x00\n", command="status")
    assert received(out) == "Access-Accept", out
    out = server.radclient("Message-Authenticator = 0x00\n", command="status", port=server.acct_port)
    assert received(out) == "Accounting-Response", out


def test_no_message_authenticator_no_answer(server: Server) -> None:
    out = server.radclient(f'User-Name = "alice"\nUser-Password = "{PASSWORD}"\n', retries=1, timeout=1)
    assert received(out) is None and "No reply" in out


def test_wrong_secret_no_answer(server: Server) -> None:
    out = server.radtest("alice", PASSWORD, secret="not-the-secret")
    assert received(out) is None and "No reply" in out


def test_unknown_client_no_answer(server: Server) -> None:
    request = f'Packet-Src-IP-Address = 127.0.0.77\nUser-Name = "alice"\nUser-Password = "{PASSWORD}"\n'
    out = server.radclient(request + "Message-Authenticator = 0x00\n", retries=1, timeout=1)
    assert received(out) is None and "No reply" in out


def test_a_retransmission_gets_the_cached_reply_byte_for_byte(server: Server) -> None:
    """RFC 5080 §2.2.2: the same Access-Request again (same bytes, same source port, same
    Identifier and authenticator) is answered from the duplicate cache. The password is a
    one-time token, so a server that decided again would reject the second copy."""
    token = server.cli("token", "issue", "alice", "--nas", "local-ap").strip().splitlines()[-1]
    authenticator = os.urandom(16)
    secret = SECRET.encode()
    request = codec.encode_request(
        code=Code.ACCESS_REQUEST,
        identifier=42,
        secret=secret,
        authenticator=authenticator,
        attributes=codec.tlv(codec.USER_NAME, b"alice")
        + codec.tlv(codec.USER_PASSWORD, codec.hide_user_password(token.encode(), secret, authenticator)),
    )
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.connect(("127.0.0.1", server.auth_port))
        sock.send(request)
        first = sock.recv(4096)
        sock.send(request)
        again = sock.recv(4096)
    assert first[0] == Code.ACCESS_ACCEPT, first
    assert again == first
    # the token is spent: a new request (new authenticator) with it is decided afresh, and refused
    assert received(server.radtest("alice", token)) == "Access-Reject"


def answered_from(server: Server, source: str, secret: str) -> bool:
    """Whether a Status-Server sent from ``source`` (a loopback address radclient binds) is answered."""
    request = f"Packet-Src-IP-Address = {source}\nMessage-Authenticator = 0x00\n"
    return received(server.radclient(request, command="status", secret=secret, timeout=0.5)) is not None


def wait_until_answered_from(server: Server, source: str, secret: str, *, answered: bool) -> None:
    """Access points are reloaded within a couple of seconds of a change."""
    deadline = time.monotonic() + 15
    while answered_from(server, source, secret) != answered:
        assert time.monotonic() < deadline, f"{source} still {'un' if answered else ''}answered"
        time.sleep(0.3)


def test_access_points_are_reloaded_without_restart(server: Server, user: str) -> None:
    """An access point of this test's own, on its own addresses: the shared ones stay as they are."""
    source, secret = f"127.0.{secrets.randbelow(200) + 20}.{secrets.randbelow(250) + 2}", "reload-secret-1"
    name = f"reload-{secrets.token_hex(4)}"
    assert not answered_from(server, source, secret)
    server.cli("nas", "add", name, "--ip", source.rsplit(".", 1)[0] + ".0/24", "--secret", secret,
               "--site", "Médiathèque")  # fmt: skip
    wait_until_answered_from(server, source, secret, answered=True)
    request = f'Packet-Src-IP-Address = {source}\nUser-Name = "{user}"\nUser-Password = "{PASSWORD}"\n'
    out = server.radclient(request + "Message-Authenticator = 0x00\n", secret=secret)
    assert received(out) == "Access-Accept", out
    server.cli("nas", "remove", name)
    wait_until_answered_from(server, source, secret, answered=False)
    assert received(server.radtest(user, PASSWORD)) == "Access-Accept"  # 127.0.0.1 is still served


def test_decisions_are_recorded_without_passwords(server: Server, user: str) -> None:
    """A PAP reject, a token, an MS-CHAP device credential and a MAC address of this test's own."""
    assert received(server.radtest(user, "record-me-not")) == "Access-Reject"
    token = server.cli("token", "issue", user, "--nas", "local-ap").strip().splitlines()[-1]
    assert received(server.radtest(user, token)) == "Access-Accept"
    device = server.cli("credential", "add", user, "--label", "laptop").strip().splitlines()[-1]
    assert received(server.radtest(user, device, method="mschap")) == "Access-Accept"
    mac = random_mac()
    server.cli("device", "remember", user, "--mac", mac.replace("-", ":").lower())
    assert received(server.radclient(mac_request(mac))) == "Access-Accept"
    db = server.workdir / "interop.db"
    deadline = time.monotonic() + 10
    while True:  # records are written in batches
        with sqlite3.connect(db) as connection:
            rows = connection.execute(
                "SELECT username, reply, method, reason, nasipaddress FROM radpostauth ORDER BY id"
            ).fetchall()
            dump = "\n".join(connection.iterdump())
        if {r[2] for r in rows if r[0] in (user, mac)} >= {"pap", "token", "mschap", "mac"}:
            break
        assert time.monotonic() < deadline, rows
        time.sleep(0.2)
    assert (user, "Access-Reject", "pap", "bad_password", "127.0.0.1") in rows
    assert (user, "Access-Accept", "token") in [r[:3] for r in rows]
    assert (user, "Access-Accept", "mschap") in [r[:3] for r in rows]
    assert (mac, "Access-Accept", "mac") in [r[:3] for r in rows]
    assert "record-me-not" not in dump and PASSWORD not in dump and token not in dump and device not in dump


def test_ipv6_with_its_own_access_point_and_secret(server: Server, user: str) -> None:
    need_ipv6_loopback()
    request = f'User-Name = "{user}"\nUser-Password = "{PASSWORD}"\nMessage-Authenticator = 0x00\n'
    out = server.radclient(request, host="[::1]", secret=SECRET + "-v6")
    assert received(out) == "Access-Accept", out
    assert received(server.radclient(request, host="[::1]", secret=SECRET, timeout=1)) is None


def test_garbage_is_dropped_and_the_server_keeps_answering(server: Server) -> None:
    """Random and mutated datagrams at the live server: no crash, no answer, then radtest still works."""
    import random
    import socket

    rng = random.Random(2865)
    valid = bytes.fromhex("01070040") + bytes(16) + b"\x01\x07alice" + b"\x50\x12" + bytes(16)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.2)
        for i in range(3000):
            if i % 2:
                data = bytearray(valid)
                for _ in range(rng.randint(1, 6)):
                    data[rng.randrange(len(data))] = rng.randrange(256)
                datagram = bytes(data[: rng.randint(0, len(data))])
            else:
                datagram = rng.randbytes(rng.randint(0, 300))
            sock.sendto(datagram, ("127.0.0.1", server.auth_port if i % 3 else server.acct_port))
        try:
            answer = sock.recv(4096)
        except TimeoutError:
            answer = b""
    assert answer == b""
    assert server.proc.poll() is None
    assert received(server.radtest("alice", PASSWORD)) == "Access-Accept"
