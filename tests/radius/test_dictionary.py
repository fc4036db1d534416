"""The RADIUS dictionary Sésame ships (radius/dictionaries/), read with pyrad.

Checks a sample of attribute numbers, types, flags and values of every file against the RFCs
and vendor documents they come from, and that packets built with the dictionary survive an
encode/decode round trip, including vendor attributes and salt-encrypted MS-MPPE keys.
"""

from __future__ import annotations

import logging
import re
import struct
from pathlib import Path
from typing import Any

import pytest
from pyrad import tools
from pyrad.dictionary import Dictionary
from pyrad.packet import AccessAccept, AccessRequest, AuthPacket

DICTIONARY_DIR = Path(__file__).parents[2] / "radius" / "dictionaries"
DICTIONARY = DICTIONARY_DIR / "dictionary"

MICROSOFT = 311
WISPR = 14122
CHILLISPOT = 14559
WIFI_ALLIANCE = 40808

SECRET = b"sesame-test-secret"
# 32 octet keys, as derived from the MSK of a WPA2-Enterprise session
RECV_KEY = bytes(range(32))
SEND_KEY = bytes(range(100, 132))


@pytest.fixture(scope="module")
def dictionary() -> Dictionary:
    return Dictionary(str(DICTIONARY))


def _value(dictionary: Dictionary, attribute: str, name: str) -> Any:
    """The number (or other value) a VALUE name of an attribute stands for."""
    attr = dictionary[attribute]
    return tools.DecodeAttr(attr.type, attr.values.GetForward(name))


# --- the files ---------------------------------------------------------------------------------


def _included_files() -> list[str]:
    names = []
    for line in DICTIONARY.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        directive, _, name = line.partition(" ")
        assert directive == "$INCLUDE", f"the entry point has a non-$INCLUDE line: {line!r}"
        names.append(name.strip())
    return names


def test_entry_point_includes_every_file_once() -> None:
    included = _included_files()
    assert len(included) == len(set(included))
    on_disk = {path.name for path in DICTIONARY_DIR.glob("dictionary.*")}
    assert set(included) == on_disk
    for name in (
        "dictionary.rfc2865",
        "dictionary.rfc2866",
        "dictionary.rfc2867",
        "dictionary.rfc2868",
        "dictionary.rfc2869",
        "dictionary.rfc3162",
        "dictionary.rfc3576",
        "dictionary.rfc3580",
        "dictionary.rfc4072",
        "dictionary.rfc4372",
        "dictionary.rfc5176",
        "dictionary.rfc5580",
        "dictionary.rfc6911",
        "dictionary.microsoft",
        "dictionary.wispr",
        "dictionary.chillispot",
        "dictionary.rfc7268",
        "dictionary.wifialliance",
    ):
        assert name in included


def test_entry_point_header_mentions_operator_dictionaries() -> None:
    header = DICTIONARY.read_text(encoding="utf-8")
    assert header.startswith("#")
    assert "FreeRADIUS" in header
    assert "configuration" in header
    assert "RFC 6929" in header


@pytest.mark.parametrize("name", _included_files())
def test_every_file_starts_with_its_source(name: str) -> None:
    text = (DICTIONARY_DIR / name).read_text(encoding="utf-8")
    header = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line)
    header_text = "\n".join(header)
    assert header, f"{name} does not start with a comment"
    rfc = re.fullmatch(r"dictionary\.rfc(\d+)", name)
    if rfc:
        assert f"RFC {rfc.group(1)}" in header_text
    else:
        vendor_numbers = {
            "microsoft": "311",
            "wispr": "14122",
            "chillispot": "14559",
            "wifialliance": "40808",
        }
        assert vendor_numbers[name.removeprefix("dictionary.")] in header_text


def test_loads_without_warnings_or_skipped_attributes(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG, logger="pyrad"):
        dictionary = Dictionary(str(DICTIONARY))
    assert dictionary.skipped_attributes == set()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.DEBUG] == []
    assert len(dictionary) > 200


def test_loading_does_not_depend_on_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dictionary: Dictionary
) -> None:
    monkeypatch.chdir(tmp_path)
    assert set(Dictionary(str(DICTIONARY)).attributes) == set(dictionary.attributes)


