"""Accounting streams from the real radclient, and Disconnect-Requests to a real UDP listener."""

from __future__ import annotations

import re
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator

import pytest
from pyrad import packet as pp
from pyrad.dictionary import Dictionary

from radius import DICTIONARY
from tests.interop.conftest import PASSWORD, REALM, SECRET, Server
from tests.support.coanas import CoaNas

USER_NAME, SESSION_TIMEOUT, MESSAGE_AUTHENTICATOR, ACCT_SESSION_ID, ERROR_CAUSE = 1, 27, 80, 44, 101


def rows(server: Server, where: str = "1=1", *args: object) -> list[sqlite3.Row]:
    with sqlite3.connect(server.workdir / "interop.db") as db:
        db.row_factory = sqlite3.Row
        return list(db.execute(f"SELECT * FROM radacct WHERE {where} ORDER BY radacctid", args))


def accounting(server: Server, attributes: str) -> str:
    return server.radclient(attributes, command="acct", port=server.acct_port)


def test_a_stream_start_interim_stop_is_one_session_tied_to_the_account(server: Server) -> None:
    out = server.radclient(
        f'User-Name = "alice"\nUser-Password = "{PASSWORD}"\nMessage-Authenticator = 0x00\n'
    )
    assert "Received Access-Accept" in out
    klass = re.search(r"Class = (0x[0-9a-f]+)", out)
    assert klass is not None, out
    common = (
        f'User-Name = "alice"\nAcct-Session-Id = "stream-1"\nClass = {klass.group(1)}\n'
        'Calling-Station-Id = "02-00-00-00-00-01"\nNAS-IP-Address = 127.0.0.1\n'
        "NAS-Port-Type = Wireless-802.11\n"
    )
    assert "Received Accounting-Response" in accounting(
        server, common + "Acct-Status-Type = Start\nFramed-IP-Address = 10.9.0.7\n"
    )
    assert "Received Accounting-Response" in accounting(
        server,
        common + "Acct-Status-Type = Interim-Update\nAcct-Session-Time = 300\nAcct-Input-Octets = 1000\n"
        "Acct-Output-Octets = 50000\n",
    )
    (row,) = rows(server, "acctsessionid = 'stream-1'")
    assert row["acctstoptime"] is None and row["acctinputoctets"] == 1000 and row["account_id"] is not None
    assert row["framedipaddress"] == "10.9.0.7" and row["device_mac"] == "02:00:00:00:00:01"
    assert row["nasporttype"] == "Wireless-802.11"
    listed = server.cli("session", "list", "--open", "--user", f"alice@{REALM}")
    assert f"{row['radacctid']}  alice  02:00:00:00:00:01" in listed and "open" in listed

    assert "Received Accounting-Response" in accounting(
        server,
        common + "Acct-Status-Type = Stop\nAcct-Session-Time = 900\nAcct-Input-Octets = 7\n"
        "Acct-Input-Gigawords = 1\nAcct-Output-Octets = 90000\nAcct-Terminate-Cause = User-Request\n"
        "Acct-Delay-Time = 2\n",
    )
    # late and repeated records after the Stop change nothing
    assert "Received Accounting-Response" in accounting(
        server, common + "Acct-Status-Type = Interim-Update\nAcct-Session-Time = 600\nAcct-Input-Octets = 5\n"
    )
    (row,) = rows(server, "acctsessionid = 'stream-1'")
    assert row["acctstoptime"] is not None and row["acctterminatecause"] == "User-Request"
    assert row["acctsessiontime"] == 900 and row["acctinputoctets"] == 2**32 + 7
    assert row["acctoutputoctets"] == 90000
    assert "User-Request" in server.cli("session", "list", "--user", "alice")


def test_a_stop_without_start_makes_a_closed_session(server: Server) -> None:
    out = accounting(
        server,
        'User-Name = "bob"\nAcct-Session-Id = "lonely-stop"\n'
        "Acct-Status-Type = Stop\nAcct-Session-Time = 60\n",
    )
    assert "Received Accounting-Response" in out
    (row,) = rows(server, "acctsessionid = 'lonely-stop'")
    assert row["acctstoptime"] is not None and row["account_id"] is None


def test_a_retransmission_is_answered_again_and_counted_once(server: Server) -> None:
    dictionary = Dictionary(str(DICTIONARY))
    request = pp.AcctPacket(id=77, secret=SECRET.encode(), dict=dictionary)
    request["User-Name"] = "alice"
    request["Acct-Status-Type"] = "Start"
    request["Acct-Session-Id"] = "retransmitted"
    data = request.RequestPacket()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        sock.connect(("127.0.0.1", server.acct_port))
        replies = []
        for _ in range(3):
            sock.send(data)
            replies.append(sock.recv(4096))
    assert replies[0][0] == pp.AccountingResponse and len(set(replies)) == 1
    assert len(rows(server, "acctsessionid = 'retransmitted'")) == 1


def test_accounting_on_closes_the_sessions_of_that_access_point(server: Server) -> None:
    for name in ("reboot-1", "reboot-2"):
        out = accounting(
            server, f'User-Name = "alice"\nAcct-Session-Id = "{name}"\nAcct-Status-Type = Start\n'
        )
        assert "Received Accounting-Response" in out
    assert "Received Accounting-Response" in accounting(
        server, "Acct-Status-Type = Accounting-On\nNAS-IP-Address = 127.0.0.1\n"
    )
    closed = rows(server, "acctsessionid IN ('reboot-1', 'reboot-2')")
    assert len(closed) == 2
    assert all(r["acctstoptime"] is not None and r["acctterminatecause"] == "NAS-Reboot" for r in closed)


