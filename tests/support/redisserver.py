"""Redis for the tests: the shared one at ``SESAME_TEST_REDIS_URL`` (default the local server,
db 0, every test under a key prefix of its own), and :class:`RedisServer`, a ``redis-server`` a
test starts, stops and starts again on the same port (Redis going away and coming back).

Without Redis the tests that need it are skipped on a workstation and **fail** in CI (``CI=true``),
where ``.ci/run`` installs and starts it.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import redis

REDIS_URL = os.environ.get("SESAME_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def redis_missing(reason: str) -> None:
    message = f"Redis is needed: {reason}"
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def need_shared_redis() -> str:
    """The URL of the test Redis, after checking that it answers."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2, socket_connect_timeout=2)
    try:
        client.ping()
    except (redis.RedisError, OSError) as exc:
        redis_missing(f"{REDIS_URL}: {type(exc).__name__}: {exc}")
    finally:
        client.close()
    return REDIS_URL


def unique_prefix() -> str:
    return f"sesame-test-{os.getpid()}-{uuid.uuid4().hex[:12]}:"


def drop_keys(url: str, prefix: str) -> None:
    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        names = list(client.scan_iter(match=f"{prefix}*", count=1000))
        if names:
            client.delete(*names)
    finally:
        client.close()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """A ``redis-server`` of the test's own on a loopback port, without persistence."""

    def __init__(self, directory: Path) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            redis_missing("redis-server is not installed (Debian: redis-server)")
        self.binary = str(binary)
        self.directory = directory
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.directory)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        client = redis.Redis.from_url(self.url, socket_timeout=1, socket_connect_timeout=1)
        try:
            for _ in range(100):
                try:
                    client.ping()
                    return
                except (redis.RedisError, OSError):
                    time.sleep(0.05)
        finally:
            client.close()
        self.stop()
        redis_missing(f"the redis-server started on port {self.port} does not answer")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None
