"""``sesame policy``: reply settings per commune and site."""

from __future__ import annotations

from dataclasses import asdict

import typer

from accounts import network, policies
from accounts.errors import InvalidInput
from accounts.policies import Policy
from sesame.cli.context import Context, run_command

app = typer.Typer(help="Session limits and bandwidth per commune or site.", no_args_is_help=True)


@app.command("set")
def policy_set(
    commune: str | None = typer.Option(None, "--commune", help="The commune (name or INSEE code)."),
    site: str | None = typer.Option(None, "--site", help="The site (with --commune if its name is shared)."),
    session_timeout: int | None = typer.Option(None, "--session-timeout", help="Seconds; 0 sends none."),
    idle_timeout: int | None = typer.Option(None, "--idle-timeout", help="Seconds; 0 sends none."),
    interim_interval: int | None = typer.Option(
        None, "--interim-interval", help="Accounting interim, seconds."
    ),
    bandwidth_up_kbps: int | None = typer.Option(None, "--bandwidth-up", help="Upload limit, kbit/s."),
    bandwidth_down_kbps: int | None = typer.Option(None, "--bandwidth-down", help="Download limit, kbit/s."),
    simultaneous_use: int | None = typer.Option(
        None, "--simultaneous-use", help="Open sessions per account; 0: no limit."
    ),
    daily_time_limit: int | None = typer.Option(
        None, "--daily-time", help="Seconds per account per day in the commune; 0: no limit."
    ),
    daily_octets_limit: int | None = typer.Option(
        None, "--daily-octets", help="Bytes in and out per account per day in the commune; 0: no limit."
    ),
) -> None:
    """Set a commune's or a site's policy; fields not given keep their value."""
    if commune is None and site is None:
        raise InvalidInput("name a --commune or a --site")
    given = {
        "session_timeout": session_timeout,
        "idle_timeout": idle_timeout,
        "interim_interval": interim_interval,
        "bandwidth_up_kbps": bandwidth_up_kbps,
        "bandwidth_down_kbps": bandwidth_down_kbps,
        "simultaneous_use": simultaneous_use,
        "daily_time_limit": daily_time_limit,
        "daily_octets_limit": daily_octets_limit,
    }
    changes = {k: v for k, v in given.items() if v is not None}

    async def action(ctx: Context) -> str:
        where = await network.find_commune(ctx.session, commune) if commune else None
        if site is not None:
            place = await network.find_site(ctx.session, site, commune=where)
            await policies.set_policy(ctx.session, site=place, values=changes)
            return f"policy of site {place.name} updated"
        assert where is not None
        await policies.set_policy(ctx.session, commune=where, values=changes)
        return f"policy of commune {where.name} updated"

    typer.echo(run_command(action, audited="policy.set"))


@app.command("show")
def policy_show(
    commune: str | None = typer.Option(None, "--commune", help="The commune (name or INSEE code)."),
    site: str | None = typer.Option(None, "--site", help="The site."),
) -> None:
    """Show the policy in force for the region, a commune or a site (after fall-back)."""

    async def action(ctx: Context) -> list[str]:
        settings_policy = Policy(**ctx.settings.policy.model_dump())
        where = await network.find_commune(ctx.session, commune) if commune else None
        place = await network.find_site(ctx.session, site, commune=where) if site else None
        by_commune, by_site = await policies.load_policies(ctx.session)
        effective = policies.resolve(
            settings_policy,
            commune_id=place.commune_id if place else (where.id if where else None),
            site_id=place.id if place else None,
            by_commune=by_commune,
            by_site=by_site,
        )
        return [
            f"{name.replace('_', '-')}: {value if value else 'none'}"
            for name, value in asdict(effective).items()
        ]

    for line in run_command(action):
        typer.echo(line)
