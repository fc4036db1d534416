"""Process start-up: check the schema, open the listeners, run until SIGTERM or Ctrl-C.

Listening sockets are bound here, before any service starts, so that a port already in use
stops start-up with one clear line instead of a half-started process.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
from collections.abc import Generator

import uvicorn

from portal.app import create_app
from radius.server import BindError, RadiusService
from sesame import migrations
from sesame.compose import build_radius, radius_listeners
from sesame.db import create_engine, is_sqlite
from sesame.settings import Settings

log = logging.getLogger("sesame")


class StartupError(Exception):
    """The service cannot start; the message says why and what to do."""


def prepare_schema(settings: Settings) -> None:
    """Upgrade an embedded SQLite database in place; a server database must already be at head.

    Upgrading a shared PostgreSQL database is an operator's decision (``sesame db upgrade``),
    taken once, not by every process that starts.
    """
    url = settings.database_url
    if is_sqlite(url):
        migrations.upgrade(url)
        return
    current, head = migrations.current_revision_sync(url), migrations.head_revision()
    if current != head:
        raise StartupError(
            f"the database schema is at revision {current or 'none'}, this version needs {head}: "
            "run `sesame db upgrade` first"
        )


def bind_tcp(host: str, port: int, *, what: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TCP only: reuse TIME_WAIT, not steal
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(f"{what}: cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.listen(1024)
    sock.setblocking(False)
    return sock


async def _forever() -> None:
    """Stands for a service whose work runs in its own tasks, until cancelled at shutdown."""
    await asyncio.Event().wait()


class _WebServer(uvicorn.Server):
    """uvicorn without its own signal handling: this process handles signals once, for every service."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


async def serve(settings: Settings) -> None:
    """Run every enabled service in this process until a stop signal arrives."""
    engine = create_engine(settings.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    tasks: dict[str, asyncio.Task[None]] = {}
    web: _WebServer | None = None
    radius: RadiusService | None = None
    try:
        listeners = []
        if settings.radius.enabled:
            try:
                listeners = radius_listeners(settings)
            except BindError as exc:
                raise StartupError(str(exc)) from None
        if settings.web.enabled:
            sock = bind_tcp(settings.web.bind, settings.web.port, what="web")
            config = uvicorn.Config(
                create_app(engine=engine),
                log_config=None,
                access_log=False,
                lifespan="on",
                proxy_headers=True,
            )
            web = _WebServer(config)
            tasks["web"] = asyncio.create_task(web.serve(sockets=[sock]), name="web")
            host = f"[{settings.web.bind}]" if ":" in settings.web.bind else settings.web.bind
            log.info(
                "web: listening on http://%s:%d (health: /healthz, readiness: /readyz)",
                host,
                settings.web.port,
            )
        if listeners:
            radius = build_radius(settings, engine)
            await radius.start(listeners)
            for listener in listeners:
                host = f"[{listener.address}]" if ":" in listener.address else listener.address
                log.info("radius: %s listening on udp %s:%d", listener.kind.value, host, listener.port)
            tasks["radius"] = asyncio.create_task(_forever(), name="radius")
        if not tasks:
            raise StartupError("no service is enabled: set SESAME_WEB_ENABLED or SESAME_RADIUS_ENABLED")
        log.info("sesame ready (realm %s, environment %s)", settings.realm, settings.environment)

        stopped = asyncio.create_task(stop.wait(), name="stop-signal")
        done, _ = await asyncio.wait([stopped, *tasks.values()], return_when=asyncio.FIRST_COMPLETED)
        if stopped not in done:
            crashed = next(iter(done))
            log.error("%s stopped unexpectedly; shutting down", crashed.get_name())
        stopped.cancel()
    finally:
        log.info("stopping")
        if web is not None:
            web.should_exit = True
        if "radius" in tasks:
            tasks["radius"].cancel()
        if radius is not None:
            await radius.stop()
        results = await asyncio.gather(*tasks.values(), return_exceptions=True)
        for name, result in zip(tasks, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.error("%s failed: %r", name, result)
        await engine.dispose()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        log.info("stopped")
