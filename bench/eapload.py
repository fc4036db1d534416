"""eapload: an EAP load generator (PEAP/EAP-MSCHAPv2, EAP-TTLS/PAP) over real RADIUS, many
conversations in flight, in one or more processes.

Each process runs an asyncio (uvloop) client over a few connected UDP sockets; every conversation is
a :class:`eap_peer.Supplicant` (pyOpenSSL on memory BIOs) whose rounds go out as Access-Requests
(Message-Authenticator, State, EAP-Message in 253-octet parts) and whose replies are checked
(Response Authenticator, Message-Authenticator, and on Access-Accept the MS-MPPE keys against what
the client's own TLS session exports). A user always goes out through the same process and socket,
as a device through its access point, so a server with SO_REUSEPORT workers sees a returning
device on the same worker (TLS resumption is per process).

Modes: closed loop (``--concurrency`` conversations in flight per process, the peak rate), open
loop (``--rate`` conversations started per second in all, for latency), or ``--count N``
conversations (checks). ``--resume``: every user first makes a full handshake (not measured), then
each measured conversation offers the session it got last time; the report says how many resumed.

Only conversations that end inside the measurement window count; the parent process reads the CPU
time of the ``--watch`` processes (a server and its children; PostgreSQL backends) and of the
whole machine at the window's edges, and each generator process its own, so the report can say
who used the cores. Traffic goes to loopback only. JSON on stdout with ``--json``.

    eapload.py 127.0.0.1:1812 -s testing123 --ca pki/ca.pem --method peap --tls 1.3 --duration 20
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import ipaddress
import itertools
import json
import multiprocessing
import os
import resource
import socket
import sys
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from multiprocessing.connection import Connection
from typing import Any, cast

from eap_peer import (
    ACCESS_ACCEPT,
    ACCESS_CHALLENGE,
    ACCESS_REJECT,
    METHODS,
    NasInfo,
    PeerError,
    Supplicant,
    access_request,
    client_context,
    read_reply,
)
from freeradius import pid_cpu_seconds, process_tree
from OpenSSL import SSL

MAX_ROUNDS = 60


@dataclass(frozen=True)
class Plan:
    host: str
    port: int
    secret: str
    method: str
    tls: str
    ca: str
    users: int
    pattern: str = "user{i}@bench.example"
    password: str = "bench-password"
    concurrency: int = 32  # per process, closed loop
    rate: float = 0.0  # conversations/s in all (open loop); 0: closed loop
    count: int = 0  # conversations in all, then stop (closed loop)
    processes: int = 1
    sockets: int = 4  # per process
    duration: float = 20.0
    warmup: float = 3.0
    resume: bool = False
    check_keys: bool = True
    timeout: float = 3.0
    retries: int = 2


@dataclass
class Tally:
    conversations: int = 0  # ended in the window
    accepted: int = 0
    rejected: int = 0
    errors: int = 0
    timeouts: int = 0
    keys_checked: int = 0
    keys_bad: int = 0
    resumed: int = 0
    requests: int = 0
    retransmits: int = 0
    skipped: int = 0  # open loop: a start missed because the in-flight bound was reached
    cpu_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    error_samples: list[str] = field(default_factory=list)
    negotiated: str = ""

    def merge(self, other: Tally) -> None:
        for name in COUNTS:
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.latencies += other.latencies
        self.error_samples += other.error_samples[: max(0, 5 - len(self.error_samples))]
        self.negotiated = self.negotiated or other.negotiated


COUNTS = [f.name for f in fields(Tally) if f.type in ("int", "float")]


class Channel(asyncio.DatagramProtocol):
    """One connected UDP socket; Identifiers go back to the end of the free queue when answered,
    so one comes back as late as possible (FreeRADIUS treats a quick reuse as a conflict)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.free: deque[int] = deque(range(256))
        self.waiting: deque[asyncio.Future[int]] = deque()
        self.pending: dict[int, asyncio.Future[bytes]] = {}
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)  # uvloop's is not a subclass

    def datagram_received(self, data: bytes, addr: Any) -> None:
        if len(data) >= 20:
            future = self.pending.get(data[1])
            if future is not None and not future.done():
                future.set_result(data)

    async def exchange(
        self, build: Callable[[int], tuple[bytes, bytes]], plan: Plan
    ) -> tuple[bytes, bytes, int]:
        """(reply, Request Authenticator, retransmissions) of one request; TimeoutError if none came."""
        if self.free:
            ident = self.free.popleft()
        else:
            waiter: asyncio.Future[int] = self.loop.create_future()
            self.waiting.append(waiter)
            ident = await waiter
        try:
            packet, auth = build(ident)
            assert self.transport is not None
            for attempt in range(plan.retries + 1):
                future: asyncio.Future[bytes] = self.loop.create_future()
                self.pending[ident] = future
                self.transport.sendto(packet)
                timer = self.loop.call_later(plan.timeout, _expire, future)
                try:
                    return await future, auth, attempt
                except TimeoutError:
                    continue
                finally:
                    timer.cancel()
            raise TimeoutError
        finally:
            self.pending.pop(ident, None)
            if self.waiting:
                self.waiting.popleft().set_result(ident)
            else:
                self.free.append(ident)


