"""RadSec interop with radsecproxy (Debian ``radsecproxy``), the proxy of most eduroam federations.

Two partner regions: we are Sud (certificate ``radsec.sud.example``), radsecproxy plays Liguria
(``radsec.liguria.example``); both certificates come from one test CA (``tests/federation/pki.py``).

1. our :class:`RadSecClient` → radsecproxy's TLS listener (its ``client`` block checks our
   certificate) → UDP → a RADIUS responder here, which accepts with a Reply-Message;
2. ``radclient`` → radsecproxy's UDP listener → TLS → our :class:`RadSecServer`, which accepts.

radsecproxy runs in the foreground (``-f``) with ``LogLevel 5``; its log is printed when a test
fails. Without radsecproxy (or radclient) the tests are skipped on a workstation and fail in CI.
"""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from federation.radsec import RadSecClient, RadSecServer, open_tcp_socket
from federation.tls import TlsFiles, client_context, server_context
from radius import codec
from radius.codec import Code
from tests.conftest import IN_CI
from tests.federation.pki import Authority
from tests.interop.conftest import need_tool
from tests.support.ports import free_tcp_port, free_udp_port

pytestmark = pytest.mark.slow

RADSEC = b"radsec"  # RFC 6614 §2.3
SUD = "radsec.sud.example"
LIGURIA = "radsec.liguria.example"
RESPONDER_SECRET = b"liguria-responder-secret"
RADCLIENT_SECRET = "liguria-nas-secret"
PASSWORD = b"correct horse battery"
REPLY_MESSAGE = 18
WAIT = 30.0  # only a hang reaches this


def need_radsecproxy() -> str:
    path = shutil.which("radsecproxy") or shutil.which("radsecproxy", path="/usr/sbin:/usr/local/sbin")
    if path is None:
        message = "radsecproxy (Debian radsecproxy) is needed for the RadSec interop tests"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return path


class Certificates:
    def __init__(self, directory: Path) -> None:
        ca = Authority.create("Sesame federation test CA")
        self.sud = ca.files(directory, "sud", ca.issue(SUD, dns=(SUD,), ips=("127.0.0.1",)))
        self.liguria = ca.files(directory, "liguria", ca.issue("liguria", dns=(LIGURIA,)))


@pytest.fixture(scope="module")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    return Certificates(tmp_path_factory.mktemp("pki"))


def tls_block(files: TlsFiles, version: str | None) -> str:
    return f"""tls default {{
    CACertificateFile {files.ca}
    CertificateFile {files.certificate}
    CertificateKeyFile {files.private_key}
    {f"TlsVersion {version}" if version else ""}
}}
"""


@asynccontextmanager
async def radsecproxy(directory: Path, config: str, *, ready: tuple[str, ...]) -> AsyncIterator[Path]:
    """Run radsecproxy on ``config`` until the block ends; ``ready``: log lines that must appear first."""
    binary = need_radsecproxy()
    conf, log = directory / "radsecproxy.conf", directory / "radsecproxy.log"
    conf.write_text(config)
    with log.open("wb") as out:
        proc = await asyncio.create_subprocess_exec(
            binary, "-f", "-c", str(conf), stdout=out, stderr=subprocess.STDOUT
        )
    try:
        for _ in range(int(WAIT / 0.1)):
            text = log.read_text(errors="replace")
            if all(line in text for line in ready):
                break
            if proc.returncode is not None:
                raise AssertionError(f"radsecproxy exited with {proc.returncode}:\n{text}")
            await asyncio.sleep(0.1)
        else:
            raise AssertionError(f"radsecproxy did not start listening:\n{log.read_text(errors='replace')}")
        yield log
    finally:
        if proc.returncode is None:
            proc.terminate()
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                proc.kill()
                await proc.wait()
        print(f"--- radsecproxy log ({log}) ---\n{log.read_text(errors='replace')}")


