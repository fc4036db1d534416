"""Which worker process holds a conversation, and the messages that carry a request to it.

Theory of operation. An EAP conversation is a dozen Access-Request/Access-Challenge rounds whose
TLS state (a live OpenSSL connection) exists in one process only and cannot be moved. With
``--radius-workers N`` the kernel spreads datagrams by their 4-tuple (SO_REUSEPORT), so rounds of
one conversation reach different workers as soon as an access point sends them from several
source ports (controllers with a socket per thread, a partner's proxy, a NAT rebinding).

So the State attribute (RFC 2865 §5.24: the NAS returns it unchanged in the next request) names
its worker: ``b"S" | version | worker index | 16 random octets``. A worker that receives a request
whose State names another worker does not answer it: it forwards the datagram, with its source and
the listener it arrived on, to that worker over a local Unix datagram socket
(:mod:`radius.workerlink`), and the owner answers it from its own socket on the same shared port
(the reply leaves from the address and port the NAS sent to). Retransmissions follow the same
path, so the owner's RFC 5080 duplicate cache sees them all.

Forwarded messages are authenticated with a key the supervisor gives its workers at start (HMAC-
SHA-256): another local process cannot inject requests with a forged source address (a reply to a
victim). The NAS's own Message-Authenticator is checked again by the owner, as for any datagram.
Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import struct
from dataclasses import dataclass

STATE_TAG = b"S"
STATE_VERSION = 1
STATE_RANDOM = 16
STATE_LENGTH = 3 + STATE_RANDOM
MAX_WORKERS = 256

#: forwarded message: MAC(16) | listener(1) | port(2) | address length(1) | address | datagram
_MAC = 16
_HEAD = struct.Struct("!BHB")


def make_state(worker: int, random: bytes) -> bytes:
    """A State value naming ``worker``; ``random``: 16 unpredictable octets (the conversation's
    name: whoever guesses it could inject rounds into someone else's conversation)."""
    if not 0 <= worker < MAX_WORKERS or len(random) != STATE_RANDOM:
        raise ValueError("a worker index below 256 and 16 random octets")
    return STATE_TAG + bytes((STATE_VERSION, worker)) + random


def state_owner(state: bytes | None) -> int | None:
    """The worker a State names, or None when it is not one of ours (then nobody owns it)."""
    if state is None or len(state) != STATE_LENGTH or state[:2] != STATE_TAG + bytes((STATE_VERSION,)):
        return None
    return state[2]


@dataclass(frozen=True, slots=True, kw_only=True)
class Forwarded:
    """A datagram another worker received for a conversation this worker holds."""

    listener: int  # index into the worker's listeners (the same list, in the same order, in each)
    source: tuple[str, int]
    data: bytes


def seal(key: bytes, *, listener: int, source: tuple[str, int], data: bytes) -> bytes:
    address = ipaddress.ip_address(source[0].partition("%")[0]).packed
    body = _HEAD.pack(listener, source[1], len(address)) + address + data
    return hmac.new(key, body, hashlib.sha256).digest()[:_MAC] + body


def unseal(key: bytes, message: bytes) -> Forwarded | None:
    """The forwarded datagram, or None when the message is not one of our workers' (bad MAC,
    truncated): then it is dropped and counted by the caller."""
    if len(message) < _MAC + _HEAD.size:
        return None
    mac, body = message[:_MAC], message[_MAC:]
    if not hmac.compare_digest(mac, hmac.new(key, body, hashlib.sha256).digest()[:_MAC]):
        return None
    listener, port, length = _HEAD.unpack_from(body)
    if length not in (4, 16) or len(body) < _HEAD.size + length:
        return None
    address = ipaddress.ip_address(body[_HEAD.size : _HEAD.size + length])
    return Forwarded(listener=listener, source=(str(address), port), data=body[_HEAD.size + length :])
