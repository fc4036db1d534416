"""``sesame import`` (accounts from FreeRADIUS/daloRADIUS or a CSV file) and ``sesame export``
(the accounts as CSV, no secret); docs/import.md."""

from __future__ import annotations

import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import typer
from sqlalchemy.exc import ArgumentError, DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker, create_async_engine

from accounts import audit
from accounts.accountexport import export_chunks
from accounts.errors import InvalidInput
from accounts.importing import DEFAULT_BATCH, Report, SourceRow, Verdict, apply, existing_accounts, plan
from accounts.importsources import DISABLED_GROUPS, read_csv, read_radius
from accounts.network import ensure_home_region
from accounts.passwords import PasswordHasher
from sesame.cli.context import FileUnreadable, cli_actor, run_with_sessions, safe_url
from sesame.db import os_error_reason, reaching, unit_of_work
from sesame.settings import Settings

import_app = typer.Typer(help="Import accounts from another server (docs/import.md).", no_args_is_help=True)
export_app = typer.Typer(help="Export data for region admins (no secret).", no_args_is_help=True)

SHOWN = 1000  # refused/skipped rows printed one per line; the rest counted (all in --json)

_APPLY = typer.Option(
    False, "--apply", help="Write the accounts (without it: a dry run that writes nothing)."
)
_JSON = typer.Option(None, "--json", help="Also write the full report, every row, as JSON to this file.")
_BATCH = typer.Option(DEFAULT_BATCH, "--batch", min=1, max=10_000, help="Accounts per committed transaction.")
_WORKERS = typer.Option(
    None, "--workers", min=1, max=64, help="Threads hashing clear passwords (default: CPUs)."
)


def source_url(url: str) -> str:
    """The async driver's URL for a source database, SQLite opened read-only."""
    scheme, sep, rest = url.partition("://")
    base = scheme.split("+", 1)[0].lower()
    if not sep:
        raise InvalidInput("a database URL looks like postgresql://user@host/radius or sqlite:///radius.db")
    if base in {"postgresql", "postgres"}:
        return f"postgresql+asyncpg://{rest}"
    if base == "sqlite":
        path = rest[1:] if rest.startswith("/") else rest
        return f"sqlite+aiosqlite:///file:{path}?mode=ro&uri=true"
    if base in {"mysql", "mariadb"}:
        return f"mysql+aiomysql://{rest}"  # the aiomysql package, installed by the operator
    raise InvalidInput(f"unsupported source database {base!r}: postgresql, mysql or sqlite")


