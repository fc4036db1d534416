"""EAP served by Sésame itself (issue 15): wpa_supplicant's ``eapol_test`` directly against a
running ``sesame serve`` — PEAP/EAP-MSCHAPv2, EAP-TTLS with inner PAP, MS-CHAPv2 and EAP-MSCHAPv2,
EAP-TLS — over TLS 1.2 and 1.3, with the CA and server name pinned as a well-configured device has
them. ``MPPE keys OK: 1  mismatch: 0`` is eapol_test comparing the keys it derived from the TLS
session with the MS-MPPE keys Sésame sent to the "access point": only a server holding the same
TLS session can send the right ones.

What Sésame decided is read from its decision records (``radpostauth``)."""

from __future__ import annotations

import secrets
import sqlite3
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from radius.eap.trialpki import make_trial_pki
from tests.interop.conftest import PASSWORD, REALM, SECRET, Server, launch, need_tool, wait_until_served
from tests.interop.peers import eapol_test

pytestmark = pytest.mark.slow

SERVER_NAME = f"radius.{REALM}"


@dataclass
class Eap:
    sesame: Server
    pki: Path
    database: Path

    def connect(self, identity: str, password: str = "", *, method: str = "PEAP", **options: Any) -> str:
        need_tool("eapol_test")
        return eapol_test(
            self.sesame.workdir,
            self.sesame.auth_port,
            SECRET,
            identity=identity,
            password=password,
            method=method,
            ca_cert=self.pki / "ca.pem",
            server_name=SERVER_NAME,
            **options,
        )

    def decisions(self, user: str) -> list[tuple[str, str, str]]:
        """(reply, method, reason) of the account's decision records, oldest first. They are
        written every 0.1 s, later on a busy machine: read until the same rows come back 0.3 s
        apart (at most 10 s)."""
        rows, deadline = self._decisions(user), time.monotonic() + 10
        while time.monotonic() < deadline:
            time.sleep(0.3)
            again = self._decisions(user)
            if again and again == rows:
                break
            rows = again
        return rows

    def _decisions(self, user: str) -> list[tuple[str, str, str]]:
        with sqlite3.connect(self.database) as db:
            return [
                (r[0], r[1], r[2])
                for r in db.execute(
                    "SELECT reply, method, reason FROM radpostauth WHERE username LIKE ? ORDER BY id",
                    (f"%{user}%",),
                ).fetchall()
            ]


def succeeded(output: str) -> bool:
    return output.rstrip().endswith("SUCCESS")


def keys_match(output: str) -> bool:
    return "MPPE keys OK: 1  mismatch: 0" in output


def launch_eap(workdir: Path, **settings: str) -> Eap:
    pki = workdir / "pki"
    files = make_trial_pki(pki, realm=REALM)
    database = workdir / "eap.db"
    srv = launch(
        workdir,
        f"sqlite:///{database}",
        SESAME_EAP_CERTIFICATE=str(files.server_certificate),
        SESAME_EAP_PRIVATE_KEY=str(files.server_key),
        SESAME_EAP_DEVICE_CA=str(files.device_ca),
        **settings,
    )
    srv.cli("commune", "add", "Valence", "--insee", "26362")
    srv.cli("site", "add", "Médiathèque", "--commune", "Valence")
    srv.cli("nas", "add", "local-ap", "--ip", "127.0.0.1", "--secret", SECRET, "--site", "Médiathèque")
    wait_until_served(srv)
    return Eap(sesame=srv, pki=pki, database=database)


@pytest.fixture(scope="module")
def eap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Eap]:
    need_tool("eapol_test")
    deployment = launch_eap(tmp_path_factory.mktemp("eap"))
    try:
        yield deployment
    finally:
        deployment.sesame.proc.terminate()
        deployment.sesame.proc.wait(timeout=30)


@dataclass
class Citizen:
    name: str
    device_password: str  # the credential of one of their devices (MS-CHAPv2)


