"""``sesame partner``: the partner regions of the federation, their realms and home servers, and a
Status-Server probe of their servers (RFC 5997), over UDP or RadSec (RFC 6614)."""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Sequence

import typer

from accounts import partners
from accounts.models import HomeServer, Partner
from federation.probe import ProbeTarget, probe
from federation.tls import TlsError, client_context
from sesame.cli.context import STDIN_HELP, Context, read_secret, run_command
from sesame.compose import radsec_tls
from sesame.settings import Settings, get_settings

app = typer.Typer(help="Partner regions of the federation (eduroam-style roaming).", no_args_is_help=True)
realm_app = typer.Typer(help="Realm patterns routed to a partner.", no_args_is_help=True)
server_app = typer.Typer(help="A partner's home servers.", no_args_is_help=True)
app.add_typer(realm_app, name="realm")
app.add_typer(server_app, name="server")

SHARED_HELP = f"Shared secret of every server given (a RadSec one may go without): {STDIN_HELP}."
LEGACY_HELP = (
    "Accept these servers' Access-Accept/Reject without Message-Authenticator (unsafe: BlastRADIUS; "
    "only for a legacy server that cannot sign them, every other server keeps refusing unsigned replies)."
)
RADSEC_HELP = "RadSec (RADIUS over TLS, RFC 6614; port 2083, secret 'radsec' by default) instead of UDP."


def _secret(secret: str | None, *, radsec: bool) -> str | None:
    """The secret to use: a RadSec server may go without one (RFC 6614's ``radsec``)."""
    if secret is None and radsec:
        return None
    return read_secret(secret, label="Shared secret", option="--secret")


def _specs(
    servers: Sequence[str],
    *,
    secret: str | None,
    radsec: bool,
    tls_name: str | None,
    priority: int,
    acct_port: int | None = None,
    legacy_unsigned: bool = False,
) -> list[partners.HomeServerSpec]:
    """The home servers given, read before any secret is asked for (a typo fails first)."""
    addresses = [partners.parse_server(server) for server in servers]
    shared = _secret(secret, radsec=radsec)
    transport = partners.RADSEC if radsec else partners.UDP
    return [
        partners.HomeServerSpec(
            host=host,
            port=port,
            transport=transport,
            secret=shared,
            tls_name=tls_name,
            priority=priority,
            acct_port=acct_port,
            require_message_authenticator=not legacy_unsigned,
        )
        for host, port in addresses
    ]


# -- what a person reads -------------------------------------------------------------------------


def _flags(partner: Partner) -> str:
    flags = ["accept-requests" if partner.accept_requests else "no-accept-requests"]
    flags += ["transit"] if partner.transit else []
    flags += ["forward-accounting"] if partner.forward_accounting else []
    return " ".join(flags)


def _state(server: HomeServer) -> str:
    since = server.state_changed_at
    return f"{server.state} since {since:%Y-%m-%d %H:%M:%S} UTC" if since else server.state


def _servers(partner: Partner) -> list[HomeServer]:
    return sorted(partner.servers, key=lambda s: (s.priority, s.id))


def _lines(partner: Partner, *, detailed: bool = False) -> list[str]:
    """A partner's line, then one aligned row per home server in the order they are tried."""
    title = f"{partner.name} ({partner.display_name})" if partner.display_name else partner.name
    realms = " ".join(r.pattern for r in partner.realms) or "none (they only send us requests)"
    servers = _servers(partner)
    width = max((len(partners.server_address(s)) for s in servers), default=0)
    lines = [f"{title}  realms: {realms}  flags: {_flags(partner)}"]
    for server in servers:
        address, priority = partners.server_address(server), server.priority
        row = f"    {server.transport:<6}  {address:<{width}}  priority {priority:<4}  {_state(server)}"
        row += "" if server.require_message_authenticator else "  legacy: unsigned replies accepted"
        if detailed:
            row += (
                f"  tls-name {server.tls_name or server.host}" if server.transport == partners.RADSEC else ""
            )
            row += f"  (id {server.id})"
        lines.append(row)
    if detailed:
        created, changed = partner.created_at, partner.updated_at
        lines.append(f"    created {created:%Y-%m-%d %H:%M} UTC, changed {changed:%Y-%m-%d %H:%M} UTC")
    return lines


