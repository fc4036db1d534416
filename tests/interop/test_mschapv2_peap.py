"""MS-CHAPv2 from a real client (issue 3): eapol_test → FreeRADIUS PEAP front-end → Sésame.

Sésame terminates EAP itself since issue 15 (tests/interop/test_eap.py, docs/eap.md); this is the
other deployment, which still works and which a region may keep (an existing FreeRADIUS in front
of its access points, with its own EAP policy): a FreeRADIUS 3.2 front-end (127.0.0.4) terminates
PEAP's TLS tunnel and, inside it, turns EAP-MSCHAPv2 into MS-CHAP-Challenge + MS-CHAP2-Response
(RFC 2548 §2.3) that it proxies to Sésame (``proxy_tunneled_request_as_eap = no``). Sésame
checks the NT-Response against the device credential's NT hash (RFC 2759 §8) and answers
MS-CHAP2-Success (the authenticator response) and MS-MPPE keys (RFC 3079); FreeRADIUS hands the
success to the client inside the tunnel, whose EAP-MSCHAPv2 checks the authenticator response, so
only a server that knows the NT hash can make it succeed. The client's MPPE keys are PEAP's own
then, from the TLS tunnel.

TTLS with inner (non-EAP) MSCHAPv2 goes the same way: FreeRADIUS proxies the MS-CHAP attributes of
the tunnel as they are and returns MS-CHAP2-Success to the client.

What Sésame decided is read from its decision records (``radpostauth``): there is no CLI for them.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.interop.conftest import PASSWORD, REALM, SECRET, Server, launch, need_tool, wait_until_served
from tests.interop.peers import FreeRadiusPeer, eapol_test

pytestmark = pytest.mark.slow

FRONT_END = "127.0.0.4"  # the PEAP front-end's address, so Sésame tells it from the access point
FRONT_END_SECRET = "front-end-to-sesame-1"
AP_SECRET = "ap-to-front-end-1"  # eapol_test plays the access point of the front-end


Decision = tuple[str, str, str, str, str]  # username, reply, method, reason, NAS address


@dataclass
class Connection:
    output: str  # eapol_test's
    decisions: list[Decision]  # what Sésame recorded meanwhile (one per proxied inner request)

    @property
    def succeeded(self) -> bool:
        return self.output.rstrip().endswith("SUCCESS")

    @property
    def failed(self) -> bool:
        return self.output.rstrip().endswith("FAILURE")


@dataclass
class Deployment:
    sesame: Server
    front: FreeRadiusPeer
    workdir: Path

    def connect(self, identity: str, password: str, *, method: str = "PEAP") -> Connection:
        """One 802.1X authentication through the front-end, and Sésame's decision records for it.

        Records are written in batches every 0.1 s: this waits until one shows up (up to 10 s),
        so that the next connection never sees a late record of this one."""
        before = self._last_decision_id()
        output = eapol_test(
            self.workdir,
            self.front.auth_port,
            AP_SECRET,
            identity=identity,
            password=password,
            method=method,
            ca_cert=self.front.ca_cert,
            server_name=self.front.server_name,
            host=FRONT_END,
        )
        deadline = time.monotonic() + 10
        while not (decisions := self._decisions(before)) and time.monotonic() < deadline:
            time.sleep(0.1)
        return Connection(output=output, decisions=decisions)

    def _decisions(self, after: int) -> list[Decision]:
        with sqlite3.connect(self.sesame.workdir / "mschapv2.db") as db:
            return db.execute(
                "SELECT username, reply, method, reason, nasipaddress FROM radpostauth WHERE id > ?"
                " ORDER BY id",
                (after,),
            ).fetchall()

    def _last_decision_id(self) -> int:
        with sqlite3.connect(self.sesame.workdir / "mschapv2.db") as db:
            return int(db.execute("SELECT coalesce(max(id), 0) FROM radpostauth").fetchone()[0])

    def failure_report(self, connection: Connection) -> str:
        return f"{connection.output[-4000:]}\n{connection.decisions}\n{self.front.log_tail()}"


@pytest.fixture(scope="module")
def deployment(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    need_tool("freeradius")
    need_tool("eapol_test")
    workdir = tmp_path_factory.mktemp("mschapv2")
    sesame = launch(workdir, f"sqlite:///{workdir / 'mschapv2.db'}")
    try:
        sesame.cli("commune", "add", "Valence", "--insee", "26362")
        sesame.cli("site", "add", "Médiathèque", "--commune", "Valence")
        sesame.cli(
            "nas", "add", "peap-front-end", "--ip", FRONT_END, "--secret", FRONT_END_SECRET,
            "--site", "Médiathèque",
        )  # fmt: skip
        # an access point at 127.0.0.1 only so that wait_until_served can tell the table is loaded
        sesame.cli("nas", "add", "ap", "--ip", "127.0.0.1", "--secret", SECRET, "--site", "Médiathèque")
        wait_until_served(sesame)
        front = FreeRadiusPeer(
            workdir / "front-end",
            realm="peap.example",
            host=FRONT_END,
            users={},  # nobody is authenticated here: every inner request goes to Sésame
            clients={"127.0.0.1": AP_SECRET},
            eap=True,
            inner_proxy=("127.0.0.1", sesame.auth_port, FRONT_END_SECRET),
        )
        with front:
            yield Deployment(sesame=sesame, front=front, workdir=workdir)
    finally:
        sesame.proc.terminate()
        sesame.proc.wait(timeout=30)


@dataclass
class Account:
    name: str
    device_password: str  # its laptop's credential


@pytest.fixture
def account(deployment: Deployment) -> Account:
    """An account of this test's own (PASSWORD) with a laptop credential: credentials, failure
    counts and decision records of one test are never another's, whatever the order."""
    name = f"user-{secrets.token_hex(4)}"
    deployment.sesame.cli("user", "add", name, "--email", f"{name}@example.fr", "--password", PASSWORD)
    added = deployment.sesame.cli("credential", "add", name, "--label", "laptop")
    return Account(name=name, device_password=added.strip().splitlines()[-1])  # printed alone, last


