"""Fill a Sésame database for the benchmark, fast (COPY), with what the scenarios need.

The rows are what Sésame's own services would write: the NAS secret and tokens sealed with a
key derived from ``SESAME_KEY``, token digests from the same key, MACs in canonical form.
Accounts of the cached-PAP scenario share one argon2id hash of a *cheap* cost (m=64 KiB, t=1,
0.04 ms to verify here): the scenario measures re-authentication through the verification cache,
and the warm-up fills that cache in seconds instead of the ~2 minutes 10,000 production-cost
hashes would take (at 1M accounts, each worker verifies every password once: with m=1 MiB,
0.44 ms each, that alone was a quarter of an hour of warm-up on 2 cores).
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from freeradius import PASSWORD, PG_URL
from radpackets import Credential, bench_mac, write_credentials

from accounts.network import NAS_SECRET_PURPOSE
from accounts.passwords import Argon2Cost, PasswordHasher
from accounts.secretbox import SecretBox
from accounts.tokens import TOKEN_BYTES, TOKEN_PURPOSE

SESAME_KEY = "bench-only-secret-key-0123456789-abcdefghijkl"
BENCH_SECRET = "testing123"
REALM = "bench.example"
CHUNK = 50_000


async def recreate_database(db: str) -> None:
    conn = await asyncpg.connect(PG_URL + "/postgres")
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
        await conn.execute(f'CREATE DATABASE "{db}"')
    finally:
        await conn.close()


def _chunks(rows: Iterator[tuple[object, ...]]) -> Iterator[list[tuple[object, ...]]]:
    batch: list[tuple[object, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= CHUNK:
            yield batch
            batch = []
    if batch:
        yield batch


async def seed_sesame(db: str, scenario: str, n: int, tokens: int, token_file: Path | None) -> None:
    box = SecretBox(SESAME_KEY)
    now = datetime.now(UTC)
    # Citizens signed up and remembered their devices a month ago: rows changed just before the
    # server starts would be forgotten by its first poll (it re-reads what changed in the last few
    # seconds, POLL_OVERLAP) and the preloaded working set would go cold.
    joined = now - timedelta(days=30)
    conn = await asyncpg.connect(f"{PG_URL}/{db}")
    try:
        region = await conn.fetchval(
            "INSERT INTO region (realm, name, created_at) VALUES ($1, 'Bench', $2) RETURNING id", REALM, now
        )
        commune = await conn.fetchval(
            "INSERT INTO commune (region_id, name, name_key, insee_code, created_at) "
            "VALUES ($1, 'Valence', 'valence', '26362', $2) RETURNING id",
            region,
            now,
        )
        site = await conn.fetchval(
            "INSERT INTO site (commune_id, name, name_key, created_at) "
            "VALUES ($1, 'Bench', 'bench', $2) RETURNING id",
            commune,
            now,
        )
        nas = await conn.fetchval(
            "INSERT INTO nas (site_id, shortname, shortname_key, nasname, type, handoff, secret_ciphertext, "
            "coa_port, require_message_authenticator, created_at, updated_at) "
            "VALUES ($1, 'loadgen', 'loadgen', '127.0.0.1', 'other', 'none', $2, 3799, true, $3, $3) "
            "RETURNING id",
            site,
            box.seal(BENCH_SECRET.encode(), purpose=NAS_SECRET_PURPOSE),
            now,
        )
        password_hash = PasswordHasher(Argon2Cost(memory_kib=64, time_cost=1, parallelism=1)).hash(PASSWORD)
        accounts = (
            # seen today, as returning citizens are: their last_seen_at is fresh (no write per login)
            (region, f"user{i}", f"user{i}@bench.example", True, password_hash, "active", joined, joined, now)
            for i in range(n)
        )
        for batch in _chunks(accounts):
            await conn.copy_records_to_table(
                "account",
                records=batch,
                columns=[
                    "region_id",
                    "username",
                    "email",
                    "email_verified",
                    "password_hash",
                    "status",
                    "created_at",
                    "updated_at",
                    "last_seen_at",
                ],
            )
        first = await conn.fetchval("SELECT min(id) FROM account")
        if scenario == "mac":
            until = now + timedelta(days=365)
            devices = (
                (first + i, bench_mac(i).replace("-", ":").lower(), "bench", until, joined, joined, now)
                for i in range(n)
            )
            for batch in _chunks(devices):
                await conn.copy_records_to_table(
                    "device",
                    records=batch,
                    columns=[
                        "account_id",
                        "mac",
                        "label",
                        "remembered_until",
                        "created_at",
                        "updated_at",
                        "last_seen_at",
                    ],
                )
        if scenario == "token":
            assert token_file is not None
            expires = now + timedelta(hours=6)
            minted: list[Credential] = []

            def token_rows() -> Iterator[tuple[object, ...]]:
                for k in range(tokens):
                    i = k % n
                    token = secrets.token_urlsafe(TOKEN_BYTES)
                    minted.append(Credential(f"user{i}@{REALM}", token))
                    yield (
                        first + i,
                        box.digest(token.encode(), purpose=TOKEN_PURPOSE),
                        box.seal(token.encode(), purpose=TOKEN_PURPOSE),
                        now,
                        expires,
                        nas,  # a token is good only at the access point it was handed to
                    )

            for batch in _chunks(token_rows()):
                await conn.copy_records_to_table(
                    "radius_token",
                    records=batch,
                    columns=[
                        "account_id",
                        "digest",
                        "token_ciphertext",
                        "created_at",
                        "expires_at",
                        "nas_id",
                    ],
                )
            write_credentials(token_file, minted)
        await conn.execute("ANALYZE")
    finally:
        await conn.close()
