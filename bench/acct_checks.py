"""What the accounting benchmark (``acct_bench.py``) reads from PostgreSQL: the WAL a database wrote
during a measurement (``pg_waldump`` between two LSNs, that database's records and its transactions'
commits), and, after its server was killed, whether every acknowledged record is in ``radacct``."""

from __future__ import annotations

import asyncio
import re
import subprocess
from array import array
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import freeradius as fr
from radpackets import START, STEP_BITS, STOP, acct_session_id, acct_status, acct_values

# --------------------------------------------------------------------------------------------------
# WAL written by a database during a measurement


async def _admin_fetch(query: str, *args: Any) -> Any:
    conn = await asyncpg.connect(fr.PG_URL + "/postgres")
    try:
        return await conn.fetchval(query, *args)
    finally:
        await conn.close()


def pg_value(query: str, *args: Any) -> Any:
    return asyncio.run(_admin_fetch(query, *args))


def pg_waldump() -> tuple[str, Path] | None:
    """pg_waldump of the server's major version and the server's pg_wal, when this machine has them."""
    try:
        major = int(pg_value("SHOW server_version_num")) // 10000
        data = Path(pg_value("SHOW data_directory"))
    except (OSError, asyncpg.PostgresError):
        return None
    tool = Path(f"/usr/lib/postgresql/{major}/bin/pg_waldump")
    if tool.exists() and (data / "pg_wal").is_dir():
        return str(tool), data / "pg_wal"
    return None


@dataclass
class Wal:
    """WAL records of one database between two LSNs (other databases on the server are left out)."""

    records: int = 0
    bytes: int = 0  # records of the database and the commit records of its transactions, FPIs included
    commits: int = 0
    fpi_records: int = 0
    kinds: dict[str, int] = field(default_factory=dict)  # heap and index record kinds


_WAL_LINE = re.compile(r"rmgr: (\S+)\s+len \(rec/tot\):\s+\d+/\s*(\d+), tx:\s+(\d+), .*?desc: (\S+)")


def wal_of(database_oid: int, start: str, end: str) -> Wal | None:
    """Parse ``pg_waldump`` between two LSNs: what the database's transactions wrote, commits included."""
    found = pg_waldump()
    if not found:
        return None
    tool, pg_wal = found
    out = subprocess.run(
        [tool, "-p", str(pg_wal), "--start", start, "--end", end],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode and not out.stdout:
        return None
    mine = f" rel 1663/{database_oid}/"
    txs: set[str] = set()
    commits: list[tuple[str, int]] = []
    wal = Wal()
    kinds: Counter[str] = Counter()
    for line in out.stdout.splitlines():
        m = _WAL_LINE.match(line)
        if not m:
            continue
        rmgr, size, tx, desc = m.group(1), int(m.group(2)), m.group(3), m.group(4)
        if rmgr == "Transaction" and desc == "COMMIT":
            commits.append((tx, size))
        elif mine in line:
            txs.add(tx)
            wal.records += 1
            wal.bytes += size
            wal.fpi_records += "FPW" in line or "FPI" in line
            kinds[f"{rmgr}/{desc}"] += 1
    for tx, size in commits:
        if tx in txs:
            wal.commits += 1
            wal.bytes += size
            wal.records += 1
    wal.kinds = dict(kinds.most_common(8))
    return wal


def current_lsn() -> str:
    value = pg_value("SELECT pg_current_wal_lsn()::text")
    return str(value)


def checkpoint() -> None:
    """Start every measurement right after a checkpoint, so each pays full-page writes alike."""
    pg_value("CHECKPOINT")


# --------------------------------------------------------------------------------------------------
# Durability: acknowledged records after a crash


@dataclass
class Durability:
    acked: dict[str, int] = field(default_factory=dict)  # start, interim, stop, complete sessions
    ok: dict[str, int] = field(default_factory=dict)
    rows: int = 0
    closed_rows: int = 0

    @property
    def passed(self) -> bool:
        return all(self.ok.get(k, 0) == self.acked.get(k, 0) for k in ("start", "interim", "stop"))


async def _verify(database: str, runs: list[tuple[str, Path]], interims: int) -> Durability:
    conn = await asyncpg.connect(f"{fr.PG_URL}/{database}")
    try:
        rows = await conn.fetch(
            "SELECT acctsessionid, acctstoptime IS NOT NULL AS closed, acctsessiontime, "
            "acctinputoctets, acctoutputoctets FROM radacct"
        )
    finally:
        await conn.close()
    table = {r["acctsessionid"]: r for r in rows}
    d = Durability(rows=len(rows), closed_rows=sum(1 for r in rows if r["closed"]))
    acked: Counter[str] = Counter()
    ok: Counter[str] = Counter()
    mask = (1 << STEP_BITS) - 1
    for prefix, path in runs:
        tags = array("q")
        if path.exists():
            tags.frombytes(path.read_bytes())
        per_session: Counter[int] = Counter()
        for tag in tags:
            session, step = tag >> STEP_BITS, tag & mask
            per_session[session] += 1
            status = acct_status(step, interims)
            row = table.get(acct_session_id(prefix, session))
            seconds, octets_in, octets_out = acct_values(session, step)
            if status == START:
                acked["start"] += 1
                ok["start"] += row is not None
            elif status == STOP:
                acked["stop"] += 1
                ok["stop"] += bool(
                    row is not None
                    and row["closed"]
                    and row["acctsessiontime"] == seconds
                    and row["acctinputoctets"] == octets_in
                    and row["acctoutputoctets"] == octets_out
                )
            else:
                acked["interim"] += 1
                ok["interim"] += bool(
                    row is not None
                    and (row["acctsessiontime"] or 0) >= seconds
                    and (row["acctinputoctets"] or 0) >= octets_in
                    and (row["acctoutputoctets"] or 0) >= octets_out
                )
        acked["complete sessions"] += sum(1 for n in per_session.values() if n == interims + 2)
    d.acked, d.ok = dict(acked), dict(ok)
    return d


def verify(database: str, runs: list[tuple[str, Path]], interims: int) -> Durability:
    """Check ``database``'s radacct against the records radload saw acknowledged in each run
    ((Acct-Session-Id prefix, file of acknowledged tags)), sessions of ``interims`` Interim-Updates:
    a row for every Start, counters at least those of every Interim-Update, and for every Stop a
    closed row with exactly its final counters."""
    return asyncio.run(_verify(database, runs, interims))