@pytest.fixture
def citizen(eap: Eap) -> Citizen:
    """An account of this test's own (password PASSWORD) with one device credential."""
    name = f"c{secrets.token_hex(4)}"
    eap.sesame.cli("user", "add", name, "--email", f"{name}@example.fr", "--password", PASSWORD)
    device = eap.sesame.cli("credential", "add", name, "--label", "phone").strip().splitlines()[-1]
    return Citizen(name=name, device_password=device)


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_peap_mschapv2_with_a_device_credential(eap: Eap, citizen: Citizen, tls: str) -> None:
    out = eap.connect(f"{citizen.name}@{REALM}", citizen.device_password, method="PEAP", tls=tls)
    assert succeeded(out) and keys_match(out), out[-3000:]
    assert eap.decisions(citizen.name)[-1] == ("Access-Accept", "peap/mschapv2", "accepted")
    wrong = eap.connect(f"{citizen.name}@{REALM}", citizen.device_password + "x", method="PEAP", tls=tls)
    assert not succeeded(wrong), wrong[-3000:]
    assert eap.decisions(citizen.name)[-1][0] == "Access-Reject"


def test_a_revoked_device_credential_is_refused_within_a_poll(eap: Eap, citizen: Citizen) -> None:
    """The workers keep an account's NT hashes between conversations (radius.accountcache) and
    forget them at the poll after a revocation (every 2 s): refused from then on."""
    user = f"{citizen.name}@{REALM}"
    assert succeeded(eap.connect(user, citizen.device_password, method="PEAP"))
    number = eap.sesame.cli("credential", "list", citizen.name).split()[0]
    eap.sesame.cli("credential", "revoke", citizen.name, number)
    deadline = time.monotonic() + 20
    while succeeded(out := eap.connect(user, citizen.device_password, method="PEAP")):
        assert time.monotonic() < deadline, "a revoked credential still accepted after 20 s"
        time.sleep(1)
    assert eap.decisions(citizen.name)[-1][:2] == ("Access-Reject", "peap/mschapv2"), out[-3000:]


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_ttls_pap_with_the_account_password(eap: Eap, citizen: Citizen, tls: str) -> None:
    out = eap.connect(f"{citizen.name}@{REALM}", PASSWORD, method="TTLS", tls=tls)
    assert succeeded(out) and keys_match(out), out[-3000:]
    assert eap.decisions(citizen.name)[-1] == ("Access-Accept", "eap-ttls/pap", "accepted")
    wrong = eap.connect(f"{citizen.name}@{REALM}", "not the password", method="TTLS", tls=tls)
    assert not succeeded(wrong)
    assert eap.decisions(citizen.name)[-1][:2] == ("Access-Reject", "eap-ttls/pap")


@pytest.mark.parametrize("method", ["TTLS-MSCHAPV2", "TTLS-EAPMSCHAPV2"])
def test_ttls_with_mschapv2_inside(eap: Eap, citizen: Citizen, method: str) -> None:
    out = eap.connect(f"{citizen.name}@{REALM}", citizen.device_password, method=method)
    assert succeeded(out) and keys_match(out), out[-3000:]
    label = {"TTLS-MSCHAPV2": "eap-ttls/mschapv2", "TTLS-EAPMSCHAPV2": "eap-ttls/eap-mschapv2"}[method]
    assert eap.decisions(citizen.name)[-1] == ("Access-Accept", label, "accepted")
    assert not succeeded(eap.connect(f"{citizen.name}@{REALM}", "wrong", method=method))


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_eap_tls_with_a_registered_device_certificate_until_it_is_revoked(
    eap: Eap, citizen: Citizen, tls: str
) -> None:
    out_prefix = eap.sesame.workdir / f"{citizen.name}-{tls}"
    eap.sesame.cli(
        "eap", "device-cert", "issue", citizen.name, "--ca-dir", str(eap.pki), "--out", str(out_prefix)
    )
    options: dict[str, Any] = {
        "client_cert": out_prefix.with_suffix(".pem"),
        "private_key": out_prefix.with_suffix(".key"),
        "tls": tls,
    }
    out = eap.connect(f"{citizen.name}@{REALM}", method="TLS", **options)
    assert succeeded(out) and keys_match(out), out[-3000:]
    assert eap.decisions(citizen.name)[-1] == ("Access-Accept", "eap-tls", "accepted")
    number = eap.sesame.cli("eap", "device-cert", "list", citizen.name).split()[0]
    eap.sesame.cli("eap", "device-cert", "revoke", citizen.name, number)
    out = eap.connect(f"{citizen.name}@{REALM}", method="TLS", **options)
    assert not succeeded(out), out[-3000:]
    assert eap.decisions(citizen.name)[-1][:2] == ("Access-Reject", "eap-tls")


