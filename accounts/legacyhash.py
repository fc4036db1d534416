"""FreeRADIUS's password attributes, read the way its ``rlm_pap`` reads them, as what we store.

A ``radcheck`` row holds a password under one of rlm_pap's attributes (``Cleartext-Password``,
``SSHA-Password``, ``Crypt-Password``, ``NT-Password``…), its value in hex, base64 or, for crypt,
as crypt(3) writes it; ``Password-With-Header`` carries a ``{header}`` naming the kind. What
:func:`read_password` returns:

* a clear password (``Cleartext-Password``, ``User-Password``, ``{clear}``): the importer hashes
  it with argon2id, it is never stored as it is;
* a legacy hash in the form passlib verifies (``{SSHA}…`` for ``ldap_salted_sha1``, ``$6$…`` for
  ``sha512_crypt``, ``$3$$<hex>`` for an NT hash…): stored as it is in ``account.password_hash``,
  verified by :class:`accounts.passwords.PasswordHasher` (which knows :data:`LEGACY_SCHEMES`, all
  deprecated) and replaced by an argon2id hash at the next successful log-in;
* for an NT hash, also its 16 octets: the importer keeps them (sealed) as a device credential so
  that MS-CHAP and PEAP keep working for the account.

No database code, no I/O: pure functions, tested against hashes FreeRADIUS's own docs show.
"""

from __future__ import annotations

import base64
import binascii
import re
import string
from dataclasses import dataclass

from passlib.hash import (
    apr_md5_crypt,
    des_crypt,
    md5_crypt,
    sha256_crypt,
    sha512_crypt,
)

#: the passlib schemes an imported hash may be stored in: verified, never produced (deprecated)
LEGACY_SCHEMES: tuple[str, ...] = (
    "ldap_md5",
    "ldap_salted_md5",
    "ldap_sha1",
    "ldap_salted_sha1",
    "ldap_salted_sha256",
    "ldap_salted_sha512",
    "hex_sha256",
    "hex_sha512",
    "md5_crypt",
    "apr_md5_crypt",
    "sha256_crypt",
    "sha512_crypt",
    "des_crypt",
    "bsd_nthash",
)

MAX_VALUE_LENGTH = 512
"""Longer values are no password attribute FreeRADIUS would take (253 octets per attribute)."""

NT_HASH_LENGTH = 16


