"""deploy/nginx in front of a real ``sesame serve``: Debian's nginx started on spare loopback ports
with a test certificate, the configuration taken from deploy/nginx with only its addresses, ports
and paths changed.

Two networks stand for the region's staff (127.0.0.1, allowed by admin-networks.conf) and the
internet (127.0.0.2). What address Sésame sees is read through the RFC 8908 captive API, which
answers ``captive: false`` only to the address of an open session: the session here has
Framed-IP-Address 127.0.0.2.
"""

from __future__ import annotations

import ssl
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.deploy.conftest import DEPLOY, need_program, substitute
from tests.interop.conftest import Server, add_valence, launch, need_tool
from tests.support.ports import free_tcp_port
from tests.support.processes import stop

pytestmark = pytest.mark.slow

STAFF, OUTSIDE, OTHER = "127.0.0.1", "127.0.0.2", "127.0.0.3"


@dataclass
class Stack:
    sesame: Server
    web_port: int
    https_port: int
    http_port: int
    ca: Path

    def through_nginx(self, source: str) -> httpx.Client:
        """A client at ``source`` talking to nginx over TLS (the test certificate verified)."""
        context = ssl.create_default_context(cafile=self.ca)
        transport = httpx.HTTPTransport(local_address=source, verify=context)
        return httpx.Client(
            transport=transport,
            base_url=f"https://127.0.0.1:{self.https_port}",
            headers={"Accept-Language": "en"},
            timeout=10,
        )

    def direct(self, source: str) -> httpx.Client:
        """A client at ``source`` talking to Sésame's web port, not through nginx."""
        transport = httpx.HTTPTransport(local_address=source)
        return httpx.Client(transport=transport, base_url=f"http://127.0.0.1:{self.web_port}", timeout=10)


def captive(client: httpx.Client, headers: dict[str, str] | None = None) -> bool:
    response = client.get("/api/captive", headers=headers)
    assert response.status_code == 200, response.text
    return bool(response.json()["captive"])


def make_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"),
            *("-days", "2", "-subj", "/CN=wifi.example.fr", "-keyout", str(key), "-out", str(cert)),
            *("-addext", "subjectAltName=DNS:wifi.example.fr,IP:127.0.0.1"),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def nginx_config(directory: Path, *, cert: Path, key: Path, ports: dict[str, int]) -> Path:
    """deploy/nginx/sesame.conf with test ports and paths, inside a minimal nginx.conf."""
    networks = directory / "admin-networks.conf"
    networks.write_text(
        substitute((DEPLOY / "nginx" / "admin-networks.conf").read_text(), {"allow ::1;\n": ""})
    )
    site = substitute(
        (DEPLOY / "nginx" / "sesame.conf").read_text(),
        {
            "listen 80;": f"listen 127.0.0.1:{ports['http']};",
            "listen [::]:80;": "",
            "listen 443 ssl http2;": f"listen 127.0.0.1:{ports['https']} ssl http2;",
            "listen [::]:443 ssl http2;": "",
            "/etc/ssl/sesame/fullchain.pem": str(cert),
            "/etc/ssl/sesame/privkey.pem": str(key),
            "/etc/nginx/sesame/admin-networks.conf": str(networks),
            "server 127.0.0.1:8000;": f"server 127.0.0.1:{ports['web']};",
            "server 127.0.0.1:9812;": f"server 127.0.0.1:{ports['metrics']};",
        },
    )
    (directory / "sesame.conf").write_text(site)
    kinds = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    temp = "\n".join(f"    {kind}_temp_path {directory / kind};" for kind in kinds)
    main = directory / "nginx.conf"
    main.write_text(
        f"worker_processes 1;\npid {directory / 'nginx.pid'};\nerror_log {directory / 'error.log'} info;\n"
        f"daemon off;\nevents {{ worker_connections 64; }}\nhttp {{\n"
        f"    access_log {directory / 'access.log'};\n{temp}\n    include {directory / 'sesame.conf'};\n}}\n"
    )
    return main


