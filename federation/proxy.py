"""The proxy's protocol core: forward Access-Requests to partner regions, relay their answers. No I/O.

Theory of operation. :meth:`ProxyCore.forward` takes an authenticated request from one of our
access points (or from a transit partner) and the partner its realm routes to, picks a home
server of that partner's pool (lowest priority first, alive before zombie, never dead), and
returns the bytes to send there. The forwarded packet is a new request (RFC 2865 §2.3):

* a fresh Identifier from that server's space of 256 and a fresh Request Authenticator;
* User-Password re-hidden with the home server's secret (RFC 2865 §5.2); CHAP-Password keeps
  working because the original authenticator becomes CHAP-Challenge when there was none;
  EAP-Message, State and everything else pass through untouched, in order;
* Message-Authenticator first (BlastRADIUS), Operator-Name ``1<our realm>`` (RFC 5580 §4.1),
  a Chargeable-User-Identity request (one NUL octet, RFC 4372 §2.1) when the NAS sent none,
  and our own Proxy-State last (RFC 2865 §5.33), which starts with a per-deployment tag: a
  request that comes back to us carrying it is a routing loop and is refused.

UDP requests are resent identically every ``retry_interval`` (RFC 5080 §2.2.1: same Identifier
and authenticator) up to ``retries`` times; over RadSec never (TCP is reliable, RFC 6614 §2.5).
A server that leaves a request unanswered for ``response_window`` times out (its health hears
of it) and the request fails over to the next server of the pool; when none is left the
request is abandoned unanswered — the access point retries or fails over itself, as it would
had the partner been unreachable. Health (:mod:`federation.health`) drives Status-Server probes.

:meth:`ProxyCore.receive` checks a home server's reply (known Identifier, Response
Authenticator, Message-Authenticator) and turns it into a :class:`~radius.core.Decision` for
the access point: Message-Authenticator and Proxy-State are left for the server core to add
(it echoes the NAS's own Proxy-State), salt-encrypted keys (MS-MPPE, Tunnel-Password) are
re-encrypted for the access point's secret, and our site's limits are applied where they are
stricter than the partner's (:class:`LocalLimits`).
"""

from __future__ import annotations

import heapq
import itertools
import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from federation.health import Event, Health, State, Timers, Transition
from federation.relay import LocalLimits, Rekey, relay
from radius import codec
from radius.codec import Code, Malformed
from radius.core import Decision
from radius.events import RadiusRequest

ACCESS_REPLIES = frozenset({Code.ACCESS_ACCEPT, Code.ACCESS_REJECT, Code.ACCESS_CHALLENGE})
ACCOUNTING_REPLIES = frozenset({Code.ACCOUNTING_RESPONSE})
MAX_CHANNELS = 64  # UDP source ports per home server and process: 16,384 requests in flight


