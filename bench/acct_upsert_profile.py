"""Where Sésame's accounting commit spends its CPU: ``accounts.sessions.apply_usage`` as it is, against
two ways of writing the same upsert with a statement that SQLAlchemy compiles once.

This script was written when ``apply_usage`` built ``insert(radacct).values(rows).on_conflict_do_update(…)``
for every batch (rows × 33 bound parameters, compiled anew each time, ~0.5 ms of CPU per row); its
figures led to the change. ``apply_usage`` now uses the ``unnest`` form on PostgreSQL, so "as is"
measures that. The variants apply the same rows (the same Python merge, the same SET and WHERE) with:

* ``executemany``: ``insert(radacct).on_conflict_do_update(…)`` without values, executed with the
  list of rows (compiled once and cached; asyncpg runs it over the rows in one pipeline);
* ``unnest``: ``INSERT … SELECT * FROM unnest($1::text[], $2::bigint[], …) ON CONFLICT …`` — one
  array per column, one constant statement, one round trip per batch.

Each variant writes batches of Start records, then Interim-Updates and Stops of the same sessions
(every upsert conflicts), each batch in its own transaction, on a freshly migrated database, and
prints the process CPU per record and the wall time per batch. It reads ``accounts`` and does not
change it.

Usage::

    acct_upsert_profile.py --batches 64,256,1000 --records 20000
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from auth_targets import SesameTarget
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from accounts import sessions
from accounts.sessions import StatusType, Usage

DATABASE = "sesame_bench_upsert"
CLOSED_AS_EXPECTED = "SELECT count(*) FROM radacct WHERE acctstoptime IS NOT NULL AND acctsessiontime = 600"


def records(n: int, status: StatusType, step: int, first: int = 0) -> list[Usage]:
    now = datetime.now(UTC)
    return [
        Usage(
            status=status,
            acctuniqueid=f"{first + i:032x}",
            acctsessionid=f"S{first + i:08X}",
            nasipaddress="127.0.0.1",
            event_time=now,
            username=f"user{i % 10_000}@bench.example",
            realm="bench.example",
            nasportid=str(i),
            nasporttype="Wireless-802.11",
            acctsessiontime=300 * step,
            acctinputoctets=3_000_000 * step,
            acctoutputoctets=1_500_000_000 * step,
            acctinterval=300,
            acctauthentic="RADIUS",
            calledstationid="AA-BB-CC-00-00-01:Sesame",
            callingstationid=f"02-00-00-00-{i >> 8 & 0xFF:02X}-{i & 0xFF:02X}",
            acctterminatecause="User-Request" if status is StatusType.STOP else None,
            framedipaddress=f"10.0.{i >> 8 & 0xFF}.{i & 0xFF}",
            account_id=None,
            nas_id=1,
            site_id=1,
            commune_id=1,
            device_mac=f"02:00:00:00:{i >> 8 & 0xFF:02x}:{i & 0xFF:02x}",
        )
        for i in range(n)
    ]


def _rows(batch: Sequence[Usage]) -> list[dict[str, Any]]:
    """What apply_usage hands to its statement: one merged row per session, ``class`` spelled so."""
    pending: dict[str, dict[str, Any]] = {}
    for usage in batch:
        row = sessions.row_of(usage)
        known = pending.get(usage.acctuniqueid)
        pending[usage.acctuniqueid] = sessions.merge(known, row) if known is not None else row
    return [{("class" if k == "class_" else k): v for k, v in row.items()} for row in pending.values()]


async def as_is(session: AsyncSession, batch: Sequence[Usage]) -> None:
    await sessions.apply_usage(session, batch)


async def executemany(session: AsyncSession, batch: Sequence[Usage]) -> None:
    await session.execute(sessions.upsert_statement("postgresql"), _rows(batch))


async def unnest(session: AsyncSession, batch: Sequence[Usage]) -> None:
    statement, columns = sessions.unnest_statement()
    rows = _rows(batch)
    await session.execute(statement, {name: [row[name] for row in rows] for name in columns})


VARIANTS: dict[str, Callable[[AsyncSession, Sequence[Usage]], Awaitable[None]]] = {
    "as is (apply_usage)": as_is,
    "executemany, compiled once": executemany,
    "unnest arrays, one statement": unnest,
}


async def run(url: str, batches: list[int], n: int) -> None:
    engine = create_async_engine(url, pool_size=2)
    maker = async_sessionmaker(engine, expire_on_commit=False)
    try:
        print(f"{n:,} sessions × (Start, Interim-Update, Stop), each batch one transaction")
        print(f"{'variant':<30}{'batch':>7}{'CPU µs/rec':>12}{'ms/batch':>10}{'rec/s':>10}   check")
        first = 0
        for size in batches:
            for name, write in VARIANTS.items():
                async with maker() as s, s.begin():
                    await s.execute(text("TRUNCATE radacct"))
                phases = [
                    records(n, StatusType.START, 0, first),
                    records(n, StatusType.INTERIM_UPDATE, 1, first),
                    records(n, StatusType.STOP, 2, first),
                ]
                cpu0, t0, count = time.process_time(), time.perf_counter(), 0
                for phase in phases:
                    for k in range(0, n, size):
                        async with maker() as s, s.begin():
                            await write(s, phase[k : k + size])
                        count += 1
                cpu, wall = time.process_time() - cpu0, time.perf_counter() - t0
                async with maker() as s:
                    closed = await s.scalar(text(CLOSED_AS_EXPECTED))
                print(
                    f"{name:<30}{size:>7}{cpu / (3 * n) * 1e6:>12.0f}{wall / count * 1e3:>10.2f}"
                    f"{3 * n / wall:>10,.0f}   {closed:,} of {n:,} closed"
                )
                first += n
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batches", default="64,256", help="records per transaction (default %(default)s)")
    p.add_argument("--records", type=int, default=6_000, help="sessions per variant (default %(default)s)")
    a = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sesame-upsert-") as tmp:
        target = SesameTarget(Path(tmp), database=DATABASE)
        target.make_database("acct", 100)  # migrated, one NAS
    url = f"postgresql+asyncpg://postgres@127.0.0.1/{DATABASE}"
    asyncio.run(run(url, [int(x) for x in a.batches.split(",")], a.records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
