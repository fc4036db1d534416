"""deploy/container: the image is built with podman from the source tree and smoke-tested against
this machine's PostgreSQL (the schema migrated from the image, ``sesame serve`` answering /readyz,
its health check and radclient, run as a user that is not root, stopped cleanly); compose.yaml is
checked for what ties its services together.

What this machine cannot do is said, not hidden (docs/operations.md, "Containers"): no registry is
reachable here, so the base image is a stand-in made with debootstrap (Debian 12's python3 3.11),
and the Python packages come from a wheelhouse built on the host (``PIP_OPTIONS``). Its kernel
runs containers only with runc (crun refuses the hybrid cgroup layout) and with resource limits no
higher than this process's (it lacks CAP_SYS_RESOURCE). When podman is installed but cannot run a
container at all, the build test is skipped with podman's own error, in CI too: that is the
machine, not Sésame; without podman it fails in CI (``.ci/run`` installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]  # no types-PyYAML in the package index used here

from tests.conftest import IN_CI, postgres_database
from tests.deploy.conftest import DEPLOY, need_program
from tests.interop.conftest import PASSWORD, REALM, SECRET, need_tool, radclient, received
from tests.support.ports import free_tcp_port, free_udp_port
from tests.support.status_server import answers_status_server

ROOT = DEPLOY.parent
CONTAINER = DEPLOY / "container"
OFFICIAL_BASE = "docker.io/library/python:3.11-slim-bookworm"
STAND_IN_BASE = "localhost/sesame-test-base:bookworm"
IMAGE = "localhost/sesame-test:latest"
KEY = "a-secret-key-for-the-container-test-0123456789"


# -- compose.yaml ------------------------------------------------------------------------------------


def _compose() -> Any:
    return yaml.safe_load((CONTAINER / "compose.yaml").read_text())


def test_the_compose_file_ties_sesame_postgresql_and_redis_together() -> None:
    compose = _compose()
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "migrate", "sesame"}
    assert {name: s["network_mode"] for name, s in services.items()} == dict.fromkeys(services, "host")
    pg_port = re.search(r"port=(\d+)", " ".join(services["postgres"]["command"]))
    redis_port = re.search(r"--port (\d+)", " ".join(services["redis"]["command"]))
    assert pg_port and redis_port
    # the health checks ask the ports the servers listen on, and Sésame is pointed at them
    assert pg_port.group(1) in services["postgres"]["healthcheck"]["test"]
    assert redis_port.group(1) in services["redis"]["healthcheck"]["test"]
    for name in ("migrate", "sesame"):
        url = services[name]["environment"]["SESAME_DATABASE_URL"]
        assert url == f"postgresql://sesame:${{SESAME_DB_PASSWORD}}@127.0.0.1:{pg_port.group(1)}/sesame"
        assert services[name]["image"] == "localhost/sesame:latest"
        assert services[name]["env_file"] == ["sesame.env"]
    assert (
        services["sesame"]["environment"]["SESAME_REDIS_URL"] == f"redis://127.0.0.1:{redis_port.group(1)}/0"
    )
    # one image, built from the Containerfile, with the source tree as context
    build = services["migrate"]["build"]
    assert isinstance(build, dict)
    assert (CONTAINER / str(build["context"])).resolve() == ROOT
    assert (ROOT / str(build["dockerfile"])).resolve() == CONTAINER / "Containerfile"
    # order: the schema is migrated once PostgreSQL answers; Sésame starts once that is done
    assert services["migrate"]["depends_on"] == {"postgres": {"condition": "service_healthy"}}
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["sesame"]["depends_on"] == {
        "migrate": {"condition": "service_completed_successfully"},
        "redis": {"condition": "service_healthy"},
    }
    assert set(compose["volumes"]) == {"pgdata", "sesame-state"}
    # the settings file lists what the production preflight asks for
    example = (CONTAINER / "sesame.env.example").read_text()
    for name in (
        "SESAME_SECRET_KEY",
        "SESAME_REALM",
        "SESAME_REGION_NAME",
        "SESAME_PORTAL_PUBLIC_URL",
        "SESAME_MAIL_SMTP_HOST",
    ):
        assert re.search(rf"^{name}=", example, re.MULTILINE), name


def test_the_ignore_files_agree() -> None:
    """podman reads .containerignore, docker .dockerignore: the same context for both."""
    assert (ROOT / ".containerignore").read_text() == (ROOT / ".dockerignore").read_text()


# -- the image -----------------------------------------------------------------------------------------

LIMITS = ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]


def _podman(*args: str, timeout: float = 600, input: str | None = None) -> subprocess.CompletedProcess[str]:
    """podman with what this machine needs to run a container (the module's docstring)."""
    runc = shutil.which("runc")
    return subprocess.run(
        [need_program("podman", "podman"), *(["--runtime", runc] if runc else []), *args],
        capture_output=True, text=True, timeout=timeout, input=input,
    )  # fmt: skip


def _base() -> str:
    """The base image scripts/container_base.sh left (the official one, else the stand-in)."""
    for image in (OFFICIAL_BASE, STAND_IN_BASE):
        if _podman("image", "exists", image).returncode == 0:
            return image
    message = (
        f"neither {OFFICIAL_BASE} nor {STAND_IN_BASE} is in podman's store: run scripts/container_base.sh"
    )
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


def _context(tmp_path: Path) -> Path:
    """The source tree as git sees it (tracked and new files, nothing ignored) and a wheelhouse of
    every package the image needs, built here from the host's package indexes."""
    context = tmp_path / "context"
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT, check=True, capture_output=True,
    ).stdout.decode().split("\0")  # fmt: skip
    for name in filter(None, listed):
        source = ROOT / name
        if source.is_file():
            (context / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, context / name)
    wheels = context / "wheelhouse"
    pip = [sys.executable, "-m", "pip", "-q", "--disable-pip-version-check"]
    subprocess.run([*pip, "wheel", "-w", str(wheels), str(context)], check=True, timeout=900, cwd=tmp_path)
    # the build's own requirements, and what the host's newer Python leaves out: redis needs
    # async-timeout before Python 3.11.3 (Debian 12 has 3.11.2)
    extra = ["setuptools>=69", "wheel", "async-timeout>=4.0.3"]
    subprocess.run([*pip, "download", "-d", str(wheels), *extra], check=True, timeout=300)
    return context


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    base = _base()
    probe = _podman("run", "--rm", *LIMITS, base, "python3", "-c", "import venv", timeout=120)
    if probe.returncode != 0:  # the machine, not Sésame: skipped even in CI, with podman's reason
        pytest.skip(f"podman cannot run a container on this machine: {probe.stderr.strip()}")
    context = _context(tmp_path_factory.mktemp("image"))
    built = _podman(
        "build", *LIMITS, "--network", "none",  # offline: everything comes from the wheelhouse
        "--format", "docker",  # the OCI format has no HEALTHCHECK
        "--layers=false",  # no build stage left behind in the store (half a gigabyte each run)
        "--build-arg", f"BASE={base}",
        "--build-arg", "PIP_OPTIONS=--no-index --find-links=/src/wheelhouse",
        "-f", "deploy/container/Containerfile", "-t", IMAGE, str(context),
        timeout=1800,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-4000:] + built.stderr[-4000:]
    yield IMAGE
    _podman("rmi", "-f", IMAGE)


