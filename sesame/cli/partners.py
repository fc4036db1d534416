"""``sesame partner``: the partner regions of the federation, their realms and home servers, and a
Status-Server probe of their servers (RFC 5997), over UDP or RadSec (RFC 6614)."""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import os
import secrets
import ssl
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import typer

from accounts import partners
from accounts.models import HomeServer, Partner
from federation.stream import StreamFramer
from federation.tls import TlsError, client_context, name_matches, peer_names
from radius import codec
from sesame.cli.context import Context, run_command
from sesame.cli.network import read_secret
from sesame.compose import radsec_tls
from sesame.settings import Settings, get_settings

app = typer.Typer(help="Partner regions of the federation (eduroam-style roaming).", no_args_is_help=True)
realm_app = typer.Typer(help="Realm patterns routed to a partner.", no_args_is_help=True)
server_app = typer.Typer(help="A partner's home servers.", no_args_is_help=True)
app.add_typer(realm_app, name="realm")
app.add_typer(server_app, name="server")

SECRET_HELP = "Shared secret of every server given ('-' reads stdin; prompted for UDP when omitted)."  # noqa: S105
RADSEC_HELP = "RadSec (RADIUS over TLS, RFC 6614; port 2083, secret 'radsec' by default) instead of UDP."


def _secret(secret: str | None, *, radsec: bool) -> str | None:
    """The secret to use: a RadSec server may go without one (RFC 6614's ``radsec``)."""
    return read_secret(secret) if secret is not None or not radsec else None


def _specs(
    servers: Sequence[str],
    *,
    secret: str | None,
    radsec: bool,
    tls_name: str | None,
    priority: int,
    acct_port: int | None = None,
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
    secret: str | None = typer.Option(None, "--secret", help=SECRET_HELP),
    radsec: bool = typer.Option(False, "--radsec", help=RADSEC_HELP),
    tls_name: str | None = typer.Option(None, "--tls-name", help="Name the RadSec certificate must carry."),
    priority: int = typer.Option(0, "--priority", help="Lower is tried first (0 to 1000)."),
    acct_port: int | None = typer.Option(
        None, "--acct-port", help="UDP: where forwarded accounting goes (default: the port + 1)."
    ),
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
        server, secret=secret, radsec=radsec, tls_name=tls_name, priority=priority, acct_port=acct_port
    )

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
    secret: str | None = typer.Option(None, "--secret", help=SECRET_HELP),
    radsec: bool = typer.Option(False, "--radsec", help=RADSEC_HELP),
    tls_name: str | None = typer.Option(None, "--tls-name", help="Name the RadSec certificate must carry."),
    priority: int = typer.Option(0, "--priority", help="Lower is tried first (0 to 1000)."),
    acct_port: int | None = typer.Option(
        None, "--acct-port", help="UDP: where forwarded accounting goes (default: the port + 1)."
    ),
) -> None:
    """Add home servers to a partner."""
    specs = _specs(
        servers, secret=secret, radsec=radsec, tls_name=tls_name, priority=priority, acct_port=acct_port
    )

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
    secret: str | None = typer.Option(None, "--secret", help="The new secret ('-' reads stdin; prompted)."),
    radsec: bool | None = typer.Option(None, "--radsec/--udp", help="Which one, when both use the address."),
) -> None:
    """Rotate the shared secret of a home server."""
    shared = read_secret(secret)

    async def action(ctx: Context) -> str:
        partner = await partners.get_partner(ctx.session, name_or_id=name)
        transport = None if radsec is None else partners.RADSEC if radsec else partners.UDP
        found = partners.find_home_server(partner, server, transport=transport)
        await partners.set_home_server_secret(
            ctx.session, box=ctx.box, partner=partner, server_id=found.id, secret=shared
        )
        return f"home server {partners.describe_server(found)} of partner {partner.name}: secret changed"

    typer.echo(run_command(action, audited="partner.server.secret"))


# -- Status-Server probe (RFC 5997) -------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeTarget:
    label: str
    transport: str
    host: str
    port: int
    secret: bytes = field(repr=False)
    tls_name: str = ""  # RadSec: the name its certificate must carry


UNSIGNED = "reply without Message-Authenticator"


def check_status_reply(data: bytes, *, request: bytes, secret: bytes) -> str | None:
    """Why a packet is not a valid answer to our Status-Server ``request``; None when it is, or
    :data:`UNSIGNED` when it is valid but carries no Message-Authenticator.

    RFC 5997 §3: a server answers a Status-Server sent to its authentication port with an
    Access-Accept, signed like any reply (Response Authenticator, RFC 2865 §3). Since BlastRADIUS,
    FreeRADIUS (3.2.5+) and radsecproxy also put a Message-Authenticator (RFC 2869 §5.14) in it,
    which must then be valid; Debian's FreeRADIUS 3.2.1 sends none. The Response Authenticator
    already proves the secret, and a Status-Server answer grants nothing, so such a server is
    alive, and the operator is told.
    """
    try:
        reply = codec.parse(data)
    except codec.Malformed as exc:
        return f"malformed ({exc.reason})"
    if reply.identifier != request[1]:
        return "another request's identifier"
    authenticator = request[4:20]
    if not codec.response_authenticator_valid(reply, secret, request_authenticator=authenticator):
        return "wrong Response Authenticator: is the shared secret right?"
    if reply.code != codec.Code.ACCESS_ACCEPT:
        try:
            name = codec.Code(reply.code).name
        except ValueError:
            name = f"code {reply.code}"
        return f"{name} instead of Access-Accept"
    if reply.first(codec.MESSAGE_AUTHENTICATOR) is None:
        return UNSIGNED
    if not codec.message_authenticator_valid(reply, secret, request_authenticator=authenticator):
        return "wrong Message-Authenticator"
    return None