# -- partners ------------------------------------------------------------------------------------


@app.command("add")
def partner_add(
    name: str = typer.Argument(..., help="A short lower-case name (liguria, upstream…)."),
    realm: list[str] = typer.Option(
        [],
        "--realm",
        help="Realm routed to them: a.example, *.a.example or * (repeat; none: they only call us).",
    ),
    server: list[str] = typer.Option(
        ..., "--server", help="Home server HOST[:PORT] or [IPv6]:PORT (repeat)."
    ),
    secret: str | None = typer.Option(None, "--secret", help=SHARED_HELP),
    radsec: bool = typer.Option(False, "--radsec", help=RADSEC_HELP),
    tls_name: str | None = typer.Option(None, "--tls-name", help="Name the RadSec certificate must carry."),
    priority: int = typer.Option(0, "--priority", help="Lower is tried first (0 to 1000)."),
    acct_port: int | None = typer.Option(
        None, "--acct-port", help="UDP: where forwarded accounting goes (default: the port + 1)."
    ),
    legacy_unsigned: bool = typer.Option(False, "--legacy-no-message-authenticator", help=LEGACY_HELP),
    display_name: str | None = typer.Option(None, "--display-name", help="A name for people."),
    accept_requests: bool = typer.Option(
        True, "--accept-requests/--no-accept-requests", help="They may send us requests for our realm."
    ),
    transit: bool = typer.Option(
        False, "--transit", help="Their requests for other realms may be proxied on."
    ),
    forward_accounting: bool = typer.Option(
        False, "--forward-accounting", help="Forward accounting for their realms to them."
    ),
) -> None:
    """Add a partner region (or the upstream federation proxy, with --realm '*')."""
    specs = _specs(
        server, secret=secret, radsec=radsec, tls_name=tls_name, priority=priority, acct_port=acct_port,
        legacy_unsigned=legacy_unsigned,
    )  # fmt: skip

    async def action(ctx: Context) -> str:
        added = await partners.add_partner(
            ctx.session, box=ctx.box, home_realm=ctx.settings.realm, name=name, realms=realm,
            servers=specs, display_name=display_name, accept_requests=accept_requests, transit=transit,
            forward_accounting=forward_accounting,
        )  # fmt: skip
        return f"partner {added.name} added with {len(added.realms)} realm(s), {len(added.servers)} server(s)"

    typer.echo(run_command(action, audited="partner.add"))


@app.command("update")
def partner_update(
    name: str = typer.Argument(..., help="The partner."),
    display_name: str | None = typer.Option(
        None, "--display-name", help="A name for people ('' removes it)."
    ),
    accept_requests: bool | None = typer.Option(None, "--accept-requests/--no-accept-requests"),
    transit: bool | None = typer.Option(None, "--transit/--no-transit"),
    forward_accounting: bool | None = typer.Option(None, "--forward-accounting/--no-forward-accounting"),
) -> None:
    """Change a partner's display name or flags (what is not given stays)."""

    async def action(ctx: Context) -> str:
        partner = await partners.get_partner(ctx.session, name_or_id=name)
        await partners.update_partner(
            ctx.session, partner=partner, display_name=display_name, accept_requests=accept_requests,
            transit=transit, forward_accounting=forward_accounting,
        )  # fmt: skip
        return f"partner {partner.name}: {_flags(partner)}"

    typer.echo(run_command(action, audited="partner.update"))


@app.command("list")
def partner_list() -> None:
    """List the partners, their realms, flags and home servers with their health (never secrets)."""

    async def action(ctx: Context) -> list[str]:
        return [line for p in await partners.list_partners(ctx.session) for line in _lines(p)]

    for line in run_command(action) or ["no partners"]:
        typer.echo(line)


@app.command("show")
def partner_show(name: str = typer.Argument(..., help="The partner.")) -> None:
    """Show one partner in detail."""

    async def action(ctx: Context) -> list[str]:
        return _lines(await partners.get_partner(ctx.session, name_or_id=name), detailed=True)

    for line in run_command(action):
        typer.echo(line)


@app.command("remove")
def partner_remove(name: str = typer.Argument(..., help="The partner.")) -> None:
    """Remove a partner with its realms and servers: requests for its realms are refused from then on."""

    async def action(ctx: Context) -> str:
        partner = await partners.get_partner(ctx.session, name_or_id=name)
        await partners.remove_partner(ctx.session, partner=partner)
        return f"partner {partner.name} removed"

    typer.echo(run_command(action, audited="partner.remove"))


