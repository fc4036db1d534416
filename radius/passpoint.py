"""What a Passpoint (Hotspot 2.0) access point, or a roaming hub, tells us about a request, and
what such an access point is told back. Sans-I/O: a parsed packet in, plain values out.

An access point built on hostapd with ``hs20=1`` adds Wi-Fi Alliance vendor attributes (vendor
40808, ``dictionaries/dictionary.wifialliance``) to every Access-Request: its own release
(HS20-AP-Version: one octet, the release minus one), the device's (HS20-Mobile-Device-Version:
the release minus one, then the device's PPS MO identifier) and the Roaming Consortium OI the
device chose when it matched the network by OI rather than by realm (HS20-Roaming-Consortium,
3 to 15 octets). Roaming hubs and controllers name the visited network with RFC 5580's
Operator-Name (a namespace octet, "1" for a realm, then the name) and the venue with RFC 7268's
WLAN-Venue-Name, or the older WISPr-Location-Name. These are what :func:`read` keeps: the rest
(HESSID, cipher suites, the device's PPS MO identifier) says nothing a record or a person needs.

Every value is the sender's: a length the attribute cannot have makes it absent, never an error
(the request is still decided, as without the attribute); text is made storable (NUL, controls,
invalid UTF-8 escaped, cut; :mod:`accounts.wiretext`) and cut again to its column when recorded.

In an Access-Accept, hostapd acts on HS20-Session-Information-URL (``ieee802_1x_check_hs20``):
Session Warning Time minutes before Session-Timeout ends the session, the device is told the
session is ending and given the URL. :func:`session_information` builds that value.
"""

from __future__ import annotations

from dataclasses import dataclass

from radius import codec

#: Roaming Consortium OIs that name a federation, by prefix (lower-case hex), for the metrics'
#: label: any other OI is "other", so a sender cannot grow the number of series
KNOWN_CONSORTIA = (
    ("5a03ba", "openroaming"),  # WBA OpenRoaming, settlement-free, and its policy variants
    ("baa2d0", "openroaming"),  # WBA OpenRoaming, settled, and its policy variants
    ("004096", "openroaming"),  # WBA OpenRoaming's first OI (Cisco's), still beaconed
    ("001bc504", "eduroam"),  # eduroam's OIs (GEANT)
)
#: the longest URL HS20-Session-Information-URL holds: 253 octets of vendor attribute less the
#: vendor id (4), type and length (2) and the warning time (1)
MAX_URL = 246
#: the releases a label names; anything else is "other"
_RELEASES = {1: "1", 2: "2", 3: "3"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Facts:
    """What one request says about Passpoint; None where it says nothing (or nothing usable)."""

    #: the access point's Hotspot 2.0 release (1, 2, 3): present only on a Passpoint access point
    ap_release: int | None = None
    #: the device's release, when it sent the Hotspot 2.0 indication element
    device_release: int | None = None
    #: the Roaming Consortium OI the device matched, lower-case hex ("5a03ba0000")
    roaming_consortium: str | None = None
    #: RFC 5580 Operator-Name as sent, namespace octet first ("1wifi.example.org")
    operator_name: str | None = None
    #: the venue's name (WLAN-Venue-Name, else WISPr-Location-Name)
    venue: str | None = None

    @property
    def hotspot20(self) -> bool:
        """Whether the access point says it is a Passpoint one (what the reply's extras need)."""
        return self.ap_release is not None


NONE = Facts()


def _release(value: bytes | None) -> int | None:
    """A release from its first octet (the release minus one); the indication element has four
    bits for it, so a larger value is not one."""
    if not value or value[0] > 0x0F:
        return None
    return value[0] + 1


def read(packet: codec.Packet) -> Facts:
    """The Passpoint facts of a request, in one pass over its attributes."""
    ap = device = consortium = operator = venue = location = None
    for attr, value in packet.attributes:
        if attr == codec.VENDOR_SPECIFIC and len(value) >= 6:
            vendor = int.from_bytes(value[:4], "big")
            if vendor == codec.WIFI_ALLIANCE:
                for vtype, data in codec.sub_attributes(value):
                    if vtype == codec.HS20_AP_VERSION and len(data) == 1:
                        ap = _release(data)
                    elif vtype == codec.HS20_MOBILE_DEVICE_VERSION and len(data) == 3:
                        device = _release(data)
                    elif vtype == codec.HS20_ROAMING_CONSORTIUM and 3 <= len(data) <= 15:
                        consortium = data.hex()
            elif vendor == codec.WISPR and location is None:
                for vtype, data in codec.sub_attributes(value):
                    if vtype == codec.WISPR_LOCATION_NAME and data:
                        location = data
                        break
        elif attr == codec.OPERATOR_NAME and operator is None and len(value) >= 2:
            operator = codec.as_text(value, 253)
        elif attr == codec.WLAN_VENUE_NAME and venue is None and value:
            venue = codec.as_text(value, 253)
    if venue is None and location is not None:
        venue = codec.as_text(location, 253)
    if ap is None and device is None and consortium is None and operator is None and venue is None:
        return NONE
    return Facts(
        ap_release=ap,
        device_release=device,
        roaming_consortium=consortium,
        operator_name=operator,
        venue=venue,
    )


def release_label(release: int | None) -> str:
    return "none" if release is None else _RELEASES.get(release, "other")


def consortium_label(oi: str | None) -> str:
    if oi is None:
        return "none"
    return next((name for prefix, name in KNOWN_CONSORTIA if oi.startswith(prefix)), "other")


def session_information(url: bytes, session_timeout: int) -> bytes:
    """HS20-Session-Information-URL for a session of ``session_timeout`` seconds: the warning time
    in minutes, then the URL. Five minutes of notice, less for a short session (a new account's
    grace period, the end of a daily allowance) so the notice does not come at its start; hostapd
    warns at once when the session is shorter than the notice."""
    if len(url) > MAX_URL:
        raise ValueError(f"a session information URL holds at most {MAX_URL} octets")
    minutes = max(1, min(5, session_timeout // 120))
    return bytes((minutes,)) + url
