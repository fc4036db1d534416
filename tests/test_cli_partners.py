"""``sesame partner``, through typer's runner and through ``main`` (which owns error reporting), on
SQLite and PostgreSQL; ``sesame partner test`` against small UDP responders built with the codec,
small RadSec responders built on :class:`federation.radsec.RadSecServer`, and a real FreeRADIUS
(radsecproxy: tests/interop/test_federation_radsec.py)."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from accounts import partners
from accounts.models import AuditEntry, Partner
from accounts.secretbox import SecretBox
from federation.radsec import RadSecServer, open_tcp_socket
from federation.tls import TlsFiles, server_context
from radius import codec
from sesame.cli import main
from sesame.db import create_engine, create_sessionmaker
from tests.cli import CLI_REALM, fails, ok
from tests.conftest import IN_CI, TEST_SECRET_KEY
from tests.federation.pki import Authority
from tests.support.ports import closed_tcp_port, closed_udp_port

SECRET = "liguria-shared-secret"
BOX = SecretBox(TEST_SECRET_KEY)


def _read(url: str) -> tuple[list[Partner], list[AuditEntry]]:
    async def go() -> tuple[list[Partner], list[AuditEntry]]:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                found = await session.scalars(
                    select(Partner).options(selectinload(Partner.realms), selectinload(Partner.servers))
                )
                entries = await session.scalars(select(AuditEntry).order_by(AuditEntry.id))
                return list(found.all()), list(entries.all())
        finally:
            await engine.dispose()

    return asyncio.run(go())


def test_partners_round_trip_with_sealed_secrets_and_an_audit_trail(cli_env: str) -> None:
    added = ok(
        "partner", "add", "liguria", "--realm", "Liguria.Example", "--realm", "*.liguria.example",
        "--server", "192.0.2.10", "--server", "[2001:db8::10]:11812", "--secret", "-",
        "--display-name", "Regione Liguria", "--transit", input=SECRET + "\n",
    )  # fmt: skip
    assert "partner liguria added with 2 realm(s), 2 server(s)" in added and SECRET not in added
    ok("partner", "server", "add", "liguria", "proxy.liguria.example", "--radsec", "--priority", "5")
    ok("partner", "add", "upstream", "--realm", "*", "--server", "tld.eduroam.example", "--radsec",
       "--no-accept-requests")  # fmt: skip
    listing = ok("partner", "list")
    assert SECRET not in listing
    lines = listing.splitlines()
    assert lines[0] == (
        "liguria (Regione Liguria)  realms: *.liguria.example liguria.example  flags: accept-requests transit"
    )
    assert lines[1].split() == ["udp", "192.0.2.10:1812", "priority", "0", "unknown"]
    assert lines[2].split() == ["udp", "[2001:db8::10]:11812", "priority", "0", "unknown"]
    assert lines[3].split() == ["radsec", "proxy.liguria.example:2083", "priority", "5", "unknown"]
    assert lines[4] == "upstream  realms: *  flags: no-accept-requests"
    shown = ok("partner", "show", "liguria")
    assert "tls-name proxy.liguria.example" in shown and "created" in shown

    ok("partner", "update", "liguria", "--no-transit", "--forward-accounting", "--display-name", "")
    assert ok("partner", "show", "liguria").startswith(
        "liguria  realms: *.liguria.example liguria.example  flags: accept-requests forward-accounting"
    )
    assert "realm genova.example routed to partner liguria" in ok(
        "partner", "realm", "add", "liguria", "Genova.Example"
    )
    ok("partner", "realm", "remove", "liguria", "*.LIGURIA.example")
    ok("partner", "server", "secret", "liguria", "192.0.2.10", "--secret", "rotated-secret-1")
    assert "removed" in ok("partner", "server", "remove", "liguria", "[2001:db8::10]:11812")

    found, entries = _read(cli_env)
    liguria = next(p for p in found if p.name == "liguria")
    assert sorted(r.pattern for r in liguria.realms) == ["genova.example", "liguria.example"]
    secrets = {
        (s.transport, s.host): partners.home_server_secret(BOX, s)
        for s in sorted(liguria.servers, key=lambda s: s.id)
    }
    assert secrets == {
        ("udp", "192.0.2.10"): b"rotated-secret-1",
        ("radsec", "proxy.liguria.example"): b"radsec",
    }
    assert all(SECRET not in s.secret_ciphertext for s in liguria.servers)
    assert [e.action for e in entries] == [
        "partner.add", "partner.server.add", "partner.add", "partner.update", "partner.realm.add",
        "partner.realm.remove", "partner.server.secret", "partner.server.remove",
    ]  # fmt: skip
    logged = " ".join((e.after or "") for e in entries)
    assert SECRET not in logged and "rotated-secret-1" not in logged
    assert json.loads(entries[0].after or "{}")["secret"] == "***"
    assert all(e.actor.startswith("cli:") and e.target.startswith("sesame partner") for e in entries)

    assert "partner liguria removed" in ok("partner", "remove", "liguria")
    assert [p.name for p in _read(cli_env)[0]] == ["upstream"]


def test_one_legacy_home_server_may_reply_unsigned(cli_env: str) -> None:
    """``--legacy-no-message-authenticator`` on one home server (issue 16), not the federation."""
    ok("partner", "add", "liguria", "--realm", "liguria.example", "--server", "192.0.2.10", "--secret", "-",
       input=SECRET + "\n")  # fmt: skip
    legacy = "--legacy-no-message-authenticator"
    ok("partner", "server", "add", "liguria", "192.0.2.11", "--secret", "-", legacy, input=SECRET + "\n")
    rows = ok("partner", "list").splitlines()
    assert "legacy" not in rows[1] and rows[2].endswith("legacy: unsigned replies accepted")
    said = ok("partner", "server", "message-authenticator", "liguria", "192.0.2.11", "--require")
    assert (
        said.strip() == "home server udp 192.0.2.11:1812 of partner liguria: Message-Authenticator required"
    )
    ok(
        "partner",
        "server",
        "message-authenticator",
        "liguria",
        "192.0.2.10",
        "--legacy-no-message-authenticator",
    )
    [partner], entries = _read(cli_env)
    assert {s.host: s.require_message_authenticator for s in partner.servers} == {
        "192.0.2.10": False,
        "192.0.2.11": True,
    }
    assert [e.action for e in entries][-2:] == ["partner.server.message_authenticator"] * 2


def test_refusals_are_one_line(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert "no partners" in ok("partner", "list")
    ok(
        "partner",
        "add",
        "liguria",
        "--realm",
        "liguria.example",
        "--server",
        "192.0.2.10",
        "--secret",
        SECRET,
    )
    server = ("--server", "192.0.2.20", "--secret", SECRET)
    assert "our own realm" in fails(capsys, "partner", "add", "paca", "--realm", CLI_REALM, *server)
    assert "already routed to partner liguria" in fails(
        capsys, "partner", "add", "paca", "--realm", "LIGURIA.example", *server
    )
    assert "not a realm pattern" in fails(capsys, "partner", "add", "paca", "--realm", "paca", *server)
    assert "partner named liguria already exists" in fails(capsys, "partner", "add", "liguria", *server)
    assert "not a partner name" in fails(capsys, "partner", "add", "Li guria", *server)
    assert "8 to 128 bytes" in fails(
        capsys, "partner", "add", "paca", "--server", "192.0.2.20", "--secret", "short"
    )
    assert "no shared secret given" in fails(capsys, "partner", "add", "paca", "--server", "192.0.2.20")
    assert "a port is a number" in fails(capsys, "partner", "add", "paca", "--server", "192.0.2.20:99999")
    assert "--server" in fails(capsys, "partner", "add", "paca", "--realm", "paca.example", code=2)
    assert "no partner nowhere" in fails(capsys, "partner", "show", "nowhere")
    assert "only home server" in fails(capsys, "partner", "server", "remove", "liguria", "192.0.2.10")
    assert "has no home server" in fails(capsys, "partner", "server", "remove", "liguria", "192.0.2.99")
    assert "has no realm" in fails(capsys, "partner", "realm", "remove", "liguria", "paca.example")
    assert [e.action for e in _read(cli_env)[1]] == ["partner.add"]  # nothing refused was written


# -- sesame partner test ----------------------------------------------------------------------------


Answer = Callable[[codec.Packet, bytes], bytes | None]


def signed_accept(request: codec.Packet, secret: bytes) -> bytes:
    """What a RADIUS server after BlastRADIUS answers (Message-Authenticator first)."""
    return codec.encode_reply(
        code=codec.Code.ACCESS_ACCEPT, identifier=request.identifier,
        request_authenticator=request.authenticator, secret=secret,
    )  # fmt: skip


def unsigned_accept(request: codec.Packet, secret: bytes) -> bytes:
    """What FreeRADIUS 3.2.1 answers: no Message-Authenticator."""
    return codec.encode_reply(
        code=codec.Code.ACCESS_ACCEPT, identifier=request.identifier,
        request_authenticator=request.authenticator, secret=secret, sign=False,
    )  # fmt: skip


@pytest.fixture
def responder() -> Iterator[Callable[[bytes, Answer], int]]:
    """``start(secret, answer)``: a UDP server on 127.0.0.1 that checks each Status-Server as RFC
    5997 asks (Message-Authenticator present and valid, else silence) and sends what ``answer``
    builds; its port."""
    sockets: list[socket.socket] = []
    threads: list[threading.Thread] = []
    stop = threading.Event()

    def serve(sock: socket.socket, secret: bytes, answer: Answer) -> None:
        while not stop.is_set():
            try:
                data, peer = sock.recvfrom(4096)
            except TimeoutError:
                continue
            request = codec.parse(data)
            if request.code == codec.Code.STATUS_SERVER and codec.message_authenticator_valid(
                request, secret
            ):
                reply = answer(request, secret)
                if reply is not None:
                    sock.sendto(reply, peer)

    def start(secret: bytes, answer: Answer) -> int:
        sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sock.bind(("127.0.0.1", 0))
        sock.settimeout(0.05)
        sockets.append(sock)
        thread = threading.Thread(target=serve, args=(sock, secret, answer), daemon=True)
        thread.start()
        threads.append(thread)
        return int(sock.getsockname()[1])

    yield start
    stop.set()
    for thread in threads:
        thread.join(5)
    for sock in sockets:
        sock.close()


def test_status_server_probes_each_udp_server(
    cli_env: str, capsys: pytest.CaptureFixture[str], responder: Callable[[bytes, Answer], int]
) -> None:
    good = responder(SECRET.encode(), signed_accept)
    legacy = responder(SECRET.encode(), unsigned_accept)
    other_secret = responder(b"another-secret-1", signed_accept)  # drops ours: bad Message-Authenticator

    def wrong_secret(request: codec.Packet, secret: bytes) -> bytes:
        return signed_accept(request, b"not-the-right-one")

    def reject(request: codec.Packet, secret: bytes) -> bytes:
        return codec.encode_reply(
            code=codec.Code.ACCESS_REJECT, identifier=request.identifier,
            request_authenticator=request.authenticator, secret=secret,
        )  # fmt: skip

    signed_wrong = responder(SECRET.encode(), wrong_secret)
    rejecting = responder(SECRET.encode(), reject)
    servers = [f"127.0.0.1:{port}" for port in (good, legacy, other_secret, signed_wrong, rejecting)]
    ok("partner", "add", "liguria", "--realm", "liguria.example", "--secret", SECRET,
       *[arg for s in servers for arg in ("--server", s)])  # fmt: skip
    ok(
        "partner",
        "server",
        "add",
        "liguria",
        f"127.0.0.1:{closed_udp_port()}",
        "--secret",
        SECRET,
        "--priority",
        "1",
    )
    ok("partner", "server", "add", "liguria", "127.0.0.1", "--radsec", "--tls-name", "radsec.liguria.example",
       "--priority", "2")  # fmt: skip

    assert main(["partner", "test", "liguria", "--timeout", "0.5"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert len(out) == 7
    assert out[0].startswith(f"udp 127.0.0.1:{good}: alive (") and out[0].endswith(" ms)")
    assert out[1].startswith(f"udp 127.0.0.1:{legacy}: alive (") and "without Message-Authenticator" in out[1]
    assert out[2] == f"udp 127.0.0.1:{other_secret}: no answer"
    assert out[3] == f"udp 127.0.0.1:{signed_wrong}: bad reply: wrong Response Authenticator: " + (
        "is the shared secret right?"
    )
    assert out[4] == f"udp 127.0.0.1:{rejecting}: bad reply: ACCESS_REJECT instead of Access-Accept"
    assert out[5].endswith(": no answer (Connection refused)")  # ICMP port unreachable
    assert out[6] == (
        "radsec 127.0.0.1:2083: not tested: no RadSec certificate is set "
        "(SESAME_FEDERATION_RADSEC_CERTIFICATE, _PRIVATE_KEY, _CA)"
    )
    assert SECRET not in "".join(out)


def test_the_test_fails_when_no_server_answers(
    cli_env: str, capsys: pytest.CaptureFixture[str], responder: Callable[[bytes, Answer], int]
) -> None:
    silent = responder(SECRET.encode(), lambda request, secret: None)
    ok("partner", "add", "liguria", "--server", f"127.0.0.1:{silent}", "--secret", SECRET)
    assert main(["partner", "test", "liguria", "--timeout", "0.3"]) == 1
    captured = capsys.readouterr()
    assert captured.out == f"udp 127.0.0.1:{silent}: no answer\n"
    assert captured.err == "error: no home server of partner liguria answered\n"
    assert [e.action for e in _read(cli_env)[1]] == ["partner.add"]  # a probe changes nothing


# -- sesame partner test over RadSec (RFC 6614) ------------------------------------------------------

RADSEC = b"radsec"  # RFC 6614 §2.3
SUD_TLS, LIGURIA_TLS = "radsec.sud.example", "radsec.liguria.example"


@pytest.fixture
def radsec_responder() -> Iterator[Callable[[TlsFiles, Answer], int]]:
    """``start(files, answer)``: a RadSec server on 127.0.0.1 (``RadSecServer``, in an event loop
    of its own thread: the command runs its own) with the certificate, key and CA of ``files``; it
    sends what ``answer`` builds for each Status-Server that carries a valid Message-Authenticator
    (secret ``radsec``); its port."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    servers: list[RadSecServer[str]] = []

    def start(files: TlsFiles, answer: Answer) -> int:
        def on_packet(
            peer: str, data: bytes, source: tuple[str, int], reply: Callable[[bytes], None]
        ) -> None:
            request = codec.parse(data)
            if request.code == codec.Code.STATUS_SERVER and codec.message_authenticator_valid(
                request, RADSEC
            ):
                answered = answer(request, RADSEC)
                if answered is not None:
                    reply(answered)

        async def serve() -> int:
            server: RadSecServer[str] = RadSecServer(
                context=server_context(files), identify=lambda names: "sud", on_packet=on_packet
            )
            sock = open_tcp_socket("127.0.0.1", 0)
            await server.start(sock)
            servers.append(server)
            return int(sock.getsockname()[1])

        return asyncio.run_coroutine_threadsafe(serve(), loop).result(10)

    yield start
    for server in servers:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def use_radsec_files(monkeypatch: pytest.MonkeyPatch, files: TlsFiles) -> None:
    """What the RADIUS service presents to RadSec home servers; the CLI reads the same settings."""
    monkeypatch.setenv("SESAME_FEDERATION_RADSEC_CERTIFICATE", str(files.certificate))
    monkeypatch.setenv("SESAME_FEDERATION_RADSEC_PRIVATE_KEY", str(files.private_key))
    monkeypatch.setenv("SESAME_FEDERATION_RADSEC_CA", str(files.ca))
    from sesame.settings import get_settings

    get_settings.cache_clear()