def _expire(future: asyncio.Future[bytes]) -> None:
    if not future.done():
        future.set_exception(TimeoutError())


class Generator:
    """One process's share: users ``index``, ``index + processes``, …"""

    def __init__(self, plan: Plan, index: int) -> None:
        self.plan = plan
        self.index = index
        self.secret = plan.secret.encode()
        self.context = client_context(plan.ca, plan.tls)
        self.method = METHODS[plan.method]
        self.users = list(range(index, plan.users, plan.processes))
        self.sessions: dict[int, SSL.Session] = {}
        self.channels: list[Channel] = []
        self.tally = Tally()
        self.start = self.end = float("inf")
        self.in_flight = 0

    async def open(self) -> None:
        loop = asyncio.get_running_loop()
        family, _, _, _, addr = socket.getaddrinfo(self.plan.host, self.plan.port, type=socket.SOCK_DGRAM)[0]
        if not ipaddress.ip_address(addr[0]).is_loopback:
            raise SystemExit("eapload: benchmarks send to loopback only")
        for _ in range(self.plan.sockets):
            sock = socket.socket(family, socket.SOCK_DGRAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
            sock.connect(addr)
            _, protocol = await loop.create_datagram_endpoint(lambda: Channel(loop), sock=sock)
            self.channels.append(protocol)

    async def converse(self, user: int, *, offer: bool) -> None:
        plan = self.plan
        identity = plan.pattern.format(i=user)
        supplicant = Supplicant(
            method=self.method,
            identity=identity,
            password=plan.password,
            context=self.context,
            session=self.sessions.get(user) if offer else None,
        )
        channel = self.channels[(user // plan.processes) % len(self.channels)]
        nas = NasInfo(calling_station_id=f"02-00-{user:08X}"[:17].encode())
        began = time.monotonic()
        message, state, outcome = supplicant.identity_response(), None, "errors"
        requests = resent = resumed = keys_checked = keys_bad = 0
        self.in_flight += 1
        try:
            for _ in range(MAX_ROUNDS):
                build = functools.partial(
                    access_request,
                    secret=self.secret,
                    user_name=identity,
                    eap_message=message,
                    state=state,
                    nas=nas,
                )
                raw, auth, again = await channel.exchange(build, plan)
                requests += 1
                resent += again
                reply = read_reply(raw, auth, self.secret)
                if reply.code == ACCESS_CHALLENGE:
                    message, state = supplicant.answer(reply.eap_message), reply.state
                    continue
                if reply.eap_message:
                    supplicant.answer(reply.eap_message)
                if reply.code == ACCESS_ACCEPT and supplicant.outcome == "success":
                    outcome = "accepted"
                    resumed = int(supplicant.resumed)
                    if plan.check_keys:
                        msk = supplicant.expected_msk()
                        keys_checked = 1
                        keys_bad = int((reply.recv_key, reply.send_key) != (msk[:32], msk[32:64]))
                    self._remember(user, supplicant)
                elif reply.code == ACCESS_REJECT:
                    outcome = "rejected"
                else:
                    raise PeerError(f"code {reply.code}, the peer says {supplicant.outcome}")
                break
            else:
                raise PeerError("too many rounds")
        except TimeoutError:
            outcome = "timeouts"
        except PeerError as exc:
            if len(self.tally.error_samples) < 5:
                self.tally.error_samples.append(f"{identity}: {exc}")
        finally:
            self.in_flight -= 1
        ended = time.monotonic()
        if self.start <= ended <= self.end:
            t = self.tally
            t.conversations += 1
            setattr(t, outcome, getattr(t, outcome) + 1)
            t.requests += requests
            t.retransmits += resent
            t.resumed += resumed
            t.keys_checked += keys_checked
            t.keys_bad += keys_bad
            t.latencies.append(ended - began)

    def _remember(self, user: int, supplicant: Supplicant) -> None:
        if self.plan.resume:
            session = supplicant.new_session()
            if session is not None:
                self.sessions[user] = session
        if not self.tally.negotiated and supplicant.conn is not None:
            conn = supplicant.conn
            self.tally.negotiated = f"{supplicant.version} {conn.get_cipher_name()} {conn.get_group_name()}"

    async def prime(self) -> None:
        """--resume: a full handshake for every user first, to hold a session to offer."""
        queue = deque(self.users)

        async def slot() -> None:
            while queue:
                await self.converse(queue.popleft(), offer=False)

        await asyncio.gather(*(slot() for _ in range(self.plan.concurrency)))

    async def run(self, begin: float, start: float, end: float) -> Tally:
        plan = self.plan
        self.start, self.end = start, end
        await asyncio.sleep(max(0.0, begin - time.monotonic()))
        marks: list[float] = []  # our CPU time at the window's start and end (or at the last reply)
        loop = asyncio.get_running_loop()
        timers = [
            loop.call_later(max(0.0, t - time.monotonic()), lambda: marks.append(_cpu()))
            for t in (start, end)
        ]
        picks = itertools.count()
        if plan.rate:
            await self._open_loop(plan.rate / plan.processes, begin, end, picks)
        else:
            limit = plan.count // plan.processes + (self.index < plan.count % plan.processes)

            async def slot() -> None:
                while time.monotonic() < end:
                    k = next(picks)
                    if plan.count and k >= limit:
                        return
                    await self.converse(self.users[k % len(self.users)], offer=plan.resume)

            await asyncio.gather(*(slot() for _ in range(plan.concurrency)))
        if len(marks) < 2:  # --count: the run ended before the window's end
            timers[1].cancel()
            marks.append(_cpu())
        self.tally.cpu_s = marks[1] - marks[0] if len(marks) >= 2 else 0.0
        return self.tally

    async def _open_loop(self, rate: float, begin: float, end: float, picks: itertools.count[int]) -> None:
        tasks: set[asyncio.Task[None]] = set()
        due = begin
        bound = max(4, self.plan.concurrency * 4)
        while due < end:
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            if self.in_flight >= bound:
                self.tally.skipped += self.start <= due
            else:
                user = self.users[next(picks) % len(self.users)]
                task = asyncio.get_running_loop().create_task(self.converse(user, offer=self.plan.resume))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            due += 1.0 / rate
        if tasks:
            await asyncio.wait(tasks)


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _child(plan: Plan, index: int, pipe: Connection) -> None:
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - Sésame depends on uvloop
        pass

    async def main() -> None:
        generator = Generator(plan, index)
        await generator.open()
        if plan.resume:
            await generator.prime()
        pipe.send("ready")
        begin, start, end = pipe.recv()
        pipe.send(await generator.run(begin, start, end))

    asyncio.run(main())


def machine_busy_seconds() -> float:
    values = [int(x) for x in open("/proc/stat").readline().split()[1:]]  # noqa: SIM115
    return (sum(values[:8]) - values[3] - values[4]) / os.sysconf("SC_CLK_TCK")


def watched_cpu(watch: dict[str, list[int]], trees: set[str]) -> dict[str, float]:
    """CPU seconds of each watched group, each process counted once: a tree's pids may already
    list its descendants (Sésame's workers were counted twice, once under their parent)."""
    cpu = {}
    for name, pids in watch.items():
        members = {q for p in pids for q in process_tree(p)} if name in trees else set(pids)
        cpu[name] = sum(pid_cpu_seconds(p) for p in members)
    return cpu


def run(
    plan: Plan, watch: dict[str, list[int]] | None = None, trees: frozenset[str] = frozenset()
) -> dict[str, Any]:
    """Runs the plan in ``plan.processes`` processes; the report as a dict."""
    watch = watch or {}
    context = multiprocessing.get_context("fork")
    pipes, children = [], []
    for index in range(plan.processes):
        ours, theirs = context.Pipe()
        child = context.Process(target=_child, args=(plan, index, theirs), daemon=True)
        child.start()
        pipes.append(ours)
        children.append(child)
    for pipe in pipes:
        if pipe.recv() != "ready":
            raise RuntimeError("a generator process failed to start")
    begin = time.monotonic() + 0.3
    start = begin + (0.0 if plan.count else plan.warmup)
    end = start + (plan.duration if not plan.count else 3600.0)
    for pipe in pipes:
        pipe.send((begin, start, end))
    time.sleep(max(0.0, start - time.monotonic()))
    cpu0, busy0, t0 = watched_cpu(watch, set(trees)), machine_busy_seconds(), time.monotonic()
    if not plan.count:
        time.sleep(max(0.0, end - time.monotonic()))
    cpu1, busy1, t1 = watched_cpu(watch, set(trees)), machine_busy_seconds(), time.monotonic()
    total = Tally()
    for pipe in pipes:
        total.merge(pipe.recv())
    for child in children:
        child.join(10)
    if plan.count:  # the window is the run itself
        cpu1, busy1, t1 = watched_cpu(watch, set(trees)), machine_busy_seconds(), time.monotonic()
    return report(plan, total, t1 - t0, {k: cpu1[k] - cpu0[k] for k in cpu0}, busy1 - busy0)


def report(
    plan: Plan, tally: Tally, seconds: float, watched: dict[str, float], busy: float
) -> dict[str, Any]:
    done = sorted(tally.latencies)

    def pick(q: float) -> float:
        return round(done[min(len(done) - 1, int(q * len(done)))] * 1000, 2) if done else 0.0

    rate = tally.accepted / seconds if seconds > 0 else 0.0
    out: dict[str, Any] = {k: v for k, v in asdict(tally).items() if k != "latencies"}
    out.update(
        plan=asdict(plan),
        window_s=round(seconds, 3),
        accepted_per_s=round(rate, 1),
        latency_ms={"p50": pick(0.5), "p90": pick(0.9), "p99": pick(0.99), "max": pick(1.0)},
        loadgen_cores=round(tally.cpu_s / seconds, 3) if seconds > 0 else 0.0,
        loadgen_us_per_conversation=round(tally.cpu_s / max(1, tally.conversations) * 1e6),
        watched_cpu_s={k: round(v, 3) for k, v in watched.items()},
        machine_cpu_s=round(busy, 3),
    )
    return out


def parse_watch(items: list[str]) -> tuple[dict[str, list[int]], frozenset[str]]:
    """``name=pid,pid`` (those processes) or ``name=tree:pid`` (a process and its descendants)."""
    watch: dict[str, list[int]] = {}
    trees = set()
    for item in items:
        name, _, pids = item.partition("=")
        if pids.startswith("tree:"):
            trees.add(name)
            pids = pids[5:]
        watch[name] = [int(p) for p in pids.split(",") if p]
    return watch, frozenset(trees)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("target", help="host:port")
    p.add_argument("-s", "--secret", default="testing123")
    p.add_argument("--ca", required=True, help="the CA that signed the server's certificate")
    p.add_argument("--method", choices=sorted(METHODS), default="peap")
    p.add_argument("--tls", choices=("1.2", "1.3"), default="1.2")
    p.add_argument("--users", type=int, default=1000)
    p.add_argument("--pattern", default=Plan.pattern)
    p.add_argument("--password", default=Plan.password)
    p.add_argument("--concurrency", type=int, default=Plan.concurrency, help="per process")
    p.add_argument("--rate", type=float, default=0.0)
    p.add_argument("--count", type=int, default=0)
    p.add_argument("--processes", type=int, default=1)
    p.add_argument("--sockets", type=int, default=Plan.sockets, help="per process")
    p.add_argument("-d", "--duration", type=float, default=Plan.duration)
    p.add_argument("--warmup", type=float, default=Plan.warmup)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--no-key-check", action="store_true")
    p.add_argument("--watch", action="append", default=[], help="name=pid,pid or name=tree:pid")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)
    host, _, port = a.target.rpartition(":")
    plan = Plan(
        host=host.strip("[]"),
        port=int(port),
        secret=a.secret,
        method=a.method,
        tls=a.tls,
        ca=a.ca,
        users=a.users,
        pattern=a.pattern,
        password=a.password,
        concurrency=a.concurrency,
        rate=a.rate,
        count=a.count,
        processes=a.processes,
        sockets=a.sockets,
        duration=a.duration,
        warmup=a.warmup,
        resume=a.resume,
        check_keys=not a.no_key_check,
    )
    watch, trees = parse_watch(a.watch)
    result = run(plan, watch, trees)
    if a.json:
        json.dump(result, sys.stdout)
        print()
    else:
        for key, value in result.items():
            if key != "plan":
                print(f"{key:28} {value}")
    return 0 if result["errors"] == 0 and result["keys_bad"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
