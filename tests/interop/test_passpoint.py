"""Passpoint on the RADIUS side with FreeRADIUS's radclient as a Hotspot 2.0 access point: it reads
our dictionary files for the Wi-Fi Alliance's and RFC 7268's attributes (radclient refuses the
whole of ours: its Microsoft file has encrypt=1 octets without a length, which pyrad needs), sends
what hostapd sends, decodes the reply with them, and the decision record is read from the
database of a real ``sesame serve``."""

from __future__ import annotations

import secrets
import sqlite3
import subprocess
import time
from pathlib import Path

import pytest

from radius import DICTIONARY
from tests.interop.conftest import PASSWORD, REALM, SECRET, Server, need_tool, received

pytestmark = pytest.mark.slow

#: hostapd with hs20_release=3, a release 2 device with PPS MO 42, matched by OpenRoaming's OI,
#: behind a roaming hub that names the visited network; each value as hostapd puts it on the wire
HS20 = (
    "HS20-AP-Version = 2\n"
    "HS20-Mobile-Device-Version = 0x01002a\n"
    "HS20-Roaming-Consortium = 0x5a03ba0000\n"
    "HS20-T-C-Filename = terms-2026\n"
    "HS20-Timestamp = 1796000000\n"
    'Operator-Name = "1hub.partner.example"\n'
    'WLAN-Venue-Name = "Gare de Valence"\n'
    'WLAN-HESSID = "02-03-04-05-06-07"\n'
    "WLAN-AKM-Suite = 1027073\n"  # 00-0F-AC:1, 802.1X
)


@pytest.fixture(scope="module")
def dictionary_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A radclient ``-d`` directory reading our files on top of FreeRADIUS's own dictionary."""
    directory = tmp_path_factory.mktemp("dictionary")
    ours = Path(DICTIONARY).parent
    (directory / "dictionary").write_text(
        f"$INCLUDE {ours / 'dictionary.wifialliance'}\n$INCLUDE {ours / 'dictionary.rfc7268'}\n"
    )
    return directory


def radclient(server: Server, dictionary_dir: Path, attributes: str) -> str:
    done = subprocess.run(
        [need_tool("radclient"), "-x", "-d", str(dictionary_dir), "-r", "1", "-t", "5",
         f"127.0.0.1:{server.auth_port}", "auth", SECRET],
        input=attributes + "Message-Authenticator = 0x00\n",
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    return done.stdout + done.stderr


def record_of(server: Server, user: str) -> tuple[object, ...]:
    """The decision record of ``user``, with or without the realm (written in batches: waited for)."""
    deadline = time.monotonic() + 10
    while True:
        with sqlite3.connect(server.workdir / "interop.db") as connection:
            row = connection.execute(
                "SELECT reply, method, operator_name, venue, roaming_consortium, hs20_ap_release,"
                " hs20_device_release FROM radpostauth WHERE username IN (?, ?) ORDER BY id DESC",
                (user, f"{user}@{REALM}"),
            ).fetchone()
        if row is not None:
            return tuple(row)
        assert time.monotonic() < deadline, f"no record of {user}"
        time.sleep(0.2)


@pytest.fixture
def user(server: Server) -> str:
    name = f"hs-{secrets.token_hex(4)}"
    server.cli("user", "add", name, "--email", f"{name}@example.fr", "--password", PASSWORD)
    return name


def test_a_passpoint_access_point_is_told_when_the_session_ends_and_the_network_is_recorded(
    server: Server, dictionary_dir: Path, user: str
) -> None:
    out = radclient(
        server, dictionary_dir, f'User-Name = "{user}@{REALM}"\nUser-Password = "{PASSWORD}"\n' + HS20
    )
    assert "HS20-Roaming-Consortium = 0x5a03ba0000" in out  # radclient read our dictionary
    assert received(out) == "Access-Accept", out
    reply = out.split("Received Access-Accept", 1)[1]
    assert "Session-Timeout = 10800" in reply
    # five minutes' notice, then the portal's account page (SESAME_PORTAL_PUBLIC_URL's default)
    url = b"http://127.0.0.1:8000/account"
    assert f"HS20-Session-Information-URL = 0x05{url.hex()}" in reply, reply
    assert record_of(server, user) == (
        "Access-Accept", "pap", "1hub.partner.example", "Gare de Valence", "5a03ba0000", 3, 2,
    )  # fmt: skip


def test_without_hotspot_2_0_the_reply_has_nothing_of_it(
    server: Server, dictionary_dir: Path, user: str
) -> None:
    request = (
        f'User-Name = "{user}"\nUser-Password = "{PASSWORD}"\nWISPr-Location-Name = "ACME,Médiathèque"\n'
    )
    out = radclient(server, dictionary_dir, request)
    assert received(out) == "Access-Accept", out
    reply = out.split("Received Access-Accept", 1)[1]
    assert "Session-Timeout = 10800" in reply and "HS20" not in reply
    assert record_of(server, user) == ("Access-Accept", "pap", None, "ACME,Médiathèque", None, None, None)


def test_hostile_values_are_recorded_escaped(server: Server, dictionary_dir: Path, user: str) -> None:
    """A NUL and invalid UTF-8 in Operator-Name and the venue, an AP version of two octets
    (sent raw: radclient would refuse it as a byte), a 2-octet OI: still decided, stored escaped."""
    request = (
        f'User-Name = "{user}"\nUser-Password = "{PASSWORD}"\n'
        "Attr-126 = 0x316f700065ff\n"  # Operator-Name, raw octets (a string would be sent as typed)
        "Attr-184 = 0x47617265001b5b33316d\n"  # WLAN-Venue-Name
        "Attr-26 = 0x00009f6802040202\n"  # WiFi-Alliance, HS20-AP-Version, 2 octets
        "HS20-Roaming-Consortium = 0x5a03\n"
    )
    out = radclient(server, dictionary_dir, request)
    assert received(out) == "Access-Accept", out
    assert "HS20" not in out.split("Received Access-Accept", 1)[1]
    assert record_of(server, user) == (
        "Access-Accept", "pap", "1op\\x00e\\xff", "Gare\\x00\\x1b[31m", None, None, None,
    )  # fmt: skip
