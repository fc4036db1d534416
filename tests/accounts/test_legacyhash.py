"""FreeRADIUS's password attributes as rlm_pap reads them, verified by the accounts' hasher.

The values are built the way FreeRADIUS's documentation builds them (rlm_pap's man page, the
wiki's "Password storage" table: a digest, then the salt, hex or base64) and, for crypt and the
NT hash, by the tools people used (crypt(3) through passlib, smbencrypt's MD4)."""

from __future__ import annotations

import base64
import hashlib

import pytest
from passlib.hash import des_crypt, md5_crypt, sha256_crypt, sha512_crypt

from accounts.credentials import nt_hash
from accounts.legacyhash import Unusable, read_password
from accounts.passwords import PasswordHasher

PASSWORD = "Hello-World-2024"
SALT = b"\x01\x02\x03\x04\x05\x06\x07\x08"


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _salted(name: str) -> bytes:
    return hashlib.new(name, PASSWORD.encode() + SALT).digest() + SALT


# fixed salts: the parameters are the tests' ids, which every pytest-xdist worker must collect alike
CASES = [
    ("SSHA-Password", _b64(_salted("sha1"))),
    ("SSHA-Password", _salted("sha1").hex()),
    ("SSHA1-Password", _b64(_salted("sha1"))),
    ("SSHA2-256-Password", _b64(_salted("sha256"))),
    ("SSHA2-512-Password", _salted("sha512").hex()),
    ("SMD5-Password", _b64(_salted("md5"))),
    ("MD5-Password", hashlib.md5(PASSWORD.encode()).hexdigest()),
    ("MD5-Password", _b64(hashlib.md5(PASSWORD.encode()).digest())),
    ("SHA-Password", hashlib.sha1(PASSWORD.encode()).hexdigest()),
    ("SHA2-Password", hashlib.sha256(PASSWORD.encode()).hexdigest()),
    ("SHA2-256-Password", hashlib.sha256(PASSWORD.encode()).hexdigest()),
    ("SHA2-512-Password", _b64(hashlib.sha512(PASSWORD.encode()).digest())),
    ("Crypt-Password", sha512_crypt.using(rounds=5000, salt="saltsalt").hash(PASSWORD)),
    ("Crypt-Password", sha256_crypt.using(rounds=5000, salt="saltsalt").hash(PASSWORD)),
    ("Crypt-Password", md5_crypt.using(salt="saltsalt").hash(PASSWORD)),
    ("Crypt-Password", des_crypt.using(salt="sa").hash(PASSWORD)),
    ("NT-Password", nt_hash(PASSWORD).hex().upper()),
    ("NT-Password", "0x" + nt_hash(PASSWORD).hex()),
    ("Password-With-Header", "{SSHA}" + _b64(_salted("sha1"))),
    ("Password-With-Header", "{ssha512}" + _b64(_salted("sha512"))),
    ("Password-With-Header", "{crypt}" + md5_crypt.using(salt="saltsalt").hash(PASSWORD)),
    ("Password-With-Header", "{nthash}" + nt_hash(PASSWORD).hex()),
]


@pytest.mark.parametrize(("attribute", "value"), CASES)
def test_each_attribute_verifies_its_password_and_asks_for_a_rehash(
    hasher: PasswordHasher, attribute: str, value: str
) -> None:
    read = read_password(attribute, value)
    assert read.clear is None and read.legacy_hash is not None
    assert hasher.verify(PASSWORD, read.legacy_hash)
    assert not hasher.verify("x" + PASSWORD, read.legacy_hash)
    assert hasher.needs_rehash(read.legacy_hash) and hasher.is_legacy(read.legacy_hash)
    fresh = hasher.hash(PASSWORD)
    assert fresh.startswith("$argon2id$") and not hasher.is_legacy(fresh)


def test_an_nt_password_keeps_its_octets_for_ms_chap() -> None:
    read = read_password("NT-Password", nt_hash(PASSWORD).hex())
    assert read.nt_hash == nt_hash(PASSWORD)


@pytest.mark.parametrize("attribute", ["Cleartext-Password", "User-Password"])
def test_a_clear_password_is_returned_to_be_hashed(attribute: str) -> None:
    read = read_password(attribute, PASSWORD)
    assert read.clear == PASSWORD and read.legacy_hash is None
    assert read_password("Password-With-Header", "{clear}" + PASSWORD).clear == PASSWORD


@pytest.mark.parametrize(
    ("attribute", "value", "reason"),
    [
        ("Simultaneous-Use", "1", "not_a_password"),
        ("Cleartext-Password", "", "empty_password"),
        ("Cleartext-Password", "a\x00b", "nul"),
        ("Cleartext-Password", "x" * 600, "value_too_long"),
        ("SSHA-Password", "!!not base64!!", "bad_encoding"),
        ("SSHA-Password", _b64(b"short"), "bad_length"),
        ("SSHA-Password", _b64(hashlib.sha1(b"x").digest() + b"\x01" * 40), "bad_length"),
        ("MD5-Password", "00" * 20, "bad_length"),
        ("NT-Password", "1234", "bad_length"),
        ("NT-Password", "zz" * 16, "bad_length"),
        ("SHA2-Password", hashlib.sha384(b"x").hexdigest(), "unsupported_hash"),
        ("Crypt-Password", "$2b$12$" + "a" * 53, "unsupported_hash"),
        ("Crypt-Password", "not a hash at all", "unsupported_hash"),
        ("Password-With-Header", "no header", "no_header"),
        ("Password-With-Header", "{PBKDF2}abc", "unsupported_hash"),
    ],
)
def test_what_cannot_be_imported_says_why(attribute: str, value: str, reason: str) -> None:
    with pytest.raises(Unusable) as caught:
        read_password(attribute, value)
    assert caught.value.reason == reason


def test_a_damaged_stored_hash_is_a_failed_check_not_a_crash(hasher: PasswordHasher) -> None:
    assert not hasher.verify(PASSWORD, "{SSHA}!!!")


def test_des_crypt_reads_eight_characters_only_until_the_rehash(hasher: PasswordHasher) -> None:
    """Why docs/security.md calls legacy hashes weak: DES crypt ignores what follows the 8th
    character. The next log-in re-hashes with argon2id, which reads the whole password."""
    stored = read_password("Crypt-Password", des_crypt.using(salt="sa").hash(PASSWORD)).legacy_hash
    assert hasher.verify(PASSWORD[:8] + "anything", stored)
