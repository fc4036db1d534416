"""Partner regions for federation (the eduroam model): who they are, the realm patterns routed to
them, their home servers, and the snapshot the RADIUS processes route with. What a name, a pattern
or a home server may be is :mod:`accounts.partnerrules`'s.

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

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from accounts.errors import Conflict, InvalidInput, NotFound, SecretUnreadable
from accounts.identity import display_name as check_display_name
from accounts.models import HomeServer, Partner, PartnerRealm, utcnow
from accounts.network import flush_or_conflict
from accounts.partnerrules import (
    HOME_SERVER_STATES,
    MAX_PRIORITY,
    RADSEC,
    UDP,
    CheckedServer,
    HomeServerSpec,
    check_home_server,
    check_home_server_secret,
    describe_server,
    normalize_host,
    normalize_partner_name,
    normalize_realm_pattern,
    parse_server,
    realm_patterns,
    server_address,
)
from accounts.secretbox import SecretBox

log = logging.getLogger(__name__)

#: the services, and what their callers pass in and read back (from :mod:`accounts.partnerrules`)
__all__ = [
    "HOME_SERVER_SECRET_PURPOSE",
    "MAX_PRIORITY",
    "RADSEC",
    "UDP",
    "FederationConfig",
    "HomeServerConfig",
    "HomeServerSpec",
    "PartnerConfig",
    "add_home_server",
    "add_partner",
    "add_realm",
    "describe_server",
    "federation_snapshot",
    "federation_version",
    "find_home_server",
    "get_partner",
    "home_server_secret",
    "list_partners",
    "normalize_host",
    "normalize_realm_pattern",
    "parse_server",
    "record_health",
    "remove_home_server",
    "remove_partner",
    "remove_realm",
    "server_address",
    "set_home_server_message_authenticator",
    "set_home_server_secret",
    "update_partner",
]

HOME_SERVER_SECRET_PURPOSE = "home-server-secret"  # noqa: S105 - a label, not a secret


def _server(box: SecretBox, checked: CheckedServer) -> HomeServer:
    return HomeServer(
        host=checked.host,
        port=checked.port,
        acct_port=checked.acct_port,
        transport=checked.transport,
        secret_ciphertext=box.seal(checked.secret, purpose=HOME_SERVER_SECRET_PURPOSE),
        tls_name=checked.tls_name,
        priority=checked.priority,
        require_message_authenticator=checked.require_message_authenticator,
        state="unknown",
    )


def home_server_secret(box: SecretBox, server: HomeServer) -> bytes:
    """The shared secret of a home server, for the RADIUS processes only: never log or return it."""
    return box.open(server.secret_ciphertext, purpose=HOME_SERVER_SECRET_PURPOSE)


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
    patterns = realm_patterns(realms, home_realm)
    if not servers:
        raise InvalidInput("a partner needs at least one home server")
    checked = [check_home_server(spec) for spec in servers]
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
    [normalized] = realm_patterns([pattern], home_realm)
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
    checked = check_home_server(server)
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


async def set_home_server_message_authenticator(
    session: AsyncSession, *, partner: Partner, server_id: int, required: bool
) -> HomeServer:
    """Whether a home server's Access-* replies must carry a Message-Authenticator: ``False`` only
    for a legacy server that cannot sign them (FreeRADIUS before 3.2.5 unless told to), the
    partner's other servers and every other partner keep refusing unsigned replies."""
    server = _server_of(partner, server_id)
    server.require_message_authenticator = required
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
    #: its Access-* replies must carry a Message-Authenticator (BlastRADIUS)
    require_message_authenticator: bool = True


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
                    require_message_authenticator=server.require_message_authenticator,
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
