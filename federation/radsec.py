"""RadSec (RFC 6614): RADIUS over TLS over TCP, the thin asyncio layer on both ends.

Theory of operation. One TLS stream (TCP port 2083, §2.1) carries RADIUS packets back to back:
Access-, Accounting- and Status-Server alike, several in flight, told apart by their Identifier
(the caller picks them: 256 per connection). The shared secret is the literal ``radsec`` (§2.3);
security comes from mutual certificate authentication, and a peer is identified by its
certificate (:mod:`federation.tls`), never by its address. :class:`federation.stream.StreamFramer`
frames; a malformed Length or packet closes the connection (RFC 6613 §2.6.4: no resynchronising).

:class:`RadSecClient` keeps one connection to one home server while it is wanted. TCP already
retransmits, so nothing is sent twice on one connection (RFC 6614 §2.5, RFC 6613 §2.6.1): the
caller may resend after a reconnection, which ``on_state`` tells it about. Reconnection backs off
(1 s doubling to 60 s, with jitter) so that a server that is down is not hammered and proxies do
not all come back in step. Idle connections are kept: the caller may send Status-Server (RFC 5997)
as a watchdog, as radsecproxy does, and TCP keepalive notices a peer that vanished.

:class:`RadSecServer` accepts on an already bound socket and awaits each TLS handshake in a task
of its own, so that a refused one (unknown CA, timeout, not TLS) is counted with the address and
the reason, which ``create_server(ssl=...)`` would hide. ``identify`` gets the certificate's names.

What one peer can make us hold is bounded: one incomplete packet, ``max_connections`` connections
and handshakes, and no unbounded reply queue: past the transport's high-water mark a connection is
no longer read (no new requests from a peer that does not take its answers) and replies are
dropped, counted, until it drains; the client's :meth:`~RadSecClient.send` refuses likewise.
Callbacks run on the event loop and must not block; an exception in one is our bug, logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import ipaddress
import logging
import random
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, cast

from federation.stream import StreamFramer
from federation.tls import failure, name_matches, peer_names, sni_name
from radius.codec import Malformed
from radius.periodic import FailureLog
from radius.server import BindError

log = logging.getLogger("sesame.federation.radsec")

PORT = 2083  # RFC 6614 §2.1
SECRET = b"radsec"  # RFC 6614 §2.3: the shared secret of every RadSec connection

#: replies and requests buffered for one connection before it counts as not reading
WRITE_HIGH_WATER = 256 * 1024
WRITE_LOW_WATER = 64 * 1024

PeerT = TypeVar("PeerT")


class Drop(enum.StrEnum):
    """Why a connection was closed or a reply dropped (each is a metric label, passed to ``on_drop``).

    A framing error is passed as :class:`radius.codec.Malformed`'s reason instead: ``bad_length``,
    ``truncated_attribute`` or ``bad_message_authenticator_attribute``.
    """

    UNKNOWN_PEER = "unknown_peer"  # a valid certificate that ``identify`` does not know
    TLS_HANDSHAKE = "tls_handshake"  # refused certificate, no certificate, timeout, not TLS at all
    TOO_MANY_CONNECTIONS = "too_many_connections"
    REPLY_OVERFLOW = "reply_overflow"  # a reply to a peer that does not read its replies


@dataclass(slots=True, kw_only=True)
class Backoff:
    """Delays between connection attempts: ``initial`` doubling up to ``maximum``, each with jitter.

    Jitter takes up to a fifth off each delay, so delays never exceed ``maximum`` and proxies that
    lost a server together do not come back in step.
    """

    initial: float = 1.0
    maximum: float = 60.0
    attempt: int = 0

    def next_delay(self, rand: float) -> float:
        """The delay before the next attempt, for ``rand`` uniform in [0, 1)."""
        base = min(self.maximum, self.initial * 2.0 ** min(self.attempt, 32))
        self.attempt += 1
        return base * (1.0 - 0.2 * rand)

    def reset(self) -> None:
        self.attempt = 0


def _where(address: tuple[Any, ...] | None) -> str:
    if not address:
        return "?"
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _keepalive(transport: asyncio.BaseTransport) -> None:
    """TCP keepalive: a peer that vanished (no FIN, no RST) is noticed on an idle connection."""
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)


def open_tcp_socket(address: str, port: int) -> socket.socket:
    """A bound, listening, non-blocking TCP socket for :meth:`RadSecServer.start` (IPv4 or IPv6).

    Raises :class:`radius.server.BindError` naming the address and port, as the UDP listeners do,
    so start-up reports every port it cannot have the same way.
    """
    try:
        family = socket.AF_INET6 if ipaddress.ip_address(address).version == 6 else socket.AF_INET
    except ValueError:
        raise BindError(f"radsec: cannot listen on {address!r}: not an IP address") from None
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)  # '::' and '0.0.0.0' side by side
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TCP: reuse TIME_WAIT, never steal
        sock.bind((address, port))
        sock.listen(1024)
    except OSError as exc:
        sock.close()
        raise BindError(f"radsec: cannot listen on tcp {_where((address, port))}: {exc.strerror}") from None
    sock.setblocking(False)
    return sock


# -- client ----------------------------------------------------------------------------------------


class _ClientConnection(asyncio.Protocol):
    """One TLS connection of a :class:`RadSecClient`; packets flow only once the server's name is checked."""

    def __init__(self, client: RadSecClient) -> None:
        self.client = client
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.names: tuple[str, ...] = ()
        self.verified = False
        self.wrong_name = False
        self.paused = False
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        # Checked here, before any byte is read: the context does not check host names (tls.py).
        self.names = peer_names(transport.get_extra_info("ssl_object"))
        if not name_matches(self.client.expected_name, self.names):
            self.wrong_name = True
            transport.abort()
            return
        self.verified = True
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER, low=WRITE_LOW_WATER)
        _keepalive(transport)

    def data_received(self, data: bytes) -> None:
        if not self.verified:
            return
        try:
            packets = self.framer.feed(data)
        except Malformed as exc:
            self.client._log(
                logging.WARNING, "radsec: %s sent a malformed packet (%s)", self.client.where, exc.reason
            )
            self.verified = False
            assert self.transport is not None
            self.transport.abort()
            return
        for packet in packets:
            try:
                self.client.on_packet(packet)
            except Exception:
                self.client._log(logging.ERROR, "radsec: on_packet failed", exc_info=True)

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False

    def connection_lost(self, exc: Exception | None) -> None:
        self.verified = False
        if not self.closed.done():
            self.closed.set_result(None)


