"""Partner regions for federation (the eduroam model): who they are, the realm patterns routed to
them, their home servers, and the snapshot the RADIUS processes route with.

A request whose outer User-Name carries a realm that is not ours is routed to the partner holding
the most specific matching pattern (``liguria.example`` exactly, then ``*.liguria.example``, then
the catch-all ``*`` of the upstream federation proxy); the partner's home servers are tried in
order of priority. Patterns are stored lower-case with internationalised names as A-labels
(IDNA 2008, UTS #46 mapping), so routing compares plain ASCII strings.

Every function takes the caller's ``AsyncSession`` and keyword arguments, flushes so that
uniqueness problems surface as :class:`~accounts.errors.Conflict`, and never commits; the caller
(a CLI command, an admin API request) writes the audit entry in the same transaction. Functions
that take a ``partner`` expect one from :func:`get_partner`, :func:`list_partners` or
:func:`add_partner`, whose realms and servers are loaded. Every change moves the partner's
``updated_at``, which :func:`federation_version` reads, so the RADIUS processes notice it within a
poll.
"""

from __future__ import annotations

import ipaddress
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

import idna
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from accounts.errors import Conflict, InvalidInput, NotFound, SecretUnreadable
from accounts.identity import display_name as check_display_name
from accounts.models import HomeServer, Partner, PartnerRealm, utcnow
from accounts.network import MAX_NAS_SECRET, check_nas_secret, flush_or_conflict
from accounts.secretbox import SecretBox

log = logging.getLogger(__name__)

HOME_SERVER_SECRET_PURPOSE = "home-server-secret"  # noqa: S105 - a label, not a secret
#: RFC 6614 §2.3: over TLS the RADIUS shared secret is this fixed string (TLS protects the packets)
RADSEC_SECRET = "radsec"  # noqa: S105 - a protocol constant
UDP, RADSEC = "udp", "radsec"
TRANSPORTS = (UDP, RADSEC)
#: RFC 2865 (authentication over UDP) and RFC 6614 §2.1 (RadSec over TCP)
DEFAULT_PORTS = {UDP: 1812, RADSEC: 2083}
CATCH_ALL = "*"
MAX_PRIORITY = 1000
#: what the RADIUS processes write in ``home_server.state``, as FreeRADIUS names its home servers'
#: states (alive, zombie: stopped answering and being probed, dead); "unknown" until first probed
HOME_SERVER_STATES = ("unknown", "alive", "zombie", "dead")

_NAME = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_LABEL = re.compile(r"(?!-)[a-z0-9-]{1,63}(?<!-)")


# -- names, patterns, hosts --------------------------------------------------------------------


def normalize_partner_name(raw: str) -> str:
    """A partner's name: a lower-case slug (``liguria``, ``geant-etlr1``), not only digits (an id)."""
    name = raw.strip().lower()
    if not _NAME.fullmatch(name) or name.isdigit():
        raise InvalidInput(
            f"{raw!r} is not a partner name: 1 to 63 letters a-z, digits or '-', starting with a letter "
            "or digit, not only digits"
        )
    return name


def _dns_name(raw: str, *, what: str, min_labels: int) -> str:
    """A DNS name as lower-case A-labels; Unicode is accepted and encoded (IDNA 2008, UTS #46)."""
    text = raw.strip().rstrip(".")
    try:
        name = idna.encode(text, uts46=True).decode("ascii") if text else ""
    except UnicodeError:  # idna.IDNAError is one: an empty or over-long label, a forbidden character
        name = ""
    labels = name.split(".")
    # RFC 3696 §2: a top-level label is never all digits (so 10.1.2 cannot pass for a name)
    if (
        not name
        or len(name) > 253
        or len(labels) < min_labels
        or not all(_LABEL.fullmatch(label) for label in labels)
        or labels[-1].isdigit()
    ):
        dots = " with at least one dot" if min_labels > 1 else ""
        raise InvalidInput(f"{raw!r} is not {what}: use a DNS name{dots} (letters, digits, '-')")
    return name


def normalize_realm_pattern(raw: str) -> str:
    """``liguria.example`` (that realm, any case), ``*.liguria.example`` (its subdomains, not the bare
    name) or ``*`` (every realm no other pattern matches: the upstream federation proxy)."""
    text = raw.strip()
    if text == CATCH_ALL:
        return CATCH_ALL
    wildcard = text.startswith("*.")
    name = _dns_name(text[2:] if wildcard else text, what="a realm pattern", min_labels=2)
    pattern = f"*.{name}" if wildcard else name
    if len(pattern) > 253:
        raise InvalidInput(f"{raw!r} is not a realm pattern: at most 253 characters")
    return pattern


