"""What the format modules accept of a :class:`~portal.onboarding.spec.ProfileSpec`'s text.

Everything in a spec came from an operator's form, an admin API call or a citizen's account, so
every format module treats it as hostile: the XML it goes into is built with ``xml.etree`` (which
escapes markup), and the characters no profile needs are refused here, before any file is made,
with :class:`UnusableText` (a ``ValueError``) that names the field but never echoes the value
(it may be a password).

Refused: C0/C1 controls and the Unicode line and paragraph separators (NUL, line breaks,
escapes — XML 1.0 cannot even carry most of them, and a line break inside a MIME or keyfile
value starts a new header or line), lone surrogates, the two
non-characters U+FFFE/U+FFFF, and the bidirectional overrides and isolates that can make a shown
name read differently from what it is (U+202A–U+202E, U+2066–U+2069).
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["UnusableText", "dns_name", "dns_names", "ssid_octets", "text"]

_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)\Z")


class UnusableText(ValueError):
    """A text of the spec cannot go into a profile; ``field`` says which (never its value)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field


def text(field: str, value: str, *, max_bytes: int | None = None, required: bool = True) -> str:
    """``value`` unchanged if a profile may carry it; a ``ValueError`` naming ``field`` if not."""
    if required and not value:
        raise UnusableText(field, "empty")
    for char in value:
        if unicodedata.category(char) in ("Cc", "Cs", "Zl", "Zp") or char in "\ufffe\uffff" or char in _BIDI:
            raise UnusableText(field, f"a control character (U+{ord(char):04X}); refused")
    if max_bytes is not None and len(value.encode("utf-8")) > max_bytes:
        raise UnusableText(field, f"longer than {max_bytes} bytes")
    return value


def dns_name(field: str, value: str) -> str:
    """A host or realm name (letters, digits, hyphens, dots; at most 253 octets): what Passpoint
    compares with ANQP's domain and NAI realm lists, and with the server certificate's names."""
    if not value:
        raise UnusableText(field, "empty")
    if len(value) > 253 or not all(_LABEL.match(label) for label in value.split(".")):
        raise UnusableText(field, "not a DNS name")
    return value


def dns_names(names: tuple[str, ...], field: str = "a server name") -> list[str]:
    """Server names as DNS names: in a list written with ``;`` between names (Windows'
    ``ServerNames``, NetworkManager's ``domain-match``) anything else could add a name."""
    return [dns_name(field, name) for name in names]


def ssid_octets(ssid: str) -> bytes:
    """The SSID as it goes on the air (UTF-8): 1 to 32 octets (IEEE 802.11), no control character."""
    return text("an SSID", ssid, max_bytes=32).encode()
