"""radload's engine: pre-encoded requests kept flowing over connected non-blocking UDP sockets watched
with epoll, replies drained until EAGAIN and matched by (socket, Identifier), their Response
Authenticators checked, and a :class:`Report` of counts, throughput, latency percentiles and the
load generator's own CPU time. The command line is ``radload.py``; the packets, ``radpackets.py``.

Each socket uses its 256 Identifiers in strict rotation (an Identifier comes back only 256 requests
after its last use on that socket); closed loop: ``outstanding`` requests in flight; open loop: a
fixed rate whatever the replies. Traffic goes only to loopback addresses.
"""

from __future__ import annotations

import ipaddress
import resource
import select
import socket
import time
from array import array
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from radpackets import CHUNK, Encoder, RequestOptions, check_reply


class Conn:
    """One connected UDP socket and the state of its 256 Identifiers."""

    __slots__ = ("auth", "credit", "fd", "measured", "queue", "sent_at", "sock", "tags")

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.fd = sock.fileno()
        self.sent_at = [0.0] * 256  # 0.0: Identifier free
        self.auth: list[bytes] = [b""] * 256
        self.measured = bytearray(256)
        self.tags: list[Any] = [None] * 256  # what each Identifier in flight carries (its credential)
        self.queue: deque[tuple[int, bytes, bytes, Any]] = deque()  # (ident, packet, authenticator, item)
        self.credit = 0  # closed loop: sends owed to this socket


@dataclass
class Report:
    target: str
    mode: str
    duration_s: float = 0.0
    offered_rps: float | None = None
    outstanding: int = 0
    sockets: int = 0
    rcvbuf_bytes: int = 0
    sent: int = 0
    replies: int = 0
    accepts: int = 0
    rejects: int = 0
    challenges: int = 0
    accounting_responses: int = 0
    other_codes: int = 0
    lost: int = 0
    bad_authenticator: int = 0
    bad_message_authenticator: int = 0
    unmatched: int = 0
    icmp_errors: int = 0
    send_stalls: int = 0
    throughput_rps: float = 0.0
    latency_ms: dict[str, float] = field(default_factory=dict)
    loadgen_cpu_s: float = 0.0
    loadgen_cpu_cores: float = 0.0
    loadgen_cpu_us_per_reply: float = 0.0
    prebuilt: int = 0
    encoded_total: int = 0
    prebuild_cpu_s: float = 0.0
    encoded_during_run: int = 0
    udp_rcvbuf_errors: int = 0
    exhausted: bool = False


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def udp_errors() -> int:
    """RcvbufErrors of UDP and UDP6, machine-wide: datagrams the kernel dropped for a full buffer."""
    total = 0
    for path, tag in (("/proc/net/snmp", "Udp:"), ("/proc/net/snmp6", "Udp6RcvbufErrors")):
        try:
            text = Path(path).read_text()
        except OSError:
            continue
        if tag == "Udp:":
            rows = [line.split() for line in text.splitlines() if line.startswith("Udp:")]
            if len(rows) >= 2 and "RcvbufErrors" in rows[0]:
                total += int(rows[1][rows[0].index("RcvbufErrors")])
        else:
            for line in text.splitlines():
                if line.startswith(tag):
                    total += int(line.split()[1])
    return total


def percentiles(samples: array[float]) -> dict[str, float]:
    if not samples:
        return {}
    s = sorted(samples)

    def pick(q: float) -> float:
        return round(s[min(len(s) - 1, int(q * len(s)))] * 1000, 3)

    return {
        "p50": pick(0.50),
        "p90": pick(0.90),
        "p99": pick(0.99),
        "max": round(s[-1] * 1000, 3),
        "mean": round(sum(s) / len(s) * 1000, 3),
    }


def open_sockets(host: str, port: int, n: int, rcvbuf: int) -> tuple[list[Conn], int]:
    family, _, _, _, addr = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    if not ipaddress.ip_address(addr[0]).is_loopback:
        raise SystemExit(f"radload: refusing to send to {addr[0]}: benchmarks target loopback only")
    conns = []
    got = 0
    for _ in range(n):
        s = socket.socket(family, socket.SOCK_DGRAM)
        try:  # root may exceed net.core.rmem_max
            s.setsockopt(socket.SOL_SOCKET, 33, rcvbuf)  # SO_RCVBUFFORCE
        except OSError:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 20)
        s.connect(addr)
        s.setblocking(False)
        got = s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        conns.append(Conn(s))
    return conns, got


