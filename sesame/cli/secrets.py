"""``sesame secrets``: checking the stored secrets against the key, and re-sealing them after a
key rotation (docs/operations.md, "Rotating the secret key")."""

from __future__ import annotations

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.rekey import RekeyReport, reseal
from sesame.cli.context import run_with_sessions
from sesame.settings import Settings

app = typer.Typer(help="The secrets stored sealed under SESAME_SECRET_KEY.", no_args_is_help=True)

UNREADABLE = 3  # exit status: some stored secret opens under no configured key


def _run(*, dry_run: bool, batch_size: int) -> RekeyReport:
    async def go(settings: Settings, sessions: async_sessionmaker[AsyncSession]) -> RekeyReport:
        return await reseal(sessions, box=settings.secret_box(), batch_size=batch_size, dry_run=dry_run)

    return run_with_sessions(go, audited=None if dry_run else "secrets.rotate")


def _print(report: RekeyReport) -> None:
    verb = "to re-seal" if report.dry_run else "re-sealed"
    for column in report.columns:
        line = f"{column.label}: {column.current} under the current key, {column.resealed} {verb}"
        if column.changed_meanwhile:
            line += f", {column.changed_meanwhile} changed meanwhile (already under the current key)"
        if column.unreadable:
            shown = ", ".join(str(i) for i in column.unreadable[:10]) + (
                ", …" if len(column.unreadable) > 10 else ""
            )
            line += f", {len(column.unreadable)} UNREADABLE (ids {shown})"
        typer.echo(line)


def _unreadable_exit(report: RekeyReport) -> None:
    if any(c.unreadable for c in report.columns):
        typer.echo(
            "some stored secrets open under neither SESAME_SECRET_KEY nor SESAME_SECRET_KEY_PREVIOUS: "
            "they were sealed with another key (a database restored without its key?). Set the key "
            "they were sealed with as SESAME_SECRET_KEY_PREVIOUS and run this again; a secret no key "
            "opens must be set anew (access point removed and added again, `sesame partner server "
            "secret`, a new device credential).",
            err=True,
        )
        raise typer.Exit(UNREADABLE)


@app.command()
def check() -> None:
    """Say, per kind of secret, how many open under the current key, how many only under
    SESAME_SECRET_KEY_PREVIOUS, and how many under neither (exit 3). Changes nothing."""
    report = _run(dry_run=True, batch_size=1000)
    _print(report)
    _unreadable_exit(report)
    if report.done:
        typer.echo("every stored secret opens under SESAME_SECRET_KEY alone")


@app.command()
def rotate(
    batch_size: int = typer.Option(500, min=1, max=10_000, help="Rows per committed transaction."),
) -> None:
    """Re-seal under SESAME_SECRET_KEY every stored secret that SESAME_SECRET_KEY_PREVIOUS sealed.

    Run it once the new key is SESAME_SECRET_KEY and the old one SESAME_SECRET_KEY_PREVIOUS on
    every host; the service keeps answering meanwhile. Safe to run again, or after an interruption.
    """
    report = _run(dry_run=False, batch_size=batch_size)
    _print(report)
    _unreadable_exit(report)
    typer.echo(
        "every stored secret is sealed under SESAME_SECRET_KEY. Keep SESAME_SECRET_KEY_PREVIOUS until "
        "the window of docs/operations.md has passed (sessions' Class, email codes, service clients, "
        "logins), then remove it and restart each host."
    )
