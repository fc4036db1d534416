"""Packets and credentials for radload: generated or file-based credentials, and RADIUS
Access-Request encoding (RFC 2865 §5.2 password hiding, RFC 2869 §5.14 Message-Authenticator
first) plus reply checks, written independently of Sésame's codec so the benchmark does not
measure Sésame with its own code."""

from __future__ import annotations

import csv
import functools
import hashlib
import ipaddress
import math
import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ACCESS_REQUEST, ACCESS_ACCEPT, ACCESS_REJECT, ACCESS_CHALLENGE = 1, 2, 3, 11
USER_NAME, USER_PASSWORD, NAS_IP_ADDRESS = 1, 2, 4
CALLED_STATION_ID, CALLING_STATION_ID, NAS_PORT_TYPE, MESSAGE_AUTHENTICATOR = 30, 31, 61, 80
NAS_PORT_TYPE_WIRELESS_80211 = 19

DEFAULT_PATTERN = "user{i}@bench.example"
CHUNK = 256  # packets encoded at a time for one socket: one full turn of its Identifiers

# --------------------------------------------------------------------------------------------------
# Credentials


@dataclass(frozen=True, slots=True)
class Credential:
    user: str
    password: str
    calling_station_id: str | None = None


def bench_mac(i: int) -> str:
    """The i-th benchmark MAC address, locally administered, as CoovaChilli writes it: 02-00-00-00-00-2A."""
    return "02-00-{:02X}-{:02X}-{:02X}-{:02X}".format(*i.to_bytes(4, "big"))


def bench_user(i: int, pattern: str = DEFAULT_PATTERN) -> str:
    return pattern.format(i=i)


def scatter(n: int) -> Iterator[int]:
    """0..n-1 in a scattered order (a stride coprime with n), so a server's caches see no sequence."""
    stride = max(1, int(n * 0.6180339887)) | 1
    while math.gcd(stride, n) != 1:
        stride += 2
    for i in range(n):
        yield (i * stride) % n


def generated(
    n: int, kind: str, pattern: str, password: str, *, once: bool, offset: int, order: str
) -> Iterator[Credential]:
    """Credentials made on the fly: ``user{i}@realm`` with one password, or MAC addresses."""
    first = True
    while first or not once:
        indices = scatter(n) if order == "scattered" else iter(range(n))
        for pos, i in enumerate(indices):
            if first and pos < offset:
                continue
            if kind == "mac":
                mac = bench_mac(i)
                yield Credential(mac, mac, mac)
            else:
                yield Credential(bench_user(i, pattern), password)
        first = False


def from_file(path: Path, *, once: bool, offset: int) -> Iterator[Credential]:
    """Credentials read lazily from a CSV file of ``user,password`` or ``mac`` lines (``#`` comments)."""
    first = True
    while first or not once:
        yielded = 0
        with path.open(newline="", encoding="utf-8") as f:
            for pos, row in enumerate(r for r in csv.reader(f) if r and not r[0].startswith("#")):
                if first and pos < offset:
                    continue
                yielded += 1
                if len(row) == 1:
                    mac = row[0].strip()
                    yield Credential(mac, mac, mac)
                else:
                    yield Credential(row[0], row[1])
        if not yielded and not first:
            return
        first = False


def write_credentials(path: Path, creds: list[Credential]) -> None:
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        for c in creds:
            w.writerow([c.user] if c.calling_station_id == c.user == c.password else [c.user, c.password])


# --------------------------------------------------------------------------------------------------
# Encoding


def _attr(code: int, value: bytes) -> bytes:
    if len(value) > 253:
        raise ValueError(f"attribute {code} too long ({len(value)} bytes)")
    return bytes((code, len(value) + 2)) + value


@functools.lru_cache(maxsize=16)
def _hmac_pads(secret: bytes) -> tuple[Any, Any]:
    key = hashlib.md5(secret).digest() if len(secret) > 64 else secret
    key = key.ljust(64, b"\x00")
    return hashlib.md5(bytes(b ^ 0x36 for b in key)), hashlib.md5(bytes(b ^ 0x5C for b in key))


def hmac_md5(secret: bytes, msg: bytes) -> bytes:
    """HMAC-MD5 (RFC 2104) from precomputed pad states: twice as fast as hmac.digest for short messages."""
    inner, outer = _hmac_pads(secret)
    h = inner.copy()
    h.update(msg)
    o = outer.copy()
    o.update(h.digest())
    digest: bytes = o.digest()
    return digest


@functools.lru_cache(maxsize=16)
def _secret_md5(secret: bytes) -> Any:
    return hashlib.md5(secret)