class Load:
    def __init__(
        self,
        host: str,
        port: int,
        secret: bytes,
        creds: Iterator[Any] | list[Iterator[Any]],
        options: RequestOptions | None = None,
        *,
        encoder: Any = None,
        track: list[Any] | None = None,
        sockets: int = 16,
        outstanding: int = 512,
        rcvbuf: int = 8 << 20,
        timeout: float = 2.0,
        max_requests: int = 5_000_000,
        prebuild: int = 400_000,
    ) -> None:
        if not 1 <= outstanding <= sockets * 128:
            raise ValueError("--outstanding must be between 1 and 128 per socket")
        self.host, self.port, self.secret = host, port, secret
        # what encoder.encode(ident, item) turns into (packet, authenticator): one iterator shared
        # by the sockets (each takes CHUNK items at a time), or a list of one per socket
        self.creds = creds
        self.encoder = encoder or Encoder(secret, options or RequestOptions())
        self.track = track  # when a list: every item answered (warm-up included) is appended to it
        self.conns, self.rcvbuf = open_sockets(host, port, sockets, rcvbuf)
        self.by_fd = {c.fd: c for c in self.conns}
        self.outstanding = outstanding
        self.timeout = timeout
        self.max_requests = max_requests
        self.prebuild = prebuild
        self.encoded = 0
        self.exhausted = False
        self.next_ident = [0] * sockets
        self.sends = 0
        self.icmp_errors = 0

    def close(self) -> None:
        for c in self.conns:
            c.sock.close()

    def fill(self, k: int) -> bool:
        """Encode one chunk for socket k. False when the credentials (single use) ran out."""
        c = self.conns[k]
        ident = self.next_ident[k]
        encode = self.encoder.encode
        n = 0
        for cred in self.creds[k] if isinstance(self.creds, list) else self.creds:
            pkt, auth = encode(ident, cred)
            c.queue.append((ident, pkt, auth, cred))
            ident = (ident + 1) & 0xFF
            n += 1
            if n == CHUNK:
                break
        self.next_ident[k] = ident
        self.encoded += n
        if n < CHUNK:
            self.exhausted = True
        return n > 0

    def run(self, duration: float, warmup: float = 0.0, rate: float | None = None) -> Report:
        report = Report(f"{self.host}:{self.port}", "open" if rate else "closed", offered_rps=rate)
        report.sockets, report.rcvbuf_bytes = len(self.conns), self.rcvbuf
        report.outstanding = 0 if rate else self.outstanding
        cpu0 = _cpu()
        budget = min(self.max_requests, self.prebuild)
        if rate:
            budget = min(budget, int(rate * (duration + warmup)) + len(self.conns) * CHUNK)
        k = 0
        while self.encoded < budget and not self.exhausted:
            self.fill(k)
            k = (k + 1) % len(self.conns)
        report.prebuilt = self.encoded
        report.prebuild_cpu_s = round(_cpu() - cpu0, 3)
        try:
            self._loop(report, duration, warmup, rate)
        finally:
            self.close()
        report.encoded_during_run = self.encoded - report.prebuilt
        report.encoded_total = self.encoded
        report.exhausted = self.exhausted
        return report

    def _send(self, c: Conn, k: int, now: float, measured: bool) -> bool:
        """Send the next queued packet of socket k unless its Identifier is still in flight."""
        q = c.queue
        if not q and (self.exhausted or not self.fill(k)):
            return False
        ident, pkt, auth, tag = q[0]
        if c.sent_at[ident]:
            return False
        try:
            c.sock.send(pkt)
        except BlockingIOError:
            return False
        except ConnectionRefusedError:  # an ICMP error from an earlier datagram; this one was not sent
            self.icmp_errors += 1
            return False
        q.popleft()
        c.sent_at[ident] = now
        c.auth[ident] = auth
        c.tags[ident] = tag
        c.measured[ident] = measured
        self.sends += 1
        return True

    def _drained(self) -> bool:
        return self.exhausted and not any(c.queue for c in self.conns)

    def _loop(self, rep: Report, duration: float, warmup: float, rate: float | None) -> None:
        conns, by_fd, secret, timeout = self.conns, self.by_fd, self.secret, self.timeout
        nconn = len(conns)
        perf_counter = time.perf_counter
        ep = select.epoll()
        for c in conns:
            ep.register(c.fd, select.EPOLLIN)
        poll = ep.poll
        track = self.track
        lat: array[float] = array("d")
        codes = [0] * 256
        sent = in_window = inflight = stalls = rr = 0
        start = perf_counter()
        t0, t1 = start + warmup, start + warmup + duration
        measuring = warmup <= 0
        cpu0, udp0 = _cpu(), udp_errors()
        cpu1 = 0.0
        end = t0  # end of the measured window: t1, or the last reply when the requests ran out first
        stopped = t1  # when sending stopped
        sending, early = True, False
        next_scan = start + 0.1
        if not rate:
            for i in range(self.outstanding):
                conns[i % nconn].credit += 1
        try:
            while True:
                now = perf_counter()
                if not measuring and now >= t0:
                    measuring = True
                    cpu0, udp0 = _cpu(), udp_errors()
                if sending and now >= t1:
                    sending, cpu1 = False, _cpu()
                elif sending and (self.sends >= self.max_requests or (self.exhausted and self._drained())):
                    sending, early, stopped = False, True, now
                if not sending and (inflight == 0 or now > stopped + timeout + 0.2):
                    break
                wait = 0.05
                if sending and rate:
                    due = int((now - start) * rate) - self.sends
                    tried = 0
                    while due > 0 and tried < nconn:
                        if self._send(conns[rr], rr, now, measuring):
                            due -= 1
                            inflight += 1
                            sent += measuring
                            tried = 0
                        else:
                            tried += 1
                        rr = (rr + 1) % nconn
                    if due > 0:
                        stalls += 1
                        wait = 0.001
                    else:
                        wait = min(0.05, max(0.0, start + (self.sends + 1) / rate - perf_counter()))
                elif sending:
                    for k, c in enumerate(conns):
                        while (
                            c.credit > 0
                            and self.sends < self.max_requests
                            and self._send(c, k, now, measuring)
                        ):
                            c.credit -= 1
                            inflight += 1
                            sent += measuring
                        if c.credit > 0 and c.queue and c.sent_at[c.queue[0][0]]:
                            stalls += 1
                for fd, _ in poll(wait):
                    c = by_fd[fd]
                    recv, sent_at, auths, measured = c.sock.recv, c.sent_at, c.auth, c.measured
                    while True:
                        try:
                            data = recv(4096)
                        except BlockingIOError:
                            break
                        except ConnectionRefusedError:
                            self.icmp_errors += 1
                            continue
                        t = perf_counter()
                        ident = data[1] if len(data) >= 20 else 0
                        at = sent_at[ident]
                        if not at or len(data) < 20:
                            rep.unmatched += 1
                            continue
                        code = check_reply(data, auths[ident], secret)
                        if code < 0:
                            if code == -1:
                                rep.bad_authenticator += 1
                            else:
                                rep.bad_message_authenticator += 1
                            continue
                        sent_at[ident] = 0.0
                        inflight -= 1
                        c.credit += 1
                        if track is not None:
                            track.append(c.tags[ident])
                        if measured[ident]:
                            codes[code] += 1
                            lat.append(t - at)
                            if t < t1:
                                in_window += 1
                            end = t
                if now >= next_scan:  # time out requests without a reply
                    next_scan = now + 0.1
                    limit = now - timeout
                    for c in conns:
                        sent_at = c.sent_at
                        for ident in range(256):
                            if sent_at[ident] and sent_at[ident] < limit:
                                sent_at[ident] = 0.0
                                inflight -= 1
                                c.credit += 1
                                rep.lost += c.measured[ident]
        finally:
            ep.close()
        if not cpu1:  # the requests ran out (or the loop was cut short) before t1
            cpu1 = _cpu()
            end = max(end, t0 + 1e-6) if early else perf_counter()
        else:
            end = t1
        if not measuring:  # everything happened during the warm-up
            cpu0 = cpu1
        rep.lost += sum(c.measured[i] for c in conns for i in range(256) if c.sent_at[i])
        rep.duration_s = round(end - t0, 3)
        rep.sent, rep.replies, rep.send_stalls, rep.icmp_errors = sent, len(lat), stalls, self.icmp_errors
        rep.accepts, rep.rejects, rep.challenges = codes[2], codes[3], codes[11]
        rep.accounting_responses = codes[5]
        rep.other_codes = rep.replies - rep.accepts - rep.rejects - rep.challenges - codes[5]
        rep.throughput_rps = round(in_window / (end - t0), 1)
        rep.latency_ms = percentiles(lat)
        rep.loadgen_cpu_s = round(cpu1 - cpu0, 3)
        rep.loadgen_cpu_cores = round((cpu1 - cpu0) / (end - t0), 3) if end - t0 > 1e-3 else 0.0
        rep.loadgen_cpu_us_per_reply = round((cpu1 - cpu0) / max(1, in_window) * 1e6, 2)
        rep.udp_rcvbuf_errors = udp_errors() - udp0
