"""``sesame admin``: the people and machines that use the admin API."""

from __future__ import annotations

import typer

from accounts import admins, audit, network, twofactor
from sesame.cli.context import STDIN_HELP, Context, read_secret, run_command

app = typer.Typer(help="Admins of the admin API (people and service clients).", no_args_is_help=True)


@app.command("create")
def admin_create(
    email: str = typer.Argument(..., help="The admin's email (their log-in)."),
    role: str = typer.Option(..., "--role", help="region_admin, commune_admin, support or auditor."),
    commune: str | None = typer.Option(None, "--commune", help="The commune of a commune admin."),
    password: str | None = typer.Option(None, "--password", help=f"Their password: {STDIN_HELP}."),
) -> None:
    """Create an admin who logs in to the admin API with a password."""
    chosen = admins.parse_role(role)
    secret = read_secret(password, label="Password", option="--password")

    async def action(ctx: Context) -> str:
        where = await network.find_commune(ctx.session, commune) if commune else None
        admin = await admins.create_admin(
            ctx.session, hasher=ctx.hasher, email=email, role=chosen, commune=where, password=secret
        )
        await audit.record(
            ctx.session, actor=ctx.actor, action="admin.create", target=f"admin:{admin.id}",
            commune_id=admin.commune_id,
            after={"email": admin.email, "role": chosen.value, "password": "set"},
        )  # fmt: skip
        return f"admin {admin.email} ({chosen.value}{' of ' + where.name if where else ''}) created"

    typer.echo(run_command(action))


@app.command("client")
def client_create(
    name: str = typer.Argument(..., help="What the client is (e.g. 'Valence IT', 'monitoring')."),
    role: str = typer.Option(..., "--role", help="region_admin, commune_admin, support or auditor."),
    commune: str | None = typer.Option(None, "--commune", help="The commune of a commune_admin client."),
) -> None:
    """Create a service client (OAuth 2 client credentials); prints its id, then its secret, once."""
    chosen = admins.parse_role(role)

    async def action(ctx: Context) -> tuple[str, str]:
        where = await network.find_commune(ctx.session, commune) if commune else None
        client, secret = await admins.create_client(
            ctx.session, box=ctx.box, name=name, role=chosen, commune=where
        )
        await audit.record(
            ctx.session, actor=ctx.actor, action="client.create", target=f"client:{client.client_id}",
            commune_id=client.commune_id, after={"name": client.name, "role": chosen.value, "secret": "set"},
        )  # fmt: skip
        return client.client_id, secret

    client_id, secret = run_command(action)
    typer.echo(f"client_id: {client_id}")
    typer.echo(secret)


@app.command("revoke")
def admin_revoke(email: str = typer.Argument(..., help="The admin's email.")) -> None:
    """Log an admin out everywhere: every access token issued to them stops working."""

    async def action(ctx: Context) -> str:
        admin = await admins.find_admin(ctx.session, email)
        await admins.revoke_all(ctx.session, admin=admin)
        await audit.record(
            ctx.session, actor=ctx.actor, action="admin.revoke", target=f"admin:{admin.id}",
            commune_id=admin.commune_id,
        )  # fmt: skip
        return f"every token of {admin.email} is revoked"

    typer.echo(run_command(action))


@app.command("reset-2fa")
def admin_reset_two_factor(email: str = typer.Argument(..., help="The admin's email.")) -> None:
    """Remove an admin's console second factor and recovery codes (a lost phone), and sign them
    out everywhere; they set a new factor up at their next sign-in (docs/console.md)."""

    async def action(ctx: Context) -> str:
        admin = await admins.find_admin(ctx.session, email)
        await twofactor.remove(ctx.session, admin=admin)
        await admins.revoke_all(ctx.session, admin=admin)
        await audit.record(
            ctx.session, actor=ctx.actor, action="admin.reset_two_factor", target=f"admin:{admin.id}",
            commune_id=admin.commune_id,
        )  # fmt: skip
        return f"{admin.email} has no second factor now and is signed out everywhere"

    typer.echo(run_command(action))