def test_status_server_probes_radsec_servers_with_our_certificate(
    cli_env: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    radsec_responder: Callable[[TlsFiles, Answer], int],
) -> None:
    ca, stranger = Authority.create("Federation CA"), Authority.create("Another CA")
    use_radsec_files(monkeypatch, ca.files(tmp_path, "sud", ca.issue(SUD_TLS, dns=(SUD_TLS,))))
    liguria = ca.issue("liguria", dns=(LIGURIA_TLS,))

    def server(label: str, answer: Answer, *, issuer: Authority = ca, trust: Authority = ca) -> str:
        issued = liguria if issuer is ca else issuer.issue("liguria", dns=(LIGURIA_TLS,))
        return f"127.0.0.1:{radsec_responder(issuer.files(tmp_path, label, issued, trust=trust), answer)}"

    def wrong_secret(request: codec.Packet, secret: bytes) -> bytes:
        return signed_accept(request, b"not-radsec")

    servers = [
        server("good", signed_accept),
        server("legacy", unsigned_accept),  # radsecproxy 1.9 answers Status-Server so
        server("silent", lambda request, secret: None),
        server("wrong-secret", wrong_secret),
        server("untrusted", signed_accept, issuer=stranger),  # its certificate is not from our CA
        server("distrustful", signed_accept, trust=stranger),  # ours is not from the CA it trusts
        f"127.0.0.1:{closed_tcp_port()}",
    ]
    ok("partner", "add", "liguria", "--radsec", "--tls-name", LIGURIA_TLS,
       *[arg for s in servers for arg in ("--server", s)])  # fmt: skip
    misnamed = server("misnamed", signed_accept)
    ok("partner", "server", "add", "liguria", misnamed, "--radsec", "--tls-name", "radsec.other.example",
       "--priority", "1")  # fmt: skip

    assert main(["partner", "test", "liguria", "--timeout", "0.5"]) == 0
    out = capsys.readouterr().out.splitlines()
    labels = [f"radsec {s}: " for s in [*servers, misnamed]]
    assert [line[: len(label)] for line, label in zip(out, labels, strict=True)] == labels
    outcomes = [line[len(label) :] for line, label in zip(out, labels, strict=True)]
    assert re.fullmatch(r"alive \(\d+\.\d ms\)", outcomes[0]), outcomes
    assert re.fullmatch(r"alive \(\d+\.\d ms; reply without Message-Authenticator\)", outcomes[1]), outcomes
    assert outcomes[2:] == [
        "no answer",
        "bad reply: wrong Response Authenticator: is the shared secret right?",
        "no connection (certificate refused: unable to get local issuer certificate)",
        "no answer: the server closed the connection (does it accept our certificate?)",
        "no connection (Connection refused)",
        f"refused: its certificate names {LIGURIA_TLS}, not radsec.other.example",
    ]


