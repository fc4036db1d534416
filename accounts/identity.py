"""Rules for the names people and machines give us: usernames, realms, emails, MAC addresses,
INSEE codes and NAS addresses. Each function returns the canonical form or raises
:class:`~accounts.errors.InvalidInput` with a message that names the rule broken.
"""

from __future__ import annotations

import ipaddress
import re
import unicodedata
from functools import lru_cache

import email_validator

from accounts.errors import InvalidInput

_USERNAME = re.compile(r"^[a-z0-9](?:[a-z0-9._-]{1,62})[a-z0-9]$")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]+$")
_INSEE = re.compile(r"[0-9]{5}|2[AB][0-9]{3}")  # ASCII digits: \d would take any script's
_HEX12 = re.compile(r"^[0-9a-f]{12}$")
_HEX = "[0-9a-fA-F]"
_MAC = re.compile(
    rf"{_HEX}{{2}}([-:. ]?){_HEX}{{2}}(?:\1{_HEX}{{2}}){{4}}"  # six pairs, one separator or none
    rf"|{_HEX}{{4}}([.-]){_HEX}{{4}}\2{_HEX}{{4}}"  # three groups of four (Cisco, Huawei)
)


def normalize_username(raw: str) -> str:
    """Lower-case, NFKC-normalised username of 3–64 characters from ``a-z 0-9 . _ -``.

    A username that reads as a MAC address is refused: MAC authentication sends the MAC as
    User-Name, and the two must never be confused.
    """
    name = unicodedata.normalize("NFKC", raw).strip().lower()
    if not _USERNAME.match(name) or ".." in name:
        raise InvalidInput(
            "a username has 3 to 64 characters: letters a-z, digits, '.', '_' or '-', "
            "starting and ending with a letter or digit"
        )
    if _looks_like_mac(name):
        raise InvalidInput("a username cannot look like a MAC address")
    return name


def normalize_realm(raw: str) -> str:
    """A realm is a lower-case DNS name (``wifi.maregionsud.fr``)."""
    realm = raw.strip().lower().rstrip(".")
    labels = realm.split(".")
    if len(realm) > 253 or len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        raise InvalidInput(f"{raw!r} is not a realm: use a DNS name such as wifi.example.fr")
    return realm


def split_identity(raw: str, *, home_realm: str) -> tuple[str, str]:
    """Split ``username@realm`` (or a bare username, meaning the home realm) into its parts."""
    user, sep, realm = raw.strip().rpartition("@")
    if not sep:
        return normalize_username(realm), home_realm
    return normalize_username(user), normalize_realm(realm)


def normalize_email(raw: str) -> str:
    """Trim the address and lower-case its domain (the local part is the mail server's business).

    The syntax is email-validator's (RFC 5321/5322 as mail servers take them, no DNS lookup):
    international domains are fine (kept as typed, lower-cased), address literals
    (``a@[127.0.0.1]``), quoted local parts, a domain label starting with ``-``, an empty label
    (``example..fr``) and stray characters (``a@example.fr>``) are not."""
    email = raw.strip()
    if len(email) > 254 or not _EMAIL.match(email):
        raise InvalidInput(f"{raw!r} is not an email address")
    try:
        checked = email_validator.validate_email(
            email, check_deliverability=False, allow_quoted_local=False, allow_domain_literal=False
        )
    except email_validator.EmailNotValidError:
        raise InvalidInput(f"{raw!r} is not an email address") from None
    local, _, domain = email.rpartition("@")
    if checked.local_part != local:
        raise InvalidInput(f"{raw!r} is not an email address")  # email-validator normalised it
    return f"{local}@{domain.lower()}"


@lru_cache(maxsize=65_536)  # the same devices come back again and again (every accounting record)
def canonical_mac(raw: str) -> str | None:
    """``aa:bb:cc:dd:ee:ff`` from a MAC address in one of the notations access points and people
    use, or None. The one MAC rule of Sésame: RADIUS (User-Name of MAC authentication,
    Calling-Station-Id), the portal and the CLI all go through it.

    Accepted, in either case, surrounding whitespace ignored: six pairs of hex digits with one
    separator used throughout — ``:`` (``aa:bb:cc:dd:ee:ff``), ``-`` (``AA-BB-CC-DD-EE-FF``,
    RFC 3580 §3.21), ``.`` or a space — or none (``aabbccddeeff``); three groups of four with
    ``.`` (Cisco: ``aabb.ccdd.eeff``) or ``-`` (Huawei, H3C: ``aabb-ccdd-eeff``). Refused: mixed
    separators (``aa:bb-cc:dd:ee:ff``), other groupings, non-ASCII digits, anything else.
    """
    match = _MAC.fullmatch(raw.strip())
    if match is None:
        return None
    digits = re.sub(r"[-:. ]", "", match.group()).lower()
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


