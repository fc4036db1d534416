"""Whether a RADIUS server on loopback answers one Status-Server (RFC 5997): how the interop tests'
peers and the benchmarks know that a server they started is up.

The request and the verdict on its answer are Sésame's own (:mod:`federation.status`, what
``sesame partner test`` sends and checks); this adds only a blocking UDP socket, for callers that
poll between blocking steps (a process starting) with no event loop of their own
(:mod:`federation.probe` is the asyncio client).
"""

from __future__ import annotations

import ipaddress
import socket

from federation.status import UNSIGNED, check_status_reply, status_server


def answers_status_server(host: str, port: int, secret: str | bytes, *, timeout: float = 1.0) -> bool:
    """One Status-Server to ``host:port`` (loopback only); True when a valid answer came back within
    ``timeout``: an Access-Accept with the right Response Authenticator and, when it carries one, the
    right Message-Authenticator (Debian's FreeRADIUS 3.2.1 sends none)."""
    key = secret.encode() if isinstance(secret, str) else secret
    family, _, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    if not ipaddress.ip_address(address[0]).is_loopback:
        raise ValueError(f"{host}: tests and benchmarks send only to loopback addresses")
    request = status_server(key)
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(address)
            sock.send(request)
            reply = sock.recv(4096)
        except OSError:  # refused (not listening yet) or timed out
            return False
    return check_status_reply(reply, request=request, secret=key) in (None, UNSIGNED)