def wait_until(check: object, what: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    assert callable(check)
    deadline = time.monotonic() + 30
    while not check():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{what}: {log.read_text() if log.exists() else ''}")
        time.sleep(0.1)


def answers(url: str, **kwargs: object) -> bool:
    try:
        httpx.get(url, timeout=1, **kwargs)  # type: ignore[arg-type]
    except httpx.TransportError:
        return False
    return True


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    nginx = need_program("nginx", "nginx")
    need_tool("radclient")
    workdir = tmp_path_factory.mktemp("nginx")
    ports = {name: free_tcp_port() for name in ("web", "metrics", "https", "http")}
    sesame = launch(
        workdir,
        f"sqlite:///{workdir / 'interop.db'}",
        SESAME_WEB_ENABLED="true",
        SESAME_WEB_PORT=str(ports["web"]),
        SESAME_METRICS_PORT=str(ports["metrics"]),
        SESAME_PORTAL_PUBLIC_URL=f"https://127.0.0.1:{ports['https']}",
    )
    proc: subprocess.Popen[bytes] | None = None
    try:
        wait_until(
            lambda: answers(f"http://127.0.0.1:{ports['web']}/healthz"), "web port", sesame.proc, sesame.log
        )
        add_valence(sesame)
        start = sesame.radclient(
            'User-Name = "alice"\nAcct-Session-Id = "nginx-1"\nAcct-Status-Type = Start\n'
            "NAS-IP-Address = 127.0.0.1\nFramed-IP-Address = 127.0.0.2\n",
            command="acct",
            port=sesame.acct_port,
        )
        assert "Received Accounting-Response" in start, start
        cert, key = make_certificate(workdir)
        config = nginx_config(workdir, cert=cert, key=key, ports=ports)
        command = [nginx, "-e", str(workdir / "error.log"), "-p", str(workdir), "-c", str(config)]
        checked = subprocess.run([*command, "-t"], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stderr
        proc = subprocess.Popen(command)
        url = f"https://127.0.0.1:{ports['https']}/healthz"
        wait_until(lambda: answers(url, verify=False), "nginx", proc, workdir / "error.log")
        yield Stack(
            sesame=sesame, web_port=ports["web"], https_port=ports["https"], http_port=ports["http"], ca=cert
        )
    finally:
        stop(proc, 10)
        stop(sesame.proc, 30)


def test_the_portal_works_through_nginx_over_tls_and_http2(stack: Stack) -> None:
    curl = need_program("curl", "curl")
    version = subprocess.run(
        [
            *(curl, "-s", "--http2", "--cacert", str(stack.ca), "-o", "/dev/null", "-w", "%{http_version}"),
            f"https://127.0.0.1:{stack.https_port}/login",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert version.stdout == "2"
    plain = httpx.get(f"http://127.0.0.1:{stack.http_port}/login?x=1", follow_redirects=False)
    assert plain.status_code == 301 and plain.headers["location"].startswith("https://")
    assert plain.headers["location"].endswith("/login?x=1")

    with stack.through_nginx(OUTSIDE) as browser:
        form = browser.get("/login")
        assert form.status_code == 200 and 'name="csrf_token"' in form.text
        # Sésame believed nginx's X-Forwarded-Proto: it knows the request came over https
        assert form.headers["strict-transport-security"].startswith("max-age=")
        token = form.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        wrong = browser.post(
            "/login", data={"csrf_token": token, "identity": "alice", "password": "not the password"}
        )
        assert wrong.status_code == 401 and "Wrong identity or password." in wrong.text  # CSRF passed
        assert browser.get("/readyz").status_code == 200


def test_sesame_sees_the_client_address_nginx_forwarded(stack: Stack) -> None:
    with stack.through_nginx(OUTSIDE) as client:
        assert captive(client) is False  # Sésame saw 127.0.0.2, the session's address
    with stack.through_nginx(STAFF) as client:
        assert captive(client) is True
        # what a client says it is does not pass nginx: it sets the header itself
        assert captive(client, {"X-Forwarded-For": OUTSIDE}) is True


def test_a_forwarded_header_sent_directly_to_sesame_is_not_believed(stack: Stack) -> None:
    with stack.direct(OUTSIDE) as client:
        assert captive(client) is False  # the session's own address, no header needed
    with stack.direct(OTHER) as client:
        assert captive(client, {"X-Forwarded-For": OUTSIDE}) is True
        forged = client.get("/login", headers={"X-Forwarded-Proto": "https"})
        assert "strict-transport-security" not in forged.headers
    with stack.direct(STAFF) as client:  # the trusted proxy's address (web.trusted_proxies)
        assert captive(client, {"X-Forwarded-For": OUTSIDE}) is False


def test_metrics_and_the_admin_api_answer_the_allowed_networks_only(stack: Stack) -> None:
    staff_only = ("/metrics", "/api/v1/communes", "/api/openapi.json", "/api/docs")
    with stack.through_nginx(OUTSIDE) as client:
        for path in staff_only:
            assert client.get(path).status_code == 403, path
        assert client.post("/api/v1/auth/token", data={"grant_type": "password"}).status_code == 403
        assert client.get("/api/captive").status_code == 200  # devices on any hotspot ask it
    with stack.through_nginx(STAFF) as client:
        metrics = client.get("/metrics")
        assert metrics.status_code == 200 and "sesame_radius_accounting_total" in metrics.text
        assert client.get("/api/v1/communes").status_code == 401  # reached Sésame, which wants a token
        assert client.get("/api/openapi.json").json()["info"]["title"]