def _alive(sent: float, problem: str | None) -> str:
    note = f"; {problem}" if problem else ""
    return f"alive ({(time.monotonic() - sent) * 1000:.1f} ms{note})"


class _Probe(asyncio.DatagramProtocol):
    def __init__(self, request: bytes, secret: bytes, answered: asyncio.Future[str]) -> None:
        self.request, self.secret, self.answered = request, secret, answered
        self.sent = 0.0
        self.bad: str | None = None

    def datagram_received(self, data: bytes, addr: object) -> None:
        problem = check_status_reply(data, request=self.request, secret=self.secret)
        if problem is not None and problem != UNSIGNED:
            self.bad = problem  # keep listening: the right reply may still come
        elif not self.answered.done():
            self.answered.set_result(_alive(self.sent, problem))

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable on a connected socket
        if not self.answered.done():
            self.answered.set_exception(exc)


def _status_server(secret: bytes) -> bytes:
    """A Status-Server with Message-Authenticator (mandatory in it, RFC 5997 §3)."""
    return codec.encode_request(
        code=codec.Code.STATUS_SERVER, identifier=secrets.randbelow(256), secret=secret, attributes=b""
    )


async def probe(
    target: ProbeTarget, *, within: float, tls: ssl.SSLContext | str, source_address: str = ""
) -> tuple[bool, str]:
    """Send one Status-Server and wait for the answer: (answered, what to print). ``tls``: the
    RadSec client context, or why there is none (printed for a RadSec server); ``source_address``:
    where UDP probes leave from, as the service's proxied requests (partners allow us by it)."""
    if target.transport == partners.RADSEC:
        if isinstance(tls, str):
            return False, tls
        return await _probe_radsec(target, tls, within=within)
    request = _status_server(target.secret)
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[str] = loop.create_future()
    protocol = _Probe(request, target.secret, answered)
    try:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: protocol,
            remote_addr=(target.host, target.port),
            local_addr=(source_address, 0) if source_address else None,
        )
    except OSError as exc:
        return False, f"no answer ({exc.strerror or exc})"
    try:
        protocol.sent = time.monotonic()
        transport.sendto(request)
        async with asyncio.timeout(within):
            return True, await answered
    except TimeoutError:
        return False, f"bad reply: {protocol.bad}" if protocol.bad else "no answer"
    except OSError as exc:
        return False, f"no answer ({exc.strerror or exc})"
    finally:
        transport.close()


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


CLOSED = "the server closed the connection (does it accept our certificate?)"


def _tls_failure(exc: OSError) -> str:
    if isinstance(exc, ssl.SSLCertVerificationError):
        return f"its certificate is refused: {exc.verify_message}"
    if isinstance(exc, ssl.SSLError):
        return f"TLS: {exc.reason or exc}"
    if exc.errno and exc.errno > 0:  # asyncio words a refused connection "Connect call failed (…)"
        return os.strerror(exc.errno)
    return exc.strerror or str(exc) or type(exc).__name__  # getaddrinfo's errors are negative


async def _probe_radsec(target: ProbeTarget, context: ssl.SSLContext, *, within: float) -> tuple[bool, str]:
    """Status-Server over a RadSec connection of its own (RFC 6614), closed after the answer.

    The connection is made as the RADIUS service makes it (:mod:`federation.radsec`): our client
    certificate, the server's checked against the partners' CA, then its name against the home
    server's TLS name (the context does not check names); the secret is ``radsec`` unless one was
    set (RFC 6614 §2.3). Packets are framed by their Length (RFC 6614 §2.4). ``within`` bounds the
    whole exchange. With TLS 1.3 a server that refuses our certificate says so only after our
    side of the handshake is over, so that shows as a failure to answer.
    """
    request = _status_server(target.secret)
    writer: asyncio.StreamWriter | None = None
    connected = False
    bad: str | None = None
    try:
        async with asyncio.timeout(within):
            reader, writer = await asyncio.open_connection(
                target.host,
                target.port,
                ssl=context,
                # SNI names the server when it is a DNS name (RFC 6066 §3 allows no address)
                server_hostname=target.tls_name if _is_dns_name(target.tls_name) else None,
            )
            connected = True
            names = peer_names(writer.get_extra_info("ssl_object"))
            if not name_matches(target.tls_name, names):
                named = ", ".join(names) or "no name"
                return False, f"refused: its certificate names {named}, not {target.tls_name}"
            sent = time.monotonic()
            writer.write(request)
            framer = StreamFramer()
            while data := await reader.read(4096):
                for packet in framer.feed(data):
                    problem = check_status_reply(packet, request=request, secret=target.secret)
                    if problem is None or problem == UNSIGNED:
                        return True, _alive(sent, problem)
                    bad = problem
            if bad:
                return False, f"bad reply: {bad}"
            return False, f"no answer: {CLOSED}"
    except TimeoutError:
        if not connected:
            return False, "no connection (timed out)"
        return False, f"bad reply: {bad}" if bad else "no answer"
    except codec.Malformed as exc:
        return False, f"bad reply: malformed ({exc.reason})"
    except OSError as exc:  # ssl.SSLError included
        if not connected:
            return False, f"no connection ({_tls_failure(exc)})"
        if isinstance(exc, ConnectionError | ssl.SSLEOFError):  # a close with our request unread: a reset
            return False, f"no answer: {CLOSED}"
        return False, f"no answer ({_tls_failure(exc)}): does the server accept our certificate?"
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(1.0):  # TLS close_notify; a peer that does not answer is left
                    await writer.wait_closed()


def _is_dns_name(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return bool(name) and "*" not in name
    return False


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
