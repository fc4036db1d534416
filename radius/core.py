"""The RADIUS server's protocol core: bytes, source and ``now`` in; events out. No I/O, no clock.

Theory of operation. One :class:`ServerCore` serves one port kind (authentication or
accounting). :meth:`ServerCore.receive_datagram` runs every datagram through a fixed sequence
of checks, each of which may end it with :class:`PacketDropped`:

1. the source address must belong to a known client (longest-prefix match);
2. the framing must be valid (:func:`radius.codec.parse`);
3. the code must be one this port serves (RFC 2865 / 2866 / 5997);
4. the packet must be authentic: Message-Authenticator over the raw packet for Access-Request
   (required unless the client is marked legacy — BlastRADIUS, CVE-2024-3596) and Status-Server
   (always required, RFC 5997 §3); the Request Authenticator for Accounting-Request;
5. Status-Server is answered at once (Access-Accept or Accounting-Response, RFC 5997 §3);
6. with several worker processes, a request whose State names another worker's conversation
   is :class:`RequestMisdirected` (forwarded there: :mod:`radius.workerroute`);
7. the RFC 5080 duplicate cache decides: a new request becomes :class:`RequestReceived`, a
   retransmission of an answered one gets the cached reply, one still in progress is dropped.

The I/O layer runs the policy on a :class:`RequestReceived` and calls :meth:`ServerCore.finish`
with the :class:`Decision`; the core encodes the reply (Message-Authenticator first, Proxy-State
echoed in order), caches it for duplicates, and returns :class:`ReplyReady`.
"""

from __future__ import annotations

import enum
from collections import Counter
from dataclasses import dataclass
from typing import Any

from radius import codec
from radius.clients import Client, ClientTable
from radius.codec import Code, Malformed
from radius.duplicates import DuplicateCache, Verdict
from radius.events import (
    Address,
    DropReason,
    Event,
    PacketDropped,
    RadiusRequest,
    ReplyReady,
    RequestMisdirected,
    RequestReceived,
)
from radius.workerroute import state_owner


class PortKind(enum.StrEnum):
    AUTH = "auth"
    ACCT = "acct"


ACCEPTED_CODES = {
    PortKind.AUTH: frozenset({Code.ACCESS_REQUEST, Code.STATUS_SERVER}),
    PortKind.ACCT: frozenset({Code.ACCOUNTING_REQUEST, Code.STATUS_SERVER}),
}

