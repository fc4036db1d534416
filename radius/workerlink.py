"""The local link over which worker processes hand each other requests (asyncio, Linux).

Each worker binds a Unix datagram socket in the abstract namespace, named after the supervisor
and its own index; a request whose State names another worker (:mod:`radius.workerroute`) is
sealed and sent to that worker's socket, which unseals it and feeds it to its own service as if it
had arrived on its own socket of the same shared port. A worker that is restarting cannot take
it: the request is dropped and counted, and the access point retransmits.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable
from typing import Any

from radius import metrics
from radius.workerroute import Forwarded, seal, unseal

log = logging.getLogger("sesame.radius")


def link_address(name: str, index: int) -> str:
    """The abstract-namespace address of a worker's link socket (no file to clean up)."""
    return f"\0sesame-radius-{name}-{index}"


class WorkerLink(asyncio.DatagramProtocol):
    def __init__(self, *, name: str, index: int, key: bytes) -> None:
        self.name = name
        self.index = index
        self.key = key
        self.deliver: Callable[[Forwarded], None] = lambda _: None
        self.transport: asyncio.DatagramTransport | None = None
        self.sock: socket.socket | None = None

    async def open(self, deliver: Callable[[Forwarded], None]) -> None:
        """Bind this worker's socket; what the others forward to it goes to ``deliver``."""
        self.deliver = deliver
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        try:
            sock.bind(link_address(self.name, self.index))
            sock.setblocking(False)
            await asyncio.get_running_loop().create_datagram_endpoint(lambda: self, sock=sock)
        except Exception:
            sock.close()
            raise
        self.sock = sock

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def forward(self, worker: int, *, listener: int, source: tuple[str, int], data: bytes) -> None:
        if self.sock is None:
            return
        message = seal(self.key, listener=listener, source=source, data=data)
        try:
            # on the socket itself: uvloop's transports take no abstract-namespace address (it
            # cuts the name at its leading NUL); a local datagram socket does not block for long,
            # and when it would, the request is dropped like any other overload
            self.sock.sendto(message, link_address(self.name, worker))
        except OSError as exc:  # the owner is restarting, or its queue is full: the NAS retransmits
            metrics.forwarded("failed")
            log.debug("radius: could not forward a request to worker %d: %s", worker, exc)
            return
        metrics.forwarded("sent")

    def datagram_received(self, data: bytes, addr: Any) -> None:
        forwarded = unseal(self.key, data)
        if forwarded is None:
            metrics.forwarded("refused")  # not from one of our workers
            return
        metrics.forwarded("received")
        self.deliver(forwarded)

    def error_received(self, exc: Exception) -> None:
        metrics.forwarded("failed")
        log.debug("radius: worker link error: %s", exc)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()
        self.sock = None
