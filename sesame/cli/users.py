"""``sesame user``: citizens' accounts."""

from __future__ import annotations

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts import disconnect, users
from accounts.disconnect import CoaOutcome
from accounts.errors import InvalidInput
from accounts.identity import split_identity
from accounts.models import AccountStatus, utcnow
from accounts.network import ensure_home_region
from accounts.secretbox import SecretBox
from sesame.cli.context import STDIN_HELP, Context, read_secret, run_command, run_with_sessions
from sesame.compose import build_coa_client
from sesame.settings import Settings, get_settings

app = typer.Typer(help="Citizens' accounts (username@realm).", no_args_is_help=True)


@app.command("add")
def user_add(
    username: str = typer.Argument(..., help="The username (the realm is the home realm)."),
    email: str = typer.Option(..., "--email", help="Email address for recovery."),
    password: str | None = typer.Option(None, "--password", help=f"Password: {STDIN_HELP}."),
    unverified: bool = typer.Option(False, "--unverified", help="Leave the email unverified."),
) -> None:
    """Create an account; created here, it is verified and active unless --unverified."""
    password = read_secret(password, label="Password", option="--password")

    async def action(ctx: Context) -> str:
        account = await users.create_account(
            ctx.session,
            hasher=ctx.hasher,
            region=ctx.region,
            username=username,
            email=email,
            password=password,
            verified=not unverified,
        )
        state = "unverified" if unverified else "verified"
        return f"account {account.username}@{ctx.region.realm} created ({state}, {account.status})"

    typer.echo(run_command(action, audited="user.add"))


@app.command("list")
def user_list(
    status: AccountStatus | None = typer.Option(None, "--status", help="Only accounts in this state."),
    limit: int = typer.Option(1000, "--limit", min=1, max=100_000, help="At most this many."),
) -> None:
    """List accounts."""

    async def action(ctx: Context) -> list[str]:
        found = await users.list_accounts(ctx.session, region=ctx.region, status=status, limit=limit)
        return [
            f"{a.identity}  {a.email}  {a.status}{'' if a.email_verified else '  (unverified)'}"
            for a in found
        ]

    for line in run_command(action):
        typer.echo(line)


def _set_status(identity: str, status: AccountStatus) -> None:
    async def action(ctx: Context) -> str:
        account = await users.find_account(ctx.session, identity, region=ctx.region)
        await users.set_status(ctx.session, account=account, status=status)
        return f"account {account.identity} is {status}"

    typer.echo(
        run_command(action, audited=f"user.{'disable' if status == AccountStatus.DISABLED else 'enable'}")
    )


@app.command("disable")
def user_disable(identity: str = typer.Argument(..., help="username or username@realm")) -> None:
    """Disable an account: it can no longer connect."""
    _set_status(identity, AccountStatus.DISABLED)


@app.command("enable")
def user_enable(identity: str = typer.Argument(..., help="username or username@realm")) -> None:
    """Re-enable a disabled or locked account."""
    _set_status(identity, AccountStatus.ACTIVE)


@app.command("delete")
def user_delete(
    identity: str = typer.Argument(..., help="username or username@realm"),
    yes: bool = typer.Option(False, "--yes", help="Confirm: the deletion cannot be undone."),
) -> None:
    """Delete an account (GDPR erasure): devices, tokens and device credentials go with it.

    The connection and authentication records the law requires are kept under a pseudonym, and
    the email sealed in closed_account, until `sesame retention purge` deletes them (docs/privacy.md).
    """
    if not yes:
        raise InvalidInput(f"deleting {identity} cannot be undone: add --yes to confirm")

    async def end_sessions(settings: Settings, factory: async_sessionmaker[AsyncSession]) -> str:
        async with factory() as session:
            region = await ensure_home_region(session, realm=settings.realm, name=settings.region_name)
            account = await users.find_account(session, identity, region=region)
        results = await disconnect.disconnect_account(
            factory,
            box=settings.secret_box(),
            account_id=account.id,
            send=build_coa_client(settings),
        )
        ended = sum(1 for _, result in results if result.outcome is CoaOutcome.ACK)
        return f"{ended} of {len(results)} open sessions disconnected" if results else ""

    async def action(ctx: Context) -> tuple[str, str]:
        account = await users.find_account(ctx.session, identity, region=ctx.region)
        who = account.identity
        return who, await users.delete_account(ctx.session, box=ctx.box, account=account, now=utcnow())

    ended = run_with_sessions(end_sessions)  # first: afterwards the NAS would get a pseudonym
    if ended:
        typer.echo(ended, err=True)
    who, pseudonym = run_command(action, audited="user.delete")
    typer.echo(f"account {who} deleted; its kept records now carry the pseudonym:", err=True)
    typer.echo(pseudonym)


@app.command("pseudonym")
def user_pseudonym(identity: str = typer.Argument(..., help="username or username@realm")) -> None:
    """Print the pseudonym the records of an identity carry once its account is deleted.

    For a judicial requisition about a deleted account: its kept records have this username
    (radacct, radpostauth) and closed_account this pseudonym. Needs the SESAME_SECRET_KEY in force
    when the account was deleted; during a key rotation, a second line gives the pseudonym under
    SESAME_SECRET_KEY_PREVIOUS (accounts deleted before the rotation).
    """
    settings = get_settings()
    username, realm = split_identity(identity, home_realm=settings.realm)
    typer.echo(users.pseudonym_of(settings.secret_box(), f"{username}@{realm}"))
    if settings.secret_key_previous is not None:
        previous = SecretBox(settings.secret_key_previous.get_secret_value())
        typer.echo(users.pseudonym_of(previous, f"{username}@{realm}"))
