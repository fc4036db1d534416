"""Turning a home server's reply into the access point's answer. No I/O.

The reply is relayed as it came, except:

* Message-Authenticator and Proxy-State are left out: the server core adds its own
  Message-Authenticator (first) and echoes the access point's Proxy-State (RFC 2865 §5.33);
* salt-encrypted attributes (Tunnel-Password, RFC 2868 §3.5; MS-MPPE-Send/Recv-Key, RFC 2548
  §2.4.2) and MS-CHAP-MPPE-Keys (RFC 2548 §2.4.1) were hidden with the home server's secret and our
  request's authenticator: they are re-hidden with the access point's secret and its authenticator;
* on an Access-Accept, our site's limits apply where they are stricter (:class:`LocalLimits`):
  the lower Session-Timeout, Idle-Timeout and bandwidth (WISPr in bit/s, ChilliSpot in kbit/s),
  and our Acct-Interim-Interval, since visitors' accounting is ours.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from accounts.bandwidth import bandwidth_attributes
from radius import codec
from radius.codec import Code
from radius.core import Decision

WISPR, CHILLISPOT = 14122, 14559
WISPR_UP, WISPR_DOWN = 7, 8  # bit/s
CHILLI_UP, CHILLI_DOWN = 4, 5  # kbit/s


@dataclass(frozen=True, slots=True, kw_only=True)
class LocalLimits:
    """Our site's policy for a visitor: applied to a partner's Access-Accept where stricter."""

    session_timeout: int | None = None
    idle_timeout: int | None = None
    interim_interval: int | None = None
    up_kbps: int | None = None
    down_kbps: int | None = None


class Rekey:
    """Moves encrypted reply attributes from the home server's keys to the access point's."""

    __slots__ = ("home_authenticator", "home_secret", "nas_authenticator", "nas_secret")

    def __init__(
        self, *, home_secret: bytes, home_authenticator: bytes, nas_secret: bytes, nas_authenticator: bytes
    ) -> None:
        self.home_secret, self.home_authenticator = home_secret, home_authenticator
        self.nas_secret, self.nas_authenticator = nas_secret, nas_authenticator

    def salted(self, value: bytes) -> bytes | None:
        """RFC 2868 §3.5 / RFC 2548 §2.4.2 (Tunnel-Password, MS-MPPE-Send-Key, MS-MPPE-Recv-Key)."""
        plain = codec.salt_decrypt(value, self.home_secret, self.home_authenticator)
        if plain is None:
            return None
        return codec.salt_encrypt(plain, self.nas_secret, self.nas_authenticator)

    def hidden(self, value: bytes) -> bytes | None:
        """RFC 2548 §2.4.1 (MS-CHAP-MPPE-Keys): hidden like User-Password, padding kept."""
        plain = codec.unhide(value, self.home_secret, self.home_authenticator)
        if plain is None:
            return None
        return codec.hide_user_password(plain, self.nas_secret, self.nas_authenticator)


_BANDWIDTH = {
    (WISPR, WISPR_UP): "up",
    (WISPR, WISPR_DOWN): "down",
    (CHILLISPOT, CHILLI_UP): "up",
    (CHILLISPOT, CHILLI_DOWN): "down",
}


def relay(reply: codec.Packet, *, keys: Rekey, limits: LocalLimits, drops: Counter[str]) -> Decision:
    """A home server's answer, re-keyed for the access point, with our limits applied to an Accept."""
    if reply.code != Code.ACCESS_ACCEPT:
        limits = LocalLimits()
    theirs: dict[str, int] = {}
    parts: list[bytes] = []
    for attr, value in reply.attributes:
        if attr in (codec.MESSAGE_AUTHENTICATOR, codec.PROXY_STATE):
            continue  # the server core adds its own, and echoes the NAS's Proxy-State
        if attr == codec.SESSION_TIMEOUT and limits.session_timeout and len(value) == 4:
            theirs["session"] = int.from_bytes(value, "big")
            continue
        if attr == codec.IDLE_TIMEOUT and limits.idle_timeout and len(value) == 4:
            theirs["idle"] = int.from_bytes(value, "big")
            continue
        if attr == codec.ACCT_INTERIM_INTERVAL and limits.interim_interval:
            continue  # accounting of visitors stays with us: our interval
        if attr == codec.TUNNEL_PASSWORD and len(value) > 1:
            rekeyed = keys.salted(value[1:])
            if rekeyed is None:
                drops["bad_encrypted_attribute"] += 1
                continue
            value = value[:1] + rekeyed  # the tag octet stays (RFC 2868 §3.5)
        elif attr == codec.VENDOR_SPECIFIC:
            vsa = _vendor(value, keys, limits, theirs, drops)
            if vsa is None:
                continue
            value = vsa
        parts.append(codec.tlv(attr, value))
    ours: list[tuple[str, Any]] = []
    if limits.session_timeout:
        ours.append(("Session-Timeout", min(limits.session_timeout, theirs.get("session") or 1 << 31)))
    if limits.idle_timeout:
        ours.append(("Idle-Timeout", min(limits.idle_timeout, theirs.get("idle") or 1 << 31)))
    if limits.interim_interval:
        ours.append(("Acct-Interim-Interval", limits.interim_interval))
    up = _stricter(limits.up_kbps, theirs.get("up"))
    down = _stricter(limits.down_kbps, theirs.get("down"))
    ours += bandwidth_attributes(up_kbps=up, down_kbps=down)
    return Decision(code=Code(reply.code), attributes=tuple(ours), raw=b"".join(parts))


def _vendor(
    value: bytes, keys: Rekey, limits: LocalLimits, theirs: dict[str, int], drops: Counter[str]
) -> bytes | None:
    """One Vendor-Specific attribute of a reply, re-keyed; None when nothing of it is left."""
    if len(value) < 6:
        return value
    vendor = int.from_bytes(value[:4], "big")
    if vendor not in (codec.MICROSOFT, WISPR, CHILLISPOT):
        return value
    subs: list[bytes] = []
    i = 4
    while i + 2 <= len(value):
        vtype, vlen = value[i], value[i + 1]
        if vlen < 2 or i + vlen > len(value):
            return value  # not in RFC 2865 §5.26 format: passed on as it came
        sub = value[i + 2 : i + vlen]
        i += vlen
        if vendor == codec.MICROSOFT and vtype in (codec.MS_MPPE_SEND_KEY, codec.MS_MPPE_RECV_KEY):
            rekeyed = keys.salted(sub)
        elif vendor == codec.MICROSOFT and vtype == codec.MS_CHAP_MPPE_KEYS:
            rekeyed = keys.hidden(sub)
        else:
            rekeyed = sub
            direction = _BANDWIDTH.get((vendor, vtype))
            if direction is not None and len(sub) == 4:
                kbps = int.from_bytes(sub, "big") // (1000 if vendor == WISPR else 1)
                if (limits.up_kbps if direction == "up" else limits.down_kbps) is not None:
                    theirs[direction] = min(kbps, theirs.get(direction, kbps))
                    continue  # replaced by the stricter of theirs and ours
        if rekeyed is None:
            drops["bad_encrypted_attribute"] += 1
            continue
        subs.append(bytes((vtype, len(rekeyed) + 2)) + rekeyed)
    if not subs:
        return None
    return value[:4] + b"".join(subs)


def _stricter(ours: int | None, theirs: int | None) -> int | None:
    if ours is None:
        return None  # theirs passed through untouched
    return min(ours, theirs) if theirs is not None else ours