class Unusable(ValueError):
    """A password attribute that cannot be imported; ``reason`` is a short code for the report."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class Password:
    """What one password attribute gives: ``clear`` or ``legacy_hash`` (one of the two), and an NT
    hash when the attribute was one (then ``legacy_hash`` is its ``bsd_nthash`` form, for PAP)."""

    attribute: str
    clear: str | None = None
    legacy_hash: str | None = None
    nt_hash: bytes | None = None


# attribute (lower-case) → kind; FreeRADIUS 3.2's rlm_pap names and their old aliases
_ATTRIBUTES: dict[str, str] = {
    "cleartext-password": "clear",
    "user-password": "clear",  # old radcheck rows: User-Password == "…"
    "crypt-password": "crypt",
    "md5-password": "md5",
    "smd5-password": "smd5",
    "sha-password": "sha",
    "sha1-password": "sha",
    "ssha-password": "ssha",
    "ssha1-password": "ssha",
    "sha2-password": "sha2",
    "sha2-256-password": "sha256",
    "sha2-512-password": "sha512",
    "ssha2-256-password": "ssha256",
    "ssha2-512-password": "ssha512",
    "nt-password": "nt",
    "password-with-header": "header",
}

# Password-With-Header's headers (lower-case) → kind, as rlm_pap's header table
_HEADERS: dict[str, str] = {
    "clear": "clear",
    "cleartext": "clear",
    "plain": "clear",
    "crypt": "crypt",
    "md5": "md5",
    "base64_md5": "md5",
    "smd5": "smd5",
    "sha": "sha",
    "ssha": "ssha",
    "ssha1": "ssha",
    "sha256": "sha256",
    "sha512": "sha512",
    "ssha256": "ssha256",
    "ssha512": "ssha512",
    "nt": "nt",
    "nthash": "nt",
    "x-nthash": "nt",
}

#: the unsalted digests' lengths, and the salted ones' digest length (the salt follows)
_DIGEST = {
    "md5": 16,
    "smd5": 16,
    "sha": 20,
    "ssha": 20,
    "sha256": 32,
    "sha512": 64,
    "ssha256": 32,
    "ssha512": 64,
}
_LDAP_PREFIX = {
    "md5": "{MD5}",
    "smd5": "{SMD5}",
    "sha": "{SHA}",
    "ssha": "{SSHA}",
    "ssha256": "{SSHA256}",
    "ssha512": "{SSHA512}",
}
_SALTED = frozenset({"smd5", "ssha", "ssha256", "ssha512"})
_HEADER = re.compile(r"^\{([A-Za-z0-9_-]{1,16})\}")
_HEX = frozenset(string.hexdigits)
_SALT = range(4, 17)  # passlib's ldap_salted_* take 4 to 16 octets of salt


def is_password_attribute(attribute: str) -> bool:
    return attribute.strip().lower() in _ATTRIBUTES


def read_password(attribute: str, value: str) -> Password:
    """The password one ``radcheck`` row holds, or :class:`Unusable` saying why not."""
    name = attribute.strip()
    kind = _ATTRIBUTES.get(name.lower())
    if kind is None:
        raise Unusable("not_a_password", f"{name!r} is no password attribute rlm_pap knows")
    if len(value) > MAX_VALUE_LENGTH:
        raise Unusable("value_too_long", f"{name}: the value is longer than {MAX_VALUE_LENGTH} characters")
    if "\x00" in value:
        raise Unusable("nul", f"{name}: the value holds a NUL character")
    if kind == "header":
        match = _HEADER.match(value)
        if match is None:
            raise Unusable("no_header", f"{name}: no {{header}} names the kind of password")
        header = match.group(1).lower()
        kind = _HEADERS.get(header, "")
        if not kind:
            raise Unusable("unsupported_hash", f"{name}: the header {{{header}}} is not supported")
        value = value[match.end() :]
    return _read(name, kind, value)


def _read(name: str, kind: str, value: str) -> Password:
    if kind == "clear":
        if not value:
            raise Unusable("empty_password", f"{name}: the password is empty")
        return Password(attribute=name, clear=value)
    value = value.strip()
    if kind == "crypt":
        return Password(attribute=name, legacy_hash=_crypt(name, value))
    if kind == "nt":
        nt = _nt_hash(name, value)
        return Password(attribute=name, legacy_hash="$3$$" + nt.hex(), nt_hash=nt)
    if kind == "sha2":  # the digest's length says which SHA-2
        raw = _octets(name, value, 28)
        kind = {32: "sha256", 64: "sha512"}.get(len(raw), "")
        if not kind:
            raise Unusable("unsupported_hash", f"{name}: only SHA-256 and SHA-512 digests are supported")
        return Password(attribute=name, legacy_hash=_hashed(name, kind, raw))
    return Password(attribute=name, legacy_hash=_hashed(name, kind, _octets(name, value, _DIGEST[kind])))


def _hashed(name: str, kind: str, raw: bytes) -> str:
    digest = _DIGEST[kind]
    if kind in _SALTED:
        if len(raw) - digest not in _SALT:
            raise Unusable("bad_length", f"{name}: a salted digest carries 4 to 16 octets of salt")
    elif len(raw) != digest:
        raise Unusable("bad_length", f"{name}: the digest must be {digest} octets, not {len(raw)}")
    if kind in ("sha256", "sha512"):  # passlib's unsalted SHA-2: hex_sha256, hex_sha512
        return raw.hex()
    return _LDAP_PREFIX[kind] + base64.b64encode(raw).decode("ascii")


def _octets(name: str, value: str, min_length: int) -> bytes:
    """rlm_pap's normify: hex when the value is hex of at least the digest's length, else base64."""
    if len(value) >= 2 * min_length and len(value) % 2 == 0 and set(value) <= _HEX:
        return bytes.fromhex(value)
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise Unusable("bad_encoding", f"{name}: the value is neither hex nor base64") from None
    if len(raw) < min_length:
        raise Unusable("bad_length", f"{name}: the digest is too short")
    return raw


def _nt_hash(name: str, value: str) -> bytes:
    text = value[2:] if value[:2].lower() == "0x" else value
    if len(text) != 2 * NT_HASH_LENGTH or not set(text) <= _HEX:
        raise Unusable("bad_length", f"{name}: an NT hash is 32 hexadecimal digits")
    return bytes.fromhex(text)


def _crypt(name: str, value: str) -> str:
    for handler in (md5_crypt, apr_md5_crypt, sha256_crypt, sha512_crypt, des_crypt):
        if handler.identify(value):
            try:
                handler.from_string(value)
            except ValueError:
                raise Unusable("bad_encoding", f"{name}: a malformed {handler.name} hash") from None
            return value
    if value.startswith(("$2a$", "$2b$", "$2y$")):
        raise Unusable("unsupported_hash", f"{name}: bcrypt hashes are not supported")
    raise Unusable("unsupported_hash", f"{name}: not a crypt(3) hash this server verifies")
