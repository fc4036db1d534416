"""Passpoint on the RADIUS side: requests from a Hotspot 2.0 access point (built with pyrad and our
dictionary, as hostapd sends them) are decided as any other, what they say about the network is
recorded, and a Passpoint access point's Access-Accept carries HS20-Session-Information-URL when
the session has a Session-Timeout. Hostile values (wrong lengths, NUL, invalid UTF-8, truncated
vendor attributes) are built with the codec, octet by octet."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY
from pyrad import packet as pp

from accounts.policies import Policy
from radius import codec, passpoint
from radius.codec import Code
from radius.core import ServerCore
from radius.events import ReplyReady, RequestReceived
from radius.pipeline import Pipeline
from tests.radius.conftest import SECRET, AccessPoint, decide
from tests.radius.pipelines import CLASSES, CUI_KEY, NOW, REALM, FakeStore, Verifier, account

URL = "https://wifi.sud.example/account"
PASSWORD = "correct horse"
#: hostapd with hs20_release=3, a release 2 device with PPS MO 42, matched by OpenRoaming's OI
HS20: dict[str, Any] = {
    "HS20_AP_Version": 2,
    "HS20_Mobile_Device_Version": b"\x01\x00\x2a",
    "HS20_Roaming_Consortium": bytes.fromhex("5a03ba0000"),
}


@pytest.fixture
def hs20_pipeline(store: FakeStore, verifier: Verifier) -> Pipeline:
    return Pipeline(
        realm=REALM,
        store=store,
        verify_password=verifier,
        classes=CLASSES,
        cui_key=CUI_KEY,
        session_info_url=URL,
    )


def pap(ap: AccessPoint, **attributes: Any) -> pp.AuthPacket:
    return ap.access_request(User_Name=f"alice@{REALM}", User_Password=PASSWORD, **attributes)


def session_info(reply: pp.Packet) -> list[bytes]:
    return list(reply.get("HS20-Session-Information-URL", []))


def passpoint_count(ap: str, device: str, consortium: str) -> float:
    labels = {"ap_release": ap, "device_release": device, "consortium": consortium}
    return REGISTRY.get_sample_value("sesame_radius_passpoint_decisions_total", labels) or 0.0


async def test_a_passpoint_request_is_recorded_and_told_when_its_session_ends(
    core: ServerCore, hs20_pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    store.policy_value = Policy(session_timeout=3600)
    before = passpoint_count("3", "2", "openroaming")
    _, reply = await decide(
        core,
        hs20_pipeline,
        pap(ap, **HS20, Operator_Name="1wifi.partner.example", WLAN_Venue_Name="Gare de Valence"),
    )
    assert reply.code == pp.AccessAccept and reply["Session-Timeout"] == [3600]
    # five minutes' notice (hostapd: SWT minutes before Session-Timeout), then the URL
    assert session_info(reply) == [b"\x05" + URL.encode()]
    record = store.records[-1]
    assert (record.hs20_ap_release, record.hs20_device_release) == (3, 2)
    assert record.roaming_consortium == "5a03ba0000"
    assert record.operator_name == "1wifi.partner.example" and record.venue == "Gare de Valence"
    assert passpoint_count("3", "2", "openroaming") == before + 1


async def test_a_request_without_hotspot_2_0_gets_the_same_reply_as_before(
    core: ServerCore, hs20_pipeline: Pipeline, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    """No HS20-AP-Version: nothing of Passpoint in the reply, with or without a URL configured;
    the venue of a captive-portal controller (WISPr-Location-Name) is still recorded."""
    store.policy_value = Policy(session_timeout=3600, idle_timeout=600)
    replies = []
    for each in (hs20_pipeline, pipeline):
        _, reply = await decide(core, each, pap(ap, WISPr_Location_Name="ACME,Médiathèque"))
        replies.append(sorted((key, value) for key, value in reply.items() if key not in (80, 25)))
        assert session_info(reply) == []
        assert store.records[-1].venue == "ACME,Médiathèque"
        assert store.records[-1].hs20_ap_release is None and store.records[-1].roaming_consortium is None
    assert replies[0] == replies[1]


async def test_no_session_information_without_a_session_timeout_or_a_url(
    core: ServerCore, hs20_pipeline: Pipeline, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    """hostapd ignores the URL when the Access-Accept has no Session-Timeout; without a URL
    configured (the portal off) nothing is sent either."""
    store.policy_value = Policy(session_timeout=0)  # none
    _, reply = await decide(core, hs20_pipeline, pap(ap, **HS20))
    assert reply.code == pp.AccessAccept and "Session-Timeout" not in reply and session_info(reply) == []
    store.policy_value = Policy(session_timeout=3600)
    _, reply = await decide(core, pipeline, pap(ap, **HS20))
    assert reply["Session-Timeout"] == [3600] and session_info(reply) == []
    assert store.records[-1].hs20_ap_release == 3  # recorded all the same


async def test_a_short_session_gets_a_short_notice(
    core: ServerCore, hs20_pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    """A new account's grace period (here 3 minutes): one minute's notice, not five."""
    store.accounts["alice"] = account(email_verified=False, grace_until=NOW + timedelta(minutes=3))
    _, reply = await decide(core, hs20_pipeline, pap(ap, **HS20))
    assert reply["Session-Timeout"] == [180]
    assert session_info(reply) == [b"\x01" + URL.encode()]


async def test_a_rejected_request_is_recorded_with_its_network_and_gets_no_passpoint_reply(
    core: ServerCore, hs20_pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    store.policy_value = Policy(session_timeout=3600)
    request = ap.access_request(
        User_Name=f"alice@{REALM}", User_Password="wrong", **HS20, Operator_Name="1hub.example"
    )
    _, reply = await decide(core, hs20_pipeline, request)
    assert reply.code == pp.AccessReject and session_info(reply) == []
    record = store.records[-1]
    assert record.reason == "bad_password" and record.operator_name == "1hub.example"
    assert record.roaming_consortium == "5a03ba0000"


def test_other_consortia_and_releases_get_bounded_labels() -> None:
    assert passpoint.consortium_label("001bc50460") == "eduroam"
    assert passpoint.consortium_label("004096") == "openroaming"
    assert passpoint.consortium_label("baa2d02000") == "openroaming"
    assert passpoint.consortium_label("aabbccddee") == "other"
    assert passpoint.consortium_label(None) == "none"
    assert [passpoint.release_label(r) for r in (None, 1, 2, 3, 4, 16)] == [
        "none",
        "1",
        "2",
        "3",
        "other",
        "other",
    ]


# -- hostile values, octet by octet ------------------------------------------------------------------


def hs20(vtype: int, value: bytes) -> bytes:
    return codec.vsa(codec.WIFI_ALLIANCE, vtype, value)


async def decide_raw(core: ServerCore, pipeline: Pipeline, attributes: bytes) -> codec.Packet:
    """A PAP request for alice with extra ``attributes`` as given, through core and pipeline: the
    reply as parsed by our codec."""
    authenticator = bytes(range(16))
    hidden = codec.hide_user_password(PASSWORD.encode(), SECRET, authenticator)
    data = codec.encode_request(
        code=Code.ACCESS_REQUEST,
        identifier=7,
        secret=SECRET,
        authenticator=authenticator,
        attributes=codec.tlv(codec.USER_NAME, f"alice@{REALM}".encode())
        + codec.tlv(codec.USER_PASSWORD, hidden)
        + attributes,
    )
    event = core.receive_datagram(data, ("192.0.2.10", 40000), 1812, 0.0)
    assert isinstance(event, RequestReceived), event
    ready = core.finish(event.request, await pipeline.decide(event.request, NOW), 0.0)
    assert isinstance(ready, ReplyReady)
    return codec.parse(ready.data)


@pytest.mark.parametrize(
    "attributes",
    [
        hs20(codec.HS20_AP_VERSION, b""),  # no octet
        hs20(codec.HS20_AP_VERSION, b"\x02\x00"),  # two
        hs20(codec.HS20_AP_VERSION, b"\xff"),  # no release has that number
        # a sub-attribute claiming more octets than the attribute holds
        codec.tlv(codec.VENDOR_SPECIFIC, codec.WIFI_ALLIANCE.to_bytes(4, "big") + b"\x02\x09\x02"),
        codec.tlv(codec.VENDOR_SPECIFIC, codec.WIFI_ALLIANCE.to_bytes(4, "big")[:3]),  # not even a vendor
    ],
    ids=["empty", "two-octets", "release-256", "truncated", "short-vsa"],
)
async def test_an_unusable_ap_version_is_no_hotspot_2_0(
    core: ServerCore, hs20_pipeline: Pipeline, store: FakeStore, attributes: bytes
) -> None:
    store.policy_value = Policy(session_timeout=3600)
    reply = await decide_raw(core, hs20_pipeline, attributes)
    assert reply.code == Code.ACCESS_ACCEPT  # decided as without the attribute
    assert reply.vendor_attribute(codec.WIFI_ALLIANCE, codec.HS20_SESSION_INFORMATION_URL) is None
    assert store.records[-1].hs20_ap_release is None


@pytest.mark.parametrize(
    ("oi", "device", "recorded"),
    [
        (b"\x5a\x03", b"\x01\x00", (None, None)),  # an OI has 3 to 15 octets, a device version 3
        (b"\x00" * 16, b"\x01\x00\x00\x00", (None, None)),
        (b"\x00\x1b\xc5", b"\x10\x00\x00", ("001bc5", None)),  # release nibble out of range
        (b"\xff" * 15, b"\x02\xff\xff", ("ff" * 15, 3)),  # the longest OI
    ],
    ids=["too-short", "too-long", "release-17", "longest"],
)
async def test_the_oi_and_the_device_version_are_kept_only_with_their_lengths(
    core: ServerCore,
    hs20_pipeline: Pipeline,
    store: FakeStore,
    oi: bytes,
    device: bytes,
    recorded: tuple[str | None, int | None],
) -> None:
    await decide_raw(
        core,
        hs20_pipeline,
        hs20(codec.HS20_AP_VERSION, b"\x01")
        + hs20(codec.HS20_ROAMING_CONSORTIUM, oi)
        + hs20(codec.HS20_MOBILE_DEVICE_VERSION, device),
    )
    record = store.records[-1]
    assert (record.roaming_consortium, record.hs20_device_release) == recorded
    assert record.hs20_ap_release == 2


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (b"1op\x00erator", "1op\\x00erator"),
        (b"1\xff\xfe", "1\\xff\\xfe"),
        (b"1\x1b[31mred", "1\\x1b[31mred"),
        (("1" + "é" * 126).encode(), "1" + "é" * 126),  # 253 octets, the longest: kept whole
    ],
    ids=["nul", "invalid-utf8", "escape", "longest"],
)
async def test_hostile_operator_names_and_venues_are_escaped(
    core: ServerCore, hs20_pipeline: Pipeline, store: FakeStore, value: bytes, expected: str
) -> None:
    await decide_raw(
        core,
        hs20_pipeline,
        codec.tlv(codec.OPERATOR_NAME, value)
        + codec.tlv(codec.WLAN_VENUE_NAME, value)
        + codec.vsa(codec.WISPR, codec.WISPR_LOCATION_NAME, b"ignored: WLAN-Venue-Name comes first"),
    )
    record = store.records[-1]
    assert record.operator_name == record.venue == expected
    assert record.reply == "Access-Accept"  # a strange venue refuses nobody


def test_the_session_information_url_is_checked_at_start(store: FakeStore, verifier: Verifier) -> None:
    for url in ("https://wifi.example/é", "https://wifi.example/" + "a" * 230):
        with pytest.raises(ValueError, match="session information URL"):
            Pipeline(
                realm=REALM,
                store=store,
                verify_password=verifier,
                classes=CLASSES,
                cui_key=CUI_KEY,
                session_info_url=url,
            )