class RadSecClient:
    """One TLS connection to one home server, reconnecting with exponential backoff (1 s doubling to
    60 s, with jitter) while it is wanted.

    The server's certificate must name ``expected_name`` (:func:`federation.tls.name_matches`);
    ``host`` may be an IP address. ``on_packet`` gets every packet the server sends, framed and
    checked but not authenticated (the caller matches replies to its requests). ``on_state`` is
    told ``True`` when a usable connection is up and ``False`` when it is lost.
    """

    def __init__(
        self,
        *,
        host: str,
        port: int,
        context: ssl.SSLContext,
        expected_name: str,
        on_packet: Callable[[bytes], None],
        on_state: Callable[[bool], None] | None = None,
        connect_timeout: float = 5.0,
    ) -> None:
        if connect_timeout <= 0:
            raise ValueError("the RadSec connect timeout must be positive")
        self.host = host
        self.port = port
        self.context = context
        self.expected_name = expected_name
        self.on_packet = on_packet
        self.on_state = on_state
        self.connect_timeout = connect_timeout
        self.where = _where((host, port))
        self.backoff = Backoff()
        self._connection: _ClientConnection | None = None
        self._task: asyncio.Task[None] | None = None
        # SNI names the server we want when it is a DNS name (RFC 6066 §3 allows no IP literal).
        self._sni = sni_name(expected_name)

    def start(self) -> None:
        """Begin connecting in the background (idempotent)."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"radsec-client-{self.where}"
            )

    @property
    def connected(self) -> bool:
        connection = self._connection
        return connection is not None and connection.verified

    def send(self, data: bytes) -> bool:
        """Write one packet; False when there is no usable connection right now, or when the server has
        not been reading and our buffer is over its high-water mark (the caller fails over or retries)."""
        connection = self._connection
        if connection is None or not connection.verified or connection.paused:
            return False
        transport = connection.transport
        if transport is None or transport.is_closing():
            return False
        transport.write(data)
        return True

    async def close(self) -> None:
        """Stop wanting the connection: close it (TLS close_notify) and stop reconnecting."""
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _run(self) -> None:
        while True:
            try:
                connection = await self._connect()
                if connection is not None:
                    await self._use(connection)
            except Exception:  # our bug: keep trying rather than leave the home server unreachable
                self._log(logging.ERROR, "radsec: connection to %s failed", self.where, exc_info=True)
            delay = self.backoff.next_delay(random.random())
            log.debug("radsec: next connection attempt to %s in %.1f s", self.where, delay)
            await asyncio.sleep(delay)

    async def _use(self, connection: _ClientConnection) -> None:
        loop = asyncio.get_running_loop()
        up_since = loop.time()
        self._connection = connection
        self._log(
            logging.INFO, "radsec: connected to %s (%s)", self.where, _tls_version(connection.transport)
        )
        self._state(True)
        try:
            await connection.closed
        finally:
            self._connection = None
            self._state(False)
            if not connection.closed.done():  # cancelled by close(): leave politely
                await _close_transport(connection.transport, connection.closed)
        self._log(logging.WARNING, "radsec: connection to %s lost", self.where)
        if loop.time() - up_since >= self.backoff.maximum:
            self.backoff.reset()  # it had been stable: this is a new outage

    async def _connect(self) -> _ClientConnection | None:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.connect_timeout):
                transport, connection = await loop.create_connection(
                    lambda: _ClientConnection(self),
                    self.host,
                    self.port,
                    ssl=self.context,
                    server_hostname=self._sni,
                    ssl_handshake_timeout=self.connect_timeout,
                )
        except (OSError, TimeoutError) as exc:
            self._failed("radsec: cannot connect to %s: %s", self.where, failure(exc))
            return None
        if connection.wrong_name:
            names = ", ".join(connection.names) or "no name"
            self._failed(
                "radsec: the certificate of %s names %s, not %s: refused",
                self.where,
                names,
                self.expected_name,
            )
            return None
        if not connection.verified:  # with TLS 1.3, how a server refuses our certificate
            self._failed("radsec: %s closed the connection after the handshake", self.where)
            transport.abort()
            return None
        return connection

    def _failed(self, message: str, *args: object) -> None:
        # A warning when a run of failures starts; the home server's health says the rest.
        self._log(logging.WARNING if self.backoff.attempt == 0 else logging.DEBUG, message, *args)

    def _log(self, level: int, message: str, *args: object, exc_info: bool = False) -> None:
        log.log(level, message, *args, exc_info=exc_info, extra={"peer": self.expected_name})

    def _state(self, up: bool) -> None:
        if self.on_state is not None:
            try:
                self.on_state(up)
            except Exception:
                self._log(logging.ERROR, "radsec: on_state failed", exc_info=True)


def _tls_version(transport: asyncio.Transport | None) -> str:
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    return str(ssl_object.version()) if ssl_object is not None else "?"


async def _close_transport(transport: asyncio.Transport | None, closed: asyncio.Future[None]) -> None:
    """Close with a TLS close_notify, but never wait long for a peer that does not answer it."""
    if transport is None:
        return
    transport.close()
    try:
        async with asyncio.timeout(2.0):
            await asyncio.shield(closed)
    except TimeoutError:
        transport.abort()


# -- server ----------------------------------------------------------------------------------------


class _ServerConnection(asyncio.Protocol, Generic[PeerT]):
    """One partner's TLS connection: identified by its certificate, then packets in, replies out."""

    def __init__(self, server: RadSecServer[PeerT], address: tuple[str, int]) -> None:
        self.server = server
        self.address = address
        self.framer = StreamFramer()
        self.transport: asyncio.Transport | None = None
        self.peer: PeerT | None = None
        self.name = "?"
        self.paused = False
        self.loop = asyncio.get_running_loop()
        self.last_read = 0.0
        self.idle_timer: asyncio.TimerHandle | None = None
        self.closed: asyncio.Future[None] = self.loop.create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # Called once the handshake is over, before any data: the partner is known before its first packet.
        self.transport = transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass
        server = self.server
        names = peer_names(transport.get_extra_info("ssl_object"))
        peer = server.identify(names)
        if peer is None:
            server._dropped(Drop.UNKNOWN_PEER, self.address, ", ".join(names) or "no name")
            transport.close()
            return
        self.peer = peer
        self.name = names[0] if names else "?"
        transport.set_write_buffer_limits(high=WRITE_HIGH_WATER, low=WRITE_LOW_WATER)
        _keepalive(transport)
        server._connections.add(self)
        where, version = _where(self.address), _tls_version(transport)
        log.info("radsec: %s connected from %s (%s)", self.name, where, version, extra={"peer": self.name})
        if server.idle_timeout is not None:
            self.last_read = self.loop.time()
            self.idle_timer = self.loop.call_later(server.idle_timeout, self._check_idle)

    def data_received(self, data: bytes) -> None:
        peer = self.peer
        if peer is None:
            return  # refused, closing
        if self.idle_timer is not None:
            self.last_read = self.loop.time()
        try:
            packets = self.framer.feed(data)
        except Malformed as exc:
            self.server._dropped(exc.reason, self.address, self.name)
            self.peer = None
            assert self.transport is not None
            self.transport.abort()  # the stream is out of step: nothing more from it can be trusted
            return
        on_packet = self.server.on_packet
        for packet in packets:
            try:
                on_packet(peer, packet, self.address, self.reply)
            except Exception:
                log.exception("radsec: on_packet failed", extra={"peer": self.name})

    def reply(self, data: bytes) -> None:
        """Write a reply on this connection; a no-op once it has closed, dropped while it is over the mark."""
        transport = self.transport
        if transport is None or self.peer is None or transport.is_closing():
            return
        if self.paused:
            self.server._dropped(Drop.REPLY_OVERFLOW, self.address, self.name)
            return
        transport.write(data)

    def pause_writing(self) -> None:
        # The partner does not read its replies: stop reading its requests until it catches up.
        self.paused = True
        if self.transport is not None and not self.transport.is_closing():
            self.transport.pause_reading()

    def resume_writing(self) -> None:
        self.paused = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.resume_reading()

    def _check_idle(self) -> None:
        timeout = self.server.idle_timeout
        transport = self.transport
        if timeout is None or transport is None or transport.is_closing():
            return
        if self.loop.time() - self.last_read < timeout:
            self.idle_timer = self.loop.call_at(self.last_read + timeout, self._check_idle)
            return
        log.info("radsec: closing the idle connection of %s", self.name, extra={"peer": self.name})
        transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self.idle_timer is not None:
            self.idle_timer.cancel()
        if self in self.server._connections:
            self.server._connections.discard(self)
            why = f": {failure(exc)}" if exc is not None else ""
            log.info("radsec: %s disconnected%s", self.name, why, extra={"peer": self.name})
        self.peer = None
        if not self.closed.done():
            self.closed.set_result(None)