# -- realms --------------------------------------------------------------------------------------


@realm_app.command("add")
def realm_add(
    name: str = typer.Argument(..., help="The partner."),
    pattern: str = typer.Argument(
        ..., help="a.example, *.a.example (its subdomains) or * (everything else)."
    ),
) -> None:
    """Route a realm pattern to a partner."""

    async def action(ctx: Context) -> str:
        partner = await partners.get_partner(ctx.session, name_or_id=name)
        added = await partners.add_realm(
            ctx.session, partner=partner, home_realm=ctx.settings.realm, pattern=pattern
        )
        return f"realm {added.pattern} routed to partner {partner.name}"

    typer.echo(run_command(action, audited="partner.realm.add"))


@realm_app.command("remove")
def realm_remove(
    name: str = typer.Argument(..., help="The partner."),
    pattern: str = typer.Argument(..., help="The pattern to stop routing to them."),
) -> None:
    """Stop routing a realm pattern to a partner."""

    async def action(ctx: Context) -> str:
        partner = await partners.get_partner(ctx.session, name_or_id=name)
        await partners.remove_realm(ctx.session, partner=partner, pattern=pattern)
        return f"realm {partners.normalize_realm_pattern(pattern)} no longer routed to partner {partner.name}"

    typer.echo(run_command(action, audited="partner.realm.remove"))


# -- home servers --------------------------------------------------------------------------------


@server_app.command("add")
def server_add(
    name: str = typer.Argument(..., help="The partner."),
    servers: list[str] = typer.Argument(..., help="HOST[:PORT] or [IPv6]:PORT, one or more."),
    secret: str | None = typer.Option(None, "--secret", help=SHARED_HELP),
    radsec: bool = typer.Option(False, "--radsec", help=RADSEC_HELP),
    tls_name: str | None = typer.Option(None, "--tls-name", help="Name the RadSec certificate must carry."),
    priority: int = typer.Option(0, "--priority", help="Lower is tried first (0 to 1000)."),
    acct_port: int | None = typer.Option(
        None, "--acct-port", help="UDP: where forwarded accounting goes (default: the port + 1)."
    ),
    legacy_unsigned: bool = typer.Option(False, "--legacy-no-message-authenticator", help=LEGACY_HELP),
) -> None:
    """Add home servers to a partner."""
    specs = _specs(
        servers, secret=secret, radsec=radsec, tls_name=tls_name, priority=priority, acct_port=acct_port,
        legacy_unsigned=legacy_unsigned,
    )  # fmt: skip

    async def action(ctx: Context) -> list[str]:
        partner = await partners.get_partner(ctx.session, name_or_id=name)
        added = [
            await partners.add_home_server(ctx.session, box=ctx.box, partner=partner, server=spec)
            for spec in specs
        ]
        return [f"home server {partners.describe_server(s)} added to partner {partner.name}" for s in added]

    for line in run_command(action, audited="partner.server.add"):
        typer.echo(line)


@server_app.command("remove")
def server_remove(
    name: str = typer.Argument(..., help="The partner."),
    server: str = typer.Argument(..., help="HOST[:PORT] of the server."),
    radsec: bool | None = typer.Option(None, "--radsec/--udp", help="Which one, when both use the address."),
) -> None:
    """Remove a home server of a partner."""

    async def action(ctx: Context) -> str:
        partner = await partners.get_partner(ctx.session, name_or_id=name)
        transport = None if radsec is None else partners.RADSEC if radsec else partners.UDP
        found = partners.find_home_server(partner, server, transport=transport)
        described = partners.describe_server(found)
        await partners.remove_home_server(ctx.session, partner=partner, server_id=found.id)
        return f"home server {described} removed from partner {partner.name}"

    typer.echo(run_command(action, audited="partner.server.remove"))