class Refused(Exception):
    """The request cannot be forwarded (loop, no server, too many outstanding); ``reason`` is a label."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """A home server as the proxy sees it (built from ``accounts.partners.HomeServerConfig``)."""

    id: int
    partner_id: int
    host: str
    port: int
    transport: str  # "udp" or "radsec"
    secret: bytes = field(repr=False)
    priority: int = 0
    tls_name: str | None = None
    #: "auth" (Access-Requests) or "acct" (forwarded Accounting-Requests, to the accounting port)
    kind: str = "auth"
    #: its Access-Accept/Reject must carry a Message-Authenticator (off: one legacy partner's
    #: server that cannot sign; every other server keeps refusing unsigned replies)
    require_message_authenticator: bool = True


@dataclass(eq=False, slots=True, kw_only=True)
class Pending:
    """One request on its way to a partner (identity-hashed: the I/O layer maps it to a future)."""

    request: RadiusRequest
    partner_id: int
    limits: LocalLimits
    clear_password: bytes | None
    serial: int
    started_at: float
    tried: set[int] = field(default_factory=set)
    server: _Server | None = None
    slot: int = -1  # channel × 256 + Identifier (see _Server)
    authenticator: bytes = b""
    data: bytes = b""
    sent_at: float = 0.0
    resends_left: int = 0
    deadline: float = 0.0  # next thing to do: resend, or time out
    accounting: bool = False


@dataclass(eq=False, slots=True, kw_only=True)
class Probe:
    """A Status-Server sent to a zombie or dead home server (RFC 5997 §4)."""

    server: _Server
    slot: int
    authenticator: bytes
    serial: int
    sent_at: float
    deadline: float


# -- what the core tells the I/O layer ----------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Send:
    """Fired when bytes must go to a home server (over its ``channel``: one UDP socket each)."""

    server_id: int
    data: bytes
    channel: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Relayed:
    """Fired when a home server answered a forwarded request: the decision for the access point."""

    pending: Pending
    decision: Decision
    server_id: int


@dataclass(frozen=True, slots=True, kw_only=True)
class Failed:
    """Fired when no home server of the pool answered: the request is abandoned unanswered."""

    pending: Pending
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthChanged:
    """Fired when a home server changes state (alive, zombie, dead)."""

    server_id: int
    transition: Transition


Output = Send | Relayed | Failed | HealthChanged


class _Server:
    """A home server's state here. A request's *slot* is channel × 256 + Identifier: one UDP
    socket (channel) has 256 Identifiers, so more requests in flight need more source ports, as
    FreeRADIUS opens them (RFC 2865 §3: the Identifier only distinguishes requests of one source
    address and port). A RadSec connection has one channel."""

    __slots__ = ("channels", "health", "next_slot", "outstanding", "spec")

    def __init__(self, spec: Target, health: Health, channels: int) -> None:
        self.spec = spec
        self.health = health
        self.channels = channels
        self.outstanding: dict[int, Pending | Probe] = {}
        self.next_slot = int.from_bytes(os.urandom(1), "big")

    def allocate(self) -> int | None:
        size = 256 * self.channels
        if len(self.outstanding) >= size:
            return None
        while self.next_slot in self.outstanding:
            self.next_slot = (self.next_slot + 1) % size
        slot, self.next_slot = self.next_slot, (self.next_slot + 1) % size
        return slot


class ProxyCore:
    def __init__(
        self,
        *,
        operator_name: str,
        loop_tag: bytes,
        timers: Timers | None = None,
        max_outstanding: int = 1024,
        require_message_authenticator: bool = True,
    ) -> None:
        self.operator_name = b"1" + operator_name.encode()  # RFC 5580 §4.1: namespace 1 is a realm
        self.loop_tag = loop_tag
        self.timers = timers or Timers()
        self.max_outstanding = max_outstanding
        self.require_message_authenticator = require_message_authenticator
        self.servers: dict[int, _Server] = {}
        self.pools: dict[tuple[int, str], list[_Server]] = {}
        self.outstanding: Counter[int] = Counter()  # per partner
        self.drops: Counter[str] = Counter()
        # (deadline, serial, server id, Identifier): plain numbers, not the request, so that an
        # answered request is freed at once rather than when its stale entry is popped; tuples of
        # numbers are also untracked by the cycle collector (every proxied request leaves one here
        # for retry_interval: held objects would make each collection scan thousands of them)
        self._timers: list[tuple[float, int, int, int]] = []
        self._serial = itertools.count(1)

    # -- configuration --------------------------------------------------------------------

    def channels(self, target: Target) -> int:
        """Source ports (UDP sockets) for a home server: enough Identifiers for ``max_outstanding``."""
        if target.transport != "udp":
            return 1  # RFC 6614 §2.5: one connection; 256 requests in flight on it
        return min(MAX_CHANNELS, -(-self.max_outstanding // 256))

    def configure(self, servers: Sequence[Target], now: float) -> list[Output]:
        """Take a new set of home servers; one that did not change keeps its health and requests.
        What was in flight to a server that changed or went away fails over at once."""
        kept: dict[int, _Server] = {}
        for spec in servers:
            old = self.servers.get(spec.id)
            if old is not None and old.spec == spec:
                kept[spec.id] = old
            else:
                kept[spec.id] = _Server(spec, Health(self.timers, now=now), self.channels(spec))
        orphans: list[Pending] = []
        for server_id, old in self.servers.items():
            if kept.get(server_id) is not old:
                orphans += [p for p in old.outstanding.values() if isinstance(p, Pending)]
                old.outstanding.clear()
        self.servers = kept
        pools: dict[tuple[int, str], list[_Server]] = {}
        for server in sorted(kept.values(), key=lambda s: (s.spec.priority, s.spec.id)):
            pools.setdefault((server.spec.partner_id, server.spec.kind), []).append(server)
        self.pools = pools
        out: list[Output] = []
        for pending in orphans:
            if pending.server is not None:
                pending.tried.discard(pending.server.spec.id)  # a changed server is a new one
            self._fail_over(pending, now, out)
        return out

    def state(self, server_id: int) -> State:
        return self.servers[server_id].health.state

    # -- forwarding -----------------------------------------------------------------------

    def forward(
        self, request: RadiusRequest, *, partner_id: int, limits: LocalLimits, now: float
    ) -> tuple[Pending, list[Output]]:
        """Start proxying a request; raises :class:`Refused` when it cannot be."""
        packet = request.packet
        if any(state.startswith(self.loop_tag) for state in packet.all(codec.PROXY_STATE)):
            raise Refused("loop")
        if self.outstanding[partner_id] >= self.max_outstanding:
            raise Refused("too_many_outstanding")
        hidden = packet.first(codec.USER_PASSWORD)
        clear = None
        if hidden is not None:
            clear = codec.unhide(hidden, request.client.secret, packet.authenticator)
            if clear is None:
                raise Refused("bad_user_password")
        pending = Pending(
            request=request,
            partner_id=partner_id,
            limits=limits,
            clear_password=clear,
            serial=next(self._serial) & 0xFFFFFFFF,
            started_at=now,
        )
        out: list[Output] = []
        if not self._send_to_next(pending, now, out):
            raise Refused("no_home_server")
        self.outstanding[partner_id] += 1
        return pending, out

    def forward_accounting(
        self, request: RadiusRequest, *, partner_id: int, now: float
    ) -> tuple[Pending, list[Output]]:
        """Send a copy of an Accounting-Request (already recorded and answered here) to the
        partner's accounting servers; raises :class:`Refused` when it cannot go."""
        if self.outstanding[partner_id] >= self.max_outstanding:
            raise Refused("too_many_outstanding")
        pending = Pending(
            request=request,
            partner_id=partner_id,
            limits=LocalLimits(),
            clear_password=None,
            serial=next(self._serial) & 0xFFFFFFFF,
            started_at=now,
            accounting=True,
        )
        out: list[Output] = []
        if not self._send_to_next(pending, now, out):
            raise Refused("no_home_server")
        self.outstanding[partner_id] += 1
        return pending, out

    def _pick(self, pending: Pending) -> _Server | None:
        pool = self.pools.get((pending.partner_id, "acct" if pending.accounting else "auth"), [])
        candidates = [s for s in pool if s.spec.id not in pending.tried and s.health.state is not State.DEAD]
        for server in candidates:
            if server.health.usable:
                return server
        return candidates[0] if candidates else None  # a zombie, when nothing better is left

    def _send_to_next(self, pending: Pending, now: float, out: list[Output]) -> bool:
        while True:
            server = self._pick(pending)
            if server is None:
                return False
            pending.tried.add(server.spec.id)
            slot = server.allocate()
            if slot is None:
                continue  # this server's identifiers are all in flight: the next one
            try:
                data = self._encode(pending, server.spec, slot & 0xFF)
            except ValueError:
                raise Refused("too_big") from None
            server.outstanding[slot] = pending
            pending.server, pending.slot, pending.data = server, slot, data
            pending.authenticator = data[4:20]
            pending.sent_at = now
            pending.resends_left = self.timers.retries if server.spec.transport == "udp" else 0
            self._arm(pending, now)
            out.append(Send(server_id=server.spec.id, data=data, channel=slot >> 8))
            return True

    def _arm(self, pending: Pending | Probe, now: float) -> None:
        timeout_at = pending.sent_at + self.timers.response_window
        resend_at = now + self.timers.retry_interval
        if isinstance(pending, Pending) and pending.resends_left and resend_at < timeout_at:
            pending.deadline = resend_at
        else:
            pending.deadline = timeout_at
        assert pending.server is not None
        entry = (pending.deadline, pending.serial, pending.server.spec.id, pending.slot)
        heapq.heappush(self._timers, entry)

    def _encode(self, pending: Pending, spec: Target, identifier: int) -> bytes:
        packet = pending.request.packet
        if pending.accounting:
            return self._encode_accounting(pending, spec, identifier)
        parts: list[bytes] = []
        has_challenge = packet.first(codec.CHAP_CHALLENGE) is not None
        authenticator = os.urandom(16)
        for attr, value in packet.attributes:
            if attr == codec.MESSAGE_AUTHENTICATOR:
                continue  # a new one is computed, first
            if attr == codec.USER_PASSWORD and pending.clear_password is not None:
                value = codec.hide_user_password(pending.clear_password, spec.secret, authenticator)
            parts.append(codec.tlv(attr, value))
        if packet.first(codec.CHAP_PASSWORD) is not None and not has_challenge:
            # RFC 2865 §5.3: without CHAP-Challenge the Request Authenticator was the challenge;
            # ours is new, so the home server must be told the original one
            parts.append(codec.tlv(codec.CHAP_CHALLENGE, packet.authenticator))
        if packet.first(codec.OPERATOR_NAME) is None:
            parts.append(codec.tlv(codec.OPERATOR_NAME, self.operator_name))
        if packet.first(codec.CHARGEABLE_USER_IDENTITY) is None:
            parts.append(codec.tlv(codec.CHARGEABLE_USER_IDENTITY, b"\x00"))
        parts.append(codec.tlv(codec.PROXY_STATE, self.loop_tag + pending.serial.to_bytes(4, "big")))
        data = codec.encode_request(
            code=Code.ACCESS_REQUEST,
            identifier=identifier,
            secret=spec.secret,
            attributes=b"".join(parts),
            authenticator=authenticator,
        )
        if len(data) > codec.MAX_LENGTH:
            raise ValueError("too big")
        return data

    def _encode_accounting(self, pending: Pending, spec: Target, identifier: int) -> bytes:
        """RFC 2866 §3: the Request Authenticator is computed over the packet with the new secret."""
        packet = pending.request.packet
        parts = [codec.tlv(a, v) for a, v in packet.attributes if a != codec.MESSAGE_AUTHENTICATOR]
        if packet.first(codec.OPERATOR_NAME) is None:
            parts.append(codec.tlv(codec.OPERATOR_NAME, self.operator_name))
        parts.append(codec.tlv(codec.PROXY_STATE, self.loop_tag + pending.serial.to_bytes(4, "big")))
        data = codec.encode_request(
            code=Code.ACCOUNTING_REQUEST,
            identifier=identifier,
            secret=spec.secret,
            attributes=b"".join(parts),
        )
        if len(data) > codec.MAX_LENGTH:
            raise ValueError("too big")
        return data

    # -- probes ---------------------------------------------------------------------------

    def _probe(self, server: _Server, now: float, out: list[Output]) -> None:
        slot = server.allocate()
        if slot is None:
            return
        data = codec.encode_request(
            code=Code.STATUS_SERVER,
            identifier=slot & 0xFF,
            secret=server.spec.secret,
            attributes=codec.tlv(codec.OPERATOR_NAME, self.operator_name),
        )
        probe = Probe(
            server=server,
            slot=slot,
            authenticator=data[4:20],
            serial=next(self._serial) & 0xFFFFFFFF,
            sent_at=now,
            deadline=0.0,
        )
        server.outstanding[slot] = probe
        server.health.probe_sent(now)
        self._arm(probe, now)
        out.append(Send(server_id=server.spec.id, data=data, channel=slot >> 8))

    # -- replies --------------------------------------------------------------------------

    def receive(self, server_id: int, data: bytes, now: float, *, channel: int = 0) -> list[Output]:
        """A datagram (or stream packet) from a home server, on one of its channels."""
        server = self.servers.get(server_id)
        if server is None:
            self.drops["unknown_server"] += 1
            return []
        try:
            reply = codec.parse(data)
        except Malformed as exc:
            self.drops[exc.reason] += 1
            return []
        slot = channel << 8 | reply.identifier
        pending = server.outstanding.get(slot)
        if pending is None:
            self.drops["unmatched_reply"] += 1  # late: answered already, or given up on
            return []
        if reply.code not in _expected(pending):
            self.drops["unknown_code"] += 1
            return []
        secret = server.spec.secret
        if not codec.response_authenticator_valid(reply, secret, request_authenticator=pending.authenticator):
            self.drops["bad_response_authenticator"] += 1
            return []
        authenticator = pending.authenticator
        if reply.first(codec.MESSAGE_AUTHENTICATOR) is not None:
            if not codec.message_authenticator_valid(reply, secret, request_authenticator=authenticator):
                self.drops["bad_message_authenticator"] += 1
                return []
        elif (
            isinstance(pending, Pending)
            and not pending.accounting
            and (
                (self.require_message_authenticator and server.spec.require_message_authenticator)
                or reply.code == Code.ACCESS_CHALLENGE
            )
        ):
            # BlastRADIUS: a forged Accept has none. A probe's answer only says "alive", which the
            # Response Authenticator proves already (FreeRADIUS 3.2.1 does not sign it). Required
            # unless both the federation-wide setting and this server's own say otherwise.
            self.drops["missing_message_authenticator"] += 1
            return []
        del server.outstanding[slot]
        out: list[Output] = []
        if isinstance(pending, Probe):
            self._health(server, Event.PROBE_ANSWER, now, out)
            return out
        self._health(server, Event.ANSWER, now, out)
        self.outstanding[pending.partner_id] -= 1
        pending.server = None
        if pending.accounting:
            decision = Decision(code=Code.ACCOUNTING_RESPONSE)
        else:
            request = pending.request
            decision = relay(
                reply,
                keys=Rekey(
                    home_secret=server.spec.secret,
                    home_authenticator=pending.authenticator,
                    nas_secret=request.client.secret,
                    nas_authenticator=request.packet.authenticator,
                ),
                limits=pending.limits,
                drops=self.drops,
            )
        out.append(Relayed(pending=pending, decision=decision, server_id=server_id))
        return out

    # -- time -----------------------------------------------------------------------------

    def next_deadline(self) -> float | None:
        return self._timers[0][0] if self._timers else None

    def handle_timer(self, now: float) -> list[Output]:
        out: list[Output] = []
        while self._timers and self._timers[0][0] <= now:
            deadline, serial, server_id, slot = heapq.heappop(self._timers)
            server = self.servers.get(server_id)
            if server is None:
                continue  # its server went away
            item = server.outstanding.get(slot)
            if item is None or item.serial != serial or item.deadline != deadline:
                continue  # answered, or superseded by a later arming
            in_window = now < item.sent_at + self.timers.response_window
            if isinstance(item, Pending) and item.resends_left and in_window:
                item.resends_left -= 1
                # RFC 5080 §2.2.1: identical, on the same source port
                out.append(Send(server_id=server.spec.id, data=item.data, channel=slot >> 8))
                self._arm(item, now)
                continue
            del server.outstanding[slot]
            if isinstance(item, Probe):
                self._health(server, Event.PROBE_TIMEOUT, now, out)
                continue
            self._health(server, Event.TIMEOUT, now, out)
            self._fail_over(item, now, out)
        for server in self.servers.values():
            transition = server.health.check_zombie(now)
            if transition is not None:
                out.append(HealthChanged(server_id=server.spec.id, transition=transition))
            if server.health.probe_due(now) and server.health.state in (State.ZOMBIE, State.DEAD):
                self._probe(server, now, out)
        return out

    def _fail_over(self, pending: Pending, now: float, out: list[Output]) -> None:
        pending.server = None
        if not self._send_to_next(pending, now, out):
            self.outstanding[pending.partner_id] -= 1
            out.append(Failed(pending=pending, reason="no_answer"))

    def _health(self, server: _Server, event: Event, now: float, out: list[Output]) -> None:
        transition = server.health.on(event, now)
        if transition is not None:
            out.append(HealthChanged(server_id=server.spec.id, transition=transition))

    def connection(self, server_id: int, *, up: bool, now: float) -> list[Output]:
        """A RadSec connection came up or went down; what was in flight on it fails over."""
        server = self.servers.get(server_id)
        if server is None:
            return []
        out: list[Output] = []
        self._health(server, Event.CONNECTED if up else Event.CONNECTION_LOST, now, out)
        if not up:
            lost, server.outstanding = list(server.outstanding.values()), {}
            for item in lost:
                if isinstance(item, Pending):
                    self._fail_over(item, now, out)
        return out


def _expected(pending: Pending | Probe) -> frozenset[Code]:
    """The reply codes a request may get: RFC 5997 §3 answers Status-Server on an accounting port
    with Accounting-Response, and on an authentication port with Access-Accept."""
    if isinstance(pending, Probe):
        return frozenset(
            {Code.ACCOUNTING_RESPONSE if pending.server.spec.kind == "acct" else Code.ACCESS_ACCEPT}
        )
    return ACCOUNTING_REPLIES if pending.accounting else ACCESS_REPLIES