def test_vendors(dictionary: Dictionary) -> None:
    assert dictionary.vendors.GetForward("Microsoft") == MICROSOFT
    assert dictionary.vendors.GetForward("WISPr") == WISPR
    assert dictionary.vendors.GetForward("ChilliSpot") == CHILLISPOT
    assert dictionary.vendors.GetForward("WiFi-Alliance") == WIFI_ALLIANCE


def test_only_the_classic_attribute_space(dictionary: Dictionary) -> None:
    """No RFC 6929 extended attributes (241-246), nothing pyrad can't encode."""
    for name, attr in dictionary.attributes.items():
        assert not attr.is_sub_attribute, name
        assert attr.type not in {"tlv", "abinary"}, name
        assert 1 <= attr.code <= 255, name
        if not attr.vendor:
            assert attr.code < 241, name


def test_names_and_codes_are_unique(dictionary: Dictionary) -> None:
    keys = [dictionary.attrindex.GetForward(name) for name in dictionary.attributes]
    assert len(keys) == len(set(keys))


# --- attribute numbers and types ---------------------------------------------------------------

ATTRIBUTES = [
    # RFC 2865
    ("User-Name", 1, "string"),
    ("User-Password", 2, "string"),
    ("CHAP-Password", 3, "octets"),
    ("NAS-IP-Address", 4, "ipaddr"),
    ("NAS-Port", 5, "integer"),
    ("Service-Type", 6, "integer"),
    ("Framed-IP-Address", 8, "ipaddr"),
    ("Filter-Id", 11, "string"),
    ("Reply-Message", 18, "string"),
    ("State", 24, "octets"),
    ("Class", 25, "octets"),
    ("Vendor-Specific", 26, "octets"),
    ("Session-Timeout", 27, "integer"),
    ("Idle-Timeout", 28, "integer"),
    ("Termination-Action", 29, "integer"),
    ("Called-Station-Id", 30, "string"),
    ("Calling-Station-Id", 31, "string"),
    ("NAS-Identifier", 32, "string"),
    ("Proxy-State", 33, "octets"),
    ("Framed-AppleTalk-Zone", 39, "string"),
    ("CHAP-Challenge", 60, "octets"),
    ("NAS-Port-Type", 61, "integer"),
    ("Port-Limit", 62, "integer"),
    ("Login-LAT-Port", 63, "string"),
    # RFC 2866
    ("Acct-Status-Type", 40, "integer"),
    ("Acct-Delay-Time", 41, "integer"),
    ("Acct-Input-Octets", 42, "integer"),
    ("Acct-Output-Octets", 43, "integer"),
    ("Acct-Session-Id", 44, "string"),
    ("Acct-Authentic", 45, "integer"),
    ("Acct-Session-Time", 46, "integer"),
    ("Acct-Terminate-Cause", 49, "integer"),
    ("Acct-Multi-Session-Id", 50, "string"),
    ("Acct-Link-Count", 51, "integer"),
    # RFC 2867
    ("Acct-Tunnel-Connection", 68, "string"),
    ("Acct-Tunnel-Packets-Lost", 86, "integer"),
    # RFC 2868
    ("Tunnel-Type", 64, "integer"),
    ("Tunnel-Medium-Type", 65, "integer"),
    ("Tunnel-Client-Endpoint", 66, "string"),
    ("Tunnel-Password", 69, "string"),
    ("Tunnel-Private-Group-Id", 81, "string"),
    ("Tunnel-Assignment-Id", 82, "string"),
    ("Tunnel-Preference", 83, "integer"),
    ("Tunnel-Server-Auth-Id", 91, "string"),
    # RFC 2869
    ("Acct-Input-Gigawords", 52, "integer"),
    ("Acct-Output-Gigawords", 53, "integer"),
    ("Event-Timestamp", 55, "date"),
    ("Connect-Info", 77, "string"),
    ("EAP-Message", 79, "octets"),
    ("Message-Authenticator", 80, "octets"),
    ("Acct-Interim-Interval", 85, "integer"),
    ("NAS-Port-Id", 87, "string"),
    ("Framed-Pool", 88, "string"),
    # RFC 3162
    ("NAS-IPv6-Address", 95, "ipv6addr"),
    ("Framed-Interface-Id", 96, "ifid"),
    ("Framed-IPv6-Prefix", 97, "ipv6prefix"),
    ("Login-IPv6-Host", 98, "ipv6addr"),
    ("Framed-IPv6-Route", 99, "string"),
    ("Framed-IPv6-Pool", 100, "string"),
    # RFC 3576 / 5176
    ("Error-Cause", 101, "integer"),
    # RFC 4072
    ("EAP-Key-Name", 102, "octets"),
    # RFC 4372
    ("Chargeable-User-Identity", 89, "octets"),
    # RFC 5580
    ("Operator-Name", 126, "string"),
    ("Location-Information", 127, "octets"),
    ("Location-Data", 128, "octets"),
    ("Basic-Location-Policy-Rules", 129, "octets"),
    ("Extended-Location-Policy-Rules", 130, "octets"),
    ("Location-Capable", 131, "integer"),
    ("Requested-Location-Info", 132, "integer"),
    # RFC 6911
    ("Framed-IPv6-Address", 168, "ipv6addr"),
    ("DNS-Server-IPv6-Address", 169, "ipv6addr"),
    ("Route-IPv6-Information", 170, "ipv6prefix"),
    ("Delegated-IPv6-Prefix-Pool", 171, "string"),
    ("Stateful-IPv6-Address-Pool", 172, "string"),
    # Microsoft, RFC 2548
    ("MS-CHAP-Response", (MICROSOFT, 1), "octets"),
    ("MS-CHAP-Error", (MICROSOFT, 2), "string"),
    ("MS-MPPE-Encryption-Policy", (MICROSOFT, 7), "integer"),
    ("MS-MPPE-Encryption-Types", (MICROSOFT, 8), "integer"),
    ("MS-RAS-Vendor", (MICROSOFT, 9), "integer"),
    ("MS-CHAP-Domain", (MICROSOFT, 10), "string"),
    ("MS-CHAP-Challenge", (MICROSOFT, 11), "octets"),
    ("MS-CHAP-MPPE-Keys", (MICROSOFT, 12), "octets"),
    ("MS-MPPE-Send-Key", (MICROSOFT, 16), "octets"),
    ("MS-MPPE-Recv-Key", (MICROSOFT, 17), "octets"),
    ("MS-Acct-EAP-Type", (MICROSOFT, 24), "integer"),
    ("MS-CHAP2-Response", (MICROSOFT, 25), "octets"),
    ("MS-CHAP2-Success", (MICROSOFT, 26), "octets"),
    ("MS-CHAP2-CPW", (MICROSOFT, 27), "octets"),
    ("MS-Primary-DNS-Server", (MICROSOFT, 28), "ipaddr"),
    ("MS-Secondary-NBNS-Server", (MICROSOFT, 31), "ipaddr"),
    ("MS-ARAP-Challenge", (MICROSOFT, 33), "octets"),
    # WISPr / WBA
    ("WISPr-Location-ID", (WISPR, 1), "string"),
    ("WISPr-Location-Name", (WISPR, 2), "string"),
    ("WISPr-Logoff-URL", (WISPR, 3), "string"),
    ("WISPr-Redirection-URL", (WISPR, 4), "string"),
    ("WISPr-Bandwidth-Min-Up", (WISPR, 5), "integer"),
    ("WISPr-Bandwidth-Min-Down", (WISPR, 6), "integer"),
    ("WISPr-Bandwidth-Max-Up", (WISPR, 7), "integer"),
    ("WISPr-Bandwidth-Max-Down", (WISPR, 8), "integer"),
    ("WISPr-Session-Terminate-Time", (WISPR, 9), "string"),
    ("WISPr-Session-Terminate-End-Of-Day", (WISPR, 10), "integer"),
    ("WISPr-Billing-Class-Of-Service", (WISPR, 11), "string"),
    ("WBA-Offered-Service", (WISPR, 12), "string"),
    ("WBA-Identity-Provider", (WISPR, 16), "string"),
    # ChilliSpot / CoovaChilli
    ("ChilliSpot-Max-Input-Octets", (CHILLISPOT, 1), "integer"),
    ("ChilliSpot-Max-Output-Octets", (CHILLISPOT, 2), "integer"),
    ("ChilliSpot-Max-Total-Octets", (CHILLISPOT, 3), "integer"),
    ("ChilliSpot-Bandwidth-Max-Up", (CHILLISPOT, 4), "integer"),
    ("ChilliSpot-Bandwidth-Max-Down", (CHILLISPOT, 5), "integer"),
    ("ChilliSpot-Config", (CHILLISPOT, 6), "string"),
    ("ChilliSpot-Lang", (CHILLISPOT, 7), "string"),
    ("ChilliSpot-Version", (CHILLISPOT, 8), "string"),
    ("ChilliSpot-OriginalURL", (CHILLISPOT, 9), "string"),
    ("ChilliSpot-Acct-View-Point", (CHILLISPOT, 10), "integer"),
    ("ChilliSpot-Route-To-Interface", (CHILLISPOT, 13), "string"),
    ("ChilliSpot-Session-State", (CHILLISPOT, 15), "integer"),
    ("ChilliSpot-Max-Input-Gigawords", (CHILLISPOT, 21), "integer"),
    ("ChilliSpot-Max-Output-Gigawords", (CHILLISPOT, 22), "integer"),
    ("ChilliSpot-Max-Total-Gigawords", (CHILLISPOT, 23), "integer"),
    ("ChilliSpot-VLAN-Id", (CHILLISPOT, 24), "integer"),
    ("ChilliSpot-DHCP-IP-Address", (CHILLISPOT, 60), "ipaddr"),
    ("ChilliSpot-UAM-Allowed", (CHILLISPOT, 100), "string"),
    ("ChilliSpot-MAC-Allowed", (CHILLISPOT, 101), "string"),
    ("ChilliSpot-Interval", (CHILLISPOT, 102), "integer"),
    # RFC 7268
    ("WLAN-HESSID", 181, "string"),
    ("WLAN-Venue-Info", 182, "integer"),
    ("WLAN-Venue-Language", 183, "octets"),
    ("WLAN-Venue-Name", 184, "string"),
    ("WLAN-AKM-Suite", 188, "integer"),
    ("WLAN-RF-Band", 190, "integer"),
    # Wi-Fi Alliance, Hotspot 2.0 (hostapd's src/radius/radius.h; FreeRADIUS's names and types for 1-5)
    ("HS20-Subscription-Remediation-Needed", (WIFI_ALLIANCE, 1), "octets"),
    ("HS20-AP-Version", (WIFI_ALLIANCE, 2), "byte"),
    ("HS20-Mobile-Device-Version", (WIFI_ALLIANCE, 3), "octets"),
    ("HS20-Deauthentication-Request", (WIFI_ALLIANCE, 4), "octets"),
    ("HS20-Session-Information-URL", (WIFI_ALLIANCE, 5), "octets"),
    ("HS20-Roaming-Consortium", (WIFI_ALLIANCE, 6), "octets"),
    ("HS20-T-C-Filename", (WIFI_ALLIANCE, 7), "string"),
    ("HS20-Timestamp", (WIFI_ALLIANCE, 8), "date"),
    ("HS20-T-C-Filtering", (WIFI_ALLIANCE, 9), "integer"),
    ("HS20-T-C-URL", (WIFI_ALLIANCE, 10), "string"),
]