def test_without_a_usable_radsec_certificate_radsec_servers_are_not_tested(
    cli_env: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    missing = tmp_path / "missing.pem"
    use_radsec_files(monkeypatch, TlsFiles(certificate=missing, private_key=missing, ca=missing))
    ok(
        "partner",
        "add",
        "liguria",
        "--server",
        "127.0.0.1",
        "--radsec",
        "--tls-name",
        "radsec.liguria.example",
    )
    assert main(["partner", "test", "liguria", "--timeout", "0.3"]) == 1
    captured = capsys.readouterr()
    assert captured.out == (
        f"radsec 127.0.0.1:2083: not tested: radsec: cannot use certificate {missing} with key {missing}: "
        "No such file or directory\n"
    )
    assert captured.err == "error: no home server of partner liguria answered\n"


def test_a_real_freeradius_answers_the_probe(cli_env: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Debian's FreeRADIUS 3.2, configured as bench/freeradius.py does, with ``status_server = yes``."""
    if shutil.which("freeradius") is None:
        message = "freeradius (Debian package freeradius) is needed for this test"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
    try:
        from freeradius import FreeRadius
    finally:
        sys.path.pop(0)
    with FreeRadius("files", secret=SECRET) as server:
        host, port, _ = server.start(timeout=60)
        ok("partner", "add", "liguria", "--server", f"{host}:{port}", "--secret", SECRET)
        ok("partner", "add", "paca", "--server", f"{host}:{port}", "--secret", "wrong-secret-1")
        assert main(["partner", "test", "liguria"]) == 0
        out = capsys.readouterr().out
        assert out.startswith(f"udp {host}:{port}: alive (")
        # 3.2.1 predates the BlastRADIUS changes: its Access-Accept carries no Message-Authenticator
        assert "without Message-Authenticator" in out
        # a wrong secret makes FreeRADIUS drop the request (bad Message-Authenticator): silence
        assert main(["partner", "test", "paca", "--timeout", "1"]) == 1
        assert capsys.readouterr().out == f"udp {host}:{port}: no answer\n"
