"""`sesame serve` and `sesame demo` as real processes: started, probed over HTTP, stopped by signal."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.network import ensure_home_region, find_nas, nas_secret
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from accounts.users import find_account
from radius.eap import trialpki
from sesame import migrations
from sesame.db import create_engine, create_sessionmaker
from sesame.demo import seed_demo
from tests.support.ports import free_tcp_port, free_udp_port
from tests.support.status_server import answers_status_server

pytestmark = pytest.mark.slow
#: how long a start (or a refusal to start) may take: a bound for a busy machine (the suite runs on
#: 4 workers, tests/conftest.py), not a measure: a healthy start takes a few seconds
START_TIMEOUT = 60.0


class Process:
    def __init__(self, args: list[str], env: dict[str, str], workdir: Path) -> None:
        self.out = workdir / f"out-{time.monotonic_ns()}.log"
        self.err = workdir / f"err-{time.monotonic_ns()}.log"
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "sesame", *args], env=env, cwd=workdir, stdout=out, stderr=err
            )

    @property
    def stdout(self) -> str:
        return self.out.read_text()

    @property
    def stderr(self) -> str:
        return self.err.read_text()

    def wait_http(self, url: str) -> httpx.Response:
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, f"exited {self.proc.returncode}: {self.stderr}"
            try:
                return httpx.get(url, timeout=1.0)
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"no answer from {url} within {START_TIMEOUT}s: {self.stderr}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        self.proc.send_signal(sig)
        return self.proc.wait(timeout=START_TIMEOUT)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SESAME_")}
    return base | {
        "SESAME_ENVIRONMENT": "development",
        "SESAME_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "SESAME_WEB_BIND": "127.0.0.1",
        "SESAME_WEB_PORT": str(free_tcp_port()),
        "SESAME_METRICS_PORT": str(free_tcp_port()),
        "SESAME_RADIUS_BIND": "127.0.0.1",
        "SESAME_RADIUS_AUTH_PORT": str(free_udp_port()),
        "SESAME_RADIUS_ACCT_PORT": str(free_udp_port()),
    }


@pytest.fixture
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        process.kill()


def test_serve_upgrades_sqlite_answers_probes_and_stops_on_sigterm(
    env: dict[str, str], tmp_path: Path, processes: list[Process]
) -> None:
    server = Process(["serve"], env, tmp_path)
    processes.append(server)
    base = f"http://127.0.0.1:{env['SESAME_WEB_PORT']}"
    assert server.wait_http(f"{base}/healthz").json() == {"status": "ok"}
    deadline = time.monotonic() + START_TIMEOUT
    while (ready := server.wait_http(f"{base}/readyz")).status_code != 200 and time.monotonic() < deadline:
        time.sleep(0.1)  # 503 "starting" until the RADIUS service runs
    assert ready.json() == {"status": "ready", "database": "ok", "radius": "ok"}
    metrics_url = f"http://127.0.0.1:{env['SESAME_METRICS_PORT']}/metrics"
    metrics = server.wait_http(metrics_url)
    assert metrics.status_code == 200 and "sesame_radius_clients" in metrics.text
    assert server.wait_http(f"{base}/metrics").status_code == 404  # not on the public web port
    assert f"web: listening on http://127.0.0.1:{env['SESAME_WEB_PORT']}" in server.stderr
    assert f"metrics: listening on {metrics_url}\n" in server.stderr
    assert f"radius: auth listening on udp 127.0.0.1:{env['SESAME_RADIUS_AUTH_PORT']}" in server.stderr
    assert f"radius: acct listening on udp 127.0.0.1:{env['SESAME_RADIUS_ACCT_PORT']}" in server.stderr
    assert (
        migrations.current_revision_sync(env["SESAME_DATABASE_URL"].replace("sqlite:", "sqlite+aiosqlite:"))
        == migrations.head_revision()
    )

    second = Process(["serve"], env, tmp_path)
    processes.append(second)
    assert second.proc.wait(timeout=START_TIMEOUT) == 2
    port = min(int(env["SESAME_RADIUS_AUTH_PORT"]), int(env["SESAME_RADIUS_ACCT_PORT"]))
    assert f"error: radius: udp port {port} is already served by another sesame process" in second.stderr

    web_only = Process(["serve"], env | {"SESAME_RADIUS_ENABLED": "false"}, tmp_path)
    processes.append(web_only)
    assert web_only.proc.wait(timeout=START_TIMEOUT) == 2
    web_port = env["SESAME_WEB_PORT"]
    assert f"error: web: cannot listen on 127.0.0.1:{web_port}: Address already in use" in web_only.stderr

    metrics_taken = env | {"SESAME_RADIUS_ENABLED": "false", "SESAME_WEB_PORT": str(free_tcp_port())}
    web_only = Process(["serve"], metrics_taken, tmp_path)
    processes.append(web_only)
    assert web_only.proc.wait(timeout=START_TIMEOUT) == 2
    metrics_port = env["SESAME_METRICS_PORT"]
    assert f"error: metrics: cannot listen on 127.0.0.1:{metrics_port}: Address already in use" in (
        web_only.stderr
    )

    assert server.stop(signal.SIGTERM) == 0
    assert server.stderr.rstrip().endswith("sesame: stopped")


def test_metrics_listener_with_a_bearer_token_and_without_one(
    env: dict[str, str], tmp_path: Path, processes: list[Process]
) -> None:
    token = "c2VzYW1lLW1ldHJpY3MtdG9rZW4"
    server = Process(["serve"], env | {"SESAME_METRICS_TOKEN": token}, tmp_path)
    processes.append(server)
    url = f"http://127.0.0.1:{env['SESAME_METRICS_PORT']}/metrics"
    refused = server.wait_http(url)
    assert refused.status_code == 401 and refused.headers["www-authenticate"].startswith("Bearer")
    wrong = httpx.get(url, headers={"Authorization": f"Bearer {token[:-1]}x"}, timeout=5)
    assert wrong.status_code == 401
    scraped = httpx.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=5)
    assert scraped.status_code == 200 and "sesame_radius_clients" in scraped.text
    assert f"metrics: listening on {url} (bearer token required)" in server.stderr
    assert token not in server.stderr
    assert server.stop(signal.SIGTERM) == 0

    off = Process(["serve"], env | {"SESAME_METRICS_PORT": "0"}, tmp_path)
    processes.append(off)
    off.wait_http(f"http://127.0.0.1:{env['SESAME_WEB_PORT']}/healthz")
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, timeout=5)
    assert "metrics: listening" not in off.stderr
    assert off.stop(signal.SIGTERM) == 0


def test_serve_stops_on_ctrl_c(env: dict[str, str], tmp_path: Path, processes: list[Process]) -> None:
    server = Process(["serve"], env, tmp_path)
    processes.append(server)
    server.wait_http(f"http://127.0.0.1:{env['SESAME_WEB_PORT']}/healthz")
    assert server.stop(signal.SIGINT) == 0


@pytest.mark.postgres
def test_serve_refuses_a_postgresql_schema_that_is_not_at_head(
    env: dict[str, str], tmp_path: Path, empty_postgres: str, processes: list[Process]
) -> None:
    server = Process(["serve"], env | {"SESAME_DATABASE_URL": empty_postgres}, tmp_path)
    processes.append(server)
    assert server.proc.wait(timeout=START_TIMEOUT) == 2
    assert "run `sesame db upgrade` first" in server.stderr
    assert migrations.current_revision_sync(empty_postgres) is None  # left alone


def test_demo_prints_working_credentials_and_serves(
    env: dict[str, str], tmp_path: Path, processes: list[Process]
) -> None:
    demo = Process(["demo"], env, tmp_path)
    processes.append(demo)
    demo.wait_http(f"http://127.0.0.1:{env['SESAME_WEB_PORT']}/readyz")
    match = re.search(r"account (\S+), password (\S+)", demo.stdout)
    assert match, demo.stdout
    identity, password = match.groups()

    second = Process(["demo"], env, tmp_path)  # its ports are taken: it fails before changing anything
    processes.append(second)
    assert second.proc.wait(timeout=START_TIMEOUT) == 2
    assert "already served by another sesame process" in second.stderr
    assert "set SESAME_RADIUS_AUTH_PORT and SESAME_RADIUS_ACCT_PORT" in second.stderr
    assert "password" not in second.stdout
    web_busy = Process(["demo"], env | {"SESAME_RADIUS_ENABLED": "false"}, tmp_path)
    processes.append(web_busy)
    assert web_busy.proc.wait(timeout=START_TIMEOUT) == 2
    assert f"127.0.0.1:{env['SESAME_WEB_PORT']}: Address already in use; set SESAME_WEB_PORT" in (
        web_busy.stderr
    )
    assert demo.stop() == 0

    async def check() -> None:
        engine = create_engine(env["SESAME_DATABASE_URL"].replace("sqlite:", "sqlite+aiosqlite:"))
        async with create_sessionmaker(engine)() as session:
            region = await ensure_home_region(session, realm=identity.split("@")[1])
            account = await find_account(session, identity, region=region)
            assert PasswordHasher().verify(password, account.password_hash)
        await engine.dispose()

    asyncio.run(check())


def _wait_for_line(process: Process, text: str) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while text not in process.stderr:
        assert process.proc.poll() is None, f"exited {process.proc.returncode}: {process.stderr}"
        assert time.monotonic() < deadline, f"no {text!r} within {START_TIMEOUT}s: {process.stderr}"
        time.sleep(0.02)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ready_is_said_only_once_every_port_answers(
    env: dict[str, str], tmp_path: Path, processes: list[Process], workers: str
) -> None:
    """The moment "sesame ready" is logged, RADIUS answers (every worker process: a Status-Server
    from many source ports reaches both, the kernel spreading them by 4-tuple), the web port and
    /readyz say ready."""
    server = Process(["serve", "--demo", "--radius-workers", workers], env, tmp_path)
    processes.append(server)
    _wait_for_line(server, "sesame ready")
    port = int(env["SESAME_RADIUS_AUTH_PORT"])
    answered = [answers_status_server("127.0.0.1", port, "testing123", timeout=5.0) for _ in range(16)]
    assert all(answered), answered
    ready = httpx.get(f"http://127.0.0.1:{env['SESAME_WEB_PORT']}/readyz", timeout=5.0)
    assert ready.status_code == 200, ready.text
    if workers == "2":
        assert server.stderr.count("ready (pid") == 2
        assert server.stderr.index("sesame ready") > max(
            m.start() for m in re.finditer(r"radius worker \d ready", server.stderr)
        )
    assert server.stop() == 0


async def test_seed_demo_is_idempotent_and_renews_the_password(
    session: AsyncSession, hasher: PasswordHasher
) -> None:
    region = await ensure_home_region(session, realm="wifi.demo.example")
    box = SecretBox("demo-key" * 5)
    first = await seed_demo(session, region=region, box=box, hasher=hasher)
    second = await seed_demo(session, region=region, box=box, hasher=hasher)
    assert first.identity == second.identity == "demo@wifi.demo.example"
    assert first.password != second.password
    account = await find_account(session, "demo", region=region)
    assert hasher.verify(second.password, account.password_hash)
    assert not hasher.verify(first.password, account.password_hash)
    nas = await find_nas(session, "demo-ap")
    assert (nas.nasname, nas_secret(box, nas)) == ("127.0.0.1", b"testing123")


# -- EAP's certificates (issue 15, operations) ---------------------------------------------------


def _eap_pki(directory: Path, *, days: int) -> tuple[dict[str, str], trialpki.Issued]:
    """A CA and a server certificate valid ``days`` more days, as files: the settings naming
    them, and the CA (to renew the certificate with)."""
    directory.mkdir(exist_ok=True)
    ca = trialpki.make_ca("Sesame serve test CA")
    server = trialpki.make_server(ca, "radius.serve.example", days=days)
    files = {
        "SESAME_EAP_CERTIFICATE": trialpki.write(directory / "server.pem", server.certificate_pem()),
        "SESAME_EAP_PRIVATE_KEY": trialpki.write(directory / "server.key", server.key_pem(), secret=True),
        "SESAME_EAP_CA": trialpki.write(directory / "ca.pem", ca.certificate_pem()),
    }
    return {name: str(path) for name, path in files.items()}, ca


def _expiry(metrics: str) -> float | None:
    found = re.search(
        r'^sesame_eap_certificate_expiry_timestamp_seconds\{certificate="server"\} (\S+)$', metrics, re.M
    )
    return float(found.group(1)) if found else None


def test_serve_warns_of_an_expiring_eap_certificate_publishes_its_ca_and_takes_a_renewed_one(
    env: dict[str, str], tmp_path: Path, processes: list[Process]
) -> None:
    eap, ca = _eap_pki(tmp_path / "pki", days=20)
    server = Process(["serve"], env | eap, tmp_path)
    processes.append(server)
    base = f"http://127.0.0.1:{env['SESAME_WEB_PORT']}"
    profile = server.wait_http(f"{base}/eap/server.json").json()
    assert profile["server_name"] == "radius.serve.example"
    assert httpx.get(f"{base}/eap/ca.crt").content == ca.certificate.public_bytes(serialization.Encoding.DER)
    assert re.search(
        r"WARNING .*the server certificate \S+server.pem expires on .*, in 19 days", server.stderr
    )
    served = x509.load_pem_x509_certificate(Path(eap["SESAME_EAP_CERTIFICATE"]).read_bytes())
    metrics_url = f"http://127.0.0.1:{env['SESAME_METRICS_PORT']}/metrics"
    assert _expiry(server.wait_http(metrics_url).text) == served.not_valid_after_utc.timestamp()

    # the region's PKI renews it (the same CA, a year more): the running server takes it in
    renewal = trialpki.make_server(ca, "radius.serve.example", days=365)
    Path(eap["SESAME_EAP_CERTIFICATE"]).write_bytes(renewal.certificate_pem())
    Path(eap["SESAME_EAP_PRIVATE_KEY"]).write_bytes(renewal.key_pem())
    deadline = time.monotonic() + START_TIMEOUT
    while _expiry(httpx.get(metrics_url).text) != renewal.certificate.not_valid_after_utc.timestamp():
        assert time.monotonic() < deadline, server.stderr
        time.sleep(0.2)
    assert "eap: certificates reloaded from" in server.stderr
    assert server.stop(signal.SIGTERM) == 0


@pytest.mark.parametrize(
    ("breakage", "code", "said"),
    [
        ("a key that is not the certificate's", 2, "is not the key of certificate"),
        (
            "a key file that cannot be read",
            4,
            "eap: cannot read private key /proc/self/mem: Input/output error",
        ),
        ("a CA that did not issue the certificate", 2, "does not chain to the CA devices trust"),
        ("a CA file holding the server's certificate", 2, "which is no CA"),
    ],
)
def test_serve_refuses_eap_files_it_cannot_use_with_one_line(
    env: dict[str, str], tmp_path: Path, processes: list[Process], breakage: str, code: int, said: str
) -> None:
    eap, ca = _eap_pki(tmp_path / "pki", days=365)
    other, _ = _eap_pki(tmp_path / "other", days=365)
    if breakage == "a key that is not the certificate's":
        eap["SESAME_EAP_PRIVATE_KEY"] = other["SESAME_EAP_PRIVATE_KEY"]
    elif breakage == "a key file that cannot be read":
        eap["SESAME_EAP_PRIVATE_KEY"] = "/proc/self/mem"  # a file; reading it fails (EIO)
    elif breakage == "a CA that did not issue the certificate":
        eap["SESAME_EAP_CA"] = other["SESAME_EAP_CA"]
    else:
        # a bundle of CAs is fine (a change of CA: tests/radius/test_eapcerts.py); a leaf is not
        both = tmp_path / "both.pem"
        both.write_bytes(ca.certificate_pem() + Path(eap["SESAME_EAP_CERTIFICATE"]).read_bytes())
        eap["SESAME_EAP_CA"] = str(both)
    server = Process(["serve"], env | eap, tmp_path)
    processes.append(server)
    assert server.proc.wait(timeout=START_TIMEOUT) == code
    errors = [line for line in server.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and said in errors[0], server.stderr
    assert "Traceback" not in server.stderr
    assert "listening" not in server.stderr  # nothing was started


def test_serve_refuses_radsec_files_it_cannot_use_with_one_line(
    env: dict[str, str], tmp_path: Path, processes: list[Process]
) -> None:
    """A RadSec certificate that is no certificate: one line, not a traceback (it was one)."""
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate\n")
    radsec = {
        "SESAME_FEDERATION_ENABLED": "true",
        "SESAME_FEDERATION_RADSEC_CERTIFICATE": str(junk),
        "SESAME_FEDERATION_RADSEC_PRIVATE_KEY": str(junk),
        "SESAME_FEDERATION_RADSEC_CA": str(junk),
    }
    server = Process(["serve"], env | radsec, tmp_path)
    processes.append(server)
    assert server.proc.wait(timeout=START_TIMEOUT) == 2
    errors = [line for line in server.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"radsec: cannot use certificate {junk}" in errors[0], server.stderr
    assert "Traceback" not in server.stderr


def test_the_radius_port_lock_is_per_address(settings_env: None) -> None:
    """Two instances on two addresses of one machine may share the port numbers, as two hosts do;
    a second one on the same address and port is refused."""
    from sesame.settings import RadiusSettings, Settings
    from sesame.startup import StartupError, lock_radius_ports

    auth, acct = free_udp_port(), free_udp_port()

    def at(bind: str) -> Settings:
        return Settings(
            environment="development", radius=RadiusSettings(bind=bind, auth_port=auth, acct_port=acct)
        )

    held = lock_radius_ports(at("127.0.0.1")) + lock_radius_ports(at("127.0.0.2"))
    try:
        with pytest.raises(StartupError, match=f"udp port {min(auth, acct)} is already served .* 127.0.0.2"):
            lock_radius_ports(at("127.0.0.2,::1"))
        lock_radius_ports(at("::1"))[0].close()  # the failed attempt released what it had taken
    finally:
        for lock in held:
            lock.close()
