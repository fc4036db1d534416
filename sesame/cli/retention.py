"""``sesame retention``: deleting connection data past its legal retention period (docs/privacy.md)."""

from __future__ import annotations

import time
from datetime import timedelta
from pathlib import Path

import typer
from prometheus_client import CollectorRegistry, Gauge, write_to_textfile
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts import lifecycle, smsbudget, sponsorship
from accounts.models import Region, utcnow
from accounts.phones import country_of, has_mailbox
from accounts.retention import PurgeReport, purge
from accounts.vouchers import PURGE_GRACE, VoucherPurge, purge_expired
from portal.i18n import Translator, load_catalogs
from portal.lifecyclemail import inactivity_sms, inactivity_warning
from portal.mail import Postman
from portal.sms import Sms, SmsError
from sesame.cli.context import run_with_sessions
from sesame.compose import build_mailer
from sesame.settings import Settings, get_settings
from sesame.smssettings import sms_config, sms_courier

app = typer.Typer(
    help="Legal retention of connection data (CPCE L34-1, décret 2021-1361).", no_args_is_help=True
)


@app.command("purge")
def retention_purge(
    dry_run: bool = typer.Option(False, "--dry-run", help="Count what would be deleted; delete nothing."),
) -> None:
    """Delete sessions, authentication records, closed accounts, tokens, guests' vouchers and
    sponsored-access requests past their retention; warn, then delete, accounts nobody uses.

    Periods come from the retention settings (SESAME_RETENTION_*). Rows go in committed batches:
    an interrupted purge resumes where it stopped at the next run. Run it daily
    (deploy/sesame-retention.timer).
    """

    async def go(
        settings: Settings, sessions: async_sessionmaker[AsyncSession]
    ) -> tuple[lifecycle.LifecycleReport, PurgeReport, VoucherPurge, int]:
        # committed batch by batch, not in one transaction; expired vouchers and unused accounts
        # first: the records of those deleted now are pseudonymised and kept for their own period
        retention, now = settings.retention, utcnow()
        guests = await purge_expired(
            sessions, box=settings.secret_box(), now=now, batch_size=retention.batch_size, dry_run=dry_run
        )
        accounts = await lifecycle.run(
            sessions,
            box=settings.secret_box(),
            now=now,
            periods=lifecycle_periods(settings),
            notify=warning_sender(settings),
            batch_size=retention.batch_size,
            dry_run=dry_run,
        )
        records = await purge(
            sessions,
            now=now,
            connection_days=retention.connection_days,
            closed_account_days=retention.closed_account_days,
            batch_size=retention.batch_size,
            dry_run=dry_run,
        )
        sponsored = await sponsorship.purge(sessions, now=now, dry_run=dry_run)
        return accounts, records, guests, sponsored

    accounts, report, guests, sponsored = run_with_sessions(
        go, audited=None if dry_run else "retention.purge"
    )
    metrics_file = get_settings().retention.metrics_file
    if metrics_file and not dry_run:
        write_metrics(Path(metrics_file), accounts, report, guests)
    verb = "would" if accounts.dry_run else "did"
    typer.echo(f"accounts never verified: {verb} delete {accounts.unverified_deleted}")
    typer.echo(f"accounts inactive after a warning: {verb} delete {accounts.inactive_deleted}")
    typer.echo(f"accounts inactive: {verb} warn {accounts.inactive_warned}")
    typer.echo(f"accounts used again since their warning: {verb} clear {accounts.warnings_cleared}")
    if accounts.warnings_failed:
        failed = accounts.warnings_failed
        typer.echo(f"accounts inactive: {failed} warnings could not be sent (tried again next run)")
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
    grace = PURGE_GRACE.days
    typer.echo(f"voucher: {verb} {guests.vouchers} (guests' vouchers expired more than {grace} day ago)")
    typer.echo(f"voucher_batch: {verb} {guests.batches} (ended, no voucher left)")
    typer.echo(f"sponsor_request: {verb} {sponsored} (decided or expired more than a day ago)")


def lifecycle_periods(settings: Settings) -> lifecycle.Periods:
    retention = settings.retention
    return lifecycle.Periods(
        unverified_after=timedelta(days=retention.unverified_days, minutes=settings.portal.grace_minutes),
        inactive_after=timedelta(days=retention.inactive_days) if retention.inactive_days else None,
        notice=timedelta(days=retention.inactive_notice_days),
    )


class _OverBudget(Exception):
    """Today's SMS budget is spent: the warning waits for tomorrow's."""


def warning_sender(settings: Settings) -> lifecycle.Notify:
    """Sends the inactivity warning in the person's language (else the portal's first): by email
    where there is a mailbox, else by SMS to the verified number when the region sends SMS (out of
    the day's SMS budget: a warning over budget is tried again the next day)."""
    postman = Postman(build_mailer(settings), sender=settings.mail.sender)
    languages = tuple(settings.portal.languages.split(","))
    catalogs = load_catalogs(languages)
    sms, courier = sms_config(settings.sms), sms_courier(settings.sms)

    async def notify(session: AsyncSession, notice: lifecycle.Notice) -> bool:
        language = notice.locale if notice.locale in catalogs else languages[0]
        t = Translator(language, catalogs[language])
        texts = {"region_name": settings.region_name, "portal_url": settings.portal.public_url}
        if has_mailbox(notice.email):
            return await postman.deliver(inactivity_warning(t, notice, **texts))
        if notice.phone is None or sms is None or courier is None:
            return False  # no way to reach them today: not warned, so not deleted
        region = await session.get_one(Region, notice.region_id)
        try:
            async with session.begin_nested():  # a refused spend takes back what it counted
                spent = await smsbudget.spend(
                    session, region=region, country=country_of(notice.phone), budget=sms.budget, now=utcnow()
                )
                if spent.spend is smsbudget.Spend.REFUSED:
                    raise _OverBudget
        except _OverBudget:
            return False
        try:
            await courier.gateway.send(Sms(to=notice.phone, text=inactivity_sms(t, notice, **texts)))
        except SmsError:
            return False
        return True

    return notify


def write_metrics(
    path: Path, accounts: lifecycle.LifecycleReport, records: PurgeReport, guests: VoucherPurge
) -> None:
    """The run's counts in Prometheus' text format, for node_exporter's textfile collector
    (written to a temporary file then renamed: the collector never reads half a file)."""
    registry = CollectorRegistry()
    rows = Gauge(
        "sesame_retention_deleted_rows", "Rows the last retention purge deleted", ["table"], registry=registry
    )
    for table, count in records.counts().items():
        rows.labels(table=table).set(count)
    rows.labels(table="voucher").set(guests.vouchers)
    rows.labels(table="voucher_batch").set(guests.batches)
    handled = Gauge(
        "sesame_retention_accounts",
        "Accounts the last retention purge deleted, warned or kept (accounts/lifecycle.py)",
        ["action"],
        registry=registry,
    )
    handled.labels(action="deleted_unverified").set(accounts.unverified_deleted)
    handled.labels(action="deleted_inactive").set(accounts.inactive_deleted)
    handled.labels(action="warned").set(accounts.inactive_warned)
    handled.labels(action="warning_failed").set(accounts.warnings_failed)
    handled.labels(action="warning_cleared").set(accounts.warnings_cleared)
    finished = Gauge(
        "sesame_retention_last_success_timestamp_seconds",
        "When the last retention purge finished",
        registry=registry,
    )
    finished.set(time.time())
    write_to_textfile(str(path), registry)
