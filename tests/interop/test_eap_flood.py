"""A flood of unfinished EAP handshakes against a real ``sesame serve`` (issue 15), at its default
bounds (SESAME_EAP_MAX_CONVERSATIONS 4,096 a process, 1,024 from one client).

Five access points at 127.0.0.10-14 (each a client of its own) open conversations as fast as
answers come: an EAP-Response/Identity, then a full ClientHello on the State they got (the server
answers with its first flight and keeps the TLS state), then nothing. The first alone opens twice
as many as its per-client bound lets it hold, then the four others together more than the rest of
the table holds. Meanwhile:

* PAP and MAC authentication from another access point (127.0.0.1) are answered (the access
  point retries, as any does, when the worker queue is full: answers, not their latency, are the
  test);
* once the table is full of abandoned handshakes, a device at yet another access point
  (127.0.0.2), and eapol_test at 127.0.0.1, still authenticate with EAP;
* the server's memory (VmRSS, VmHWM of its one process) grows with the conversations held, which
  are bounded, not with the requests sent: measured and printed, bounded by a generous multiple of
  what one half-open TLS handshake takes in OpenSSL (about 70 KiB with TLS 1.3 and its hybrid key
  exchange).
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from OpenSSL import SSL

from radius import codec
from radius.codec import Code
from radius.eap.packet import EapType, parse
from tests.interop.conftest import PASSWORD, REALM, SECRET, need_tool
from tests.interop.peers import eapol_test
from tests.interop.test_eap import SERVER_NAME, Eap, launch_eap, succeeded
from tests.radius.eap.peer import Peer
from tests.support.eapnas import Nas, Supplicant

pytestmark = pytest.mark.slow

MAX_CONVERSATIONS, PER_CLIENT = 4096, 1024  # the defaults, as a deployment has them
FLOODERS = [f"127.0.0.{n}" for n in range(10, 15)]
FLOOD_SECRET = "flood-secret-789"
OTHER_AP, OTHER_SECRET = "127.0.0.2", "other-ap-secret-456"
DEVICE = "02:00:00:00:00:42"
#: a generous bound on what one held conversation may cost (measured: about 70 KiB)
PER_CONVERSATION_KIB = 200


@pytest.fixture(scope="module")
def eap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Eap]:
    need_tool("eapol_test")
    deployment = launch_eap(tmp_path_factory.mktemp("eap-flood"))
    srv = deployment.sesame
    try:
        for n, address in enumerate(FLOODERS):
            srv.cli(
                "nas",
                "add",
                f"flooder-{n}",
                "--ip",
                address,
                "--secret",
                FLOOD_SECRET,
                "--site",
                "Médiathèque",
            )
        srv.cli("nas", "add", "other-ap", "--ip", OTHER_AP, "--secret", OTHER_SECRET, "--site", "Médiathèque")
        srv.cli("user", "add", "alice", "--email", "alice@example.fr", "--password", PASSWORD)
        srv.cli("device", "remember", "alice", "--mac", DEVICE)
        with Nas(srv.auth_port, FLOOD_SECRET, address=FLOODERS[-1]) as last:  # all loaded (polled)
            deadline = time.monotonic() + 15
            while last.ask(last.request(user_name=b"probe"), timeout=0.5) is None:
                assert time.monotonic() < deadline, "the access points were not loaded"
        yield deployment
    finally:
        srv.proc.terminate()
        srv.proc.wait(timeout=30)


def memory_kib(pid: int) -> dict[str, int]:
    """VmRSS (now) and VmHWM (the peak so far) of a process, in KiB."""
    found = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            name, _, value = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                found[name] = int(value.split()[0])
    return found


def metric(eap: Eap, name: str, **labels: str) -> float:
    text = httpx.get(f"http://127.0.0.1:{eap.sesame.env['SESAME_METRICS_PORT']}/metrics", timeout=5).text
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for found in re.finditer(rf"^{name}(?:\{{([^}}]*)\}})? (\S+)$", text, re.MULTILINE):
        if ",".join(sorted((found.group(1) or "").split(","))) == wanted:
            return float(found.group(2))
    return 0.0


def client_hello(ca_file: str) -> bytes:
    """A complete TLS ClientHello record (TLS 1.2 and 1.3 offered), as a PEAP peer sends it."""
    context = SSL.Context(SSL.TLS_METHOD)
    context.load_verify_locations(ca_file)
    peer = Peer(method=EapType.PEAP, context=context, fragment_size=8000)
    start = bytes((1, 1, 0, 6, EapType.PEAP, 0x20))  # the server's PEAP Start
    answer = parse(peer.answer(start))
    assert answer.data[0] == 0, "the ClientHello in one fragment"
    return answer.data[1:]


@dataclass
class Flood:
    """Identity, then ClientHello on the State the server gave, then nothing, in batches of
    ``batch``: ``2 * attempts`` conversations from the first access point alone, then ``attempts``
    from each of the others, round by round."""

    port: int
    hello: bytes
    attempts: int
    batch: int = 100
    challenged: int = 0  # identities answered (a conversation opened)
    flights: int = 0  # ClientHellos answered (a TLS handshake held half-way)
    unanswered: int = 0  # identities left unanswered (a bound reached)
    done: threading.Event = field(default_factory=threading.Event)
    error: BaseException | None = None

    def run(self) -> None:
        try:
            nases = [Nas(self.port, FLOOD_SECRET, address=address) for address in FLOODERS]
            try:
                # one access point alone, past its own bound; then the others together, past the table's
                for _ in range(0, 2 * self.attempts, self.batch):
                    self._wave(nases[0])
                for _ in range(0, self.attempts, self.batch):
                    for nas in nases[1:]:
                        self._wave(nas)
            finally:
                for nas in nases:
                    nas.close()
        except BaseException as exc:
            self.error = exc
        finally:
            self.done.set()

    def _wave(self, nas: Nas) -> None:
        user = f"anonymous@{REALM}".encode()
        identity = bytes((2, 0, 0, 5 + len(user), 1)) + user
        opened = nas.ask_all(
            [nas.request(user_name=user, eap=identity) for _ in range(self.batch)], timeout=0.3
        )
        hellos = []
        for reply in opened:
            if reply is None or reply.code != Code.ACCESS_CHALLENGE:
                self.unanswered += 1
                continue
            self.challenged += 1
            request = reply.eap
            body = bytes((EapType.PEAP, 0)) + self.hello
            eap = bytes((2, request[1])) + (4 + len(body)).to_bytes(2, "big") + body
            hellos.append(nas.request(user_name=user, eap=eap, state=reply.state))
        if hellos:
            flights = nas.ask_all(hellos, timeout=0.3)
            self.flights += sum(r is not None and r.code == Code.ACCESS_CHALLENGE for r in flights)


def pap_and_mac(port: int) -> tuple[bool, bool]:
    """One PAP and one MAC authentication from the access point at 127.0.0.1, each sent up to ten
    times (an access point's retransmissions): whether each was accepted."""
    secret, authenticator = SECRET.encode(), os.urandom(16)

    def request(identifier: int, user: bytes, password: bytes, *extra: bytes) -> bytes:
        attributes = codec.tlv(codec.USER_NAME, user) + b"".join(extra)
        attributes += codec.tlv(
            codec.USER_PASSWORD, codec.hide_user_password(password, secret, authenticator)
        )
        return codec.encode_request(
            code=Code.ACCESS_REQUEST,
            identifier=identifier,
            secret=secret,
            attributes=attributes,
            authenticator=authenticator,
        )

    mac = DEVICE.replace(":", "-").upper().encode()
    pap = request(1, b"alice", PASSWORD.encode())
    mac_request = request(2, mac, mac, codec.tlv(codec.CALLING_STATION_ID, mac))
    with Nas(port, SECRET) as nas:
        pap_reply = nas.ask(pap, timeout=1.0, tries=10)
        mac_reply = nas.ask(mac_request, timeout=1.0, tries=10)
    return (
        pap_reply is not None and pap_reply.code == Code.ACCESS_ACCEPT,
        mac_reply is not None and mac_reply.code == Code.ACCESS_ACCEPT,
    )


def test_a_flood_of_unfinished_handshakes_neither_exhausts_memory_nor_starves_others(eap: Eap) -> None:
    srv = eap.sesame
    pid = srv.proc.pid
    assert pap_and_mac(srv.auth_port) == (True, True)  # alice's password is in the verification cache
    before = memory_kib(pid)
    flood = Flood(port=srv.auth_port, hello=client_hello(str(eap.pki / "ca.pem")), attempts=PER_CLIENT)
    flooding = threading.Thread(target=flood.run, daemon=True)
    flooding.start()
    checks: list[tuple[bool, bool]] = []
    while not flood.done.is_set():  # PAP and MAC from another access point, while the flood goes on
        checks.append(pap_and_mac(srv.auth_port))
        time.sleep(0.05)
    flooding.join()
    assert flood.error is None, flood.error
    during = memory_kib(pid)
    print(
        f"flood: {len(FLOODERS)} access points, {flood.challenged + flood.unanswered} identities sent, "
        f"{flood.challenged} conversations opened, {flood.flights} TLS handshakes held half-way, "
        f"{flood.unanswered} identities unanswered; {len(checks)} PAP+MAC checks meanwhile"
    )
    assert checks and all(check == (True, True) for check in checks), checks
    # both bounds were reached: per access point, and the whole table
    assert metric(eap, "sesame_eap_discarded_total", reason="eap_client_table_full") > 0
    assert metric(eap, "sesame_eap_discarded_total", reason="eap_table_full") > 0
    assert flood.flights > MAX_CONVERSATIONS // 2

    # the table is full of abandoned handshakes (30 s to go): newcomers still get in
    with Nas(srv.auth_port, OTHER_SECRET, address=OTHER_AP) as other:
        device = Supplicant(
            nas=other, identity=f"alice@{REALM}", password=PASSWORD, ca_file=str(eap.pki / "ca.pem")
        )
        done = device.run()
    assert done is not None and done.code == Code.ACCESS_ACCEPT, done
    assert device.msk_matches(done, device.sent[-1])
    assert metric(eap, "sesame_eap_evicted_total") > 0  # room was made for it
    out = eapol_test(
        srv.workdir,
        srv.auth_port,
        SECRET,
        identity=f"alice@{REALM}",
        password=PASSWORD,
        method="TTLS",
        ca_cert=eap.pki / "ca.pem",
        server_name=SERVER_NAME,
    )
    assert succeeded(out), out[-3000:]
    held = metric(eap, "sesame_eap_conversations")
    after = memory_kib(pid)
    grown = after["VmHWM"] - before["VmRSS"]
    print(
        f"memory (KiB): before {before['VmRSS']}, after the flood {during['VmRSS']}, "
        f"peak {after['VmHWM']} (+{grown}, {grown / max(held, 1):.1f} per conversation held), "
        f"{held:.0f} conversations held"
    )
    assert held <= MAX_CONVERSATIONS
    assert grown < MAX_CONVERSATIONS * PER_CONVERSATION_KIB
    assert "Traceback" not in srv.log.read_text()