@pytest.mark.parametrize(("name", "key", "datatype"), ATTRIBUTES, ids=[a[0] for a in ATTRIBUTES])
def test_attribute(dictionary: Dictionary, name: str, key: int | tuple[int, int], datatype: str) -> None:
    assert dictionary.attrindex.GetForward(name) == key
    assert dictionary.attrindex.GetBackward(key) == name
    assert dictionary[name].type == datatype


def test_flags(dictionary: Dictionary) -> None:
    assert dictionary["User-Password"].encrypt == 1
    assert not dictionary["User-Password"].has_tag
    assert dictionary["Tunnel-Password"].encrypt == 2
    assert dictionary["Tunnel-Password"].has_tag
    for name in ("MS-MPPE-Send-Key", "MS-MPPE-Recv-Key"):
        assert dictionary[name].encrypt == 2
        assert not dictionary[name].has_tag
        assert dictionary[name].vendor == "Microsoft"
    assert dictionary["MS-CHAP-MPPE-Keys"].encrypt == 1
    tagged = {name for name, attr in dictionary.attributes.items() if attr.has_tag}
    assert tagged == {
        "Tunnel-Type",
        "Tunnel-Medium-Type",
        "Tunnel-Client-Endpoint",
        "Tunnel-Server-Endpoint",
        "Tunnel-Password",
        "Tunnel-Private-Group-Id",
        "Tunnel-Assignment-Id",
        "Tunnel-Preference",
        "Tunnel-Client-Auth-Id",
        "Tunnel-Server-Auth-Id",
    }
    encrypted = {name for name, attr in dictionary.attributes.items() if attr.encrypt}
    assert encrypted == {
        "User-Password",
        "Tunnel-Password",
        "MS-CHAP-MPPE-Keys",
        "MS-MPPE-Send-Key",
        "MS-MPPE-Recv-Key",
    }


