"""A real OpenID provider for the tests: panva's ``oidc-provider`` (OpenID-certified), pinned in
package-lock.json and installed by ``npm ci``, run by ``oidc_provider.mjs`` beside this file on
127.0.0.1. Without node or the package the test is skipped on a workstation and fails in CI
(``CI`` set), like the browser tests' axe-core."""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.ports import free_tcp_port
from tests.support.processes import stop

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("oidc_provider.mjs")
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def need_provider() -> str:
    """The ``node`` binary, if it and the npm package are here; else skip (fail in CI)."""
    node = shutil.which("node")
    package = ROOT / "node_modules" / "oidc-provider" / "package.json"
    if node is None or not package.is_file():
        message = "node and the npm package oidc-provider are needed (scripts/test installs it: npm ci)"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return node


@contextmanager
def openid_provider(workdir: Path, clients: list[dict[str, object]]) -> Iterator[str]:
    """Run the provider with these clients (oidc-provider's client metadata); yields its issuer."""
    node = need_provider()
    port = free_tcp_port()
    clients_file = workdir / "oidc-clients.json"
    clients_file.write_text(json.dumps(clients))
    proc = subprocess.Popen(
        [node, str(SCRIPT), str(port), str(clients_file)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        line = b""
        while time.monotonic() < deadline and proc.poll() is None:
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if ready:
                line = proc.stdout.readline()
                break
        if not line.startswith(b"ready "):
            raise AssertionError(f"the OpenID provider did not start ({line!r})")
        yield line.split()[1].decode()
    finally:
        stop(proc, 10)
