"""The thin asyncio layer of the RADIUS server: sockets in, sockets out, the core in between.

``datagram_received`` hands each datagram to the :class:`~radius.core.ServerCore` of its port;
a new request goes on its port's bounded queue (full: dropped and counted — the NAS retransmits),
and that port's worker tasks run the policy and send the reply. Periodic tasks expire the duplicate cache,
reload NAS clients and policies when the database changes, take renewed files (EAP's certificates)
into use, and write decision records.
Password verifications run in a thread pool with a bound on pending work (``verifier.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any, Protocol

from accounts.disconnect import CoaResult
from radius import metrics
from radius.clients import Client, ClientTable
from radius.core import Decision, PortKind, ServerCore
from radius.dbstate import DatabaseState
from radius.events import (
    Address,
    Discard,
    DropReason,
    PacketDropped,
    RadiusRequest,
    ReplyReady,
    RequestMisdirected,
    RequestReceived,
)
from radius.periodic import FailureLog, every
from radius.records import unavailable
from radius.sqlstore import SqlStore
from radius.verifier import BoundedVerifier, Overloaded
from radius.workerlink import WorkerLink
from radius.workerroute import Forwarded


@dataclass(frozen=True, slots=True)
class Later:
    """A handler's answer that will come later (a request proxied to a partner): the worker
    hands it on and takes the next request; the reply is sent when ``decision`` completes."""

    decision: Awaitable[Decision]


#: a port's request handler: the authentication pipeline, accounting, the federation's dispatcher
Handler = Callable[[RadiusRequest, datetime], Awaitable[Decision | Later]]

log = logging.getLogger("sesame.radius")

RECEIVE_BUFFER = 4 * 1024 * 1024  # past ~128 outstanding requests the default buffer overflows


#: requests waiting this long on a queue that no worker takes from make the service not ready
STALLED_AFTER = 10.0

#: how often files that may change on disk (EAP's certificates) are looked at
FILE_CHECK_INTERVAL = 5.0

#: how often the young generation is collected (see :func:`tune_gc`)
YOUNG_GC_INTERVAL = 0.2


def tune_gc() -> None:
    """Keep garbage collections short and off the request path.

    The server holds large, long-lived, nearly cycle-free structures (caches of accounts and
    devices, the duplicate cache); CPython's default thresholds scan them all every few seconds
    under load, each scan an event-loop pause of tens of milliseconds (seen as p99 latency).
    Objects alive after start-up are frozen out of collection, and collections run less often.

    The young generation is also collected every :data:`YOUNG_GC_INTERVAL` seconds by
    :meth:`RadiusService.start`'s timer. Its automatic trigger counts allocations *minus*
    deallocations of tracked objects, so in a steady state — the duplicate cache frees as many
    entries as it makes — it hardly fires, and when it does the young generation holds every
    survivor of the last several seconds: measured at 4k requests/s per process, 50-120k
    objects, 10-60 ms pauses. Collected on a timer it holds a fifth of a second's worth, a
    fraction of a millisecond, and the duplicate cache's entries (tuples of atomic values) leave
    the collector's lists the first time they are seen.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


async def _collect_young() -> None:
    gc.collect(0)


class BindError(Exception):
    """A RADIUS socket could not be opened; the message names the address and port."""


def open_udp_socket(address: str, port: int, *, reuse_port: bool) -> socket.socket:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_DGRAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # '::' and '0.0.0.0' side by side
        if reuse_port:
            # Several worker processes of *this* server share the port; the kernel spreads NASes by
            # 4-tuple. Never SO_REUSEADDR on UDP: it lets a second instance silently steal traffic.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, RECEIVE_BUFFER)
        sock.bind((address, port))
    except OSError as exc:
        sock.close()
        host = f"[{address}]" if ":" in address else address
        raise BindError(f"radius: cannot listen on udp {host}:{port}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


def _same(endpoint: _Endpoint) -> _Endpoint:
    return endpoint


class ReplySink(Protocol):
    """Where the replies to a request go: a UDP socket, or a RadSec connection."""

    core: ServerCore

    def send(self, data: bytes, destination: Address) -> None: ...


class _Endpoint(asyncio.DatagramProtocol):
    def __init__(self, service: RadiusService, core: ServerCore, local_port: int, index: int) -> None:
        self.service = service
        self.core = core
        self.local_port = local_port
        self.index = index  # among the listeners, the same in every worker process
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[Any, ...]) -> None:
        self.service.receive(self, data, (addr[0], addr[1]), self.local_port)

    def send(self, data: bytes, destination: Address) -> None:
        if self.transport is not None:
            self.transport.sendto(data, destination)

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable from a NAS: not ours
        log.debug("udp error on port %d: %s", self.local_port, exc)


