"""``sesame nas handoff``, ``sesame site wifi4eu`` and ``sesame brand``: how the captive portal
works and looks at each access point, site and commune."""

from __future__ import annotations

from pathlib import Path

import typer

from accounts import network
from accounts.errors import InvalidInput
from sesame.cli.context import Context, read_secret, read_text_file, run_command

brand = typer.Typer(help="The captive portal's look per commune or site.", no_args_is_help=True)


def nas_handoff(
    name: str = typer.Argument(..., help="The access point's name."),
    handoff: str = typer.Option(..., "--handoff", help=f"Integration: {', '.join(network.HANDOFFS)}."),
    uam_secret: str | None = typer.Option(
        None,
        "--uam-secret",
        help="The controller's UAM secret: '-' reads it from standard input, '' removes it "
        "(a value written here would show in the process list and the shell history).",
    ),
    option: list[str] = typer.Option(
        [], "--option", help="Integration setting KEY=VALUE (repeat; replaces all options when given)."
    ),
) -> None:
    """Set how the portal hands people back to an access point after they log in."""
    secret = read_secret(uam_secret, label="UAM secret", option="--uam-secret") if uam_secret else uam_secret
    options: dict[str, str] | None = None
    if option:
        options = {}
        for item in option:
            key, sep, value = item.partition("=")
            if not sep:
                raise InvalidInput(f"--option {item!r}: write KEY=VALUE")
            options[key.strip()] = value.strip()

    async def action(ctx: Context) -> str:
        found = await network.find_nas(ctx.session, name)
        await network.set_handoff(
            ctx.session, box=ctx.box, nas=found, handoff=handoff, uam_secret=secret, options=options
        )
        return f"access point {found.shortname}: hand-off {handoff}"

    typer.echo(run_command(action, audited="nas.handoff"))


def site_wifi4eu(
    site: str = typer.Argument(..., help="The site."),
    network_id: str = typer.Option("", "--network-id", help="The WiFi4EU network identifier ('' clears it)."),
    commune: str | None = typer.Option(
        None, "--commune", help="The site's commune, when the name is shared."
    ),
) -> None:
    """Give a site its WiFi4EU network identifier: its portal pages embed the monitoring snippet."""

    async def action(ctx: Context) -> str:
        where = await network.find_commune(ctx.session, commune) if commune else None
        place = await network.find_site(ctx.session, site, commune=where)
        await network.set_wifi4eu(ctx.session, site=place, network_id=network_id or None)
        return f"site {place.name}: WiFi4EU network {network_id or 'none'}"

    typer.echo(run_command(action, audited="site.wifi4eu"))


@brand.command("set")
def brand_set(
    commune: str | None = typer.Option(None, "--commune", help="Brand this commune (or the site's commune)."),
    site: str | None = typer.Option(None, "--site", help="Brand this site (over its commune's brand)."),
    title: str | None = typer.Option(None, "--title", help="The name shown at the top of the portal."),
    logo_url: str | None = typer.Option(None, "--logo-url", help="An https:// logo (in the walled garden)."),
    color: str | None = typer.Option(None, "--color", help="The brand colour, #rrggbb."),
    welcome: str | None = typer.Option(None, "--welcome", help="A welcome text on the log-in page."),
    terms_file: Path | None = typer.Option(
        None,
        "--terms-file",
        help="The commune's own terms of use (UTF-8 text).",
        exists=True,
        dir_okay=False,
        readable=True,
    ),
    terms_version: str | None = typer.Option(
        None, "--terms-version", help="Their version, recorded with consent."
    ),
) -> None:
    """Set the portal's look for a commune or a site ('' clears a field)."""
    values = {
        "title": title,
        "logo_url": logo_url,
        "color": color,
        "welcome_text": welcome,
        "terms_version": terms_version,
        "terms_text": read_terms(terms_file) if terms_file else None,
    }
    given = {key: value for key, value in values.items() if value is not None}

    async def action(ctx: Context) -> str:
        where = await network.find_commune(ctx.session, commune) if commune else None
        if site:
            place = await network.find_site(ctx.session, site, commune=where)
            await network.set_branding(ctx.session, site=place, values=given)
            return f"site {place.name}: branding set ({', '.join(given) or 'nothing'})"
        if where is None:
            raise InvalidInput("give --commune or --site")
        await network.set_branding(ctx.session, commune=where, values=given)
        return f"commune {where.name}: branding set ({', '.join(given) or 'nothing'})"

    typer.echo(run_command(action, audited="brand.set"))


def read_terms(path: Path) -> str:
    return read_text_file(path, what="the terms of use")