# --- values ------------------------------------------------------------------------------------

VALUES = [
    ("Service-Type", "Login-User", 1),
    ("Service-Type", "Framed-User", 2),
    ("Service-Type", "Administrative-User", 6),
    ("Service-Type", "Call-Check", 10),
    ("Service-Type", "Authorize-Only", 17),
    ("Framed-Protocol", "PPP", 1),
    ("Termination-Action", "RADIUS-Request", 1),
    ("NAS-Port-Type", "Async", 0),
    ("NAS-Port-Type", "Virtual", 5),
    ("NAS-Port-Type", "Ethernet", 15),
    ("NAS-Port-Type", "Wireless-Other", 18),
    ("NAS-Port-Type", "Wireless-802.11", 19),
    ("NAS-Port-Type", "Token-Ring", 20),
    ("NAS-Port-Type", "FDDI", 21),
    ("Acct-Status-Type", "Start", 1),
    ("Acct-Status-Type", "Stop", 2),
    ("Acct-Status-Type", "Interim-Update", 3),
    ("Acct-Status-Type", "Accounting-On", 7),
    ("Acct-Status-Type", "Accounting-Off", 8),
    ("Acct-Status-Type", "Tunnel-Start", 9),
    ("Acct-Status-Type", "Tunnel-Link-Reject", 14),
    ("Acct-Status-Type", "Failed", 15),
    ("Acct-Authentic", "RADIUS", 1),
    ("Acct-Authentic", "Local", 2),
    ("Acct-Authentic", "Remote", 3),
    ("Acct-Terminate-Cause", "User-Request", 1),
    ("Acct-Terminate-Cause", "Lost-Carrier", 2),
    ("Acct-Terminate-Cause", "Idle-Timeout", 4),
    ("Acct-Terminate-Cause", "Session-Timeout", 5),
    ("Acct-Terminate-Cause", "Admin-Reset", 6),
    ("Acct-Terminate-Cause", "NAS-Reboot", 11),
    ("Acct-Terminate-Cause", "Host-Request", 18),
    ("Acct-Terminate-Cause", "Supplicant-Restart", 19),
    ("Acct-Terminate-Cause", "Reauthentication-Failure", 20),
    ("Acct-Terminate-Cause", "Port-Reinitialized", 21),
    ("Acct-Terminate-Cause", "Port-Administratively-Disabled", 22),
    ("Tunnel-Type", "L2TP", 3),
    ("Tunnel-Type", "GRE", 10),
    ("Tunnel-Type", "VLAN", 13),
    ("Tunnel-Medium-Type", "IPv4", 1),
    ("Tunnel-Medium-Type", "IPv6", 2),
    ("Tunnel-Medium-Type", "IEEE-802", 6),
    ("Prompt", "No-Echo", 0),
    ("Prompt", "Echo", 1),
    ("Error-Cause", "Residual-Context-Removed", 201),
    ("Error-Cause", "Invalid-EAP-Packet", 202),
    ("Error-Cause", "Unsupported-Attribute", 401),
    ("Error-Cause", "Missing-Attribute", 402),
    ("Error-Cause", "NAS-Identification-Mismatch", 403),
    ("Error-Cause", "Invalid-Request", 404),
    ("Error-Cause", "Unsupported-Service", 405),
    ("Error-Cause", "Unsupported-Extension", 406),
    ("Error-Cause", "Invalid-Attribute-Value", 407),
    ("Error-Cause", "Administratively-Prohibited", 501),
    ("Error-Cause", "Request-Not-Routable", 502),
    ("Error-Cause", "Session-Context-Not-Found", 503),
    ("Error-Cause", "Session-Context-Not-Removable", 504),
    ("Error-Cause", "Other-Proxy-Processing-Error", 505),
    ("Error-Cause", "Resources-Unavailable", 506),
    ("Error-Cause", "Request-Initiated", 507),
    ("Error-Cause", "Multiple-Session-Selection-Unsupported", 508),
    ("Location-Capable", "Civic-Location", 1),
    ("Location-Capable", "NAS-Location", 8),
    ("Requested-Location-Info", "Future-Requests", 16),
    ("Requested-Location-Info", "None", 32),
    ("MS-MPPE-Encryption-Policy", "Encryption-Allowed", 1),
    ("MS-MPPE-Encryption-Policy", "Encryption-Required", 2),
    ("MS-MPPE-Encryption-Types", "RC4-40bit-Allowed", 2),
    ("MS-MPPE-Encryption-Types", "RC4-128bit-Allowed", 4),
    ("MS-MPPE-Encryption-Types", "RC4-40or128-bit-Allowed", 6),
    ("MS-Acct-Auth-Type", "EAP", 5),
    ("MS-Acct-EAP-Type", "TLS", 13),
    ("ChilliSpot-Acct-View-Point", "ChilliSpot-NAS-View-Point", 1),
    ("ChilliSpot-Acct-View-Point", "ChilliSpot-Client-View-Point", 2),
    ("ChilliSpot-Session-State", "Authorized", 1),
    ("ChilliSpot-Session-State", "TotalDataLimitReached", 16),
]