def pattern_matches(pattern: str, realm: str) -> bool:
    """Whether a stored pattern matches a normalised realm (``*`` matches every realm)."""
    if pattern == CATCH_ALL:
        return True
    if pattern.startswith("*."):
        return realm.endswith(pattern[1:])
    return realm == pattern


def _check_not_ours(pattern: str, home_realm: str) -> None:
    """Our own realm is answered here, never routed away, and neither is a name under it (our DNS
    namespace). The catch-all is the exception by definition: it only receives what matched
    nothing else, and our realm always matches first."""
    home = home_realm.strip().lower().rstrip(".")
    if pattern == CATCH_ALL:
        return
    bare = pattern.removeprefix("*.")
    if pattern_matches(pattern, home) or bare == home or bare.endswith("." + home):
        raise InvalidInput(
            f"{pattern} is, covers or lies under our own realm {home}: it cannot be routed to a partner"
        )


def normalize_host(raw: str) -> str:
    """A home server's address: an IP literal (``192.0.2.1``, ``2001:db8::1``, ``[2001:db8::1]``),
    written compressed, or a DNS name as lower-case A-labels."""
    text = raw.strip()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return _dns_name(text, what="a host", min_labels=1)


def _port(raw: str, server: str) -> int:
    if not raw.isdigit() or not 1 <= int(raw) <= 65535:
        raise InvalidInput(f"{server!r}: a port is a number from 1 to 65535")
    return int(raw)


def parse_server(text: str) -> tuple[str, int | None]:
    """``host``, ``host:port``, ``[v6]:port``, ``[v6]`` or a bare IPv6 address → (host, port or None)."""
    raw = text.strip()
    if raw.startswith("["):
        inside, closed, rest = raw[1:].partition("]")
        if not closed or (rest and not rest.startswith(":")):
            raise InvalidInput(f"{text!r}: write an IPv6 address with a port as [2001:db8::1]:1812")
        try:
            ipaddress.IPv6Address(inside)
        except ValueError:
            raise InvalidInput(f"{text!r}: only an IPv6 address goes in brackets") from None
        return normalize_host(inside), _port(rest[1:], text) if rest else None
    if raw.count(":") > 1:  # a bare IPv6 address: no port can follow without brackets
        return normalize_host(raw), None
    host, colon, port = raw.partition(":")
    return normalize_host(host), _port(port, text) if colon else None


# -- home servers ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class HomeServerSpec:
    """A home server as an admin describes it; ``port`` None is the transport's default, ``secret``
    None is RFC 6614's ``radsec`` over RadSec (a UDP server needs its own)."""

    host: str
    port: int | None = None
    transport: str = UDP
    secret: str | None = field(default=None, repr=False)
    tls_name: str | None = None
    priority: int = 0
    acct_port: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class _Checked:
    host: str
    port: int
    acct_port: int | None
    transport: str
    secret: bytes = field(repr=False)
    tls_name: str | None
    priority: int

    @property
    def key(self) -> tuple[str, int, str]:
        return self.host, self.port, self.transport


def check_home_server_secret(transport: str, secret: str | None) -> bytes:
    """The rules of a home server's shared secret: a NAS secret's over UDP (8 to 128 bytes, RFC 2865
    §3 asks 16+); over RadSec 1 to 128 bytes, ``radsec`` when none is given (RFC 6614 §2.3)."""
    if transport == RADSEC:
        raw = (secret or RADSEC_SECRET).encode("utf-8")
        if len(raw) > MAX_NAS_SECRET:
            raise InvalidInput(f"a shared secret has at most {MAX_NAS_SECRET} bytes")
        return raw
    if not secret:
        raise InvalidInput("a UDP home server needs a shared secret")
    return check_nas_secret(secret)


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _check(spec: HomeServerSpec) -> _Checked:
    transport = spec.transport.strip().lower()
    if transport not in TRANSPORTS:
        raise InvalidInput(f"unknown transport {spec.transport!r}; choose one of {', '.join(TRANSPORTS)}")
    port = DEFAULT_PORTS[transport] if spec.port is None else spec.port
    if not 1 <= port <= 65535:
        raise InvalidInput("a port is a number from 1 to 65535")
    if not 0 <= spec.priority <= MAX_PRIORITY:
        raise InvalidInput(f"a priority is between 0 (tried first) and {MAX_PRIORITY}")
    if spec.tls_name and transport != RADSEC:
        raise InvalidInput("a TLS name is for RadSec home servers only")
    if transport == RADSEC and not spec.tls_name and _is_ip(spec.host):
        # certificates are matched by DNS name (SubjectAltName, else CN): an address never matches
        raise InvalidInput("a RadSec home server given by IP address needs the name its certificate carries")
    if spec.acct_port is not None and (transport != UDP or not 1 <= spec.acct_port <= 65535):
        raise InvalidInput("an accounting port is a number from 1 to 65535, for UDP home servers only")
    return _Checked(
        host=normalize_host(spec.host),
        port=port,
        acct_port=spec.acct_port,
        transport=transport,
        secret=check_home_server_secret(transport, spec.secret),
        tls_name=normalize_host(spec.tls_name) if spec.tls_name else None,
        priority=spec.priority,
    )