@dataclass(frozen=True, slots=True, kw_only=True)
class Housekeeping:
    """Periodic session upkeep, run by one process per host (the first worker); with several hosts
    each runs it, and ``disconnect`` claims a session before asking its NAS (None: claimed elsewhere)."""

    #: an open session silent this long is closed as stale
    stale_after: timedelta
    #: ends a session by its id (Disconnect-Request to its NAS); None: limits are not enforced
    disconnect: Callable[[int], Awaitable[CoaResult | None]] | None = None
    interval: float = 30.0


class Extension(Protocol):
    """More of the service that this package does not know (federation: proxying, RadSec)."""

    async def start(self, service: RadiusService) -> None: ...
    async def refresh(self) -> bool:
        """Reload what changed; True when the peers of :meth:`clients` changed."""
        ...

    def clients(self) -> tuple[Client, ...]:
        """More RADIUS clients (partners' proxies), merged into the access points' table."""
        ...

    async def stop(self) -> None: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Listener:
    kind: PortKind
    address: str
    port: int
    sock: socket.socket


class RadiusService:
    def __init__(
        self,
        *,
        auth: ServerCore,
        acct: ServerCore,
        handlers: dict[PortKind, Handler],
        store: SqlStore,
        verifier: BoundedVerifier | None = None,
        workers: int = 64,
        accounting_workers: int = 256,
        queue_size: int = 8192,
        refresh_interval: float = 2.0,
        flush_interval: float = 0.1,
        housekeeping: Housekeeping | None = None,
        extension: Extension | None = None,
        link: WorkerLink | None = None,
        file_checks: Sequence[Callable[[], object]] = (),
        file_check_interval: float = FILE_CHECK_INTERVAL,
    ) -> None:
        """``link``: to the other worker processes (requests continuing their conversations);
        ``file_checks``: called every ``file_check_interval`` seconds to take files changed on
        disk into use (EAP's certificates: :class:`radius.eapcerts.CertificateWatch`)."""
        self.extension = extension
        self.link = link
        self.file_checks = tuple(file_checks)
        self.file_check_interval = file_check_interval
        self._endpoints: list[_Endpoint] = []
        self._nas_clients: tuple[Client, ...] = ()
        self.cores = {PortKind.AUTH: auth, PortKind.ACCT: acct}
        self.handlers = handlers
        self.store = store
        self.verifier = verifier
        # Each port has its own queue and worker tasks. Authentication wants few (latency: a request
        # is not interleaved with hundreds of others); accounting wants many (every worker waiting
        # on the group commit adds a record to the next batch).
        self.workers = {PortKind.AUTH: workers, PortKind.ACCT: accounting_workers}
        self.queues: dict[PortKind, asyncio.Queue[tuple[RadiusRequest, ReplySink]]] = {
            kind: asyncio.Queue(maxsize=queue_size) for kind in PortKind
        }
        self.refresh_interval = refresh_interval
        self.flush_interval = flush_interval
        self.housekeeping = housekeeping
        self.loop_time: Callable[[], float] = asyncio.get_running_loop().time
        self._transports: list[asyncio.DatagramTransport] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._warned: set[DropReason] = set()
        self._later: set[asyncio.Future[Later | None]] = set()
        # when a worker of each port last took a request off its queue (see :meth:`health`)
        self._progress: dict[PortKind, float] = {kind: self.loop_time() for kind in PortKind}
        self._worker_tasks: list[asyncio.Task[None]] = []
        self.database = DatabaseState()  # told by each poll (see _refresh)

    def receive(
        self,
        sink: ReplySink,
        data: bytes,
        source: Address,
        local_port: int,
        *,
        client: Client | None = None,
    ) -> None:
        """One packet from a peer, to the core of ``sink``; replies go back through ``sink``."""
        core = sink.core
        try:
            event = core.receive_datagram(data, source, local_port, self.loop_time(), client=client)
        except Exception:  # our bug: this datagram is lost, the next ones are not
            self._failed(DropReason.INTERNAL_ERROR, source, client.name if client else None, "receiving")
            return
        if type(event) is RequestReceived:
            metrics.request(core.kind.value, event.request.packet.code)
            if core.kind not in self.handlers:
                self.dropped(core.abandon(event.request, DropReason.NOT_SERVED))
                return
            try:
                self.queues[core.kind].put_nowait((event.request, sink))
            except asyncio.QueueFull:
                self.dropped(core.abandon(event.request, DropReason.OVERLOAD))
        elif type(event) is ReplyReady:
            sink.send(event.data, source)
            if event.duplicate:
                metrics.DUPLICATES.inc()
            else:  # Status-Server, answered by the core itself
                metrics.request(core.kind.value, 12)
        elif type(event) is RequestMisdirected:
            if self.link is None or not isinstance(sink, _Endpoint):
                self.dropped(core.drop(DropReason.MISDIRECTED, source, client.name if client else None))
                return
            self.link.forward(event.worker, listener=sink.index, source=source, data=data)
        else:
            self.dropped(event)  # type: ignore[arg-type]

    def deliver(self, forwarded: Forwarded) -> None:
        """A request another worker received for a conversation of ours: answered as if it had
        arrived on our own socket of the same listener (the reply leaves from the same port)."""
        if forwarded.listener >= len(self._endpoints):
            metrics.forwarded("refused")
            return
        endpoint = self._endpoints[forwarded.listener]
        self.receive(endpoint, forwarded.data, forwarded.source, endpoint.local_port)

    def _failed(self, reason: DropReason, source: Address, client: str | None, doing: str) -> None:
        """An exception of ours on a request's path: the request is dropped and counted, logged
        with its traceback once per reason (the counters say how many); the service goes on."""
        metrics.DROPS.labels(reason.value).inc()
        if reason not in self._warned:
            self._warned.add(reason)
            log.exception(
                "radius: %s a request failed; it is dropped (%s)",
                doing,
                reason.value,
                extra={"nas_address": source[0], "nas": client or "-"},
            )

    def health(self) -> str | None:
        """None while the service answers; else why not, for readiness probes: a port's worker
        tasks ended, or requests waited on a queue for :data:`STALLED_AFTER` seconds while no
        worker took any."""
        now = self.loop_time()
        for task in self._worker_tasks:
            if task.done():
                return f"{task.get_name()} stopped"
        for kind, queue in self.queues.items():
            if kind in self.handlers and queue.qsize() and now - self._progress[kind] > STALLED_AFTER:
                return f"{kind} requests waiting unanswered for {now - self._progress[kind]:.0f} s"
        return None

    def dropped(self, event: PacketDropped) -> None:
        metrics.DROPS.labels(event.reason.value).inc()
        if event.reason not in self._warned and event.reason is not DropReason.DUPLICATE_IN_PROGRESS:
            self._warned.add(event.reason)  # once per reason; the counters say how many
            log.warning(
                "dropped a packet: %s",
                event.reason.value,
                extra={"nas_address": event.source[0], "nas": event.client or "-"},
            )

    async def start(self, listeners: list[Listener]) -> None:
        await self.store.start()
        self.database.answered(self.loop_time())
        if self.extension is not None:
            await self.extension.start(self)
        await self.reload_clients(force=True)
        loop = asyncio.get_running_loop()
        if self.link is not None:
            await self.link.open(self.deliver)
        for index, listener in enumerate(listeners):
            endpoint = _Endpoint(self, self.cores[listener.kind], listener.port, index)
            self._endpoints.append(endpoint)
            transport, _ = await loop.create_datagram_endpoint(partial(_same, endpoint), sock=listener.sock)
            self._transports.append(transport)
        self._worker_tasks = [
            asyncio.create_task(self._worker(kind), name=f"radius-{kind}-worker-{i}")
            for kind in PortKind
            if kind in self.handlers
            for i in range(self.workers[kind])
        ]
        self._tasks = list(self._worker_tasks)
        tune_gc()
        self._tasks += [
            asyncio.create_task(self._every(1.0, self._expire), name="radius-expire"),
            asyncio.create_task(self._every(self.refresh_interval, self._refresh), name="radius-refresh"),
            asyncio.create_task(self._every(self.flush_interval, self._flush), name="radius-records"),
            asyncio.create_task(self._every(YOUNG_GC_INTERVAL, _collect_young), name="radius-gc"),
        ]
        if self.file_checks:
            self._tasks.append(
                asyncio.create_task(
                    self._every(self.file_check_interval, self._check_files), name="radius-files"
                )
            )
        if self.housekeeping is not None:
            self._tasks.append(
                asyncio.create_task(
                    self._every(self.housekeeping.interval, self.housekeep), name="radius-housekeeping"
                )
            )

    async def stop(self) -> None:
        for transport in self._transports:
            transport.close()
        if self.link is not None:
            self.link.close()
        if self.extension is not None:
            await self.extension.stop()
        pending: list[asyncio.Future[Any]] = [*self._tasks, *self._later]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        try:
            written = await self.store.flush_records()
            log.debug("wrote %d decision records at shutdown", written)
        except Exception as exc:  # the database is away: say what is lost
            log.error("radius: decision records could not be written at shutdown: %r", exc)
        with contextlib.suppress(Exception):
            await self.store.close()
        if self.verifier is not None:
            self.verifier.close()

    async def reload_clients(self, *, force: bool = False) -> None:
        if await self.store.clients_changed() or force:
            self._nas_clients = (await self.store.load_clients()).clients
            peers = self.extension.clients() if self.extension is not None else ()
            # an access point and a partner's proxy on one address: the access point wins (later
            # entries replace earlier ones of the same prefix), and the partner's requests must
            # come over RadSec or from another address
            table = ClientTable((*peers, *self._nas_clients))
            for core in self.cores.values():
                core.replace_clients(table)
            legacy = [c.name for c in table.clients if not c.require_message_authenticator]
            log.info("radius: %d access points loaded", len(self._nas_clients))
            if peers:
                log.info("radius: %d partner proxies accepted as clients", len(peers))
            metrics.CLIENTS.set(len(table))
            if legacy:
                log.warning(
                    "radius: accepting Access-Requests without Message-Authenticator from %s "
                    "(legacy opt-out; vulnerable to BlastRADIUS, CVE-2024-3596)",
                    ", ".join(sorted(legacy)),
                )

    async def _worker(self, kind: PortKind) -> None:
        """Take requests off the port's queue and answer them, for as long as the service runs:
        no exception of a request's own ends it (each is dropped, counted and logged)."""
        queue = self.queues[kind]
        while True:
            request, sink = await queue.get()
            self._progress[kind] = self.loop_time()
            try:
                decided = self.handlers[kind](request, datetime.now(UTC))
                answer = await self._answer(request, sink, decided)
                if isinstance(answer, Later):
                    # a proxied request: its answer comes from a partner, possibly seconds from now;
                    # this worker moves on so that a slow partner never holds up our own citizens
                    task = asyncio.ensure_future(self._answer(request, sink, answer.decision))
                    self._later.add(task)
                    task.add_done_callback(self._later.discard)
            except Exception:
                self._failed(DropReason.INTERNAL_ERROR, request.source, request.client.name, "answering")
                with contextlib.suppress(Exception):
                    sink.core.abandon(request, DropReason.INTERNAL_ERROR)

    async def _answer(
        self, request: RadiusRequest, sink: ReplySink, pending: Awaitable[Decision | Later]
    ) -> Later | None:
        """Await a handler's decision and send the reply, or drop the request and count why."""
        core = sink.core
        try:
            decision = await pending
        except Overloaded:
            self.dropped(core.abandon(request, DropReason.OVERLOAD))
            return None
        except Discard as exc:
            if exc.__cause__ is not None and exc.reason not in self._warned:
                log.warning(
                    "radius: request left unanswered (%s): %r",
                    exc.reason.value,
                    exc.__cause__,
                    extra={"nas": request.client.name, "packet_id": request.packet.identifier},
                )
            self.dropped(core.abandon(request, exc.reason))
            return None
        except Exception as exc:
            if unavailable(exc):  # an outage, not a bug: logged once (and by dbstate), counted
                self.dropped(core.abandon(request, DropReason.DATABASE_UNAVAILABLE))
                return None
            log.exception(
                "policy failed",
                extra={"nas": request.client.name, "packet_id": request.packet.identifier},
            )
            self.dropped(core.abandon(request, DropReason.POLICY_FAILED))
            return None
        if isinstance(decision, Later):
            return decision
        try:
            ready = core.finish(request, decision, self.loop_time())
        except Exception:  # an attribute the dictionary cannot encode, …: our bug, not the peer's
            self._failed(
                DropReason.REPLY_FAILED, request.source, request.client.name, "encoding the reply to"
            )
            core.abandon(request, DropReason.REPLY_FAILED)
            return None
        if type(ready) is ReplyReady:
            sink.send(ready.data, request.source)
            metrics.LATENCY.observe(self.loop_time() - request.received_at)
        elif type(ready) is PacketDropped:
            self.dropped(ready)
        return None

    async def _every(self, interval: float, action: Callable[[], Awaitable[object]]) -> None:
        task = f"radius: periodic {getattr(action, '__name__', 'task').lstrip('_')}"
        await every(interval, action, FailureLog(task, log), self.loop_time)

    async def _expire(self) -> None:
        now = self.loop_time()
        for core in self.cores.values():
            core.handle_timer(now)

    async def _refresh(self) -> None:
        try:
            peers_changed = await self.extension.refresh() if self.extension is not None else False
            await self.reload_clients(force=peers_changed)
            await self.store.refresh()
        except Exception as exc:
            self.database.failed(exc, self.loop_time())
            raise
        self.database.answered(self.loop_time())

    async def _check_files(self) -> None:
        for check in self.file_checks:
            check()

    async def housekeep(self, now: datetime | None = None) -> None:
        """Close stale sessions; ask the NAS to end sessions that went over a daily limit."""
        assert self.housekeeping is not None
        now = now or datetime.now(UTC)
        closed = await self.store.close_stale_sessions(now=now, silent_for=self.housekeeping.stale_after)
        if closed:
            metrics.SESSIONS_CLOSED.labels("stale").inc(closed)
            log.info("radius: closed %d stale sessions", closed)
        if self.housekeeping.disconnect is None:
            return
        for session_id in await self.store.sessions_over_limits(now=now):
            try:
                result = await self.housekeeping.disconnect(session_id)
            except Exception as exc:  # its NAS is gone, its secret unreadable, …: the others go on
                metrics.LIMIT_DISCONNECTS.labels("failed").inc()
                log.warning(
                    "radius: session %d is over its daily limit: disconnect failed: %r", session_id, exc
                )
                continue
            if result is None:  # another host's upkeep is asking its NAS
                continue
            metrics.LIMIT_DISCONNECTS.labels(result.outcome.value).inc()
            log.info("radius: session %d is over its daily limit: disconnect %s", session_id, result.detail)

    async def _flush(self) -> None:
        lost, self.store.records_dropped = self.store.records_dropped, 0
        if lost:
            metrics.RECORDS_DROPPED.inc(lost)
            log.warning("radius: %d decision records lost while the database was unreachable", lost)
        await self.store.flush_records()