@pytest.mark.parametrize(("attribute", "name", "number"), VALUES, ids=[f"{a}={n}" for a, n, _ in VALUES])
def test_value(dictionary: Dictionary, attribute: str, name: str, number: int) -> None:
    assert _value(dictionary, attribute, name) == number


def test_error_cause_values_are_complete(dictionary: Dictionary) -> None:
    """RFC 3576 section 3.1 plus the two values of RFC 5176 section 5."""
    numbers = sorted(
        _value(dictionary, "Error-Cause", name) for name in dictionary["Error-Cause"].values.forward
    )
    assert numbers == [201, 202, 401, 402, 403, 404, 405, 406, 407, 501, 502, 503, 504, 505, 506, 507, 508]


def test_nas_port_type_values_are_complete(dictionary: Dictionary) -> None:
    """RFC 2865 section 5.41 (0-19) and RFC 3580 section 6 (20, 21)."""
    numbers = sorted(
        _value(dictionary, "NAS-Port-Type", name) for name in dictionary["NAS-Port-Type"].values.forward
    )
    assert numbers == list(range(22))


# --- packets -----------------------------------------------------------------------------------


def test_access_request_round_trip(dictionary: Dictionary) -> None:
    request = AuthPacket(code=AccessRequest, id=17, secret=SECRET, dict=dictionary)
    request.add_message_authenticator()
    request["User-Name"] = "alice@wifi.example"
    request["User-Password"] = request.PwCrypt("correct horse")
    request["Service-Type"] = "Login-User"
    request["NAS-IP-Address"] = "192.0.2.10"
    request["NAS-IPv6-Address"] = "2001:db8::10"
    request["NAS-Port-Type"] = "Wireless-802.11"
    request["Called-Station-Id"] = "AA-BB-CC-DD-EE-FF:Sesame"
    request["Calling-Station-Id"] = "02-00-00-00-00-01"
    request["Event-Timestamp"] = 1_700_000_000
    request["Chargeable-User-Identity"] = b"\x00"
    request["Operator-Name"] = "1wifi.example"
    request["Location-Capable"] = 1 | 8
    request["WISPr-Location-ID"] = "isocc=fr,cc=33,ac=1,network=Sesame"
    request["WISPr-Location-Name"] = "Sesame,Mairie"
    request["WISPr-Logoff-URL"] = "http://10.1.0.1:3990/logoff"
    request["ChilliSpot-Version"] = "1.6"
    request["ChilliSpot-Session-Id"] = "5a3f9c0e00000001"
    request["MS-MPPE-Recv-Key"] = RECV_KEY

    raw = request.RequestPacket()
    assert RECV_KEY not in raw
    # a WISPr attribute on the wire: Vendor-Specific, length, vendor id, vendor type, vendor length
    location = b"isocc=fr,cc=33,ac=1,network=Sesame"
    assert struct.pack("!BBIBB", 26, 8 + len(location), WISPR, 1, 2 + len(location)) + location in raw

    received = AuthPacket(secret=SECRET, dict=dictionary, packet=raw)
    assert received.code == AccessRequest
    assert received.id == 17
    assert received.verify_message_authenticator()
    assert received.PwDecrypt(received["User-Password"][0]) == "correct horse"
    assert received["User-Name"] == ["alice@wifi.example"]
    assert received["Service-Type"] == ["Login-User"]
    assert received["NAS-IP-Address"] == ["192.0.2.10"]
    assert received["NAS-IPv6-Address"] == ["2001:db8::10"]
    assert received["NAS-Port-Type"] == ["Wireless-802.11"]
    assert received["Called-Station-Id"] == ["AA-BB-CC-DD-EE-FF:Sesame"]
    assert received["Calling-Station-Id"] == ["02-00-00-00-00-01"]
    assert received["Event-Timestamp"] == [1_700_000_000]
    assert received["Chargeable-User-Identity"] == [b"\x00"]
    assert received["Operator-Name"] == ["1wifi.example"]
    assert received["Location-Capable"] == [9]
    assert received["WISPr-Location-ID"] == ["isocc=fr,cc=33,ac=1,network=Sesame"]
    assert received["WISPr-Location-Name"] == ["Sesame,Mairie"]
    assert received["WISPr-Logoff-URL"] == ["http://10.1.0.1:3990/logoff"]
    assert received["ChilliSpot-Version"] == ["1.6"]
    assert received["ChilliSpot-Session-Id"] == ["5a3f9c0e00000001"]
    assert received["MS-MPPE-Recv-Key"] == [RECV_KEY]
    assert set(received.keys()) == set(request.keys())


