"""``sesame retention``: deleting connection data past its legal retention period (docs/privacy.md)."""

from __future__ import annotations

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.models import utcnow
from accounts.retention import PurgeReport, purge
from sesame.cli.context import run_with_sessions
from sesame.settings import Settings

app = typer.Typer(
    help="Legal retention of connection data (CPCE L34-1, décret 2021-1361).", no_args_is_help=True
)


@app.command("purge")
def retention_purge(
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would be deleted; delete nothing."),
) -> None:
    """Delete sessions, authentication records, closed accounts and tokens past their retention.

    Periods come from the retention settings (SESAME_RETENTION_*). Rows go in committed batches:
    an interrupted purge resumes where it stopped at the next run. Run it daily
    (deploy/sesame-retention.timer).
    """

    async def go(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> PurgeReport:
        # committed batch by batch, not in one transaction
        retention = settings.retention
        return await purge(
            sessions,
            now=utcnow(),
            connection_days=retention.connection_days,
            closed_account_days=retention.closed_account_days,
            batch_size=retention.batch_size,
            dry_run=dry_run,
        )

    report = run_with_sessions(go, audited=None if dry_run else "retention.purge")
    verb, cut = ("would delete" if report.dry_run else "deleted"), report.cutoffs
    for table, count, what, before in [
        ("radacct", report.radacct, "sessions ended before", cut.connections),
        ("radpostauth", report.radpostauth, "authentications before", cut.connections),
        ("closed_account", report.closed_account, "accounts closed before", cut.closed_accounts),
        ("radius_token", report.radius_token, "tokens expired before", cut.tokens),
        ("tombstone", report.tombstone, "deletions before", cut.tokens),
        ("account_code", report.account_code, "codes expired before", cut.tokens),
        ("phone_code", report.phone_code, "SMS codes expired before", cut.tokens),
        ("revoked_token", report.revoked_token, "admin tokens expired before", cut.tokens),
    ]:
        typer.echo(f"{table}: {verb} {count} ({what} {before:%Y-%m-%d %H:%M:%S} UTC)")
