"""Process start-up: check the schema, open the listeners, run until SIGTERM or Ctrl-C.

Listening sockets are bound here, before any service starts, so that a port already in use
stops start-up with one clear line instead of a half-started process.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import os
import shutil
import signal
import socket
import tempfile
from collections.abc import Callable, Generator, Sequence
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from accounts.rekey import unreadable_samples
from federation.tls import TlsError
from portal.app import create_app
from portal.assets import AssetsMissing, vendored
from radius.eap.tlsengine import TlsConfigError
from radius.eapcerts import CertificateUnreadable
from radius.server import BindError, Listener, RadiusService
from sesame import migrations
from sesame.compose import (
    build_portal,
    build_radius,
    check_eap,
    check_onboarding,
    check_radsec,
    radius_listeners,
    radsec_listener,
    records_signer,
    redis_link,
)
from sesame.db import create_engine, create_sessionmaker, is_sqlite, reaching
from sesame.settings import Settings
from sesame.workers import Supervisor

log = logging.getLogger("sesame")


class StartupError(Exception):
    """The service cannot start; the message says why and what to do."""


class StartupFileError(StartupError):
    """The service cannot start: a file it needs cannot be read (the message names it)."""


def check_files(settings: Settings) -> None:
    """The files the services read at start (EAP's and RadSec's certificates, onboarding's keys)
    can be used: else
    one error."""
    try:
        check_eap(settings)
        check_radsec(settings)
        check_onboarding(settings)
        records_signer(settings)
        if settings.web.enabled:
            vendored()  # the front-end files the pages reference (portal/assets.py)
    except (CertificateUnreadable, AssetsMissing) as exc:
        raise StartupFileError(str(exc)) from None
    except (TlsConfigError, TlsError) as exc:
        raise StartupError(str(exc)) from None


def prepare_schema(settings: Settings) -> None:
    """Upgrade an embedded SQLite database in place; a server database must already be at head.

    Upgrading a shared PostgreSQL database is an operator's decision (``sesame db upgrade``),
    taken once, not by every process that starts. A schema newer than this code is accepted with
    a warning on either: during a rolling upgrade the next release has migrated the database while
    this one still runs (and may be restarted), which the expand-only migrations allow
    (docs/operations.md, "Upgrades"). :class:`~sesame.db.DatabaseUnavailable` when the database
    cannot be reached.
    """
    url = settings.database_url
    with reaching(url):
        current = migrations.current_revision_sync(url)
        schema = migrations.compare(current)
        if schema is migrations.Schema.NEWER:
            log.warning(
                "database: the schema is at revision %s, newer than this version's %s: running against "
                "it (a rolling upgrade in progress); upgrade this host too",
                current,
                migrations.head_revision(),
            )
            return
        if is_sqlite(url) and schema is not migrations.Schema.UNKNOWN:
            migrations.upgrade(url)
            return
    head = migrations.head_revision()
    if schema is migrations.Schema.OLDER:
        raise StartupError(
            f"the database schema is at revision {current or 'none'}, this version needs {head}: "
            "run `sesame db upgrade` first"
        )
    if schema is migrations.Schema.UNKNOWN:
        raise StartupError(
            f"the database schema is at revision {current}, which this version (at {head}) does not "
            "know: is SESAME_DATABASE_URL the right database?"
        )


def check_secret_key(settings: Settings) -> None:
    """The stored secrets open under SESAME_SECRET_KEY (or, during a rotation, the previous key):
    a database restored or copied without its key stops start-up with one line, instead of every
    access point being ignored one by one (docs/operations.md, "Backups and restore")."""

    async def unreadable() -> list[str]:
        engine = create_engine(settings.database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                return await unreadable_samples(session, box=settings.secret_box())
        finally:
            await engine.dispose()

    with reaching(settings.database_url):
        kinds = asyncio.run(unreadable())
    if kinds:
        raise StartupError(
            f"the stored secrets ({', '.join(kinds)}) do not open under SESAME_SECRET_KEY: this database "
            "was sealed with another key. Set the SESAME_SECRET_KEY backed up with this database "
            "(`sesame secrets check` counts what opens)"
        )


#: the settings that move each listener, named when its port cannot be had
MOVED_BY = {
    "web": "SESAME_WEB_PORT (and SESAME_WEB_BIND)",
    "metrics": "SESAME_METRICS_PORT (0 turns the metrics listener off)",
    "radius": "SESAME_RADIUS_AUTH_PORT and SESAME_RADIUS_ACCT_PORT (and SESAME_RADIUS_BIND)",
}


def _moved_by(what: str) -> str:
    return f"; set {MOVED_BY[what]} to use another"


def bind_tcp(host: str, port: int, *, what: str) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TCP only: reuse TIME_WAIT, not steal
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise StartupError(
            f"{what}: cannot listen on {host}:{port}: {exc.strerror}{_moved_by(what)}"
        ) from None
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


#: how often start-up looks whether every service answers yet
READY_POLL = 0.05


async def _until_answering(
    web: list[_WebServer],
    radius_ready: Callable[[], str | None],
    waiting: Sequence[asyncio.Task[Any]],
) -> bool:
    """Wait until every service answers: the web servers accept connections and the RADIUS
    service — in this process or in every worker process — has its sockets open and its workers
    running (what ``/readyz`` says). False when a task ends first (a stop signal, a crash): the
    caller then shuts down without ever saying "ready"."""
    while not all(server.started for server in web) or radius_ready() is not None:
        if any(task.done() for task in waiting):
            return False
        await asyncio.sleep(READY_POLL)
    return True


def lock_radius_ports(settings: Settings) -> list[socket.socket]:
    """Hold a lock (a Linux abstract socket) per RADIUS address and port so a second sesame is refused.

    Worker processes share the RADIUS ports through SO_REUSEPORT, which would just as happily
    let a second, unrelated ``sesame serve`` take half of the traffic; this lock stops that. It is
    per address: two instances on two addresses of one machine (two hosts' worth, as the tests of
    several hosts run them) share the port numbers, as two machines would. A wildcard and a
    specific address of one port are not told apart here: one bound without SO_REUSEPORT fails with
    "address in use"; with it, the specific address takes its own traffic, as configured.
    """
    locks: list[socket.socket] = []
    for port in sorted({settings.radius.auth_port, settings.radius.acct_port}):
        for address in sorted(set(settings.radius.addresses)):
            lock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            try:
                lock.bind(f"\0sesame-radius-udp-{address}-{port}")
            except OSError:
                lock.close()
                for held in locks:
                    held.close()
                raise StartupError(
                    f"radius: udp port {port} is already served by another sesame process (on {address})"
                    f"{_moved_by('radius')}"
                ) from None
            locks.append(lock)
    return locks


def check_ports_free(settings: Settings) -> None:
    """Every port the enabled services listen on can be had now, else :class:`StartupError`
    naming the port and the setting that moves it; nothing is kept bound. ``sesame demo`` asks
    before it changes anything (a second demo used to renew the password, then fail)."""
    held: list[socket.socket] = []
    try:
        if settings.radius.enabled:
            held += lock_radius_ports(settings)
            held += [listener.sock for listener in _radius_sockets(settings, reuse_port=False)]
            radsec = _radsec_socket(settings)
            if radsec is not None:
                held.append(radsec)
        if settings.web.enabled:
            held.append(bind_tcp(settings.web.bind, settings.web.port, what="web"))
        if settings.metrics.enabled:
            held.append(bind_tcp(settings.metrics.bind, settings.metrics.port, what="metrics"))
    finally:
        for sock in held:
            sock.close()


def _radius_sockets(settings: Settings, *, reuse_port: bool) -> list[Listener]:
    try:
        return radius_listeners(settings, reuse_port=reuse_port)
    except BindError as exc:
        raise StartupError(f"{exc}{_moved_by('radius')}") from None


def _radsec_socket(settings: Settings) -> socket.socket | None:
    try:
        return radsec_listener(settings)
    except BindError as exc:  # its message names SESAME_FEDERATION_RADSEC_* already, or the port
        raise StartupError(str(exc)) from None


def _where(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


async def serve(settings: Settings) -> None:
    """Run every enabled service until a stop signal arrives.

    RADIUS runs in this process, or in ``settings.radius.workers`` worker processes sharing the
    ports (:mod:`sesame.workers`); the web app and the metrics listener always run here.
    """
    check_files(settings)  # before anything is bound or started
    engine = create_engine(settings.database_url)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    redis = redis_link(settings)  # shared limits and throttles; None: kept in this process
    tasks: dict[str, asyncio.Task[None]] = {}
    web: _WebServer | None = None
    metrics: _WebServer | None = None
    radius: RadiusService | None = None
    supervisor: Supervisor | None = None
    locks: list[socket.socket] = []
    metrics_dir: str | None = None
    try:
        listeners = []
        workers = settings.radius.workers
        if settings.radius.enabled:
            locks = lock_radius_ports(settings)
            # bound here even with workers: a port in use stops start-up now, with one line
            listeners = _radius_sockets(settings, reuse_port=workers > 1)
            radsec = _radsec_socket(settings)
            if workers > 1:
                for listener in listeners:  # the workers bind their own sockets
                    listener.sock.close()
                if radsec is not None:
                    radsec.close()  # the first worker serves RadSec
                if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
                    metrics_dir = tempfile.mkdtemp(prefix="sesame-metrics-")
                    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        # readiness of the RADIUS service, asked by /readyz: whatever runs it, once it started
        radius_health: list[Callable[[], str | None]] = []

        def radius_ready() -> str | None:
            return radius_health[0]() if radius_health else "starting"

        if settings.web.enabled:
            sock = bind_tcp(settings.web.bind, settings.web.port, what="web")
            app = create_app(
                engine=engine,
                portal=build_portal(settings, engine, redis=redis) if settings.portal.enabled else None,
                readiness=radius_ready if listeners else None,
                redis=redis.probe if redis is not None else None,
            )
            # X-Forwarded-For and -Proto only from the configured proxies (uvicorn's own default
            # would also read FORWARDED_ALLOW_IPS from the environment, where "*" believes anyone)
            config = uvicorn.Config(
                app,
                log_config=None,
                access_log=False,
                lifespan="on",
                proxy_headers=True,
                forwarded_allow_ips=settings.web.proxies,
            )
            web = _WebServer(config)
            tasks["web"] = asyncio.create_task(web.serve(sockets=[sock]), name="web")
            log.info(
                "web: listening on http://%s (health: /healthz, readiness: /readyz)",
                _where(settings.web.bind, settings.web.port),
            )
        if settings.metrics.enabled:
            # its own listener, loopback by default: the web port is public behind the reverse proxy
            metrics_sock = bind_tcp(settings.metrics.bind, settings.metrics.port, what="metrics")
            exposition = metrics_app(token=settings.metrics.token.get_secret_value())
            metrics = _WebServer(
                uvicorn.Config(exposition, log_config=None, access_log=False, lifespan="off")
            )
            tasks["metrics"] = asyncio.create_task(metrics.serve(sockets=[metrics_sock]), name="metrics")
            log.info(
                "metrics: listening on http://%s/metrics%s",
                _where(settings.metrics.bind, settings.metrics.port),
                " (bearer token required)" if settings.metrics.token.get_secret_value() else "",
            )
        if listeners and workers > 1:
            supervisor = Supervisor(workers)
            supervisor.start()
            radius_health.append(supervisor.health)
            tasks["radius"] = asyncio.create_task(supervisor.watch(), name="radius")
            for listener in listeners:
                log.info(
                    "radius: %s on udp %s, %d worker processes",
                    listener.kind.value,
                    _where(listener.address, listener.port),
                    workers,
                )
        elif listeners:
            radius = build_radius(settings, engine, radsec_socket=radsec, redis=redis)
            await radius.start(listeners)
            radius_health.append(radius.health)
            if radsec is not None:
                port = radsec.getsockname()[1]
                log.info("radsec: listening on tcp %s", _where(settings.federation.radsec_bind, port))
            for listener in listeners:
                log.info(
                    "radius: %s listening on udp %s",
                    listener.kind.value,
                    _where(listener.address, listener.port),
                )
            tasks["radius"] = asyncio.create_task(_forever(), name="radius")
        if "web" not in tasks and "radius" not in tasks:
            raise StartupError("no service is enabled: set SESAME_WEB_ENABLED or SESAME_RADIUS_ENABLED")
        if redis is not None:  # once the workers are spawned (that blocks the loop for a while)
            redis.start()  # a line now if it does not answer; the gauge follows it from here on
        stopped = asyncio.create_task(stop.wait(), name="stop-signal")
        waiting = [stopped, *tasks.values()]
        servers = [server for server in (web, metrics) if server is not None]
        if await _until_answering(servers, radius_ready if listeners else lambda: None, waiting):
            log.info("sesame ready (realm %s, environment %s)", settings.realm, settings.environment)

        done, _ = await asyncio.wait([stopped, *tasks.values()], return_when=asyncio.FIRST_COMPLETED)
        if stopped not in done:
            crashed = next(iter(done))
            log.error("%s stopped unexpectedly; shutting down", crashed.get_name())
        stopped.cancel()
    finally:
        log.info("stopping")
        for server in (web, metrics):
            if server is not None:
                server.should_exit = True
        if "radius" in tasks:
            tasks["radius"].cancel()
        if radius is not None:
            await radius.stop()
        if supervisor is not None:
            await supervisor.stop()
        results = await asyncio.gather(*tasks.values(), return_exceptions=True)
        for name, result in zip(tasks, results, strict=True):
            if isinstance(result, BaseException) and not isinstance(result, asyncio.CancelledError):
                log.error("%s failed: %r", name, result)
        await engine.dispose()
        if redis is not None:
            await redis.close()
        for lock in locks:
            lock.close()
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
        log.info("stopped")


def metrics_app(*, token: str = "") -> Starlette:
    """The metrics listener: ``GET /metrics``, Prometheus exposition (with worker processes, the sum
    over their shared files), behind a bearer token when one is set; nothing else is served there."""
    from prometheus_client import (
        CONTENT_TYPE_LATEST,
        REGISTRY,
        CollectorRegistry,
        generate_latest,
        multiprocess,
    )

    path = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    registry = REGISTRY
    if path:
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry, path=path)  # type: ignore[no-untyped-call]
    expected = f"Bearer {token}".encode()

    async def metrics(request: Request) -> Response:
        given = request.headers.get("authorization", "").encode("latin-1")
        if token and not hmac.compare_digest(given, expected):
            return PlainTextResponse(
                "a bearer token is required\n",
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="sesame-metrics"'},
            )
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return Starlette(routes=[Route("/metrics", metrics, methods=["GET"])])
