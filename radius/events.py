"""What the protocol core tells the I/O layer. Frozen, slotted, keyword-only, named for what happened."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from radius.clients import Client
from radius.codec import Packet

Address = tuple[str, int]


class DropReason(enum.StrEnum):
    """Why a datagram got no answer; each is a metric label."""

    UNKNOWN_CLIENT = "unknown_client"
    SHORT_PACKET = "short_packet"
    BAD_LENGTH = "bad_length"
    TRUNCATED_PACKET = "truncated_packet"
    TRUNCATED_ATTRIBUTE = "truncated_attribute"
    BAD_MESSAGE_AUTHENTICATOR_ATTRIBUTE = "bad_message_authenticator_attribute"
    UNKNOWN_CODE = "unknown_code"
    MISSING_MESSAGE_AUTHENTICATOR = "missing_message_authenticator"
    BAD_MESSAGE_AUTHENTICATOR = "bad_message_authenticator"
    BAD_REQUEST_AUTHENTICATOR = "bad_request_authenticator"
    BAD_ATTRIBUTE = "bad_attribute"
    DUPLICATE_IN_PROGRESS = "duplicate_in_progress"
    OVERLOAD = "overload"
    POLICY_FAILED = "policy_failed"
    SUPERSEDED = "superseded"
    NOT_SERVED = "not_served"  # a port this server runs no handler for
    BAD_ACCOUNTING = "bad_accounting"  # an Accounting-Request without Acct-Status-Type or Acct-Session-Id
    NOT_RECORDED = "not_recorded"  # accounting that could not be committed: unanswered, the NAS retries
    DATABASE_UNAVAILABLE = "database_unavailable"  # a request that needs the database while it is away
    PROXY_FAILED = "proxy_failed"  # no home server of the partner answered: unanswered, the NAS retries
    REPLY_TOO_BIG = "reply_too_big"  # the reply, with the Proxy-State to echo, exceeds 4,096 octets
    REPLY_FAILED = "reply_failed"  # the reply could not be encoded (our bug: logged with its traceback)
    EAP_DISCARDED = "eap_discarded"  # an EAP round left unanswered (unknown State, full table, …)
    MISDIRECTED = "misdirected"  # names another worker's conversation, and there is no link to it
    INTERNAL_ERROR = "internal_error"  # any other exception of ours on a request's path (logged likewise)


@dataclass(frozen=True, slots=True, kw_only=True)
class RadiusRequest:
    """An authenticated, new request from a known client, waiting for a policy decision."""

    packet: Packet
    client: Client
    source: Address
    local_port: int
    received_at: float


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestReceived:
    """Fired when an authenticated request that is not a duplicate needs a decision."""

    request: RadiusRequest


@dataclass(frozen=True, slots=True, kw_only=True)
class ReplyReady:
    """Fired when bytes must be sent back: a decision, a cached duplicate reply, or a Status-Server answer."""

    data: bytes
    destination: Address
    duplicate: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PacketDropped:
    """Fired when a datagram is discarded without an answer (RFC 2865 §3: silently)."""

    reason: DropReason
    source: Address
    client: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestMisdirected:
    """Fired when an authenticated request continues a conversation another worker process holds
    (its State names that worker: :mod:`radius.workerroute`); it is forwarded there unanswered."""

    worker: int
    data: bytes
    source: Address
    local_port: int


Event = RequestReceived | ReplyReady | PacketDropped | RequestMisdirected


class Discard(Exception):
    """Raised by a handler: leave the request unanswered (the NAS retries) and count why."""

    def __init__(self, reason: DropReason) -> None:
        super().__init__(reason.value)
        self.reason = reason