@pytest.fixture
def database() -> Iterator[str]:
    with postgres_database("sesame_ctr") as url:
        yield url.replace("postgresql+asyncpg://", "postgresql://")


def _readyz(port: int) -> int | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as reply:
            return int(reply.status)
    except urllib.error.HTTPError as error:
        return error.code
    except OSError:
        return None


def test_the_image_migrates_serves_and_stops_cleanly(image: str, database: str, tmp_path: Path) -> None:
    need_tool("radclient")
    auth, acct, web = free_udp_port(), free_udp_port(), free_tcp_port()
    env = {
        "SESAME_ENVIRONMENT": "development",
        "SESAME_SECRET_KEY": KEY,
        "SESAME_REALM": REALM,
        "SESAME_DATABASE_URL": database,
        "SESAME_RADIUS_BIND": "127.0.0.1",
        "SESAME_RADIUS_AUTH_PORT": str(auth),
        "SESAME_RADIUS_ACCT_PORT": str(acct),
        "SESAME_WEB_BIND": "127.0.0.1",
        "SESAME_WEB_PORT": str(web),
        "SESAME_METRICS_PORT": str(free_tcp_port()),
    }
    flags = [arg for name, value in env.items() for arg in ("-e", f"{name}={value}")]
    # the schema, from the image alone (the wheel carries the migrations), as compose's migrate
    upgraded = _podman(
        "run", "--rm", *LIMITS, "--network", "host", *flags, image, "db", "upgrade", timeout=300
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert "is at revision" in upgraded.stdout

    name = f"sesame-test-{os.getpid()}"
    started = _podman("run", "-d", "--name", name, *LIMITS, "--network", "host", *flags, image, timeout=120)
    assert started.returncode == 0, started.stderr
    try:
        deadline = time.monotonic() + 90
        while _readyz(web) != 200:
            assert time.monotonic() < deadline, _podman("logs", name).stderr[-4000:]
            time.sleep(0.5)
        assert _podman("exec", name, "id", "-u").stdout.strip() != "0"  # not root in the container
        assert _podman("healthcheck", "run", name).returncode == 0  # the image's HEALTHCHECK
        for command in (
            ["commune", "add", "Valence", "--insee", "26362"],
            ["site", "add", "Médiathèque", "--commune", "Valence"],
        ):
            done = _podman("exec", name, "sesame", *command)
            assert done.returncode == 0, done.stderr
        added = _podman(
            "exec", "-i", name, "sesame", "nas", "add", "ap", "--ip", "127.0.0.1", "--secret", "-",
            "--site", "Médiathèque", input=SECRET + "\n",
        )  # fmt: skip
        assert added.returncode == 0, added.stderr
        user = _podman(
            "exec", "-i", name, "sesame", "user", "add", "alice", "--email", "alice@example.fr",
            "--password", "-", input=PASSWORD + "\n",
        )  # fmt: skip
        assert user.returncode == 0, user.stderr
        deadline = time.monotonic() + 30
        while not answers_status_server("127.0.0.1", auth, SECRET, timeout=0.5):
            assert time.monotonic() < deadline, "the access point was never loaded"
        request = f'User-Name = "alice"\nUser-Password = "{PASSWORD}"\nMessage-Authenticator = 0x00\n'
        reply = radclient(auth, SECRET, request)
        assert received(reply) == "Access-Accept", reply
    finally:
        stopped = _podman("stop", "-t", "30", name)
        logs = _podman("logs", name)
        _podman("rm", "-f", name)
    assert stopped.returncode == 0, stopped.stderr
    output = logs.stdout + logs.stderr
    assert "sesame ready" in output and "Traceback" not in output, output[-4000:]
    assert "stopped" in output or "stopping" in output, output[-4000:]