class Responder(asyncio.DatagramProtocol):
    """Liguria's RADIUS server behind radsecproxy: checks what arrives, accepts with a Reply-Message."""

    def __init__(self) -> None:
        self.transport: asyncio.DatagramTransport | None = None
        self.passwords: list[bytes | None] = []
        self.problems: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        packet = codec.parse(data)
        if not codec.message_authenticator_valid(packet, RESPONDER_SECRET):
            self.problems.append("the request from radsecproxy has no valid Message-Authenticator")
        hidden = packet.first(codec.USER_PASSWORD)
        self.passwords.append(
            None
            if hidden is None
            else codec.decrypt_user_password(hidden, RESPONDER_SECRET, packet.authenticator)
        )
        reply = codec.encode_reply(
            code=Code.ACCESS_ACCEPT,
            identifier=packet.identifier,
            request_authenticator=packet.authenticator,
            secret=RESPONDER_SECRET,
            attributes=codec.tlv(REPLY_MESSAGE, b"Benvenuto in Liguria"),
            proxy_states=packet.all(codec.PROXY_STATE),
        )
        assert self.transport is not None
        self.transport.sendto(reply, addr)


@pytest.mark.parametrize(
    ("version", "ours"), [("TLS1_2", ssl.TLSVersion.TLSv1_2), ("TLS1_3", ssl.TLSVersion.TLSv1_3)]
)
async def test_our_client_through_radsecproxy_to_a_udp_home_server(
    certificates: Certificates, tmp_path: Path, version: str, ours: ssl.TLSVersion
) -> None:
    loop = asyncio.get_running_loop()
    responder = Responder()
    transport, _ = await loop.create_datagram_endpoint(lambda: responder, local_addr=("127.0.0.1", 0))
    responder_port = transport.get_extra_info("sockname")[1]
    tls_port = free_tcp_port()
    config = f"""ListenTLS 127.0.0.1:{tls_port}
LogLevel 5
{tls_block(certificates.liguria, version)}
client sud {{
    host 127.0.0.1
    type tls
    secret radsec
    CertificateNameCheck off
    MatchCertificateAttribute SubjectAltName:DNS:/^radsec\\.sud\\.example$/
}}
server liguria-radius {{
    host 127.0.0.1
    port {responder_port}
    type udp
    secret {RESPONDER_SECRET.decode()}
}}
realm liguria.example {{
    server liguria-radius
}}
"""
    replies: asyncio.Queue[bytes] = asyncio.Queue()
    states: asyncio.Queue[bool] = asyncio.Queue()
    context = client_context(certificates.sud)
    context.minimum_version = context.maximum_version = ours  # both ends pinned: this version or nothing
    client = RadSecClient(
        host="127.0.0.1",
        port=tls_port,
        context=context,
        expected_name=LIGURIA,
        on_packet=replies.put_nowait,
        on_state=states.put_nowait,
    )
    try:
        async with radsecproxy(tmp_path, config, ready=(f"listening for tls on 127.0.0.1:{tls_port}",)):
            client.start()
            assert await asyncio.wait_for(states.get(), WAIT) is True
            authenticator = bytes(range(16))
            attributes = codec.tlv(codec.USER_NAME, b"alice@liguria.example") + codec.tlv(
                codec.USER_PASSWORD, codec.hide_user_password(PASSWORD, RADSEC, authenticator)
            )
            request = codec.encode_request(
                code=Code.ACCESS_REQUEST,
                identifier=42,
                secret=RADSEC,
                attributes=attributes,
                authenticator=authenticator,
            )  # Message-Authenticator first (BlastRADIUS: radsecproxy >= 1.11 requires it)
            assert client.send(request)
            data = await asyncio.wait_for(replies.get(), WAIT)
    finally:
        await client.close()
        transport.close()

    reply = codec.parse(data)
    assert (reply.code, reply.identifier) == (Code.ACCESS_ACCEPT, 42)
    assert reply.first(REPLY_MESSAGE) == b"Benvenuto in Liguria"
    # radsecproxy signed its reply with the RadSec secret, over our request's authenticator
    assert reply.authenticator == hashlib.md5(data[:4] + authenticator + data[20:] + RADSEC).digest()
    assert codec.message_authenticator_valid(reply, RADSEC, request_authenticator=authenticator)
    # and it re-hid the password for its own UDP hop
    assert responder.passwords == [PASSWORD]
    assert responder.problems == []