def _server(box: SecretBox, checked: _Checked) -> HomeServer:
    return HomeServer(
        host=checked.host,
        port=checked.port,
        acct_port=checked.acct_port,
        transport=checked.transport,
        secret_ciphertext=box.seal(checked.secret, purpose=HOME_SERVER_SECRET_PURPOSE),
        tls_name=checked.tls_name,
        priority=checked.priority,
        state="unknown",
    )


def home_server_secret(box: SecretBox, server: HomeServer) -> bytes:
    """The shared secret of a home server, for the RADIUS processes only: never log or return it."""
    return box.open(server.secret_ciphertext, purpose=HOME_SERVER_SECRET_PURPOSE)


def server_address(server: HomeServer) -> str:
    """``192.0.2.1:1812``, ``[2001:db8::1]:2083``, ``radius.example:1812`` (what parse_server reads)."""
    host = f"[{server.host}]" if ":" in server.host else server.host
    return f"{host}:{server.port}"


def describe_server(server: HomeServer) -> str:
    """``udp 192.0.2.1:1812``, ``radsec [2001:db8::1]:2083`` (how people name a server)."""
    return f"{server.transport} {server_address(server)}"


# -- partners ----------------------------------------------------------------------------------


async def _check_patterns_free(session: AsyncSession, patterns: Sequence[str]) -> None:
    if not patterns:
        return
    held = (
        await session.execute(
            select(PartnerRealm.pattern, Partner.name)
            .join(Partner, Partner.id == PartnerRealm.partner_id)
            .where(PartnerRealm.pattern.in_(patterns))
            .order_by(PartnerRealm.pattern)
        )
    ).first()
    if held is not None:
        raise Conflict(f"realm {held[0]} is already routed to partner {held[1]}")


def _patterns(realms: Sequence[str], home_realm: str) -> list[str]:
    patterns: list[str] = []
    for raw in realms:
        pattern = normalize_realm_pattern(raw)
        _check_not_ours(pattern, home_realm)
        if pattern not in patterns:
            patterns.append(pattern)
    return patterns


def _touch(partner: Partner) -> None:
    """A change of a realm or a server is a change of the partner (see federation_version)."""
    partner.updated_at = utcnow()


async def add_partner(
    session: AsyncSession,
    *,
    box: SecretBox,
    home_realm: str,
    name: str,
    realms: Sequence[str],
    servers: Sequence[HomeServerSpec],
    display_name: str | None = None,
    accept_requests: bool = True,
    transit: bool = False,
    forward_accounting: bool = False,
) -> Partner:
    """A new partner with its realm patterns (none: they only send us requests) and at least one
    home server; secrets are sealed before they reach the session."""
    slug = normalize_partner_name(name)
    patterns = _patterns(realms, home_realm)
    if not servers:
        raise InvalidInput("a partner needs at least one home server")
    checked = [_check(spec) for spec in servers]
    if len({c.key for c in checked}) < len(checked):
        raise InvalidInput("the same home server is given twice")
    shown = check_display_name(display_name, what="partner's display") if display_name else None
    if await session.scalar(select(Partner.id).where(Partner.name == slug)) is not None:
        raise Conflict(f"a partner named {slug} already exists")
    await _check_patterns_free(session, patterns)
    partner = Partner(
        name=slug,
        display_name=shown,
        accept_requests=accept_requests,
        transit=transit,
        forward_accounting=forward_accounting,
        realms=[PartnerRealm(pattern=p) for p in sorted(patterns)],
        servers=sorted((_server(box, c) for c in checked), key=lambda s: s.priority),
    )
    session.add(partner)
    await flush_or_conflict(session, f"a partner named {slug} or one of its realms already exists")
    return partner