REPLY_CODES = {
    PortKind.AUTH: frozenset({Code.ACCESS_ACCEPT, Code.ACCESS_REJECT, Code.ACCESS_CHALLENGE}),
    PortKind.ACCT: frozenset({Code.ACCOUNTING_RESPONSE}),
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The policy's answer: a reply code and its attributes.

    ``attributes`` are (name, value) pairs encoded through the dictionary and cached: they
    repeat (a site's policy); ``secret_attributes`` are encrypted with the client's secret (MPPE
    keys); ``class_`` (RFC 2865 §5.25) differs for every reply, so it is framed directly;
    ``raw`` is attributes already on the wire (a home server's reply relayed by the proxy).
    """

    code: Code
    attributes: tuple[tuple[str, Any], ...] = ()
    secret_attributes: tuple[tuple[str, Any], ...] = ()
    class_: bytes | None = None
    raw: bytes = b""


class ServerCore:
    def __init__(
        self,
        *,
        kind: PortKind,
        clients: ClientTable,
        codec_: codec.Codec,
        duplicates: DuplicateCache | None = None,
        worker: int = 0,
        workers: int = 1,
    ) -> None:
        """``worker`` of ``workers``: this process's index among the worker processes sharing the
        ports (a request continuing another's conversation is :class:`RequestMisdirected`)."""
        self.kind = kind
        self.worker = worker
        self.workers = workers
        self.clients = clients
        self.codec = codec_
        self.duplicates = duplicates or DuplicateCache()
        self.accepted = ACCEPTED_CODES[kind]
        self.drops: Counter[DropReason] = Counter()
        self.received: Counter[str] = Counter()

    def drop(self, reason: DropReason, source: Address, client: str | None = None) -> PacketDropped:
        self.drops[reason] += 1
        return PacketDropped(reason=reason, source=source, client=client)

    def receive_datagram(
        self, data: bytes, source: Address, local_port: int, now: float, *, client: Client | None = None
    ) -> Event:
        """``client``: the peer is already known (RadSec: by its certificate, RFC 6614 §2.3)."""
        client = client or self.clients.lookup(source[0])
        if client is None:
            return self.drop(DropReason.UNKNOWN_CLIENT, source)
        try:
            packet = codec.parse(data)
        except Malformed as exc:
            return self.drop(DropReason(exc.reason), source, client.name)
        if packet.code not in self.accepted:
            return self.drop(DropReason.UNKNOWN_CODE, source, client.name)

        has_ma = packet.first(codec.MESSAGE_AUTHENTICATOR) is not None
        if packet.code == Code.ACCOUNTING_REQUEST:
            if not codec.request_authenticator_valid(packet, client.secret):
                return self.drop(DropReason.BAD_REQUEST_AUTHENTICATOR, source, client.name)
            if has_ma and not codec.message_authenticator_valid(packet, client.secret):
                return self.drop(DropReason.BAD_MESSAGE_AUTHENTICATOR, source, client.name)
        else:
            must_sign = packet.code == Code.STATUS_SERVER or client.require_message_authenticator
            if not has_ma and (must_sign or packet.first(codec.EAP_MESSAGE) is not None):
                return self.drop(DropReason.MISSING_MESSAGE_AUTHENTICATOR, source, client.name)
            if has_ma and not codec.message_authenticator_valid(packet, client.secret):
                return self.drop(DropReason.BAD_MESSAGE_AUTHENTICATOR, source, client.name)

        self.received[Code(packet.code).name] += 1
        if packet.code == Code.STATUS_SERVER:
            try:
                return ReplyReady(data=self._status_reply(packet, client.secret), destination=source)
            except codec.ReplyTooBig:
                return self.drop(DropReason.REPLY_TOO_BIG, source, client.name)

        if self.workers > 1 and packet.code == Code.ACCESS_REQUEST:
            owner = state_owner(packet.first(codec.STATE))
            if owner is not None and owner != self.worker and owner < self.workers:
                # the owner's duplicate cache, not ours, sees this request and its retransmissions
                return RequestMisdirected(worker=owner, data=data, source=source, local_port=local_port)

        key = (source[0], source[1], packet.identifier, local_port)
        verdict, cached = self.duplicates.check(key, packet.authenticator, now)
        if verdict is Verdict.IN_PROGRESS:
            return self.drop(DropReason.DUPLICATE_IN_PROGRESS, source, client.name)
        if verdict is Verdict.ANSWERED:
            assert cached is not None
            self.received["duplicate_answered"] += 1
            return ReplyReady(data=cached, destination=source, duplicate=True)
        request = RadiusRequest(
            packet=packet, client=client, source=source, local_port=local_port, received_at=now
        )
        return RequestReceived(request=request)

    def _status_reply(self, packet: codec.Packet, secret: bytes) -> bytes:
        # RFC 5997 §3: Access-Accept on the auth port, Accounting-Response on the accounting port,
        # both with a Message-Authenticator computed with the Status-Server's authenticator.
        code = Code.ACCESS_ACCEPT if self.kind is PortKind.AUTH else Code.ACCOUNTING_RESPONSE
        return codec.encode_reply(
            code=code,
            identifier=packet.identifier,
            request_authenticator=packet.authenticator,
            secret=secret,
            proxy_states=packet.all(codec.PROXY_STATE),
        )

    def finish(self, request: RadiusRequest, decision: Decision, now: float) -> ReplyReady | PacketDropped:
        """Encode the reply to a request, remember it for retransmissions, and hand it to I/O.

        A reply that would exceed 4,096 octets is dropped (:attr:`DropReason.REPLY_TOO_BIG`):
        RFC 2865 §5.33 requires every Proxy-State to be echoed, so nothing of it can be left
        out, and a peer that filled its request with them gets no answer. The request is
        forgotten by the duplicate cache, as for any request abandoned.
        """
        if decision.code not in REPLY_CODES[self.kind]:
            raise ValueError(f"{decision.code!r} is not a reply on the {self.kind} port")
        try:
            data = self._encode(request, decision)
        except codec.ReplyTooBig:
            return self.abandon(request, DropReason.REPLY_TOO_BIG)
        packet, client = request.packet, request.client
        key = (request.source[0], request.source[1], packet.identifier, request.local_port)
        if not self.duplicates.answered(key, packet.authenticator, data, now):
            return self.drop(DropReason.SUPERSEDED, request.source, client.name)
        return ReplyReady(data=data, destination=request.source)

    def _encode(self, request: RadiusRequest, decision: Decision) -> bytes:
        packet, client = request.packet, request.client
        attributes = self.codec.encode(decision.attributes) if decision.attributes else b""
        attributes += decision.raw
        if decision.class_ is not None:
            attributes += codec.tlv(codec.CLASS, decision.class_)
        if decision.secret_attributes:
            attributes += self.codec.encode_secret(
                decision.secret_attributes, secret=client.secret, request_authenticator=packet.authenticator
            )
        accounting = self.kind is PortKind.ACCT
        return codec.encode_reply(
            code=decision.code,
            identifier=packet.identifier,
            request_authenticator=packet.authenticator,
            secret=client.secret,
            attributes=attributes,
            proxy_states=packet.all(codec.PROXY_STATE),
            sign=not accounting,  # RFC 2869: Accounting-Response needs none; every Access-* reply has one
        )

    def abandon(self, request: RadiusRequest, reason: DropReason) -> PacketDropped:
        """Give up on a request without answering (overload, a failing database); the NAS will retry."""
        key = (request.source[0], request.source[1], request.packet.identifier, request.local_port)
        self.duplicates.forget(key, request.packet.authenticator)
        return self.drop(reason, request.source, request.client.name)

    def handle_timer(self, now: float) -> None:
        self.duplicates.expire(now)

    def replace_clients(self, clients: ClientTable) -> None:
        self.clients = clients