async def test_radclient_through_radsecproxy_to_our_server(
    certificates: Certificates, tmp_path: Path
) -> None:
    radclient = need_tool("radclient")
    seen: list[tuple[str, codec.Packet, bool]] = []
    identified: list[tuple[str, ...]] = []

    def identify(names: tuple[str, ...]) -> str | None:
        identified.append(names)
        return "liguria" if LIGURIA in names else None

    def on_packet(peer: str, data: bytes, source: tuple[str, int], reply: Callable[[bytes], None]) -> None:
        packet = codec.parse(data)
        seen.append((peer, packet, codec.message_authenticator_valid(packet, RADSEC)))
        if packet.code in (Code.ACCESS_REQUEST, Code.STATUS_SERVER):  # RFC 5997: Status-Server gets an Accept
            reply(
                codec.encode_reply(
                    code=Code.ACCESS_ACCEPT,
                    identifier=packet.identifier,
                    request_authenticator=packet.authenticator,
                    secret=RADSEC,
                    attributes=codec.tlv(REPLY_MESSAGE, b"Bienvenue en Sud"),
                    proxy_states=packet.all(codec.PROXY_STATE),
                )
            )

    drops: list[str] = []
    server: RadSecServer[str] = RadSecServer(
        context=server_context(certificates.sud), identify=identify, on_packet=on_packet, on_drop=drops.append
    )
    sock = open_tcp_socket("127.0.0.1", 0)
    radsec_port = sock.getsockname()[1]
    await server.start(sock)
    udp_port = free_udp_port()
    config = f"""ListenUDP 127.0.0.1:{udp_port}
LogLevel 5
{tls_block(certificates.liguria, None)}
client access-points {{
    host 127.0.0.1
    type udp
    secret {RADCLIENT_SECRET}
}}
server sud {{
    host 127.0.0.1
    port {radsec_port}
    type tls
    secret radsec
}}
realm sud.example {{
    server sud
}}
"""
    try:
        async with radsecproxy(tmp_path, config, ready=(f"listening for udp on 127.0.0.1:{udp_port}",)):
            proc = await asyncio.create_subprocess_exec(
                *(radclient, "-x", "-r", "3", "-t", "5", f"127.0.0.1:{udp_port}", "auth", RADCLIENT_SECRET),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            attributes = f'User-Name = "bob@sud.example"\nUser-Password = "{PASSWORD.decode()}"\n'
            attributes += "Message-Authenticator = 0x00\n"
            out, _ = await asyncio.wait_for(proc.communicate(attributes.encode()), 60)
    finally:
        await server.stop()
    output = out.decode(errors="replace")
    assert "Received Access-Accept" in output, output
    assert 'Reply-Message = "Bienvenue en Sud"' in output, output
    requests = [(peer, packet, signed) for peer, packet, signed in seen if packet.code == Code.ACCESS_REQUEST]
    assert len(requests) == 1, seen
    peer, packet, signed = requests[0]
    assert peer == "liguria" and signed  # identified by its certificate; signed with "radsec"
    assert packet.first(codec.USER_NAME) == b"bob@sud.example"
    hidden = packet.first(codec.USER_PASSWORD)
    assert hidden is not None
    assert codec.decrypt_user_password(hidden, RADSEC, packet.authenticator) == PASSWORD
    assert identified and all(LIGURIA in names for names in identified)
    assert drops == []