def normalize_mac(raw: str) -> str:
    """:func:`canonical_mac`, raising :class:`~accounts.errors.InvalidInput` for what is not a MAC."""
    mac = canonical_mac(raw)
    if mac is None:
        raise InvalidInput(f"{raw!r} is not a MAC address")
    return mac


def _looks_like_mac(value: str) -> bool:
    """Whether a username could be taken for a MAC address: twelve hex digits once any separators
    are removed. Broader than :func:`canonical_mac` on purpose, so that no notation a device or a
    later rule may use can ever make a username and a MAC address meet."""
    return _HEX12.match(re.sub(r"[\s:.\-]", "", value).lower()) is not None


def normalize_insee(raw: str) -> str:
    """An INSEE commune code: five digits, or 2A/2B and three digits in Corsica."""
    code = unicodedata.normalize("NFKC", raw).strip().upper()
    if not _INSEE.fullmatch(code):
        raise InvalidInput(f"{raw!r} is not an INSEE commune code (five digits, or 2A/2B + three digits)")
    return code


def normalize_nas_address(raw: str) -> str:
    """One IP address (``192.0.2.10``, ``2001:db8::1``) or a network (``10.1.0.0/24``).

    A network written with host bits set (``10.1.0.5/24``) is refused rather than silently
    widened; a /32 or /128 is stored as the plain address.
    """
    text = raw.strip()
    try:
        network = ipaddress.ip_network(text, strict=True)
    except ValueError:
        raise InvalidInput(
            f"{raw!r} is not an IP address or network (e.g. 192.0.2.10, 10.1.0.0/24, 2001:db8::/64)"
        ) from None
    if network.num_addresses == 1:
        return str(network.network_address)
    return str(network)


def display_name(raw: str, *, what: str, max_length: int = 120) -> str:
    """A human name (commune, site, access point): trimmed, non-empty, bounded, and with something
    visible left once folded (:func:`fold_name`)."""
    name = unicodedata.normalize("NFC", raw).strip()
    if (
        not name
        or len(name) > max_length
        or any(unicodedata.category(c) in ("Cc", "Cs", "Co", "Cn") for c in name)
        or not fold_name(name)
    ):
        raise InvalidInput(f"a {what} name has 1 to {max_length} printable characters")
    return name


# Letters of other scripts drawn like Latin ones (Unicode TR 39 confusables, the ones that matter
# for names typed in Europe), folded to the Latin letter they imitate.
_LOOKALIKES = str.maketrans(
    {
        **dict(zip("асеіјорѕухԁһӏԛԝѵ", "aceijopsyxdhlqwv", strict=True)),  # Cyrillic
        **dict(zip("αβεικνοτυχ", "abeiknotux", strict=True)),  # Greek
        "ı": "i",  # dotless i
        "ł": "l",
        "ø": "o",
        "đ": "d",
        "ß": "ss",
        "æ": "ae",
        "œ": "oe",
    }
)


def fold_name(raw: str) -> str:
    """The key under which two names are the same name: what name lookups compare and what must be
    unique (sites in a commune, access points). NFKC (fullwidth, ligatures), format characters
    (zero-width spaces and joiners, bidi marks) removed, case folded, accents stripped, look-alike
    letters of other scripts mapped to Latin, dashes to ``-``, runs of spaces to one."""
    text = unicodedata.normalize("NFKC", raw)
    text = "".join(c for c in text if unicodedata.category(c) != "Cf").casefold()
    text = "".join(c for c in unicodedata.normalize("NFKD", text) if not unicodedata.combining(c))
    text = text.translate(_LOOKALIKES)
    text = "".join("-" if unicodedata.category(c) == "Pd" else c for c in text)
    return unicodedata.normalize("NFC", " ".join(text.split()))
