"""Loopback ports for test and benchmark servers.

A port from here was free when chosen, not reserved: another process's ephemeral socket can take it
before the server binds. A server that chooses its own ports therefore chooses again when it finds
one taken (``tests.support.freeradius.FreeRadiusProcess.start``); one whose port is fixed by a test
fails with "Address already in use", which is the clash showing, not a bug to retry around."""

from __future__ import annotations

import socket

LOOPBACK = "127.0.0.1"


def _unused_port(kind: socket.SocketKind, host: str) -> int:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def free_udp_port(host: str = LOOPBACK) -> int:
    """A UDP port nothing listens on at host (127.0.0.1, 127.0.0.2…, ::1), for a server to bind."""
    return _unused_port(socket.SOCK_DGRAM, host)


def free_tcp_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on at host, for a server to bind."""
    return _unused_port(socket.SOCK_STREAM, host)


def closed_udp_port(host: str = LOOPBACK) -> int:
    """A UDP port nothing listens on, to send to when no answer must come (ICMP port unreachable)."""
    return _unused_port(socket.SOCK_DGRAM, host)


def closed_tcp_port(host: str = LOOPBACK) -> int:
    """A TCP port nothing listens on, to connect to when the connection must be refused."""
    return _unused_port(socket.SOCK_STREAM, host)