@import_app.command("radius")
def import_radius(
    url: str = typer.Argument(
        ...,
        help="The FreeRADIUS/daloRADIUS database: postgresql://…, mysql://…, sqlite:///… "
        "(a PostgreSQL password: PGPASSWORD or ~/.pgpass, not in the URL)",
    ),
    do_apply: bool = _APPLY,
    json_path: Path | None = _JSON,
    batch: int = _BATCH,
    workers: int | None = _WORKERS,
    disabled_group: list[str] = typer.Option(
        list(DISABLED_GROUPS),
        "--disabled-group",
        help="radusergroup groups whose members are imported disabled.",
    ),
) -> None:
    """Import the users of FreeRADIUS's radcheck (read only): passwords kept as FreeRADIUS held them."""
    try:
        shown = safe_url(url)
    except ArgumentError:
        shown = "the source URL"

    async def go(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Report:
        notes: Counter[str] = Counter()
        target = source_url(url)
        try:
            engine = create_async_engine(target)
        except ImportError as exc:  # a MySQL source without aiomysql
            raise InvalidInput(
                f"{shown}: the driver is not installed ({exc.name}): pip install aiomysql"
            ) from None
        try:
            with reaching(target):
                async with engine.connect() as connection:
                    try:
                        rows = await read_radius(connection, notes=notes, disabled_groups=disabled_group)
                    except DBAPIError as exc:  # no radcheck, no right to read it: the source's fault
                        raise InvalidInput(f"{shown}: cannot read radcheck: {exc.orig}") from None
        finally:
            await engine.dispose()
        return await _run(
            settings,
            sessions,
            rows,
            notes,
            source=f"radius {shown}",
            do_apply=do_apply,
            batch=batch,
            workers=workers,
        )

    _finish(run_with_sessions(go), json_path, source=f"radcheck of {shown}")


@import_app.command("csv")
def import_csv(
    path: Path = typer.Argument(
        ..., help="CSV, UTF-8, a header naming its columns: username, email, phone, password_hash."
    ),
    do_apply: bool = _APPLY,
    json_path: Path | None = _JSON,
    batch: int = _BATCH,
    workers: int | None = _WORKERS,
) -> None:
    """Import accounts from a CSV file (password_hash: {SSHA}…, a crypt(3) string or $argon2id$…)."""

    async def go(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> Report:
        try:
            with path.open("rb") as stream:
                rows = list(read_csv(stream))
        except ValueError as exc:
            raise InvalidInput(f"{path}: {exc}") from None
        except OSError as exc:
            raise FileUnreadable(f"{path}: cannot read the CSV: {os_error_reason(exc)}") from None
        return await _run(
            settings,
            sessions,
            rows,
            Counter(),
            source=f"csv {path}",
            do_apply=do_apply,
            batch=batch,
            workers=workers,
        )

    _finish(run_with_sessions(go), json_path, source=str(path))


async def _run(
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    rows: list[SourceRow],
    notes: Counter[str],
    *,
    source: str,
    do_apply: bool,
    batch: int,
    workers: int | None,
) -> Report:
    began = time.perf_counter()
    async with unit_of_work(sessions) as session:
        region = await ensure_home_region(session, realm=settings.realm, name=settings.region_name)
        region_id = region.id
        existing = await existing_accounts(session, region_id=region_id)
    report = Report(lines=plan(rows, realm=settings.realm, existing=existing), notes=notes)
    hasher = PasswordHasher()
    if do_apply:
        await apply(
            sessions,
            lines=report.lines,
            region_id=region_id,
            hasher=hasher,
            box=settings.secret_box(),
            report=report,
            batch_size=batch,
            workers=workers,
        )
        async with unit_of_work(sessions) as session:
            await audit.record(
                session,
                actor=cli_actor(),
                action="accounts.import",
                target=source[:120],
                after={
                    "created": report.created,
                    "skipped": report.count(Verdict.SKIP),
                    "refused": report.count(Verdict.REFUSE),
                },
            )
    else:  # the cost of the clear passwords, measured on one
        clear = sum(
            1 for line in report.lines if line.password is not None and line.password.clear is not None
        )
        if clear and any(line.verdict is Verdict.CREATE for line in report.lines):
            report.hashing_seconds = _one_hash(hasher) * clear / (workers or os.cpu_count() or 1)
            report.hashed = clear
    report.seconds = time.perf_counter() - began
    return report


def _one_hash(hasher: PasswordHasher) -> float:
    """Seconds of one argon2id hash here: the best of three (a busy machine inflates one)."""
    times = []
    for _ in range(3):
        began = time.perf_counter()
        hasher.hash("measure")
        times.append(time.perf_counter() - began)
    return min(times)


def _finish(report: Report, json_path: Path | None, *, source: str) -> None:
    for line in _text(report, source=source):
        typer.echo(line)
    if json_path is not None:
        try:
            json_path.write_text(
                json.dumps(report.as_json(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
            )
        except OSError as exc:
            raise FileUnreadable(f"{json_path}: cannot write the report: {os_error_reason(exc)}") from None


def _text(report: Report, *, source: str) -> list[str]:
    mode = "applied" if report.applied else "dry run: nothing written (--apply writes)"
    counts = {verdict: report.count(verdict) for verdict in Verdict}
    create_word = "created" if report.applied else "would create"
    out = [
        f"import from {source}: {mode}",
        f"{create_word}: {report.created if report.applied else counts[Verdict.CREATE]}, "
        f"skipped: {counts[Verdict.SKIP]}, refused: {counts[Verdict.REFUSE]}",
    ]
    for (verdict, reason), count in sorted(report.reasons().items()):
        out.append(f"  {verdict} {reason}: {count}")
    listed = [line for line in report.lines if line.verdict is Verdict.REFUSE]
    for line in listed[:SHOWN]:
        out.append(f"{line.where}: {line.verdict.value} {line.reason}: {_clean(line.detail)}")
    if len(listed) > SHOWN:
        out.append(f"… and {len(listed) - SHOWN} more refused rows (--json lists them all)")
    for note, count in sorted(report.notes.items()):
        out.append(f"note: {_clean(note)}: {count}")
    if report.hashed:
        verb = "hashed" if report.applied else "to hash, estimated"
        out.append(f"clear passwords {verb} with argon2id: {report.hashed} in {report.hashing_seconds:.1f} s")
    out.append(f"took {report.seconds:.1f} s")
    return out


def _clean(text: str) -> str:
    return "".join(ch if ch.isprintable() else f"\\x{ord(ch):02x}" for ch in text)


@export_app.command("accounts")
def export_accounts(
    output: Path | None = typer.Option(None, "--output", "-o", help="Write here (default: standard output)."),
) -> None:
    """The region's accounts as CSV: username, email, state, dates; never a secret. Audited."""

    async def go(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> int:
        async with unit_of_work(sessions) as session:
            region = await ensure_home_region(session, realm=settings.realm, name=settings.region_name)
        count = -1
        try:
            stream = output.open("w", encoding="utf-8", newline="") if output is not None else sys.stdout
        except OSError as exc:
            raise FileUnreadable(f"{output}: cannot write the export: {os_error_reason(exc)}") from None
        try:
            async for chunk in export_chunks(sessions, region=region, hasher=PasswordHasher()):
                stream.write(chunk)
                count += chunk.count("\r\n")
        finally:
            if output is not None:
                stream.close()
        async with unit_of_work(sessions) as session:
            await audit.record(
                session,
                actor=cli_actor(),
                action="accounts.export",
                target="accounts.csv",
                after={"rows": count},
            )
        return count

    count = run_with_sessions(go)
    if output is not None:
        typer.echo(f"{count} accounts written to {output}")
