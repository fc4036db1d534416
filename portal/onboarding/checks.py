"""What the format modules refuse to write, whatever the format: the values of a profile come
from somebody (a commune's SSID, a citizen's device label, an operator's server name).

A control character is refused, never escaped: in a keyfile a line break writes lines of its
own, in XML 1.0 most controls cannot be written at all, and no SSID, name or password of ours
legitimately holds one. A server name is a DNS name: in a list written with ``;`` between names
(Windows' ``ServerNames``, NetworkManager's ``domain-match``) anything else could add a name.
"""

from __future__ import annotations

import re

__all__ = ["dns_names", "ssid_octets", "text"]

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_DNS_NAME = re.compile(rf"(?=.{{1,253}}\Z){_LABEL}(?:\.{_LABEL})*\Z")


def text(value: str, what: str) -> str:
    """``value`` unchanged, or ValueError naming ``what`` (never the value: it may be a secret)."""
    if _CONTROL.search(value):
        raise ValueError(f"{what} contains a control character or a line break")
    return value


def dns_names(names: tuple[str, ...]) -> list[str]:
    for name in names:
        if not _DNS_NAME.match(name):
            raise ValueError("a server name must be a DNS name")
    return list(names)


def ssid_octets(ssid: str) -> bytes:
    """The SSID as it goes on the air (UTF-8): 1 to 32 octets, no control character."""
    raw = text(ssid, "an SSID").encode()
    if not 1 <= len(raw) <= 32:
        raise ValueError("an SSID is 1 to 32 octets")
    return raw