def hide_password(password: bytes, secret: bytes, authenticator: bytes) -> bytes:
    """RFC 2865 §5.2: pad to 16-byte blocks, XOR each with MD5(secret + previous cipher block)."""
    if len(password) > 128:
        raise ValueError("User-Password longer than 128 bytes")
    padded = password.ljust(max(16, (len(password) + 15) // 16 * 16), b"\x00")
    base = _secret_md5(secret)
    out = b""
    prev = authenticator
    for k in range(0, len(padded), 16):
        h = base.copy()
        h.update(prev)
        prev = (int.from_bytes(padded[k : k + 16], "big") ^ int.from_bytes(h.digest(), "big")).to_bytes(
            16, "big"
        )
        out += prev
    return out


@dataclass(frozen=True)
class RequestOptions:
    """Attributes added to every request besides User-Name and User-Password."""

    nas_ip: str | None = None
    called_station_id: str | None = None
    calling_station_id: bool = False  # for user credentials: a MAC derived from a counter
    wireless: bool = False  # NAS-Port-Type = Wireless-802.11 (19)


class Encoder:
    """Builds Access-Requests. All hashing is done here, before the packet is queued for sending."""

    def __init__(self, secret: bytes, options: RequestOptions) -> None:
        self.secret = secret
        fixed = b""
        if options.nas_ip:
            fixed += _attr(NAS_IP_ADDRESS, ipaddress.IPv4Address(options.nas_ip).packed)
        if options.called_station_id:
            fixed += _attr(CALLED_STATION_ID, options.called_station_id.encode())
        if options.wireless:
            fixed += _attr(NAS_PORT_TYPE, NAS_PORT_TYPE_WIRELESS_80211.to_bytes(4, "big"))
        self.fixed = fixed
        self.auto_calling = options.calling_station_id
        self.counter = 0
        self.random = b""
        self.rpos = 0

    def _authenticator(self) -> bytes:
        if self.rpos >= len(self.random):
            self.random, self.rpos = os.urandom(16 * 4096), 0
        self.rpos += 16
        return self.random[self.rpos - 16 : self.rpos]

    def encode(self, ident: int, cred: Credential) -> tuple[bytes, bytes]:
        """Return (packet, request authenticator)."""
        secret = self.secret
        auth = self._authenticator()
        calling = cred.calling_station_id
        if calling is None and self.auto_calling:
            calling = bench_mac(self.counter)
            self.counter += 1
        attrs = (
            _attr(USER_NAME, cred.user.encode())
            + _attr(USER_PASSWORD, hide_password(cred.password.encode(), secret, auth))
            + self.fixed
            + (_attr(CALLING_STATION_ID, calling.encode()) if calling else b"")
        )
        head = struct.pack("!BBH", ACCESS_REQUEST, ident, 38 + len(attrs)) + auth
        ma = hmac_md5(secret, head + b"\x50\x12" + bytes(16) + attrs)
        return head + b"\x50\x12" + ma + attrs, auth


def check_reply(data: bytes, req_auth: bytes, secret: bytes) -> int:
    """Return the reply code if the Response Authenticator (and a leading Message-Authenticator) is
    right, else -1 (bad authenticator) or -2 (bad Message-Authenticator)."""
    if len(data) < 20:
        return -1
    length = (data[2] << 8) | data[3]
    if length < 20 or length > len(data):
        return -1
    data = data[:length]
    if hashlib.md5(data[:4] + req_auth + data[20:] + secret).digest() != data[4:20]:
        return -1
    if length >= 38 and data[20] == MESSAGE_AUTHENTICATOR and data[21] == 18:
        expect = hmac_md5(secret, data[:4] + req_auth + data[20:22] + bytes(16) + data[38:])
        if expect != data[22:38]:
            return -2
    return data[0]


# --------------------------------------------------------------------------------------------------
# Accounting (RFC 2866): realistic session streams


ACCOUNTING_REQUEST, ACCOUNTING_RESPONSE = 4, 5
NAS_PORT, FRAMED_IP_ADDRESS, NAS_IDENTIFIER = 5, 8, 32
ACCT_STATUS_TYPE, ACCT_DELAY_TIME, ACCT_INPUT_OCTETS, ACCT_OUTPUT_OCTETS = 40, 41, 42, 43
ACCT_SESSION_ID, ACCT_AUTHENTIC, ACCT_SESSION_TIME = 44, 45, 46
ACCT_INPUT_PACKETS, ACCT_OUTPUT_PACKETS, ACCT_TERMINATE_CAUSE = 47, 48, 49
ACCT_INPUT_GIGAWORDS, ACCT_OUTPUT_GIGAWORDS, ACCT_INTERIM_INTERVAL = 52, 53, 85
START, STOP, INTERIM_UPDATE = 1, 2, 3
STEP_BITS = 4  # a record's tag: session << STEP_BITS | step
INTERIM_SECONDS = 300  # simulated time between two records of a session


def acct_tag(session: int, step: int) -> int:
    return session << STEP_BITS | step


def acct_status(step: int, interims: int) -> int:
    """Step 0 is the Start, steps 1..interims the Interim-Updates, then the Stop."""
    return START if step == 0 else STOP if step == interims + 1 else INTERIM_UPDATE


def acct_values(session: int, step: int) -> tuple[int, int, int]:
    """(Acct-Session-Time, input octets, output octets) of a record: running totals that grow with
    each step; a session's output passes 2**32 at its third step (Gigawords then carry the rest)."""
    return step * INTERIM_SECONDS, step * (3_000_000 + session % 1009), step * (1_500_000_000 + session % 997)


def acct_session_id(prefix: str, session: int) -> str:
    return f"{prefix}{session:08X}"


def acct_record(position: int, interims: int, window: int) -> int:
    """The tag of the record at ``position`` in the stream: ``window`` sessions at a time, their
    Starts, then their first Interim-Updates, …, then their Stops, then the next ``window`` sessions.
    Two records of one session are ``window`` positions apart, as a NAS's many sessions interleave."""
    per_wave = window * (interims + 2)
    wave, rest = divmod(position, per_wave)
    step, slot = divmod(rest, window)
    return (wave * window + slot) << STEP_BITS | step


def acct_stream(interims: int, window: int, *, start: int = 0, stride: int = 1) -> Iterator[int]:
    """Record tags at positions start, start + stride, … of the stream (one socket's share of it
    when the stream is dealt over ``stride`` sockets, so that sending round robin keeps its order)."""
    position = start
    while True:
        yield acct_record(position, interims, window)
        position += stride


class AcctEncoder:
    """Builds Accounting-Requests (CoovaChilli-like attributes) from record tags.

    Request Authenticator = MD5(Code + Identifier + Length + 16 zero octets + attributes + secret)
    (RFC 2866 §3): a record is fixed by its tag, so each is sent once (never a retransmission)."""

    def __init__(
        self,
        secret: bytes,
        *,
        prefix: str,
        interims: int,
        users: int,
        pattern: str = DEFAULT_PATTERN,
        nas_ip: str = "127.0.0.1",
        nas_id: str = "bench-ap",
        called_station_id: str = "AA-BB-CC-00-00-01:Sesame",
    ) -> None:
        if not 0 <= interims < (1 << STEP_BITS) - 1:
            raise ValueError("interims must be between 0 and 14")
        self.secret = secret
        self.prefix = prefix
        self.interims = interims
        self.users = max(1, users)
        self.pattern = pattern
        self.fixed = (
            _attr(NAS_IP_ADDRESS, ipaddress.IPv4Address(nas_ip).packed)
            + _attr(NAS_IDENTIFIER, nas_id.encode())
            + _attr(NAS_PORT_TYPE, NAS_PORT_TYPE_WIRELESS_80211.to_bytes(4, "big"))
            + _attr(CALLED_STATION_ID, called_station_id.encode())
            + _attr(ACCT_AUTHENTIC, (1).to_bytes(4, "big"))  # RADIUS
            + _attr(ACCT_DELAY_TIME, bytes(4))
            + _attr(ACCT_INTERIM_INTERVAL, INTERIM_SECONDS.to_bytes(4, "big"))
        )

    def encode(self, ident: int, tag: int) -> tuple[bytes, bytes]:
        """Return (packet, request authenticator)."""
        session, step = tag >> STEP_BITS, tag & ((1 << STEP_BITS) - 1)
        status = acct_status(step, self.interims)
        seconds, octets_in, octets_out = acct_values(session, step)
        u32 = 0xFFFFFFFF
        attrs = (
            _attr(ACCT_STATUS_TYPE, status.to_bytes(4, "big"))
            + _attr(ACCT_SESSION_ID, acct_session_id(self.prefix, session).encode())
            + _attr(USER_NAME, bench_user(session % self.users, self.pattern).encode())
            + _attr(NAS_PORT, (session & u32).to_bytes(4, "big"))
            + _attr(CALLING_STATION_ID, bench_mac(session).encode())
            + _attr(FRAMED_IP_ADDRESS, (0x0A000000 | (session & 0xFFFFFF)).to_bytes(4, "big"))
            + self.fixed
        )
        if status != START:
            attrs += (
                _attr(ACCT_SESSION_TIME, seconds.to_bytes(4, "big"))
                + _attr(ACCT_INPUT_OCTETS, (octets_in & u32).to_bytes(4, "big"))
                + _attr(ACCT_OUTPUT_OCTETS, (octets_out & u32).to_bytes(4, "big"))
                + _attr(ACCT_INPUT_GIGAWORDS, (octets_in >> 32).to_bytes(4, "big"))
                + _attr(ACCT_OUTPUT_GIGAWORDS, (octets_out >> 32).to_bytes(4, "big"))
                + _attr(ACCT_INPUT_PACKETS, (octets_in // 1000 & u32).to_bytes(4, "big"))
                + _attr(ACCT_OUTPUT_PACKETS, (octets_out // 1000 & u32).to_bytes(4, "big"))
            )
        if status == STOP:
            attrs += _attr(ACCT_TERMINATE_CAUSE, (1).to_bytes(4, "big"))  # User-Request
        head = struct.pack("!BBH", ACCOUNTING_REQUEST, ident, 20 + len(attrs))
        auth = hashlib.md5(head + bytes(16) + attrs + self.secret).digest()
        return head + auth + attrs, auth
