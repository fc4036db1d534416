"""``sesame db``: schema migrations."""

from __future__ import annotations

import typer

from sesame import migrations
from sesame.cli.context import safe_url
from sesame.db import reaching
from sesame.settings import get_settings

app = typer.Typer(help="Database schema: upgrade and show the current revision.", no_args_is_help=True)


@app.command()
def upgrade(revision: str = typer.Option("head", help="Target revision.")) -> None:
    """Upgrade the database schema (idempotent)."""
    url = get_settings().database_url
    with reaching(url):
        current = migrations.current_revision_sync(url)
        if revision == "head" and migrations.compare(current) is migrations.Schema.NEWER:
            typer.echo(
                f"{safe_url(url)} is at revision {current}, newer than this version's head: nothing to do"
            )
            return
        migrations.upgrade(url, revision)
        current = migrations.current_revision_sync(url)
    typer.echo(f"{safe_url(url)} is at revision {current}")


@app.command()
def current() -> None:
    """Show the schema revision of the database and the revision this version needs."""
    url = get_settings().database_url
    with reaching(url):
        revision = migrations.current_revision_sync(url)
    head = migrations.head_revision()
    state = {
        migrations.Schema.CURRENT: "up to date",
        migrations.Schema.OLDER: f"needs upgrade to {head}",
        migrations.Schema.NEWER: f"newer than this version's {head}: upgrade this host's Sésame",
        migrations.Schema.UNKNOWN: f"unknown to this version, at {head}",
    }[migrations.compare(revision)]
    typer.echo(f"{safe_url(url)}: revision {revision or 'none'} ({state})")