async def get_partner(session: AsyncSession, *, name_or_id: str | int) -> Partner:
    """A partner by id (an int, or a string of digits: names are never only digits) or by name."""
    query = select(Partner).options(selectinload(Partner.realms), selectinload(Partner.servers))
    if isinstance(name_or_id, int) or re.fullmatch(r"[0-9]{1,12}", name_or_id.strip()):
        key = int(name_or_id)
        partner = await session.scalar(query.where(Partner.id == key)) if key <= 2**31 - 1 else None
    else:
        partner = await session.scalar(query.where(Partner.name == name_or_id.strip().lower()))
    if partner is None:
        raise NotFound(f"no partner {name_or_id}")
    return partner


async def list_partners(session: AsyncSession) -> Sequence[Partner]:
    query = (
        select(Partner)
        .options(selectinload(Partner.realms), selectinload(Partner.servers))
        .order_by(Partner.name)
    )
    return (await session.scalars(query)).all()


async def update_partner(
    session: AsyncSession,
    *,
    partner: Partner,
    display_name: str | None = None,
    accept_requests: bool | None = None,
    transit: bool | None = None,
    forward_accounting: bool | None = None,
) -> Partner:
    """Change what is given (``None`` keeps a value; a ``display_name`` of ``""`` removes it)."""
    if display_name is not None:
        partner.display_name = (
            check_display_name(display_name, what="partner's display") if display_name.strip() else None
        )
    if accept_requests is not None:
        partner.accept_requests = accept_requests
    if transit is not None:
        partner.transit = transit
    if forward_accounting is not None:
        partner.forward_accounting = forward_accounting
    _touch(partner)
    await session.flush()
    return partner


async def remove_partner(session: AsyncSession, *, partner: Partner) -> None:
    """Remove a partner with its realms and home servers: its requests are refused from then on."""
    await session.delete(partner)
    await session.flush()


# -- realms ------------------------------------------------------------------------------------


async def add_realm(
    session: AsyncSession, *, partner: Partner, home_realm: str, pattern: str
) -> PartnerRealm:
    [normalized] = _patterns([pattern], home_realm)
    if any(r.pattern == normalized for r in partner.realms):
        raise Conflict(f"realm {normalized} is already routed to partner {partner.name}")
    await _check_patterns_free(session, [normalized])
    realm = PartnerRealm(pattern=normalized)
    partner.realms.append(realm)
    _touch(partner)
    await flush_or_conflict(session, f"realm {normalized} is already routed to a partner")
    return realm


async def remove_realm(session: AsyncSession, *, partner: Partner, pattern: str) -> None:
    normalized = normalize_realm_pattern(pattern)
    realm = next((r for r in partner.realms if r.pattern == normalized), None)
    if realm is None:
        raise NotFound(f"partner {partner.name} has no realm {normalized}")
    partner.realms.remove(realm)
    _touch(partner)
    await session.flush()


# -- home servers of a partner -----------------------------------------------------------------


async def add_home_server(
    session: AsyncSession, *, box: SecretBox, partner: Partner, server: HomeServerSpec
) -> HomeServer:
    checked = _check(server)
    if any((s.host, s.port, s.transport) == checked.key for s in partner.servers):
        raise Conflict(f"partner {partner.name} already has home server {checked.host}:{checked.port}")
    added = _server(box, checked)
    partner.servers.append(added)
    _touch(partner)
    await flush_or_conflict(session, f"partner {partner.name} already has home server {checked.host}")
    return added


def find_home_server(partner: Partner, server: str, *, transport: str | None = None) -> HomeServer:
    """One of the partner's servers by ``host[:port]`` (and transport when both are used)."""
    host, port = parse_server(server)
    found = [
        s
        for s in partner.servers
        if s.host == host
        and (port is None or s.port == port)
        and (transport is None or s.transport == transport)
    ]
    if not found:
        raise NotFound(f"partner {partner.name} has no home server {server}")
    if len(found) > 1:
        raise InvalidInput(f"partner {partner.name} has several home servers at {host}: give the port")
    return found[0]


def _server_of(partner: Partner, server_id: int) -> HomeServer:
    found = next((s for s in partner.servers if s.id == server_id), None)
    if found is None:
        raise NotFound(f"partner {partner.name} has no home server {server_id}")
    return found


async def remove_home_server(session: AsyncSession, *, partner: Partner, server_id: int) -> None:
    server = _server_of(partner, server_id)
    if len(partner.servers) == 1:
        raise Conflict(
            f"{describe_server(server)} is the only home server of partner {partner.name}: "
            "add another first, or remove the partner"
        )
    partner.servers.remove(server)
    _touch(partner)
    await session.flush()


