"""Which profile a browser is offered first: real user agents of each platform, and what a
hostile header gets (the first guess only orders the offers, so "other" is always safe)."""

from __future__ import annotations

import pytest

from portal.onboarding.detect import Platform, detect
from portal.onboarding.formats import STANDARD, Format, Formats, Reach, standard
from portal.onboarding.spec import Passpoint

AGENTS = {
    "iPhone Safari": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Mobile/15E148 Safari/604.1",
        Platform.IOS,
    ),
    "iPhone Chrome": (
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "CriOS/125.0.6422.80 Mobile/15E148 Safari/604.1",
        Platform.IOS,
    ),
    "iPad": (
        "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/16.6 Mobile/15E148 Safari/604.1",
        Platform.IOS,
    ),
    "Android Chrome": (
        "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Mobile Safari/537.36",
        Platform.ANDROID,
    ),
    "Android Firefox": (
        "Mozilla/5.0 (Android 13; Mobile; rv:126.0) Gecko/126.0 Firefox/126.0",
        Platform.ANDROID,
    ),
    "Samsung Internet": (
        "Mozilla/5.0 (Linux; Android 13; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) "
        "SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36",
        Platform.ANDROID,
    ),
    "Windows Edge": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
        Platform.WINDOWS,
    ),
    "Windows Firefox": (
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0",
        Platform.WINDOWS,
    ),
    "macOS Safari": (
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
        "Version/17.5 Safari/605.1.15",
        Platform.MACOS,
    ),
    "Linux Firefox": (
        "Mozilla/5.0 (X11; Linux x86_64; rv:126.0) Gecko/20100101 Firefox/126.0",
        Platform.LINUX,
    ),
    "Ubuntu Chromium": (
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        Platform.LINUX,
    ),
    "ChromeOS": (
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/124.0.0.0 Safari/537.36",
        Platform.CHROMEOS,
    ),
    "curl": ("curl/8.5.0", Platform.OTHER),
    "none": ("", Platform.OTHER),
    "a trick far down": ("x" * 5000 + " iPhone", Platform.OTHER),
}


@pytest.mark.parametrize("name", AGENTS)
def test_the_platform_of_a_user_agent(name: str) -> None:
    user_agent, platform = AGENTS[name]
    assert detect(user_agent) is platform
    assert detect(None) is Platform.OTHER


def _build(spec: object, gettext: object) -> bytes:
    return b""


def test_the_standard_table_offers_only_the_formats_with_a_builder() -> None:
    formats = standard({"mobileconfig": _build, "eap-config": _build})
    assert [f.name for f in formats.for_platform(Platform.IOS)] == ["mobileconfig"]
    assert [f.name for f in formats.for_platform(Platform.ANDROID)] == ["eap-config"]
    assert formats.for_platform(Platform.CHROMEOS) == []
    # the detected platform first, then the others in a fixed order; "other" gets them all
    assert [p for p, _ in formats.offers(Platform.WINDOWS)][:1] == [Platform.WINDOWS]
    assert [p for p, _ in formats.offers(Platform.OTHER)] == [
        Platform.IOS, Platform.ANDROID, Platform.WINDOWS, Platform.MACOS, Platform.LINUX,
    ]  # fmt: skip
    assert formats.find("ios/mobileconfig") is not None
    for key in ("ios/passpoint", "nowhere/x", "", "ios", "other/mobileconfig"):
        assert formats.find(key) is None
    with pytest.raises(ValueError, match="no profile format"):
        standard({"mobileconfg": _build})
    every = {row.name for rows in STANDARD.values() for row in rows}
    assert every == {"mobileconfig", "passpoint", "eap-config", "wlan", "nm-keyfile", "onc"}


def test_a_format_is_registered_once_per_platform() -> None:
    formats = Formats()
    fmt = Format(
        name="x", title="x", media_type="text/plain", extension="txt", credential="password", build=_build
    )
    formats.register(Platform.LINUX, fmt)
    with pytest.raises(ValueError):
        formats.register(Platform.LINUX, fmt)
    with pytest.raises(ValueError):
        formats.register(Platform.OTHER, fmt)


def _row(name: str, platform: Platform) -> Format:
    [row] = [f for f in standard({name: _build}).for_platform(platform) if f.name == name]
    return row


def test_what_each_format_carries_is_what_its_platform_takes() -> None:
    """The table's facts (docs/onboarding.md): a certificate wherever the platform imports one;
    Android's Passpoint takes TTLS with MS-CHAPv2 only (no PEAP, no EAP-MSCHAPv2; a device
    credential cannot answer PAP); the Windows format is a zip."""
    passpoint = _row("passpoint", Platform.ANDROID)
    assert passpoint.passwords == (("ttls", "mschapv2"),) and passpoint.network == "passpoint"
    wlan = _row("wlan", Platform.WINDOWS)
    assert (wlan.media_type, wlan.extension) == ("application/zip", "zip")
    every = [f for p in Platform if p is not Platform.OTHER for f in standard(
        {row.name: _build for rows in STANDARD.values() for row in rows}
    ).for_platform(p)]  # fmt: skip
    assert all(f.credential == "certificate" for f in every)
    assert not any(inner == "pap" for f in every for _, inner in f.passwords)
    # the server decides among them: EAP-TLS with a device CA, else the first password it serves
    served = ("peap/mschapv2", "eap-ttls/mschapv2", "eap-tls")
    assert passpoint.credential_for(served=served, certificates=True) == ("certificate", None)
    assert passpoint.credential_for(served=served, certificates=False) == ("password", ("ttls", "mschapv2"))
    assert passpoint.credential_for(served=("peap/mschapv2", "eap-ttls/pap"), certificates=False) is None
    assert wlan.credential_for(served=("eap-ttls/eap-mschapv2",), certificates=True) == (
        "password", ("ttls", "eap-mschapv2"),
    )  # fmt: skip


def test_what_of_the_network_each_format_needs() -> None:
    home = Passpoint(home_fqdn="wifi.example.fr", friendly_name="Wi-Fi", nai_realm="wifi.example.fr")
    inside, outside = ("radius.wifi.example.fr",), ("radius.other.example",)
    passpoint, keyfile = _row("passpoint", Platform.ANDROID), _row("nm-keyfile", Platform.LINUX)
    eap_config = _row("eap-config", Platform.ANDROID)
    assert passpoint.serves(Reach(ssids=(), passpoint=home, server_names=inside))
    assert not passpoint.serves(Reach(ssids=(), passpoint=home, server_names=outside))
    assert not passpoint.serves(Reach(ssids=("S",), passpoint=None, server_names=inside))
    assert keyfile.serves(Reach(ssids=("S",), passpoint=None, server_names=outside))
    assert not keyfile.serves(Reach(ssids=(), passpoint=home, server_names=inside))
    assert not eap_config.serves(Reach(ssids=(), passpoint=home, server_names=inside))  # no OI to match
