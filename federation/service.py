"""The asyncio side of the federation: sockets to partners' home servers, RadSec, the proxy's timer.

:class:`Federation` is a :class:`radius.server.Extension` of the RADIUS service. It reads the
partners from the database (reloaded within seconds of a change, like access points), keeps the
realm table and the :class:`~federation.proxy.ProxyCore` up to date, owns one connected UDP
socket or one RadSec connection per home server, and turns what the core says into I/O:
``Send`` → a datagram, ``Relayed`` / ``Failed`` → the waiting request's future,
``HealthChanged`` → a log line, a metric and the ``home_server.state`` column (shown by
``sesame partner list``). A partner's UDP home servers are also accepted as RADIUS clients (the
eduroam pattern: a federation proxy both sends and receives); its RadSec peers are identified
by their certificates on our RadSec listener.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
import ssl
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any

from accounts.partners import FederationConfig, HomeServerConfig, PartnerConfig
from federation import metrics
from federation.health import State
from federation.proxy import (
    Failed,
    HealthChanged,
    Output,
    Pending,
    ProxyCore,
    Refused,
    Relayed,
    Send,
    Target,
)
from federation.radsec import RadSecClient, RadSecServer
from federation.relay import LocalLimits
from federation.routing import RealmTable
from federation.tls import name_matches
from radius.clients import Client
from radius.core import Decision, PortKind
from radius.events import Address, Discard, DropReason, RadiusRequest
from radius.periodic import FailureLog

if TYPE_CHECKING:
    from radius.server import RadiusService

log = logging.getLogger("sesame.federation")

HOME_RECEIVE_BUFFER = 4 * 1024 * 1024  # as radius.server's for access points (capped by net.core.rmem_max)

#: reads the federation from the database: None when nothing changed since the last call
Loader = Callable[[], Awaitable[FederationConfig | None]]
HealthRecorder = Callable[[int, str, datetime], Awaitable[None]]

_GAUGE = {State.UNKNOWN: 1.0, State.ALIVE: 1.0, State.ZOMBIE: 0.5, State.DEAD: 0.0}


class _HomeSocket(asyncio.DatagramProtocol):
    """One source port towards a home server (its channel: 256 Identifiers)."""

    def __init__(self, federation: Federation, server_id: int, channel: int) -> None:
        self.federation = federation
        self.server_id = server_id
        self.channel = channel

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.federation.received(self.server_id, data, self.channel)

    def error_received(self, exc: Exception) -> None:  # ICMP unreachable: the timers will notice
        log.debug("federation: udp error from home server %d: %s", self.server_id, exc)


class _RadSecSink:
    """Replies to a request that came over a RadSec connection go back on that connection."""

    def __init__(self, core: Any, reply: Callable[[bytes], None]) -> None:
        self.core = core
        self.reply = reply

    def send(self, data: bytes, destination: Address) -> None:
        self.reply(data)


class Federation:
    def __init__(
        self,
        *,
        home_realm: str,
        core: ProxyCore,
        load: Loader,
        record_health: HealthRecorder,
        client_context: ssl.SSLContext | None = None,
        server_context: ssl.SSLContext | None = None,
        radsec_socket: socket.socket | None = None,
        source_address: str = "",
    ) -> None:
        self.home_realm = home_realm
        self.source_address = source_address
        self.core = core
        self.load = load
        self.record_health = record_health
        self.client_context = client_context
        self.server_context = server_context
        self.radsec_socket = radsec_socket
        self.table: RealmTable[PartnerConfig] = RealmTable(home_realms=[home_realm], partners=())
        self.partners: dict[int, PartnerConfig] = {}
        self.servers: dict[int, Target] = {}
        self._udp: dict[int, list[asyncio.DatagramTransport]] = {}  # per home server, by channel
        self._drops_seen: dict[str, int] = {}
        self._radsec: dict[int, RadSecClient] = {}
        self._peers: tuple[Client, ...] = ()
        self._futures: dict[Pending, asyncio.Future[Decision]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._listener: RadSecServer[Client] | None = None
        self._ticker: asyncio.Task[None] | None = None
        self.service: RadiusService | None = None

    # -- radius.server.Extension ------------------------------------------------------------

    async def start(self, service: RadiusService) -> None:
        self.service = service
        self.loop = asyncio.get_running_loop()
        config = await self.load()
        if config is not None:
            await self.apply(config)
        self._ticker = asyncio.create_task(self._tick(), name="federation-timer")
        if self.radsec_socket is not None and self.server_context is not None:
            self._listener = RadSecServer(
                context=self.server_context,
                identify=self._identify,
                on_packet=self._radsec_packet,
                on_drop=lambda reason: metrics.DROPS.labels(f"radsec_{reason}").inc(),
            )
            await self._listener.start(self.radsec_socket)

    async def refresh(self) -> bool:
        config = await self.load()
        if config is None:
            return False
        await self.apply(config)
        return True

    def clients(self) -> tuple[Client, ...]:
        return self._peers

    async def stop(self) -> None:
        if self._ticker is not None:
            self._ticker.cancel()
        if self._listener is not None:
            await self._listener.stop()
        for transports in self._udp.values():
            for transport in transports:
                transport.close()
        for client in self._radsec.values():
            await client.close()
        for future in self._futures.values():
            if not future.done():
                future.set_exception(Discard(DropReason.NOT_SERVED))
        await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- configuration ----------------------------------------------------------------------

    async def apply(self, config: FederationConfig) -> None:
        """Take a new set of partners: routing table, proxy pools, sockets, peers."""
        self.partners = {p.id: p for p in config.partners}
        self.table = RealmTable(
            home_realms=[self.home_realm],
            partners=[(pattern, p) for p in config.partners for pattern in p.realms],
        )
        targets = {s.id: _target(s, "auth") for p in config.partners for s in p.servers}
        # forwarded accounting: the same servers' accounting ports, under negative ids
        targets.update(
            {-s.id: _target(s, "acct") for p in config.partners if p.forward_accounting for s in p.servers}
        )
        # the core first (what was in flight to a changed server fails over), then the sockets,
        # then what the fail-over sends
        failed_over = self.core.configure(list(targets.values()), self.loop.time())
        for server_id in [i for i in self._udp if self.servers.get(i) != targets.get(i)]:
            for transport in self._udp.pop(server_id):
                transport.close()
        for server_id in [i for i in self._radsec if self.servers.get(i) != targets.get(i)]:
            await self._radsec.pop(server_id).close()
        self.servers = targets
        for target in targets.values():
            if target.transport == "udp" and target.id not in self._udp:
                await self._open_udp(target)
            elif target.transport == "radsec" and target.id not in self._radsec:
                self._open_radsec(target)
        self._flush(failed_over)
        self._peers = tuple(self._peer_clients(config))
        for target in targets.values():
            metrics.HOME_SERVER_STATE.labels(self._partner_name(target), _label(target)).set(
                _GAUGE[self.core.state(target.id)]
            )
        log.info(
            "federation: %d partners, %d home servers, %d realm rules",
            len(config.partners),
            len(targets),
            sum(len(p.realms) for p in config.partners),
        )

    async def _open_udp(self, target: Target) -> None:
        transports: list[asyncio.DatagramTransport] = []
        try:
            for channel in range(self.core.channels(target)):
                transport, _ = await self.loop.create_datagram_endpoint(
                    partial(_HomeSocket, self, target.id, channel),
                    remote_addr=(target.host, target.port),
                    local_addr=(self.source_address, 0) if self.source_address else None,
                )
                transports.append(transport)
                sock = transport.get_extra_info("socket")
                if sock is not None:
                    # Up to 256 replies can be on their way at once, and they arrive in bursts while
                    # the loop is busy elsewhere: Linux's default buffer holds only ~200 small
                    # datagrams, and each one lost costs its request a resend retry_interval later.
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, HOME_RECEIVE_BUFFER)
        except OSError as exc:  # a name that does not resolve: the server stays unusable
            for transport in transports:
                transport.close()
            log.warning("federation: cannot reach home server %s: %s", _label(target), exc)
            self._flush(self.core.connection(target.id, up=False, now=self.loop.time()))
            return
        self._udp[target.id] = transports

    def _open_radsec(self, target: Target) -> None:
        if self.client_context is None:
            log.warning("federation: %s is a RadSec server but no RadSec certificate is set", _label(target))
            self._flush(self.core.connection(target.id, up=False, now=self.loop.time()))
            return
        client = RadSecClient(
            host=target.host,
            port=target.port,
            context=self.client_context,
            expected_name=target.tls_name or target.host,
            on_packet=partial(self.received, target.id),
            on_state=partial(self._radsec_state, target),
        )
        self._radsec[target.id] = client
        self._flush(self.core.connection(target.id, up=False, now=self.loop.time()))  # dead until connected
        client.start()

    def _radsec_state(self, target: Target, up: bool) -> None:
        metrics.RADSEC_CONNECTIONS.labels(self._partner_name(target), _label(target)).set(1 if up else 0)
        self._flush(self.core.connection(target.id, up=up, now=self.loop.time()))

    def _peer_clients(self, config: FederationConfig) -> list[Client]:
        peers = []
        for partner in config.partners:
            if not partner.accept_requests:
                continue
            for server in partner.servers:
                if server.transport != "udp":
                    continue
                try:
                    network = ipaddress.ip_network(server.host)
                except ValueError:
                    continue  # a DNS name: its requests must come over RadSec (identified by certificate)
                peers.append(
                    Client(
                        id=-server.id,
                        name=f"partner:{partner.name}",
                        network=network,
                        secret=server.secret,
                        partner_id=partner.id,
                    )
                )
        return peers

    def partner(self, partner_id: int | None) -> PartnerConfig | None:
        return self.partners.get(partner_id) if partner_id is not None else None

    def _partner_of(self, pending: Pending) -> str:
        partner = self.partners.get(pending.partner_id)
        return partner.name if partner else str(pending.partner_id)

    def _partner_name(self, target: Target) -> str:
        partner = self.partners.get(target.partner_id)
        return partner.name if partner else str(target.partner_id)

    # -- RadSec listener --------------------------------------------------------------------

    def _identify(self, names: tuple[str, ...]) -> Client | None:
        for partner in self.partners.values():
            if not partner.accept_requests:
                continue
            for server in partner.servers:
                if server.transport == "radsec" and name_matches(server.tls_name or server.host, names):
                    return Client(
                        id=-server.id,
                        name=f"partner:{partner.name}",
                        network=ipaddress.ip_network("0.0.0.0/0"),
                        secret=server.secret,
                        partner_id=partner.id,
                    )
        return None

    def _radsec_packet(
        self, peer: Client, data: bytes, source: tuple[str, int], reply: Callable[[bytes], None]
    ) -> None:
        service = self.service
        if service is None or len(data) < 1:
            return
        kind = PortKind.ACCT if data[0] == 4 else PortKind.AUTH  # Accounting-Request, RFC 2866
        port = self.radsec_socket.getsockname()[1] if self.radsec_socket is not None else 2083
        service.receive(_RadSecSink(service.cores[kind], reply), data, source, port, client=peer)

    # -- proxying ---------------------------------------------------------------------------

    def forward(
        self, request: RadiusRequest, partner: PartnerConfig, limits: LocalLimits
    ) -> asyncio.Future[Decision]:
        """Start proxying a request to a partner (:class:`Refused` at once if it cannot go); the
        future holds the decision for the access point, or :class:`Refused` if nobody answered."""
        pending, out = self.core.forward(request, partner_id=partner.id, limits=limits, now=self.loop.time())
        future: asyncio.Future[Decision] = self.loop.create_future()
        self._futures[pending] = future
        started = self.loop.time()

        def done(_: asyncio.Future[Decision]) -> None:
            self._futures.pop(pending, None)
            metrics.LATENCY.observe(self.loop.time() - started)

        future.add_done_callback(done)
        self._flush(out)
        return future

    def forward_accounting(self, request: RadiusRequest, partner: PartnerConfig) -> None:
        """Send a copy of an Accounting-Request to the partner; its answer is only counted."""
        _pending, out = self.core.forward_accounting(request, partner_id=partner.id, now=self.loop.time())
        self._flush(out)

    def received(self, server_id: int, data: bytes, channel: int = 0) -> None:
        self._flush(self.core.receive(server_id, data, self.loop.time(), channel=channel))

    def _count_drops(self) -> None:
        """The core counts its drops; the metric catches up on each tick (not per datagram)."""
        for reason, count in self.core.drops.items():
            seen = self._drops_seen.get(reason, 0)
            if count != seen:
                metrics.DROPS.labels(reason).inc(count - seen)
                self._drops_seen[reason] = count

    def _flush(self, out: list[Output]) -> None:
        for event in out:
            if type(event) is Send:
                self._send(event)
            elif type(event) is Relayed:
                future = self._futures.get(event.pending)
                if future is not None and not future.done():
                    future.set_result(event.decision)
                elif event.pending.accounting:
                    metrics.count(metrics.ACCOUNTING_FORWARDED, self._partner_of(event.pending), "answered")
            elif type(event) is Failed:
                future = self._futures.get(event.pending)
                if future is not None and not future.done():
                    future.set_exception(Refused(event.reason))
                elif event.pending.accounting:
                    metrics.count(metrics.ACCOUNTING_FORWARDED, self._partner_of(event.pending), "no_answer")
            elif type(event) is HealthChanged:
                self._health_changed(event)

    def _send(self, event: Send) -> None:
        udp = self._udp.get(event.server_id)
        if udp is not None:
            udp[event.channel].sendto(event.data)
            return
        client = self._radsec.get(event.server_id)
        if client is None or not client.send(event.data):
            # not connected: the core hears it at once and fails over what was sent
            self._flush(self.core.connection(event.server_id, up=False, now=self.loop.time()))

    def _health_changed(self, event: HealthChanged) -> None:
        target = self.servers.get(event.server_id)
        if target is None:
            return
        partner, new = self._partner_name(target), event.transition.new
        log.warning(
            "federation: home server %s of %s is %s (was %s)",
            _label(target),
            partner,
            new.value,
            event.transition.old.value,
        )
        metrics.HOME_SERVER_STATE.labels(partner, _label(target)).set(_GAUGE[new])
        metrics.TRANSITIONS.labels(partner, _label(target), new.value).inc()
        task = asyncio.ensure_future(self._record(event.server_id, new.value))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _record(self, server_id: int, state: str) -> None:
        try:
            await self.record_health(server_id, state, datetime.now(UTC))
        except Exception as exc:  # the database may be away: the state is in the log and metrics
            log.warning("federation: could not record a home server's state: %r", exc)

    async def _tick(self) -> None:
        failures = FailureLog("federation: timer", log)
        while True:
            deadline = self.core.next_deadline()
            now = self.loop.time()
            await asyncio.sleep(0.05 if deadline is None else min(max(deadline - now, 0.005), 0.05))
            try:
                self._flush(self.core.handle_timer(self.loop.time()))
                self._count_drops()
            except Exception as exc:  # a bug here must not stop the timers of every other request
                failures.failed(exc, self.loop.time())
            else:
                failures.succeeded(self.loop.time())


def _target(server: HomeServerConfig, kind: str) -> Target:
    return Target(
        id=server.id if kind == "auth" else -server.id,
        partner_id=server.partner_id,
        host=server.host,
        port=server.port if kind == "auth" else server.acct_port,
        transport=server.transport,
        secret=server.secret,  # over RadSec ``radsec`` (RFC 6614 §2.3) unless the partner set another
        priority=server.priority,
        tls_name=server.tls_name,
        kind=kind,
        require_message_authenticator=server.require_message_authenticator,
    )


def _label(target: Target) -> str:
    host = f"[{target.host}]" if ":" in target.host else target.host
    kind = "" if target.kind == "auth" else f" ({target.kind})"
    return f"{target.transport}:{host}:{target.port}{kind}"
