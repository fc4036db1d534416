"""``sesame partner test``'s client: one Status-Server (RFC 5997) to one home server, over UDP or a
RadSec connection of its own (RFC 6614), and what to tell the operator about the answer.

The asyncio layer over :mod:`federation.status`; the connection is made as the RADIUS service makes
it (:mod:`federation.radsec`, :mod:`federation.tls`).
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
from dataclasses import dataclass, field

from accounts.partners import RADSEC
from federation.status import UNSIGNED, check_status_reply, status_server
from federation.stream import StreamFramer
from federation.tls import failure, name_matches, peer_names, sni_name
from radius import codec

CLOSED = "the server closed the connection (does it accept our certificate?)"


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeTarget:
    label: str
    transport: str
    host: str
    port: int
    secret: bytes = field(repr=False)
    tls_name: str = ""  # RadSec: the name its certificate must carry


def _alive(sent: float, problem: str | None) -> str:
    note = f"; {problem}" if problem else ""
    return f"alive ({(time.monotonic() - sent) * 1000:.1f} ms{note})"


class _Probe(asyncio.DatagramProtocol):
    def __init__(self, request: bytes, secret: bytes, answered: asyncio.Future[str]) -> None:
        self.request, self.secret, self.answered = request, secret, answered
        self.sent = 0.0
        self.bad: str | None = None

    def datagram_received(self, data: bytes, addr: object) -> None:
        problem = check_status_reply(data, request=self.request, secret=self.secret)
        if problem is not None and problem != UNSIGNED:
            self.bad = problem  # keep listening: the right reply may still come
        elif not self.answered.done():
            self.answered.set_result(_alive(self.sent, problem))

    def error_received(self, exc: Exception) -> None:  # ICMP port unreachable on a connected socket
        if not self.answered.done():
            self.answered.set_exception(exc)


async def probe(
    target: ProbeTarget, *, within: float, tls: ssl.SSLContext | str, source_address: str = ""
) -> tuple[bool, str]:
    """Send one Status-Server and wait for the answer: (answered, what to print). ``tls``: the
    RadSec client context, or why there is none (printed for a RadSec server); ``source_address``:
    where UDP probes leave from, as the service's proxied requests (partners allow us by it)."""
    if target.transport == RADSEC:
        if isinstance(tls, str):
            return False, tls
        return await _probe_radsec(target, tls, within=within)
    request = status_server(target.secret)
    loop = asyncio.get_running_loop()
    answered: asyncio.Future[str] = loop.create_future()
    protocol = _Probe(request, target.secret, answered)
    try:
        transport, _ = await loop.create_datagram_endpoint(
            lambda: protocol,
            remote_addr=(target.host, target.port),
            local_addr=(source_address, 0) if source_address else None,
        )
    except OSError as exc:
        return False, f"no answer ({exc.strerror or exc})"
    try:
        protocol.sent = time.monotonic()
        transport.sendto(request)
        async with asyncio.timeout(within):
            return True, await answered
    except TimeoutError:
        return False, f"bad reply: {protocol.bad}" if protocol.bad else "no answer"
    except OSError as exc:
        return False, f"no answer ({exc.strerror or exc})"
    finally:
        transport.close()


async def _probe_radsec(target: ProbeTarget, context: ssl.SSLContext, *, within: float) -> tuple[bool, str]:
    """Status-Server over a RadSec connection of its own (RFC 6614), closed after the answer.

    The connection is made as the RADIUS service makes it (:mod:`federation.radsec`): our client
    certificate, the server's checked against the partners' CA, then its name against the home
    server's TLS name (the context does not check names); the secret is ``radsec`` unless one was
    set (RFC 6614 §2.3). Packets are framed by their Length (RFC 6614 §2.4). ``within`` bounds the
    whole exchange. With TLS 1.3 a server that refuses our certificate says so only after our
    side of the handshake is over, so that shows as a failure to answer.
    """
    request = status_server(target.secret)
    writer: asyncio.StreamWriter | None = None
    connected = False
    bad: str | None = None
    try:
        async with asyncio.timeout(within):
            reader, writer = await asyncio.open_connection(
                target.host, target.port, ssl=context, server_hostname=sni_name(target.tls_name)
            )
            connected = True
            names = peer_names(writer.get_extra_info("ssl_object"))
            if not name_matches(target.tls_name, names):
                named = ", ".join(names) or "no name"
                return False, f"refused: its certificate names {named}, not {target.tls_name}"
            sent = time.monotonic()
            writer.write(request)
            framer = StreamFramer()
            while data := await reader.read(4096):
                for packet in framer.feed(data):
                    problem = check_status_reply(packet, request=request, secret=target.secret)
                    if problem is None or problem == UNSIGNED:
                        return True, _alive(sent, problem)
                    bad = problem
            if bad:
                return False, f"bad reply: {bad}"
            return False, f"no answer: {CLOSED}"
    except TimeoutError:
        if not connected:
            return False, "no connection (timed out)"
        return False, f"bad reply: {bad}" if bad else "no answer"
    except codec.Malformed as exc:
        return False, f"bad reply: malformed ({exc.reason})"
    except OSError as exc:  # ssl.SSLError included
        if not connected:
            return False, f"no connection ({failure(exc)})"
        if isinstance(exc, ConnectionError | ssl.SSLEOFError):  # a close with our request unread: a reset
            return False, f"no answer: {CLOSED}"
        return False, f"no answer ({failure(exc)}): does the server accept our certificate?"
    finally:
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError, TimeoutError):
                async with asyncio.timeout(1.0):  # TLS close_notify; a peer that does not answer is left
                    await writer.wait_closed()