def test_peap_mschapv2_with_a_device_credential_succeeds(deployment: Deployment, account: Account) -> None:
    connection = deployment.connect(f"{account.name}@{REALM}", account.device_password)
    assert connection.succeeded, deployment.failure_report(connection)
    # wpa_supplicant checked Sésame's authenticator response (RFC 2759 §8.7), relayed by the
    # front-end in the EAP-MSCHAPv2 Success-Request: only the NT hash's holder can compute it
    assert "EAP-MSCHAPV2: Authentication succeeded" in connection.output
    # PEAP's keys (from the TLS tunnel) reached the access point in MS-MPPE-*-Key
    assert "MPPE keys OK: 1  mismatch: 0" in connection.output
    assert connection.decisions == [
        (f"{account.name}@{REALM}", "Access-Accept", "mschapv2", "accepted", FRONT_END)
    ]


def test_sesames_success_and_mppe_keys_match_what_the_client_computed(
    deployment: Deployment, account: Account
) -> None:
    """The client's own RFC 2759/3079 values (wpa_supplicant's debug output) against what Sésame
    sent the front-end (its detail log, keys decrypted with the shared secret, RFC 2548 §2.4).
    rlm_eap_mschapv2 drops those MPPE keys (PEAP's come from TLS), so this is where they are seen."""
    connection = deployment.connect(f"{account.name}@{REALM}", account.device_password)
    assert connection.succeeded, deployment.failure_report(connection)
    reply = dict(deployment.front.proxied_replies()[-1])
    auth_response = client_hexdump(connection.output, "MSCHAPV2: Auth Response")
    success = bytes.fromhex(reply["MS-CHAP2-Success"].removeprefix("0x"))
    assert success[1:] == b"S=" + auth_response.hex().upper().encode()  # RFC 2759 §8.7
    master_key = client_hexdump(connection.output, "MSCHAPV2: Master Key")  # RFC 3079 §3.4
    # Send-Key: NAS → client, i.e. the client's receive key ("on the server side, it is the send key")
    assert reply["MS-MPPE-Send-Key"] == "0x" + start_key(master_key, MAGIC3).hex()
    assert reply["MS-MPPE-Recv-Key"] == "0x" + start_key(master_key, MAGIC2).hex()


MAGIC2 = b"On the client side, this is the send key; on the server side, it is the receive key."
MAGIC3 = b"On the client side, this is the receive key; on the server side, it is the send key."


def start_key(master_key: bytes, magic: bytes) -> bytes:
    """RFC 3079 §3.4 GetAsymmetricStartKey for 128-bit keys, written out independently of Sésame's."""
    return hashlib.sha1(master_key + b"\x00" * 40 + magic + b"\xf2" * 40).digest()[:16]