class RadSecServer(Generic[PeerT]):
    """Listens for partners; each accepted TLS connection is identified by its certificate.

    ``identify(names)`` gets the names of the partner's verified certificate
    (:func:`federation.tls.peer_names`) and returns whatever stands for that partner, or None to
    refuse it. ``on_packet(peer, packet, source, reply)`` gets every framed packet with the
    partner, its TCP address and ``reply(data)``, which writes on that connection. ``on_drop(reason)``
    counts what was refused or dropped (:class:`Drop`, or a framing error's reason).

    ``idle_timeout`` closes a connection silent that long (None: never; a partner reconnects when
    it has something to send); ``handshake_timeout`` bounds a TLS handshake; ``max_connections``
    bounds connections and handshakes under way together.
    """

    def __init__(
        self,
        *,
        context: ssl.SSLContext,
        identify: Callable[[tuple[str, ...]], PeerT | None],
        on_packet: Callable[[PeerT, bytes, tuple[str, int], Callable[[bytes], None]], None],
        on_drop: Callable[[str], None] | None = None,
        handshake_timeout: float = 10.0,
        idle_timeout: float | None = 600.0,
        max_connections: int = 1024,
    ) -> None:
        if handshake_timeout <= 0 or (idle_timeout is not None and idle_timeout <= 0) or max_connections < 1:
            raise ValueError("RadSec timeouts must be positive and max_connections at least 1")
        if context.verify_mode != ssl.CERT_REQUIRED:
            raise ValueError("a RadSec server context must require client certificates (RFC 6614 §2.3)")
        self.context = context
        self.identify = identify
        self.on_packet = on_packet
        self.on_drop = on_drop
        self.handshake_timeout = handshake_timeout
        self.idle_timeout = idle_timeout
        self.max_connections = max_connections
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._connections: set[_ServerConnection[PeerT]] = set()
        self._handshakes: set[asyncio.Task[None]] = set()
        self._warned: set[str] = set()

    @property
    def connections(self) -> int:
        """Identified connections open now."""
        return len(self._connections)

    async def start(self, sock: socket.socket) -> None:
        """Serve on an already bound, listening TCP socket (start-up binds every socket first)."""
        if self._accepting is not None:
            raise RuntimeError("this RadSec server is already started")
        sock.setblocking(False)
        self._listener = sock
        self._accepting = asyncio.get_running_loop().create_task(
            self._accept(sock), name=f"radsec-accept-{_where(sock.getsockname())}"
        )

    async def stop(self) -> None:
        """Stop listening, abandon handshakes, close every connection (close_notify, then abort)."""
        accepting, self._accepting = self._accepting, None
        if accepting is not None:
            accepting.cancel()
            await asyncio.gather(accepting, return_exceptions=True)
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for task in list(self._handshakes):
            task.cancel()
        await asyncio.gather(*self._handshakes, return_exceptions=True)
        await asyncio.gather(
            *(_close_transport(c.transport, c.closed) for c in list(self._connections)),
            return_exceptions=True,
        )

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        failures = FailureLog("radsec: accepting connections", log)
        while True:
            try:
                conn, address = await loop.sock_accept(listener)
            except (ConnectionAbortedError, InterruptedError):
                continue  # the client gave up before we got to it
            except OSError as exc:  # out of file descriptors or memory: wait, the kernel queues
                failures.failed(exc, loop.time())
                await asyncio.sleep(0.5)
                continue
            failures.succeeded(loop.time())
            source = (str(address[0]), int(address[1]))
            if len(self._connections) + len(self._handshakes) >= self.max_connections:
                conn.close()
                self._dropped(Drop.TOO_MANY_CONNECTIONS, source, "-")
                continue
            task = loop.create_task(self._handshake(conn, source), name=f"radsec-handshake-{_where(source)}")
            self._handshakes.add(task)
            task.add_done_callback(self._handshakes.discard)

    async def _handshake(self, conn: socket.socket, source: tuple[str, int]) -> None:
        loop = asyncio.get_running_loop()
        try:
            await loop.connect_accepted_socket(
                lambda: _ServerConnection(self, source),
                conn,
                ssl=self.context,
                ssl_handshake_timeout=self.handshake_timeout,
            )
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError; the transport is closed
            conn.close()
            self._dropped(Drop.TLS_HANDSHAKE, source, failure(exc))
        except asyncio.CancelledError:
            conn.close()
            raise

    def _dropped(self, reason: str, source: tuple[str, int], detail: str) -> None:
        if self.on_drop is not None:
            try:
                self.on_drop(str(reason))
            except Exception:
                log.exception("radsec: on_drop failed")
        # Once per reason at warning level (a scanner must not flood the log; the counters say how
        # many), except an unknown partner: only holders of a certificate from our CA get that far.
        level = logging.DEBUG if reason in self._warned else logging.WARNING
        if reason != Drop.UNKNOWN_PEER:
            self._warned.add(str(reason))
        log.log(
            level,
            "radsec: %s from %s (%s)",
            reason,
            _where(source),
            detail,
            extra={"peer_address": source[0]},
        )
