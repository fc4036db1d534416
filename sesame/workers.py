"""Several RADIUS worker processes sharing the RADIUS ports (``--radius-workers N``).

Each worker is a fresh process (``spawn``) that binds its own sockets with SO_REUSEPORT; the
kernel spreads datagrams by 4-tuple, so one NAS port always reaches the same worker and RFC 5080
duplicate detection stays per-process. The parent serves the web app, holds the port lock (so a
second ``sesame serve`` is refused), restarts a worker that dies, and stops them all on SIGTERM.
Metrics of all workers are summed through prometheus_client's multiprocess mode.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import secrets
import signal
import time
from multiprocessing.process import BaseProcess
from typing import Any

from prometheus_client import multiprocess

from radius.server import RadiusService
from sesame.compose import WorkerPlace, build_radius, radius_listeners, radsec_listener, redis_link
from sesame.db import create_engine
from sesame.logs import configure_logging
from sesame.settings import get_settings

log = logging.getLogger("sesame")

MAX_RESTARTS_PER_MINUTE = 5
#: how often a worker tells the parent that it answers (:meth:`Supervisor.health`)
HEARTBEAT_INTERVAL = 1.0
#: a worker silent this long (its loop blocked, its service not answering) makes the server not ready
HEARTBEAT_STALE = 5.0


def run_event_loop(main: object) -> None:
    """Run a coroutine on uvloop when it is installed, else on asyncio's loop."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        asyncio.run(main)  # type: ignore[arg-type]
        return
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(main)  # type: ignore[arg-type]


def _worker_main(place: WorkerPlace, beats: Any) -> None:
    settings = get_settings()
    configure_logging(level=settings.log_level, fmt=settings.log_format)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides; it sends SIGTERM
    run_event_loop(_worker(place, beats))


async def _heartbeat(service: RadiusService, index: int, beats: Any) -> None:
    """Tell the parent, every :data:`HEARTBEAT_INTERVAL`, that this worker answers (or not)."""
    while True:
        problem = service.health()
        beats[index] = 0.0 if problem is not None else time.monotonic()  # CLOCK_MONOTONIC: system-wide
        await asyncio.sleep(HEARTBEAT_INTERVAL)


async def _worker(place: WorkerPlace, beats: Any) -> None:
    settings = get_settings()
    index = place.index
    engine = create_engine(settings.database_url)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    first = index == 0
    radsec = radsec_listener(settings) if first else None  # RadSec: few connections, one process
    redis = redis_link(settings)  # each worker its own connection, its own view of Redis's health
    service = build_radius(
        settings, engine, housekeeping=first, radsec_socket=radsec, worker=place, redis=redis
    )
    await service.start(radius_listeners(settings, reuse_port=True))
    if redis is not None:
        redis.start()
    log.info("radius worker %d ready (pid %d)", index, os.getpid())
    heartbeat = asyncio.create_task(_heartbeat(service, index, beats), name="radius-heartbeat")
    try:
        await stop.wait()
    finally:
        heartbeat.cancel()
        await service.stop()
        await engine.dispose()
        if redis is not None:
            await redis.close()


def _forget_metrics(process: BaseProcess) -> None:
    """A dead worker's gauges of the ``live*`` modes (the expiry of the EAP certificate it served)
    stop counting; its counters still add up."""
    if process.pid is not None and "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        multiprocess.mark_process_dead(process.pid)  # type: ignore[no-untyped-call]


class Supervisor:
    """Starts, watches and stops the worker processes."""

    def __init__(self, count: int) -> None:
        self.count = count
        self.context = multiprocessing.get_context("spawn")
        self.processes: dict[int, BaseProcess] = {}
        self.restarts: list[float] = []
        self.stopping = False
        # per worker: when it last said it answers (time.monotonic), 0 when it does not
        self.beats = self.context.RawArray("d", count)
        # the link between the workers (radius.workerlink): named after this process, keyed anew
        # at each start so that no other local process can hand them requests
        self.link_name = str(os.getpid())
        self.link_key = secrets.token_bytes(32)

    def health(self) -> str | None:
        """None while every worker answers; else which does not (for ``/readyz``)."""
        now = time.monotonic()
        for index in range(self.count):
            process = self.processes.get(index)
            if process is None or not process.is_alive():
                return f"radius worker {index} is not running"
            if now - self.beats[index] > HEARTBEAT_STALE:
                return f"radius worker {index} does not answer"
        return None

    def _spawn(self, index: int) -> None:
        self.beats[index] = 0.0
        process = self.context.Process(
            target=_worker_main,
            args=(
                WorkerPlace(index=index, count=self.count, name=self.link_name, key=self.link_key),
                self.beats,
            ),
            name=f"sesame-radius-{index}",
        )
        process.start()
        self.processes[index] = process

    def start(self) -> None:
        for index in range(self.count):
            self._spawn(index)

    async def watch(self) -> None:
        """Restart workers that die; give up (and return) if they keep dying."""
        while not self.stopping:
            await asyncio.sleep(0.5)
            for index, process in list(self.processes.items()):
                if process.is_alive() or self.stopping:
                    continue
                now = time.monotonic()
                self.restarts = [t for t in self.restarts if t > now - 60] + [now]
                if len(self.restarts) > MAX_RESTARTS_PER_MINUTE:
                    log.error("radius workers keep dying (last exit code %s); stopping", process.exitcode)
                    return
                log.error("radius worker %d exited with code %s; restarting it", index, process.exitcode)
                _forget_metrics(process)
                self._spawn(index)

    async def stop(self, grace: float = 15.0) -> None:
        self.stopping = True
        for process in self.processes.values():
            if process.is_alive() and process.pid is not None:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for process in self.processes.values():
            await asyncio.to_thread(process.join, max(0.1, deadline - time.monotonic()))
            if process.is_alive():
                log.warning("radius worker %s did not stop in time; killing it", process.name)
                process.kill()
                process.join()