def client_hexdump(output: str, label: str) -> bytes:
    """The last ``label - hexdump(len=n): aa bb …`` that wpa_supplicant printed."""
    found = re.findall(rf"^{re.escape(label)} - hexdump\(len=\d+\): ([0-9a-f ]+)$", output, re.MULTILINE)
    assert found, f"eapol_test printed no {label}"
    return bytes.fromhex(found[-1])


def test_peap_mschapv2_with_a_wrong_password_fails(deployment: Deployment, account: Account) -> None:
    connection = deployment.connect(f"{account.name}@{REALM}", account.device_password + "x")
    assert connection.failed, deployment.failure_report(connection)
    assert connection.decisions == [
        (f"{account.name}@{REALM}", "Access-Reject", "mschapv2", "bad_mschapv2", FRONT_END)
    ]


def test_the_account_password_is_not_a_device_credential(deployment: Deployment, account: Account) -> None:
    """MS-CHAPv2 needs an NT hash; only device credentials have one (the account's password is
    kept as argon2id), so the portal password does not open the secure SSID."""
    connection = deployment.connect(f"{account.name}@{REALM}", PASSWORD)
    assert connection.failed, deployment.failure_report(connection)
    assert [d[2:4] for d in connection.decisions] == [("mschapv2", "bad_mschapv2")]


def test_an_unknown_user_fails(deployment: Deployment, account: Account) -> None:
    connection = deployment.connect(f"nobody@{REALM}", account.device_password)
    assert connection.failed, deployment.failure_report(connection)
    assert [d[2:4] for d in connection.decisions] == [("mschapv2", "unknown_user")]


def test_ttls_with_inner_mschapv2_succeeds(deployment: Deployment, account: Account) -> None:
    """TTLS carries MS-CHAPv2 as attributes already (RFC 5281 §11.2.4): proxied as they are."""
    connection = deployment.connect(
        f"{account.name}@{REALM}", account.device_password, method="TTLS-MSCHAPV2"
    )
    assert connection.succeeded, deployment.failure_report(connection)
    assert "MPPE keys OK: 1  mismatch: 0" in connection.output
    assert [d[1:3] for d in connection.decisions] == [("Access-Accept", "mschapv2")]
    connection = deployment.connect(f"{account.name}@{REALM}", "not-it", method="TTLS-MSCHAPV2")
    assert connection.failed, deployment.failure_report(connection)
    assert [d[1:4] for d in connection.decisions] == [("Access-Reject", "mschapv2", "bad_mschapv2")]


def test_a_revoked_credential_stops_working_at_once(deployment: Deployment, account: Account) -> None:
    sesame = deployment.sesame
    password = sesame.cli("credential", "add", account.name, "--label", "phone").strip().splitlines()[-1]
    assert deployment.connect(f"{account.name}@{REALM}", password).succeeded
    listing = sesame.cli("credential", "list", account.name)
    phone = next(line for line in listing.splitlines() if "phone" in line)
    sesame.cli("credential", "revoke", account.name, phone.split()[0].lstrip("#"))
    connection = deployment.connect(f"{account.name}@{REALM}", password)
    assert connection.failed, deployment.failure_report(connection)
    assert [d[2:4] for d in connection.decisions] == [("mschapv2", "bad_mschapv2")]
    # the laptop's credential is untouched
    assert deployment.connect(f"{account.name}@{REALM}", account.device_password).succeeded


def test_an_identity_without_a_realm_is_ours(deployment: Deployment, account: Account) -> None:
    connection = deployment.connect(account.name, account.device_password)
    assert connection.succeeded, deployment.failure_report(connection)
    assert connection.decisions == [(account.name, "Access-Accept", "mschapv2", "accepted", FRONT_END)]


def test_a_windows_domain_prefix_is_not_part_of_the_name(deployment: Deployment, account: Account) -> None:
    """A Windows peer may send ``DOMAIN\\user`` and hashes ``user`` (RFC 2759 §8.2: "excluding any
    prepended domain name"); wpa_supplicant does the same, and FreeRADIUS 3.2.1's EAP-MSCHAPv2
    proxies the User-Name as sent. FreeRADIUS as a home server strips it with its ``ntdomain``
    realm; Sésame should find the account's name."""
    connection = deployment.connect(f"WORKGROUP\\{account.name}", account.device_password)
    assert connection.succeeded, connection.decisions
    assert [d[1:3] for d in connection.decisions] == [("Access-Accept", "mschapv2")]
