"""Which platform a browser runs on, from its User-Agent (sans-I/O): only to choose which profile
"My account" offers first. The others stay one tap away, so a wrong guess costs a tap, never
access; the header is the visitor's to write and is read as untrusted text.

The order of the rules matters, as user agents name each other: ChromeOS's says "Linux", Android's
says "Linux" too, iOS's says "like Mac OS X". iPadOS 13+ asks for desktop sites with a Macintosh
user agent that nothing in the header tells from a Mac: it is taken as macOS, which gets the same
Apple profile.
"""

from __future__ import annotations

import enum
import re

__all__ = ["Platform", "detect"]


class Platform(enum.StrEnum):
    IOS = "ios"
    MACOS = "macos"
    ANDROID = "android"
    WINDOWS = "windows"
    LINUX = "linux"
    CHROMEOS = "chromeos"
    OTHER = "other"


#: (pattern, platform), the first match wins
_RULES: tuple[tuple[re.Pattern[str], Platform], ...] = (
    (re.compile(r"\b(?:iPhone|iPad|iPod)\b"), Platform.IOS),
    (re.compile(r"\bCrOS\b"), Platform.CHROMEOS),
    (re.compile(r"\bAndroid\b"), Platform.ANDROID),
    (re.compile(r"\bWindows (?:NT|Phone)\b"), Platform.WINDOWS),
    (re.compile(r"\bMacintosh\b|\bMac OS X\b"), Platform.MACOS),
    (re.compile(r"\bLinux\b|\bX11\b"), Platform.LINUX),
)
#: longer headers are cut before matching (real ones are a few hundred characters)
MAX_LENGTH = 1024


def detect(user_agent: str | None) -> Platform:
    """The platform a ``User-Agent`` header names, or :attr:`Platform.OTHER`."""
    text = (user_agent or "")[:MAX_LENGTH]
    for pattern, platform in _RULES:
        if pattern.search(text):
            return platform
    return Platform.OTHER