async def set_home_server_secret(
    session: AsyncSession, *, box: SecretBox, partner: Partner, server_id: int, secret: str | None
) -> HomeServer:
    """Rotate a home server's shared secret (``None`` over RadSec: back to ``radsec``)."""
    server = _server_of(partner, server_id)
    raw = check_home_server_secret(server.transport, secret)
    server.secret_ciphertext = box.seal(raw, purpose=HOME_SERVER_SECRET_PURPOSE)
    _touch(partner)
    await session.flush()
    return server


async def record_health(session: AsyncSession, *, server_id: int, state: str, at: datetime) -> bool:
    """Record that a home server entered ``state`` at ``at`` (from the RADIUS processes' probes);
    whether it changed. ``updated_at`` stays as it is: health is not configuration, and moving it
    would make every RADIUS process reload the federation. Recording the state a server is
    already in changes nothing, so ``state_changed_at`` says since when it is in it."""
    if state not in HOME_SERVER_STATES:
        raise InvalidInput(f"unknown home server state {state!r}; one of {', '.join(HOME_SERVER_STATES)}")
    result = await session.execute(
        update(HomeServer)
        .where(HomeServer.id == server_id, HomeServer.state != state)
        .values(state=state, state_changed_at=at, updated_at=HomeServer.updated_at)
        .execution_options(synchronize_session="fetch")
    )
    return bool(getattr(result, "rowcount", 0))


# -- what the RADIUS processes read ------------------------------------------------------------


async def federation_version(session: AsyncSession) -> tuple[object, ...]:
    """A cheap fingerprint of the federation configuration, in one round trip: it changes with
    every configuration change (counts, largest ids and ``updated_at`` of the three tables, over
    their primary keys and ``updated_at`` indexes), never with health."""

    columns = (
        func.count(Partner.id),
        func.max(Partner.id),
        func.max(Partner.updated_at),
        func.count(PartnerRealm.id),
        func.max(PartnerRealm.id),
        func.count(HomeServer.id),
        func.max(HomeServer.id),
        func.max(HomeServer.updated_at),
    )
    row = (await session.execute(select(*(select(c).scalar_subquery() for c in columns)))).one()
    return tuple(row)


@dataclass(frozen=True, slots=True, kw_only=True)
class HomeServerConfig:
    """A home server as the RADIUS processes use it (``tls_name``: RadSec only, the host by default)."""

    id: int
    partner_id: int
    host: str
    port: int
    transport: str
    secret: bytes = field(repr=False)
    tls_name: str | None
    priority: int
    #: where forwarded accounting goes (UDP: the configured port or ``port`` + 1; RadSec: ``port``)
    acct_port: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PartnerConfig:
    """A partner as the RADIUS processes use it; servers in the order to try them."""

    id: int
    name: str
    realms: tuple[str, ...]
    accept_requests: bool
    transit: bool
    forward_accounting: bool
    servers: tuple[HomeServerConfig, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class FederationConfig:
    """Every partner, by name."""

    partners: tuple[PartnerConfig, ...]


def _accounting_port(server: HomeServer) -> int:
    if server.transport == RADSEC:
        return server.port  # one connection for everything (RFC 6614 §2.1)
    return server.acct_port or server.port + 1  # as 1812/1813


async def federation_snapshot(session: AsyncSession, *, box: SecretBox) -> FederationConfig:
    """The whole federation configuration with secrets opened. A server whose secret cannot be
    decrypted (the secret key changed) is left out and logged, as access points are."""
    partners = []
    for partner in await list_partners(session):
        servers = []
        for server in sorted(partner.servers, key=lambda s: (s.priority, s.id)):
            try:
                secret = home_server_secret(box, server)
            except SecretUnreadable:
                log.error(
                    "partner %s: the shared secret of %s cannot be decrypted; the server is ignored",
                    partner.name,
                    describe_server(server),
                )
                continue
            servers.append(
                HomeServerConfig(
                    id=server.id,
                    partner_id=partner.id,
                    host=server.host,
                    port=server.port,
                    transport=server.transport,
                    secret=secret,
                    tls_name=(server.tls_name or server.host) if server.transport == RADSEC else None,
                    priority=server.priority,
                    acct_port=_accounting_port(server),
                )
            )
        partners.append(
            PartnerConfig(
                id=partner.id,
                name=partner.name,
                realms=tuple(sorted(r.pattern for r in partner.realms)),
                accept_requests=partner.accept_requests,
                transit=partner.transit,
                forward_accounting=partner.forward_accounting,
                servers=tuple(servers),
            )
        )
    return FederationConfig(partners=tuple(partners))
