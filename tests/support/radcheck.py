"""A FreeRADIUS database as FreeRADIUS itself makes it: Debian's ``schema.sql`` of the ``sql``
module loaded into a PostgreSQL database of the test's own, ``radcheck``/``radusergroup`` filled
with rows written as FreeRADIUS's documentation writes them (rlm_pap's attribute table: a digest
then its salt, hex or base64; crypt(3) strings; NT hashes in hex), for the import tests
(tests/test_import_freeradius.py) and the interop test that authenticates the same rows in a real
FreeRADIUS and then in Sésame (tests/interop/test_import_interop.py)."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from passlib.hash import md5_crypt, sha512_crypt

from accounts.credentials import nt_hash

SCHEMA = Path("/etc/freeradius/3.0/mods-config/sql/main/postgresql/schema.sql")
SALT = b"\x9a\x12\x7f\x03\xbb\x40\x01\xee"

#: username → the password each account's row holds, in whatever form
PASSWORDS = {
    "clara": "clear-text-pass-1",
    "sasha": "ssha-pass-22",
    "sasha256": "ssha256-pass-33",
    "ntuser": "nt-pass-44",
    "crypto": "crypt-pass-55",
    "md5user": "md5-pass-66",
    "oldmd5": "old-md5crypt-77",
    "withhdr": "header-pass-88",
    "dalo": "disabled-pass-99",
    "rejected": "rejected-pass-10",
}


def _salted(name: str, password: str) -> bytes:
    return hashlib.new(name, password.encode() + SALT).digest() + SALT


def radcheck_rows() -> list[tuple[str, str, str, str]]:
    """(username, attribute, op, value): one user per kind of password FreeRADIUS stores, plus
    the rows an import must report (another check attribute, a duplicate by case, no password)."""
    p = PASSWORDS
    return [
        ("clara", "Cleartext-Password", ":=", p["clara"]),
        ("clara", "Simultaneous-Use", ":=", "1"),
        ("sasha", "SSHA-Password", ":=", base64.b64encode(_salted("sha1", p["sasha"])).decode()),
        ("sasha256", "SSHA2-256-Password", ":=", _salted("sha256", p["sasha256"]).hex()),
        ("ntuser", "NT-Password", ":=", nt_hash(p["ntuser"]).hex().upper()),
        ("crypto", "Crypt-Password", ":=", sha512_crypt.using(rounds=5000).hash(p["crypto"])),
        ("md5user", "MD5-Password", ":=", hashlib.md5(p["md5user"].encode()).hexdigest()),
        ("oldmd5", "Crypt-Password", ":=", md5_crypt.hash(p["oldmd5"])),
        (
            "withhdr",
            "Password-With-Header",
            ":=",
            "{SSHA}" + base64.b64encode(_salted("sha1", p["withhdr"])).decode(),
        ),
        ("dalo", "Cleartext-Password", ":=", p["dalo"]),
        ("rejected", "Cleartext-Password", ":=", p["rejected"]),
        ("rejected", "Auth-Type", ":=", "Reject"),
        ("Twin", "Cleartext-Password", ":=", "twin-pass-1"),
        ("twin", "Cleartext-Password", ":=", "twin-pass-2"),
        ("nopass", "Simultaneous-Use", ":=", "2"),
        ("bad name!", "Cleartext-Password", ":=", "whatever-1"),
        ("badhash", "SSHA-Password", ":=", "%%% not base64 %%%"),
    ]


def radusergroup_rows() -> list[tuple[str, str, int]]:
    return [("dalo", "daloRADIUS-Disabled-Users", 0), ("clara", "staff", 1), ("sasha", "staff", 1)]


def dsn(url: str) -> str:
    """asyncpg's DSN for a SQLAlchemy URL (``postgresql+asyncpg://`` → ``postgresql://``)."""
    return url.replace("postgresql+asyncpg://", "postgresql://", 1)


async def fill(url: str) -> None:
    """FreeRADIUS's schema into the (empty) database at ``url``, then the rows."""
    schema = SCHEMA.read_text()  # noqa: ASYNC240 - a small local file, before any connection
    connection = await asyncpg.connect(dsn(url))
    try:
        await connection.execute(schema)
        await connection.executemany(
            "INSERT INTO radcheck (username, attribute, op, value) VALUES ($1, $2, $3, $4)", radcheck_rows()
        )
        await connection.executemany(
            "INSERT INTO radusergroup (username, groupname, priority) VALUES ($1, $2, $3)",
            radusergroup_rows(),
        )
    finally:
        await connection.close()


async def count(url: str, table: str) -> int:
    connection = await asyncpg.connect(dsn(url))
    try:
        return int(await connection.fetchval(f"SELECT count(*) FROM {table}"))
    finally:
        await connection.close()
