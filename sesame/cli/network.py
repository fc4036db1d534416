"""``sesame commune``, ``sesame site`` and ``sesame nas``: the network inventory."""

from __future__ import annotations

import typer

from accounts import network
from accounts.errors import InvalidInput
from sesame.cli.context import STDIN_HELP, Context, read_secret, run_command

communes = typer.Typer(help="Communes of the region.", no_args_is_help=True)
sites = typer.Typer(help="Sites (places with public Wi-Fi) in communes.", no_args_is_help=True)
nas = typer.Typer(help="Access points and controllers (RADIUS clients).", no_args_is_help=True)


@communes.command("add")
def commune_add(
    name: str = typer.Argument(..., help="The commune's name."),
    insee: str = typer.Option(..., "--insee", help="INSEE code (five digits, or 2A/2B + three digits)."),
) -> None:
    """Add a commune to the region."""

    async def action(ctx: Context) -> str:
        commune = await network.add_commune(ctx.session, region=ctx.region, name=name, insee_code=insee)
        return f"commune {commune.name} ({commune.insee_code}) added"

    typer.echo(run_command(action, audited="commune.add"))


@communes.command("list")
def commune_list() -> None:
    """List the communes."""

    async def action(ctx: Context) -> list[str]:
        return [f"{c.insee_code}  {c.name}" for c in await network.list_communes(ctx.session)]

    for line in run_command(action):
        typer.echo(line)


@sites.command("add")
def site_add(
    name: str = typer.Argument(..., help="The site's name, unique within its commune."),
    commune: str = typer.Option(..., "--commune", help="The commune's name or INSEE code."),
    address: str | None = typer.Option(None, "--address", help="Postal address."),
    latitude: float | None = typer.Option(None, "--lat", help="Latitude (WGS 84)."),
    longitude: float | None = typer.Option(None, "--lon", help="Longitude (WGS 84)."),
) -> None:
    """Add a site to a commune."""
    if (latitude is None) != (longitude is None):
        raise InvalidInput("give both --lat and --lon, or neither")

    async def action(ctx: Context) -> str:
        where = await network.find_commune(ctx.session, commune)
        coordinates = (
            network.Coordinates(latitude=latitude, longitude=longitude)
            if latitude is not None and longitude is not None
            else None
        )
        site = await network.add_site(
            ctx.session, commune=where, name=name, address=address, coordinates=coordinates
        )
        return f"site {site.name} added to {where.name}"

    typer.echo(run_command(action, audited="site.add"))


@sites.command("list")
def site_list(
    commune: str | None = typer.Option(None, "--commune", help="Only this commune's sites."),
) -> None:
    """List the sites."""

    async def action(ctx: Context) -> list[str]:
        where = await network.find_commune(ctx.session, commune) if commune else None
        found = await network.list_sites(ctx.session, commune=where)
        return [f"{s.name}  ({s.commune.name}){'  ' + s.address if s.address else ''}" for s in found]

    for line in run_command(action):
        typer.echo(line)


@nas.command("add")
def nas_add(
    name: str = typer.Argument(..., help="A unique name for the access point or controller."),
    ip: str = typer.Option(..., "--ip", help="Source address: one IP or a CIDR network (IPv4 or IPv6)."),
    site: str = typer.Option(..., "--site", help="The site it serves."),
    secret: str | None = typer.Option(None, "--secret", help=f"RADIUS shared secret: {STDIN_HELP}."),
    commune: str | None = typer.Option(
        None, "--commune", help="The site's commune, when the site name is shared."
    ),
    vendor: str = typer.Option("other", "--vendor", help=f"What it is: {', '.join(network.VENDORS)}."),
    handoff: str = typer.Option(
        "none",
        "--handoff",
        help=f"Portal hand-off: {', '.join(network.HANDOFFS)} "
        "(one that needs a UAM secret or options is set with 'sesame nas handoff').",
    ),
    coa_port: int = typer.Option(3799, "--coa-port", help="UDP port for CoA/Disconnect (RFC 5176)."),
    legacy_no_message_authenticator: bool = typer.Option(
        False,
        "--legacy-no-message-authenticator",
        help="Accept Access-Requests without Message-Authenticator from this NAS (unsafe: BlastRADIUS).",
    ),
    allow_overlap: bool = typer.Option(
        False,
        "--allow-overlap",
        help="Accept an address or range overlapping another access point's (audited; it takes that "
        "traffic from the narrower or older entry).",
    ),
) -> None:
    """Allow an access point or controller to send RADIUS requests."""
    shared_secret = read_secret(secret, label="Shared secret", option="--secret")

    async def action(ctx: Context) -> str:
        where = await network.find_commune(ctx.session, commune) if commune else None
        place = await network.find_site(ctx.session, site, commune=where)
        added = await network.add_nas(
            ctx.session,
            box=ctx.box,
            site=place,
            name=name,
            address=ip,
            secret=shared_secret,
            vendor=vendor,
            handoff=handoff,
            coa_port=coa_port,
            require_message_authenticator=not legacy_no_message_authenticator,
            rules=ctx.settings.radius.nas_address_rules,
            allow_overlap=allow_overlap,
        )
        return f"access point {added.shortname} ({added.nasname}) added to {place.name}"

    typer.echo(run_command(action, audited="nas.add"))


@nas.command("list")
def nas_list() -> None:
    """List the access points and controllers (secrets are never shown)."""

    async def action(ctx: Context) -> list[str]:
        lines = []
        for item in await network.list_nas(ctx.session):
            flags = "" if item.require_message_authenticator else "  [legacy: no Message-Authenticator]"
            lines.append(
                f"{item.shortname}  {item.nasname}  {item.site.name} ({item.site.commune.name})  "
                f"vendor={item.type} handoff={item.handoff} coa-port={item.coa_port}{flags}"
            )
        return lines

    for line in run_command(action):
        typer.echo(line)


@nas.command("remove")
def nas_remove(name: str = typer.Argument(..., help="The access point's name.")) -> None:
    """Remove an access point: its requests are dropped from then on."""

    async def action(ctx: Context) -> str:
        await network.remove_nas(ctx.session, name=name)
        return f"access point {name} removed"

    typer.echo(run_command(action, audited="nas.remove"))