@server_app.command("secret")
def server_secret(
    name: str = typer.Argument(..., help="The partner."),
    server: str = typer.Argument(..., help="HOST[:PORT] of the server."),
    secret: str | None = typer.Option(None, "--secret", help=f"The new secret: {STDIN_HELP}."),
    radsec: bool | None = typer.Option(None, "--radsec/--udp", help="Which one, when both use the address."),
) -> None:
    """Rotate the shared secret of a home server."""
    shared = read_secret(secret, label="Shared secret", option="--secret")

    async def action(ctx: Context) -> str:
        partner = await partners.get_partner(ctx.session, name_or_id=name)
        transport = None if radsec is None else partners.RADSEC if radsec else partners.UDP
        found = partners.find_home_server(partner, server, transport=transport)
        await partners.set_home_server_secret(
            ctx.session, box=ctx.box, partner=partner, server_id=found.id, secret=shared
        )
        return f"home server {partners.describe_server(found)} of partner {partner.name}: secret changed"

    typer.echo(run_command(action, audited="partner.server.secret"))


@server_app.command("message-authenticator")
def server_message_authenticator(
    name: str = typer.Argument(..., help="The partner."),
    server: str = typer.Argument(..., help="HOST[:PORT] of the server."),
    require: bool = typer.Option(
        ...,
        "--require/--legacy-no-message-authenticator",
        help="Refuse its replies without Message-Authenticator (the default), or accept them from this "
        "legacy server only (unsafe: BlastRADIUS).",
    ),
    radsec: bool | None = typer.Option(None, "--radsec/--udp", help="Which one, when both use the address."),
) -> None:
    """Whether one home server's Access-Accept/Reject must carry a Message-Authenticator."""

    async def action(ctx: Context) -> str:
        partner = await partners.get_partner(ctx.session, name_or_id=name)
        transport = None if radsec is None else partners.RADSEC if radsec else partners.UDP
        found = partners.find_home_server(partner, server, transport=transport)
        await partners.set_home_server_message_authenticator(
            ctx.session, partner=partner, server_id=found.id, required=require
        )
        said = "required" if require else "not required (legacy: unsigned replies accepted)"
        where = f"home server {partners.describe_server(found)} of partner {partner.name}"
        return f"{where}: Message-Authenticator {said}"

    typer.echo(run_command(action, audited="partner.server.message_authenticator"))


# -- Status-Server probe (RFC 5997) -------------------------------------------------------------


def radsec_client_context(settings: Settings) -> ssl.SSLContext | str:
    """The TLS context the RADIUS service connects to RadSec home servers with (our certificate,
    the partners' CA), or why there is none."""
    files = radsec_tls(settings)
    if files is None:
        return (
            "not tested: no RadSec certificate is set "
            "(SESAME_FEDERATION_RADSEC_CERTIFICATE, _PRIVATE_KEY, _CA)"
        )
    try:
        return client_context(files)
    except TlsError as exc:
        return f"not tested: {exc}"


@app.command("test")
def partner_test(
    name: str = typer.Argument(..., help="The partner."),
    timeout: float = typer.Option(3.0, "--timeout", min=0.1, max=60.0, help="Seconds to wait per server."),
) -> None:
    """Probe each home server of a partner with Status-Server (RFC 5997), RadSec ones with our RadSec
    certificate; exit code 1 if none answers."""

    async def action(ctx: Context) -> tuple[str, list[ProbeTarget]]:
        partner = await partners.get_partner(ctx.session, name_or_id=name)
        return partner.name, [
            ProbeTarget(
                label=partners.describe_server(s), transport=s.transport, host=s.host, port=s.port,
                secret=partners.home_server_secret(ctx.box, s), tls_name=s.tls_name or s.host,
            )
            for s in _servers(partner)
        ]  # fmt: skip

    # the transaction is over before anything is sent: no database connection waits on the network
    partner, targets = run_command(action)
    settings = get_settings()
    needs_tls = any(t.transport == partners.RADSEC for t in targets)
    tls = radsec_client_context(settings) if needs_tls else ""
    source = settings.federation.source_address

    async def probe_all() -> list[tuple[bool, str]]:
        probes = (probe(t, within=timeout, tls=tls, source_address=source) for t in targets)
        return list(await asyncio.gather(*probes))

    results = asyncio.run(probe_all())
    for target, (_, outcome) in zip(targets, results, strict=True):
        typer.echo(f"{target.label}: {outcome}")
    if not any(ok for ok, _ in results):
        typer.echo(f"error: no home server of partner {partner} answered", err=True)
        raise typer.Exit(1)