def test_an_anonymous_outer_identity_and_the_inner_one_decides(eap: Eap, citizen: Citizen) -> None:
    for outer in (f"anonymous@{REALM}", f"@{REALM}"):
        out = eap.connect(f"{citizen.name}@{REALM}", PASSWORD, method="TTLS", anonymous_identity=outer)
        assert succeeded(out), out[-3000:]
    # the records name the inner identity, never the anonymous one only
    assert eap.decisions(citizen.name)[-1] == ("Access-Accept", "eap-ttls/pap", "accepted")


def test_an_inner_realm_other_than_the_outer_is_refused(eap: Eap, citizen: Citizen) -> None:
    out = eap.connect(
        f"{citizen.name}@elsewhere.example", PASSWORD, method="TTLS", anonymous_identity=f"anonymous@{REALM}"
    )
    assert not succeeded(out)


def test_an_unknown_user_is_refused_like_a_wrong_password(eap: Eap) -> None:
    for method in ("TTLS", "PEAP"):
        out = eap.connect(f"nobody{secrets.token_hex(3)}@{REALM}", PASSWORD, method=method)
        assert not succeeded(out), out[-3000:]


def test_wrong_passwords_inside_the_tunnel_count_per_device_as_pap_ones_do(
    eap: Eap, citizen: Citizen
) -> None:
    """TTLS/PAP is PAP inside TLS, under the same limits: after 5 wrong passwords for an account
    from one device (NAS and Calling-Station-Id), that device's passwords are refused unverified —
    the right one too — while the owner's other device gets in (never a lock-out of the account)."""
    identity, guesser, owner = f"{citizen.name}@{REALM}", "02:00:5e:00:00:0a", "02:00:5e:00:00:0b"
    for _ in range(5):
        assert not succeeded(eap.connect(identity, "a wrong guess", method="TTLS", mac=guesser))
    assert not succeeded(eap.connect(identity, PASSWORD, method="TTLS", mac=guesser))
    assert succeeded(eap.connect(identity, PASSWORD, method="TTLS", mac=owner))
    decisions = eap.decisions(citizen.name)
    assert [reason for _reply, _method, reason in decisions[:6]] == ["bad_password"] * 5 + ["rate_limited"]
    assert decisions[6][:2] == ("Access-Accept", "eap-ttls/pap")


def test_small_fragments_both_ways(eap: Eap, citizen: Citizen) -> None:
    """The client sends 200-octet TLS fragments; Framed-MTU 300 makes the server send small ones."""
    out = eap.connect(
        f"{citizen.name}@{REALM}", PASSWORD, method="TTLS", fragment_size=200, attributes=["12:d:300"]
    )
    assert succeeded(out) and keys_match(out), out[-3000:]


@pytest.mark.parametrize("tls", ["1.2", "1.3"])
def test_a_returning_device_resumes_its_tls_session(eap: Eap, citizen: Citizen, tls: str) -> None:
    """PEAP: the second authentication resumes the TLS session (one round trip less) and runs the
    inner method again; both give keys that match. EAP-TTLS sessions are never resumed (see
    radius/eap/tlsengine.py): wpa_supplicant would skip its inner method."""
    out = eap.connect(
        f"{citizen.name}@{REALM}", citizen.device_password, method="PEAP", reauthentications=1, tls=tls
    )
    assert succeeded(out) and "MPPE keys OK: 2  mismatch: 0" in out, out[-3000:]
    assert "Handshake finished - resumed=1" in out, out[-3000:]
    ttls = eap.connect(f"{citizen.name}@{REALM}", PASSWORD, method="TTLS", reauthentications=1, tls=tls)
    assert succeeded(ttls) and "MPPE keys OK: 2  mismatch: 0" in ttls, ttls[-3000:]
    assert "resumed=1" not in ttls
