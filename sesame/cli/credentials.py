"""``sesame token``, ``sesame device`` and ``sesame credential``: what citizens connect with."""

from __future__ import annotations

from datetime import timedelta

import typer

from accounts import credentials, network, tokens, users
from accounts.models import utcnow
from sesame.cli.context import Context, run_command

token_app = typer.Typer(
    help="Single-use RADIUS tokens (what the portal hands to access points).", no_args_is_help=True
)
device_app = typer.Typer(help="Remembered devices (MAC authentication).", no_args_is_help=True)
credential_app = typer.Typer(
    help="Per-device credentials for the secure SSID (MS-CHAPv2).", no_args_is_help=True
)


@token_app.command("issue")
def token_issue(
    identity: str = typer.Argument(..., help="username or username@realm"),
    nas: str = typer.Option(
        ..., "--nas", help="The access point that may use it (a token works at that one only)."
    ),
    lifetime: int = typer.Option(120, "--lifetime", min=10, max=3600, help="Seconds the token stays valid."),
) -> None:
    """Mint a single-use token for one access point; it is printed alone on the last line."""

    async def action(ctx: Context) -> tuple[str, str, str]:
        account = await users.find_account(ctx.session, identity, region=ctx.region)
        where = await network.find_nas(ctx.session, nas)
        token = await tokens.issue_token(
            ctx.session,
            box=ctx.box,
            account=account,
            nas_id=where.id,
            now=utcnow(),
            lifetime=timedelta(seconds=lifetime),
        )
        return account.identity, where.shortname, token

    who, where, token = run_command(action, audited="token.issue")
    typer.echo(f"single-use token for {who} at {where}, valid {lifetime} s:", err=True)
    typer.echo(token)


@device_app.command("remember")
def device_remember(
    identity: str = typer.Argument(..., help="username or username@realm"),
    mac: str = typer.Option(..., "--mac", help="The device's MAC address, any common notation."),
    days: int = typer.Option(30, "--days", min=1, max=3650, help="How long MAC authentication works."),
    label: str | None = typer.Option(None, "--label", help="A name for the device."),
) -> None:
    """Remember a device so it reconnects by MAC authentication on every hotspot."""

    async def action(ctx: Context) -> str:
        account = await users.find_account(ctx.session, identity, region=ctx.region)
        until = utcnow() + timedelta(days=days)
        device = await users.remember_device(ctx.session, account=account, mac=mac, label=label, until=until)
        return f"device {device.mac} of {account.identity} remembered until {until:%Y-%m-%d %H:%M} UTC"

    typer.echo(run_command(action, audited="device.remember"))


@device_app.command("list")
def device_list(identity: str = typer.Argument(..., help="username or username@realm")) -> None:
    """List an account's devices."""

    async def action(ctx: Context) -> list[str]:
        account = await users.find_account(ctx.session, identity, region=ctx.region)
        return [
            f"{d.mac}  {d.label or '-'}  remembered until {d.remembered_until:%Y-%m-%d %H:%M} UTC"
            if d.remembered_until
            else f"{d.mac}  {d.label or '-'}"
            for d in await users.list_devices(ctx.session, account=account)
        ]

    for line in run_command(action):
        typer.echo(line)


@device_app.command("forget")
def device_forget(
    identity: str = typer.Argument(..., help="username or username@realm"),
    mac: str = typer.Option(..., "--mac", help="The device's MAC address."),
) -> None:
    """Forget a device: MAC authentication stops for it."""

    async def action(ctx: Context) -> str:
        account = await users.find_account(ctx.session, identity, region=ctx.region)
        await users.forget_device(ctx.session, account=account, mac=mac)
        return f"device {mac} of {account.identity} forgotten"

    typer.echo(run_command(action, audited="device.forget"))


@credential_app.command("add")
def credential_add(
    identity: str = typer.Argument(..., help="username or username@realm"),
    label: str = typer.Option(..., "--label", help="Which device it is for."),
) -> None:
    """Create a device credential; its password is printed once, alone on the last line."""

    async def action(ctx: Context) -> tuple[str, int, str]:
        account = await users.find_account(ctx.session, identity, region=ctx.region)
        credential, password = await credentials.create_device_credential(
            ctx.session, box=ctx.box, account=account, label=label
        )
        return account.identity, credential.id, password

    who, credential_id, password = run_command(action, audited="credential.add")
    typer.echo(f"credential {credential_id} for {who} (user name {who}); password, shown once:", err=True)
    typer.echo(password)


@credential_app.command("list")
def credential_list(identity: str = typer.Argument(..., help="username or username@realm")) -> None:
    """List an account's device credentials (never their passwords)."""

    async def action(ctx: Context) -> list[str]:
        account = await users.find_account(ctx.session, identity, region=ctx.region)
        found = await credentials.list_device_credentials(ctx.session, account=account)
        return [f"{c.id}  {c.label}  {'revoked' if c.revoked_at else 'active'}" for c in found]

    for line in run_command(action):
        typer.echo(line)


@credential_app.command("revoke")
def credential_revoke(
    identity: str = typer.Argument(..., help="username or username@realm"),
    credential_id: int = typer.Argument(..., help="The credential's number (see `credential list`)."),
) -> None:
    """Revoke a device credential."""

    async def action(ctx: Context) -> str:
        account = await users.find_account(ctx.session, identity, region=ctx.region)
        await credentials.revoke_device_credential(
            ctx.session, account=account, credential_id=credential_id, now=utcnow()
        )
        return f"credential {credential_id} of {account.identity} revoked"

    typer.echo(run_command(action, audited="credential.revoke"))
