"""EAP across worker processes (issue 15): ``sesame serve`` with two RADIUS workers, and an access
point that sends each round of a conversation from a new source port — as controllers with a
socket per thread, or a NAT rebinding, do. The kernel's SO_REUSEPORT hash then spreads the rounds
over both workers, and only the worker holding the TLS state can answer: the others hand the
request over (radius.workerroute). eapol_test plays the supplicant; a small relay in this test
plays the port-hopping access point (it changes nothing in the packets, only their source port)."""

from __future__ import annotations

import re
import secrets
import socket
import threading
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.interop.conftest import PASSWORD, REALM, SECRET
from tests.interop.peers import eapol_test
from tests.interop.test_eap import SERVER_NAME, Eap, launch_eap, succeeded

pytestmark = pytest.mark.slow


class PortHopper:
    """A UDP relay: each datagram from the supplicant goes to Sésame from a socket of its own
    (a new source port), and the answer comes back to the supplicant."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.sources: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PortHopper:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self.sock.close()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data, supplicant = self.sock.recvfrom(65536)
            except TimeoutError:
                continue
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as hop:
                hop.bind(("127.0.0.1", 0))
                self.sources.add(hop.getsockname()[1])
                hop.settimeout(3.0)
                hop.sendto(data, self.target)
                try:
                    reply, _ = hop.recvfrom(65536)
                except TimeoutError:
                    continue  # eapol_test retransmits: the next try goes from yet another port
            self.sock.sendto(reply, supplicant)


def forwarded(eap: Eap) -> int:
    """Requests the workers handed to each other (sesame_radius_forwarded_total{outcome="sent"})."""
    port = eap.sesame.env["SESAME_METRICS_PORT"]
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    found = re.search(r'^sesame_radius_forwarded_total\{outcome="sent"\} (\S+)$', text, re.M)
    return int(float(found.group(1))) if found else 0


@pytest.fixture(scope="module")
def two_workers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Eap]:
    deployment = launch_eap(tmp_path_factory.mktemp("eap-workers"), SESAME_RADIUS_WORKERS="2")
    try:
        yield deployment
    finally:
        deployment.sesame.proc.terminate()
        deployment.sesame.proc.wait(timeout=30)


@pytest.mark.parametrize("method", ["PEAP", "TTLS", "TLS"])
def test_a_conversation_whose_rounds_reach_both_workers_completes(two_workers: Eap, method: str) -> None:
    eap = two_workers
    name = f"w{secrets.token_hex(4)}"
    eap.sesame.cli("user", "add", name, "--email", f"{name}@example.fr", "--password", PASSWORD)
    options: dict[str, Any] = {}
    password = PASSWORD
    if method == "PEAP":
        password = eap.sesame.cli("credential", "add", name, "--label", "phone").strip().splitlines()[-1]
    if method == "TLS":
        prefix = eap.sesame.workdir / name
        eap.sesame.cli("eap", "device-cert", "issue", name, "--ca-dir", str(eap.pki), "--out", str(prefix))
        options = {"client_cert": prefix.with_suffix(".pem"), "private_key": prefix.with_suffix(".key")}
    before = forwarded(eap)
    outputs = []
    with PortHopper(("127.0.0.1", eap.sesame.auth_port)) as hopper:
        for _ in range(3):  # each round from a new port: all on one worker thrice is 1 in 2^25 or so
            outputs.append(
                eapol_test(
                    eap.sesame.workdir,
                    hopper.port,
                    SECRET,
                    identity=f"{name}@{REALM}",
                    password=password,
                    method=method,
                    ca_cert=eap.pki / "ca.pem",
                    server_name=SERVER_NAME,
                    **options,
                )
            )
    for out in outputs:
        assert succeeded(out) and "MPPE keys OK: 1  mismatch: 0" in out, out[-3000:]
    assert len(hopper.sources) >= 3 * 6
    assert forwarded(eap) > before  # some rounds did land on the other worker, and were handed over