def test_access_accept_round_trip(dictionary: Dictionary) -> None:
    """A realistic Access-Accept: MPPE keys, dynamic VLAN, WISPr and ChilliSpot limits."""
    # the NAS
    request = AuthPacket(code=AccessRequest, id=99, secret=SECRET, dict=dictionary)
    request.add_message_authenticator()
    request["User-Name"] = "bob@wifi.example"
    request["NAS-Port-Type"] = "Wireless-802.11"
    raw_request = request.RequestPacket()

    # the server
    received_request = AuthPacket(secret=SECRET, dict=dictionary, packet=raw_request)
    accept = received_request.CreateReply()
    accept["MS-MPPE-Recv-Key"] = RECV_KEY
    accept["MS-MPPE-Send-Key"] = SEND_KEY
    accept["MS-MPPE-Encryption-Policy"] = "Encryption-Required"
    accept["MS-MPPE-Encryption-Types"] = "RC4-128bit-Allowed"
    accept["Tunnel-Type:1"] = "VLAN"
    accept["Tunnel-Medium-Type:1"] = "IEEE-802"
    accept["Tunnel-Private-Group-Id:1"] = "42"
    accept["Tunnel-Password:2"] = "tunnel secret"
    accept["Session-Timeout"] = 3600
    accept["Acct-Interim-Interval"] = 300
    accept["Class"] = b"sesame:session:1"
    accept["Framed-IPv6-Address"] = "2001:db8:1::42"
    accept["Route-IPv6-Information"] = "2001:db8:2::/48"
    accept["WISPr-Bandwidth-Max-Up"] = 2_000_000
    accept["WISPr-Bandwidth-Max-Down"] = 10_000_000
    accept["WISPr-Redirection-URL"] = "https://portal.wifi.example/welcome"
    accept["WISPr-Session-Terminate-Time"] = "2025-06-30T23:59:59+02:00"
    accept["ChilliSpot-Max-Total-Octets"] = 5 * 2**30 % 2**32
    accept["ChilliSpot-Max-Total-Gigawords"] = 5 * 2**30 // 2**32
    accept["ChilliSpot-Bandwidth-Max-Down"] = 10_000
    raw_accept = accept.ReplyPacket()
    assert RECV_KEY not in raw_accept
    assert SEND_KEY not in raw_accept
    assert b"tunnel secret" not in raw_accept
    max_down = struct.pack("!BBIBBI", 26, 12, WISPR, 8, 6, 10_000_000)
    assert max_down in raw_accept

    # back at the NAS: the salt encryption of a reply uses the Request Authenticator
    reply = request.CreateReply(packet=raw_accept)
    reply.request_authenticator = request.authenticator
    assert request.VerifyReply(reply, raw_accept)
    assert reply.code == AccessAccept
    assert reply["MS-MPPE-Recv-Key"] == [RECV_KEY]
    assert reply["MS-MPPE-Send-Key"] == [SEND_KEY]
    assert reply["MS-MPPE-Encryption-Policy"] == ["Encryption-Required"]
    assert reply["MS-MPPE-Encryption-Types"] == ["RC4-128bit-Allowed"]
    assert reply["Tunnel-Type:1"] == ["VLAN"]
    assert reply["Tunnel-Medium-Type:1"] == ["IEEE-802"]
    assert reply["Tunnel-Private-Group-Id:1"] == ["42"]
    assert reply["Tunnel-Password:2"] == ["tunnel secret"]
    assert reply["Session-Timeout"] == [3600]
    assert reply["Acct-Interim-Interval"] == [300]
    assert reply["Class"] == [b"sesame:session:1"]
    assert reply["Framed-IPv6-Address"] == ["2001:db8:1::42"]
    assert reply["Route-IPv6-Information"] == ["2001:db8:2::/48"]
    assert reply["WISPr-Bandwidth-Max-Up"] == [2_000_000]
    assert reply["WISPr-Bandwidth-Max-Down"] == [10_000_000]
    assert reply["WISPr-Redirection-URL"] == ["https://portal.wifi.example/welcome"]
    assert reply["WISPr-Session-Terminate-Time"] == ["2025-06-30T23:59:59+02:00"]
    assert reply["ChilliSpot-Max-Total-Octets"] == [2**30]
    assert reply["ChilliSpot-Max-Total-Gigawords"] == [1]
    assert reply["ChilliSpot-Bandwidth-Max-Down"] == [10_000]

    # without the Request Authenticator the keys don't decrypt
    wrong = request.CreateReply(packet=raw_accept)
    wrong.request_authenticator = bytes(16)
    assert wrong["MS-MPPE-Recv-Key"] != [RECV_KEY]


