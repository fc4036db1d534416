"""How long ``sesame import csv`` takes for a large file: the dry run, the import, and the re-run
that skips everything (docs/import.md quotes the results).

The file has ``--rows`` accounts (100 000 by default) with legacy hashes as FreeRADIUS held them
(SSHA, NT-Password), kept as they are, and ``--clear`` of them (1 000 by default) with a clear
password, which the import hashes with argon2id at the production cost: that part scales with the
cores, not the rows, and its rate is printed so the time for any number can be worked out.

    .venv/bin/python bench/import_bench.py                       # SQLite in a temporary directory
    .venv/bin/python bench/import_bench.py --postgres            # a fresh PostgreSQL database
    .venv/bin/python bench/import_bench.py --rows 20000 --clear 200

PostgreSQL at 127.0.0.1:5432, user ``postgres`` (``SESAME_BENCH_POSTGRES`` to change it).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import hashlib
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]

if (_ROOT := str(Path(__file__).resolve().parents[1])) not in sys.path:
    sys.path.insert(0, _ROOT)

from accounts.credentials import nt_hash

PG_URL = os.environ.get("SESAME_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432")
REALM = "bench.example"


def write_csv(path: Path, rows: int, clear: int) -> None:
    salt = os.urandom(8)
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("username,email,password_hash\r\n")
        for i in range(rows):
            password = f"password-{i}"
            if i < clear:
                secret = "{clear}" + password
            elif i % 10 == 0:
                secret = "{nthash}" + nt_hash(password).hex()
            else:
                digest = hashlib.sha1(password.encode() + salt).digest()
                secret = "{SSHA}" + base64.b64encode(digest + salt).decode()
            email = f"user{i}@example.org" if i % 3 else ""
            out.write(f"user{i},{email},{secret}\r\n")


async def _pg(statement: str) -> None:
    connection = await asyncpg.connect(f"{PG_URL}/postgres")
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def run(env: dict[str, str], *args: str) -> tuple[float, float, str]:
    """(wall seconds, CPU seconds of the command, what it printed)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    began = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "sesame", *args], env=env, capture_output=True, text=True, check=False
    )
    took = time.perf_counter() - began
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode:
        raise SystemExit(f"sesame {' '.join(args)} failed:\n{done.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return took, cpu, done.stdout


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument(
        "--clear", type=int, default=1_000, help="rows with a clear password (argon2id at import)"
    )
    parser.add_argument(
        "--postgres", action="store_true", help="a fresh PostgreSQL database instead of SQLite"
    )
    parser.add_argument("--batch", type=int, default=1000)
    options = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sesame-import-bench-") as tmp:
        work = Path(tmp)
        source = work / "accounts.csv"
        began = time.perf_counter()
        write_csv(source, options.rows, options.clear)
        print(f"{options.rows} rows written in {time.perf_counter() - began:.1f} s ({options.clear} clear)")
        database = f"sqlite:///{work / 'sesame.db'}"
        name = f"sesame_import_bench_{os.getpid()}"
        if options.postgres:
            asyncio.run(_pg(f'CREATE DATABASE "{name}"'))
            database = f"{PG_URL}/{name}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SESAME_")} | {
            "SESAME_DATABASE_URL": database,
            "SESAME_REALM": REALM,
            "SESAME_SECRET_KEY": "bench-secret-key-that-is-long-enough-0123456789",
            "SESAME_ENVIRONMENT": "development",
        }
        try:
            took, cpu, _ = run(env, "db", "upgrade") if options.postgres else run(env, "user", "list")
            print(
                f"{'start-up (empty run)':>22}: {took:7.1f} s wall, {cpu:7.1f} s CPU   (in every line below)"
            )
            batch = ("--batch", str(options.batch))
            for label, args in (
                ("dry run", ("import", "csv", str(source))),
                ("import", ("import", "csv", str(source), "--apply", *batch)),
                ("re-run (all skipped)", ("import", "csv", str(source), "--apply", *batch)),
                ("export", ("export", "accounts", "--output", str(work / "out.csv"))),
            ):
                took, cpu, out = run(env, *args)
                summary = next(
                    (line for line in out.splitlines() if ", skipped:" in line or "accounts written" in line),
                    "",
                )
                hashed = next((line for line in out.splitlines() if line.startswith("clear passwords")), "")
                print(f"{label:>22}: {took:7.1f} s wall, {cpu:7.1f} s CPU   {summary}   {hashed}")
        finally:
            if options.postgres:
                asyncio.run(_pg(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    print(f"cores: {os.cpu_count()}; argon2id at the production cost (m=19 MiB, t=2, p=1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