def test_an_incomplete_record_is_not_answered(server: Server) -> None:
    out = server.radclient(
        'User-Name = "alice"\nAcct-Status-Type = Start\n', command="acct", port=server.acct_port, timeout=0.5
    )
    assert "Received Accounting-Response" not in out  # no Acct-Session-Id: dropped and counted


# -- Disconnect-Request (RFC 5176) to a NAS played by a UDP listener of the test --------------------


@pytest.fixture
def coa_nas(server: Server) -> Iterator[CoaNas]:
    receiver = CoaNas(secret=b"coa-nas-secret-42")
    receiver.sock.bind(("127.0.0.2", 0))  # the access point's own address: CoA goes to the NAS
    port = receiver.sock.getsockname()[1]
    name = f"coa-ap-{port}"
    secret = receiver.secret.decode()
    server.cli(
        "nas", "add", name, "--ip", "127.0.0.2", "--secret", secret, "--site", "Médiathèque",
        "--coa-port", str(port),
    )  # fmt: skip
    thread = threading.Thread(target=receiver.serve, daemon=True)
    thread.start()
    yield receiver
    receiver.sock.close()
    server.cli("nas", "remove", name)


def start_from(address: str, port: int, secret: bytes, session_id: str, user: str = "alice") -> None:
    """An Accounting Start sent from ``address`` (another access point on the loopback)."""
    dictionary = Dictionary(str(DICTIONARY))
    request = pp.AcctPacket(id=5, secret=secret, dict=dictionary)
    request["User-Name"] = user
    request["Acct-Status-Type"] = "Start"
    request["Acct-Session-Id"] = session_id
    request["Calling-Station-Id"] = "02-00-00-00-00-09"
    request["Framed-IP-Address"] = "10.9.0.9"
    request["NAS-IP-Address"] = address
    data = request.RequestPacket()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(0.5)
        sock.bind((address, 0))
        for _ in range(30):  # retransmitted as a NAS would, while the new access point is loaded
            sock.sendto(data, ("127.0.0.1", port))
            try:
                assert sock.recv(4096)[0] == pp.AccountingResponse
                return
            except TimeoutError:
                continue
    raise AssertionError(f"no Accounting-Response to {address}")


def test_disconnect_reaches_the_access_point_and_says_what_it_answered(
    server: Server, coa_nas: CoaNas
) -> None:
    start_from("127.0.0.2", server.acct_port, coa_nas.secret, "to-cut")
    (row,) = rows(server, "acctsessionid = 'to-cut'")
    out = server.cli("session", "disconnect", str(row["radacctid"]))
    assert "disconnected" in out
    (request,) = coa_nas.received
    assert coa_nas.problems == []
    assert request.code == 40  # Disconnect-Request
    assert request.attributes[ACCT_SESSION_ID] == [b"to-cut"] and request.attributes[USER_NAME] == [b"alice"]
    assert rows(server, "acctsessionid = 'to-cut'")[0]["disconnect_requested_at"] is not None

    coa_nas.answer = "nak"
    start_from("127.0.0.2", server.acct_port, coa_nas.secret, "not-there")
    (row,) = rows(server, "acctsessionid = 'not-there'")
    done = subprocess.run(
        [sys.executable, "-m", "sesame", "session", "disconnect", str(row["radacctid"])],
        env=server.env,
        cwd=server.workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 1 and "Session-Context-Not-Found" in done.stderr, done.stderr
    assert rows(server, "acctsessionid = 'not-there'")[0]["disconnect_requested_at"] is None


def test_a_running_session_gets_new_limits_by_coa_request(server: Server, coa_nas: CoaNas) -> None:
    start_from("127.0.0.2", server.acct_port, coa_nas.secret, "to-slow-down")
    (row,) = rows(server, "acctsessionid = 'to-slow-down'")
    out = server.cli(
        "session", "change", str(row["radacctid"]), "--session-timeout", "600", "--bandwidth-down", "512"
    )
    assert "changed" in out
    (request,) = coa_nas.received
    assert coa_nas.problems == []
    assert request.code == 43  # CoA-Request
    assert request.attributes[ACCT_SESSION_ID] == [b"to-slow-down"]
    assert request.attributes[SESSION_TIMEOUT] == [(600).to_bytes(4, "big")]
    assert rows(server, "acctsessionid = 'to-slow-down'")[0]["acctstoptime"] is None


def test_deleting_an_account_first_disconnects_its_sessions(server: Server, coa_nas: CoaNas) -> None:
    server.cli("user", "add", "carol", "--email", "carol@example.fr", "--password", PASSWORD)
    start_from("127.0.0.2", server.acct_port, coa_nas.secret, "carol-online", user="carol")
    (row,) = rows(server, "acctsessionid = 'carol-online'")
    assert row["account_id"] is not None
    done = subprocess.run(
        [sys.executable, "-m", "sesame", "user", "delete", "carol", "--yes"],
        env=server.env,
        cwd=server.workdir,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "1 of 1 open sessions disconnected" in done.stderr
    (request,) = coa_nas.received
    assert request.code == 40 and request.attributes[USER_NAME] == [b"carol"]  # before the pseudonym
    (row,) = rows(server, "acctsessionid = 'carol-online'")
    assert row["username"] == done.stdout.strip() and row["account_id"] is None
