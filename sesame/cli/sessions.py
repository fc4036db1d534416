"""``sesame session``: who is connected where, and ending a connection (RFC 5176 Disconnect)."""

from __future__ import annotations

from datetime import UTC, datetime

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts import disconnect, network, sessions, users
from accounts.disconnect import CoaOutcome, SessionChange
from accounts.errors import DomainError
from accounts.models import AccountingSession
from accounts.sessions import SessionFilter
from sesame.cli.context import Context, run_command, run_with_sessions
from sesame.compose import build_coa_client
from sesame.settings import Settings

app = typer.Typer(
    help="Connection sessions from accounting: list them, disconnect one.", no_args_is_help=True
)


def _when(value: datetime | None) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def _volume(octets: int | None) -> str:
    value, units = float(octets or 0), ["B", "kB", "MB", "GB"]
    while value >= 1000 and len(units) > 1:
        value, units = value / 1000, units[1:]
    return f"{value:.0f} B" if units[0] == "B" else f"{value:.1f} {units[0]}"


def _line(row: AccountingSession) -> str:
    state = "open" if row.acctstoptime is None else (row.acctterminatecause or "closed")
    return "  ".join(
        [
            str(row.radacctid),
            row.username or "-",
            row.device_mac or row.callingstationid or "-",
            row.nasipaddress,
            _when(row.acctstarttime),
            _when(row.acctstoptime),
            f"{row.acctsessiontime or 0}s",
            f"in {_volume(row.acctinputoctets)} out {_volume(row.acctoutputoctets)}",
            state,
        ]
    )


@app.command("list")
def session_list(
    open_only: bool = typer.Option(False, "--open", help="Only sessions still open."),
    user: str | None = typer.Option(None, "--user", help="An account (username or username@realm)."),
    commune: str | None = typer.Option(None, "--commune", help="A commune (name or INSEE code)."),
    site: str | None = typer.Option(None, "--site", help="A site (with --commune if its name is shared)."),
    limit: int = typer.Option(50, "--limit", min=1, max=10_000, help="Most sessions shown, newest first."),
) -> None:
    """Sessions, newest first: id, user, device, access point, start, stop, time, volumes, state."""

    async def action(ctx: Context) -> list[str]:
        account = await users.find_account(ctx.session, user, region=ctx.region) if user else None
        where = await network.find_commune(ctx.session, commune) if commune else None
        place = await network.find_site(ctx.session, site, commune=where) if site else None
        rows = await sessions.list_sessions(
            ctx.session,
            SessionFilter(
                open_only=open_only,
                account_id=account.id if account else None,
                commune_id=where.id if where and not place else None,
                site_id=place.id if place else None,
            ),
            limit=limit,
        )
        return [_line(row) for row in rows] or ["no sessions"]

    for line in run_command(action):
        typer.echo(line)


@app.command("disconnect")
def session_disconnect(
    session_id: int = typer.Argument(..., help="The session id (see 'sesame session list')."),
) -> None:
    """Ask the session's access point to end it (Disconnect-Request, RFC 5176)."""

    async def action(settings: Settings, factory: async_sessionmaker[AsyncSession]) -> str:
        result = await disconnect.disconnect_session(
            factory,
            box=settings.secret_box(),
            radacctid=session_id,
            send=build_coa_client(settings),
        )
        if result.outcome is not CoaOutcome.ACK:
            raise DomainError(f"session {session_id} not disconnected: {result.detail}")
        return f"session {session_id} disconnected ({result.detail})"

    typer.echo(run_with_sessions(action, audited="session.disconnect"))


@app.command("change")
def session_change(
    session_id: int = typer.Argument(..., help="The session id (see 'sesame session list')."),
    session_timeout: int | None = typer.Option(None, "--session-timeout", help="Seconds from now."),
    bandwidth_up_kbps: int | None = typer.Option(None, "--bandwidth-up", help="Upload limit, kbit/s."),
    bandwidth_down_kbps: int | None = typer.Option(None, "--bandwidth-down", help="Download limit, kbit/s."),
) -> None:
    """Change a running session's limits at its access point (CoA-Request, RFC 5176)."""
    change = SessionChange(
        session_timeout=session_timeout,
        bandwidth_up_kbps=bandwidth_up_kbps,
        bandwidth_down_kbps=bandwidth_down_kbps,
    )

    async def action(settings: Settings, factory: async_sessionmaker[AsyncSession]) -> str:
        result = await disconnect.change_session(
            factory,
            box=settings.secret_box(),
            radacctid=session_id,
            change=change,
            send=build_coa_client(settings),
        )
        if result.outcome is not CoaOutcome.ACK:
            raise DomainError(f"session {session_id} not changed: {result.detail}")
        return f"session {session_id} changed ({result.detail})"

    typer.echo(run_with_sessions(action, audited="session.change"))