def test_mppe_key_wire_format(dictionary: Dictionary) -> None:
    """RFC 2548 section 2.4.3: salt with the high bit set, then 16 octet blocks."""
    request = AuthPacket(code=AccessRequest, id=1, secret=SECRET, dict=dictionary)
    request.authenticator = bytes(range(16))
    accept = request.CreateReply(message_authenticator=False)
    accept["MS-MPPE-Recv-Key"] = RECV_KEY
    raw = accept.ReplyPacket()
    attributes = raw[20:]
    # Key-Length (1) + Key (32) padded to 48 octets, plus the 2 octet salt
    assert attributes[:8] == struct.pack("!BBIBB", 26, 58, MICROSOFT, 17, 52)
    salt = attributes[8:10]
    assert salt[0] & 0x80
    assert len(attributes) == 58


# --- the codec's attribute table ---------------------------------------------------------------


def test_the_codecs_attribute_numbers_agree_with_the_dictionary(dictionary: Dictionary) -> None:
    """``radius.codec`` holds the one table of attribute numbers our code uses; each must be the
    dictionary's number for the attribute of that name (vendor types under Microsoft's)."""
    from radius import codec

    named = {name.upper().replace("-", "_"): attr for name, attr in dictionary.attributes.items()}
    vendors = {"MICROSOFT": MICROSOFT, "WISPR": WISPR, "WIFI_ALLIANCE": WIFI_ALLIANCE}
    table = {
        name: value
        for name, value in vars(codec).items()
        if name.isupper() and type(value) is int and name not in {"MIN_LENGTH", "MAX_LENGTH", *vendors}
        and not name.endswith("_LENGTH")
    }  # fmt: skip
    assert set(table) - set(named) == {"DELEGATED_IPV6_PREFIX"}  # RFC 4818, read by accounting only
    vendor_of = {"MS_": "Microsoft", "WISPR_": "WISPr", "HS20_": "WiFi-Alliance"}
    for name in set(table) & set(named):
        attr = named[name]
        vendor = next((v for prefix, v in vendor_of.items() if name.startswith(prefix)), "")
        assert (attr.vendor, attr.code) == (vendor, table[name]), name
    for name, number in vendors.items():
        assert getattr(codec, name) == number
