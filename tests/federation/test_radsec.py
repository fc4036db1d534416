"""RadSec (RFC 6614): certificate names and contexts in memory, then client and server over loopback TLS.

Certificates come from a throwaway CA (``tests/federation/pki.py``). Nothing here asserts on time:
every wait is for an event, with a generous limit that only a hang reaches.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import uvloop

from federation.radsec import Backoff, Drop, RadSecClient, RadSecServer, open_tcp_socket
from federation.tls import TlsError, TlsFiles, client_context, name_matches, peer_names, server_context
from radius import codec
from radius.codec import Code
from radius.server import BindError
from tests.conftest import need_ipv6_loopback
from tests.federation.pki import Authority, handshake_in_memory

SECRET = b"radsec"
HOME_NAME = "radsec.sud.example"
LIGURIA = "radsec.liguria.example"
WAIT = 20.0  # only a hang reaches this
REPLY_MESSAGE = 18


@dataclass(frozen=True)
class Pki:
    server: TlsFiles  # ours: SAN DNS radsec.sud.example + IP 127.0.0.1
    liguria: TlsFiles  # a partner: SAN DNS radsec.liguria.example, CN liguria
    stranger: TlsFiles  # issued by an unrelated CA
    expired: TlsFiles  # liguria's name, expired
    impostor: TlsFiles  # our CA, another name, IP 127.0.0.1
    cn_only: TlsFiles  # no SubjectAltName at all
    ip_only: TlsFiles  # SubjectAltName with an IP address only


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    ca, other = Authority.create("Sesame federation test CA"), Authority.create("Unrelated CA")
    return Pki(
        server=ca.files(directory, "server", ca.issue(HOME_NAME, dns=(HOME_NAME,), ips=("127.0.0.1",))),
        liguria=ca.files(directory, "liguria", ca.issue("liguria", dns=(LIGURIA, "Backup.Liguria.Example"))),
        stranger=other.files(directory, "stranger", other.issue("liguria", dns=(LIGURIA,)), trust=ca),
        expired=ca.files(directory, "expired", ca.issue("liguria", dns=(LIGURIA,), expired=True)),
        impostor=ca.files(
            directory,
            "impostor",
            ca.issue("radsec.elsewhere.example", dns=("radsec.elsewhere.example",), ips=("127.0.0.1",)),
        ),
        cn_only=ca.files(directory, "cn-only", ca.issue("Radsec.Veneto.Example")),
        ip_only=ca.files(directory, "ip-only", ca.issue("radsec.toscana.example", ips=("127.0.0.1",))),
    )


# -- names and contexts, in memory ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "names", "matches"),
    [
        ("radsec.sud.example", ["radsec.sud.example"], True),
        ("RADSEC.Sud.example", ["radsec.sud.EXAMPLE"], True),
        ("radsec.sud.example.", ["radsec.sud.example"], True),
        ("radsec.sud.example", ["other.example", "radsec.sud.example"], True),
        ("radsec.sud.example", ["*.sud.example"], True),
        ("a.radsec.sud.example", ["*.sud.example"], False),  # one label only
        ("sud.example", ["*.sud.example"], False),
        ("radsec.sud.example", ["rad*.sud.example"], False),  # no partial-label wildcard
        ("*.sud.example", ["*.sud.example"], True),  # literally the same name
        ("x.sud.example", ["*.*.example"], False),
        ("radsec.sud.example", ["radsec.sud.example.evil"], False),
        ("radsec.sud.example", [], False),
        ("", [""], False),
    ],
)
def test_name_matching(expected: str, names: list[str], matches: bool) -> None:
    assert name_matches(expected, names) is matches


def test_peer_names_are_the_san_dns_names_lowercased(pki: Pki) -> None:
    server_side, client_side = handshake_in_memory(server_context(pki.server), client_context(pki.liguria))
    assert peer_names(server_side) == (LIGURIA, "backup.liguria.example")  # not the CN "liguria"
    assert peer_names(client_side) == (HOME_NAME,)  # the IP address SAN is no name


def test_peer_names_fall_back_to_the_cn_only_without_san_dns_names(pki: Pki) -> None:
    server_side, _ = handshake_in_memory(server_context(pki.server), client_context(pki.cn_only))
    assert peer_names(server_side) == ("radsec.veneto.example",)
    server_side, _ = handshake_in_memory(server_context(pki.server), client_context(pki.ip_only))
    assert peer_names(server_side) == ("radsec.toscana.example",)


@pytest.mark.parametrize("files", ["stranger", "expired"])
def test_the_server_context_refuses_client_certificates_it_cannot_verify(pki: Pki, files: str) -> None:
    with pytest.raises(ssl.SSLError):
        handshake_in_memory(server_context(pki.server), client_context(getattr(pki, files)))


def test_the_server_context_refuses_a_client_without_a_certificate(pki: Pki) -> None:
    anonymous = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    anonymous.check_hostname = False
    anonymous.load_verify_locations(cafile=pki.server.ca)
    with pytest.raises(ssl.SSLError):
        handshake_in_memory(server_context(pki.server), anonymous)


@pytest.mark.filterwarnings("ignore:ssl.TLSVersion.TLSv1_1 is deprecated:DeprecationWarning")
def test_the_contexts_require_tls_1_2_and_verified_certificates(pki: Pki) -> None:
    for context in (server_context(pki.server), client_context(pki.liguria)):
        assert context.minimum_version == ssl.TLSVersion.TLSv1_2
        assert context.verify_mode == ssl.CERT_REQUIRED
        assert context.options & ssl.OP_NO_RENEGOTIATION
    assert client_context(pki.liguria).check_hostname is False  # radsec checks the names itself
    old = client_context(pki.liguria)
    old.minimum_version = old.maximum_version = ssl.TLSVersion.TLSv1_1
    with pytest.raises(ssl.SSLError):
        handshake_in_memory(server_context(pki.server), old)


def test_unusable_files_raise_a_tls_error_naming_the_file(pki: Pki, tmp_path: Path) -> None:
    missing = TlsFiles(
        certificate=tmp_path / "nope.pem", private_key=pki.server.private_key, ca=pki.server.ca
    )
    with pytest.raises(TlsError, match=r"nope\.pem"):
        server_context(missing)
    mismatched = TlsFiles(
        certificate=pki.server.certificate, private_key=pki.liguria.private_key, ca=pki.server.ca
    )
    with pytest.raises(TlsError, match="key"):
        client_context(mismatched)
    garbage = tmp_path / "ca.pem"
    garbage.write_text("not a certificate\n")
    with pytest.raises(TlsError, match=r"CA file .*ca\.pem"):
        server_context(
            TlsFiles(certificate=pki.server.certificate, private_key=pki.server.private_key, ca=garbage)
        )


def test_a_server_context_without_client_certificates_is_refused(pki: Pki) -> None:
    context = server_context(pki.server)
    context.verify_mode = ssl.CERT_OPTIONAL
    with pytest.raises(ValueError, match="client certificates"):
        RadSecServer(context=context, identify=lambda names: names, on_packet=lambda *args: None)


def test_backoff_doubles_from_one_second_to_a_minute_with_jitter() -> None:
    backoff = Backoff()
    assert [backoff.next_delay(0.0) for _ in range(9)] == [1, 2, 4, 8, 16, 32, 60, 60, 60]
    backoff.reset()
    jittered = [backoff.next_delay(0.999) for _ in range(8)]
    assert all(
        0.8 * base <= delay < base for delay, base in zip(jittered, [1, 2, 4, 8, 16, 32, 60, 60], strict=True)
    )
    assert Backoff(attempt=1000).next_delay(0.0) == 60


def test_open_tcp_socket_says_what_it_could_not_do() -> None:
    sock = open_tcp_socket("127.0.0.1", 0)
    try:
        port = sock.getsockname()[1]
        with pytest.raises(
            BindError, match=rf"radsec: cannot listen on tcp 127\.0\.0\.1:{port}: Address already in use"
        ):
            open_tcp_socket("127.0.0.1", port)
    finally:
        sock.close()
    with pytest.raises(BindError, match="not an IP address"):
        open_tcp_socket("radsec.sud.example", 0)


def test_open_tcp_socket_listens_on_ipv6() -> None:
    need_ipv6_loopback()
    sock = open_tcp_socket("::1", 0)
    with sock, socket.create_connection(("::1", sock.getsockname()[1]), timeout=WAIT):
        assert sock.family == socket.AF_INET6


# -- loopback --------------------------------------------------------------------------------------


def access_request(identifier: int, user: str = "alice@liguria.example") -> bytes:
    return codec.encode_request(
        code=Code.ACCESS_REQUEST, identifier=identifier, secret=SECRET, attributes=codec.tlv(1, user.encode())
    )


def answer(request: codec.Packet, *, size: int = 0) -> bytes:
    """Access-Accept (Access-Request, Status-Server) or Accounting-Response, signed with ``radsec``."""
    if request.code == Code.ACCOUNTING_REQUEST:
        return codec.encode_reply(
            code=Code.ACCOUNTING_RESPONSE,
            identifier=request.identifier,
            request_authenticator=request.authenticator,
            secret=SECRET,
            sign=False,
        )
    message = codec.tlv(REPLY_MESSAGE, f"hello {request.identifier}".encode())
    padding = codec.tlv(REPLY_MESSAGE, b"p" * 250) * (size // 252)
    return codec.encode_reply(
        code=Code.ACCESS_ACCEPT,
        identifier=request.identifier,
        request_authenticator=request.authenticator,
        secret=SECRET,
        attributes=message + padding,
    )


def check_reply(data: bytes, request: bytes) -> codec.Packet:
    """The reply's authenticators, computed here with hashlib and hmac (RFC 2865 §3, RFC 2869 §5.14)."""
    reply = codec.parse(data)
    assert reply.identifier == request[1]
    expected = hashlib.md5(data[:4] + request[4:20] + data[20:] + SECRET).digest()
    assert reply.authenticator == expected
    if reply.code == Code.ACCESS_ACCEPT:
        i = data.index(bytes([codec.MESSAGE_AUTHENTICATOR, 18]), 20)
        zeroed = data[:4] + request[4:20] + data[20 : i + 2] + bytes(16) + data[i + 18 :]
        assert data[i + 2 : i + 18] == hmac.new(SECRET, zeroed, hashlib.md5).digest()
    return reply


class Home:
    """Our RadSecServer, recording what its callbacks see. ``hold``: answer once that many requests
    are in, in reverse order (they were all in flight together); ``later``: answer on the next loop turn."""

    def __init__(
        self,
        files: TlsFiles,
        *,
        known: tuple[str, ...] = (LIGURIA,),
        hold: int = 1,
        later: bool = False,
        reply_size: int = 0,
        **options: Any,
    ) -> None:
        self.known = known
        self.hold = hold
        self.later = later
        self.reply_size = reply_size
        self.held: list[tuple[codec.Packet, Callable[[bytes], None]]] = []
        self.identified: list[tuple[str, ...]] = []
        self.received: list[tuple[str, codec.Packet, tuple[str, int]]] = []
        self.drops: asyncio.Queue[str] = asyncio.Queue()
        self.server: RadSecServer[str] = RadSecServer(
            context=server_context(files),
            identify=self.identify,
            on_packet=self.on_packet,
            on_drop=self.drops.put_nowait,
            **options,
        )

    def identify(self, names: tuple[str, ...]) -> str | None:
        self.identified.append(names)
        return next((name for name in names if name in self.known), None)

    def on_packet(
        self, peer: str, data: bytes, source: tuple[str, int], reply: Callable[[bytes], None]
    ) -> None:
        packet = codec.parse(data)
        self.received.append((peer, packet, source))
        if self.later:
            asyncio.get_running_loop().call_soon(reply, answer(packet, size=self.reply_size))
            return
        self.held.append((packet, reply))
        if len(self.held) >= self.hold:
            for held, send in reversed(self.held):
                send(answer(held, size=self.reply_size))
            self.held.clear()

    async def start(self, port: int = 0) -> int:
        sock = open_tcp_socket("127.0.0.1", port)
        await self.server.start(sock)
        return int(sock.getsockname()[1])

    async def drop(self) -> str:
        return await asyncio.wait_for(self.drops.get(), WAIT)


class Visitor:
    """Our RadSecClient towards a Home, recording what its callbacks see."""

    def __init__(
        self, files: TlsFiles, port: int, *, expected: str = HOME_NAME, context: ssl.SSLContext | None = None
    ):
        self.replies: asyncio.Queue[bytes] = asyncio.Queue()
        self.states: asyncio.Queue[bool] = asyncio.Queue()
        self.client = RadSecClient(
            host="127.0.0.1",  # an IP literal, while the certificate names a DNS name
            port=port,
            context=context or client_context(files),
            expected_name=expected,
            on_packet=self.replies.put_nowait,
            on_state=self.states.put_nowait,
        )
        self.client.start()

    async def state(self) -> bool:
        return await asyncio.wait_for(self.states.get(), WAIT)

    async def reply(self) -> bytes:
        return await asyncio.wait_for(self.replies.get(), WAIT)


async def round_trip(pki: Pki, version: ssl.TLSVersion | None = None) -> None:
    requests = [access_request(i, f"user{i}@liguria.example") for i in range(40)]
    requests.append(
        codec.encode_request(
            code=Code.ACCOUNTING_REQUEST,
            identifier=200,
            secret=SECRET,
            attributes=codec.tlv(40, bytes([0, 0, 0, 1])),
        )
    )
    requests.append(
        codec.encode_request(code=Code.STATUS_SERVER, identifier=201, secret=SECRET, attributes=b"")
    )
    home = Home(pki.server, hold=len(requests))
    port = await home.start()
    context = client_context(pki.liguria)
    if version is not None:
        context.minimum_version = context.maximum_version = version
    visitor = Visitor(pki.liguria, port, context=context)
    try:
        assert await visitor.state() is True
        assert visitor.client.connected
        for data in requests:
            assert visitor.client.send(data)
        by_id = {data[1]: data for data in requests}
        replies = [await visitor.reply() for _ in requests]
        # the home server had every request in hand before it answered any, and answered in reverse
        assert [r[1] for r in replies] == [data[1] for data in reversed(requests)]
        for data in replies:
            reply = check_reply(data, by_id[data[1]])
            if reply.code == Code.ACCESS_ACCEPT:
                assert reply.first(REPLY_MESSAGE) == f"hello {reply.identifier}".encode()
        assert {packet.code for _, packet, _ in home.received} == {1, 4, 12}
        assert {peer for peer, _, _ in home.received} == {LIGURIA}
        assert {source[0] for _, _, source in home.received} == {"127.0.0.1"}
        assert home.identified == [(LIGURIA, "backup.liguria.example")]
        assert home.drops.empty()
    finally:
        await visitor.client.close()
        await home.server.stop()
    assert await visitor.state() is False
    assert not visitor.client.connected
    assert visitor.client.send(requests[0]) is False


@pytest.mark.parametrize(
    "version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3], ids=["TLSv1.2", "TLSv1.3"]
)
async def test_several_requests_in_flight_over_one_connection(pki: Pki, version: ssl.TLSVersion) -> None:
    await round_trip(pki, version)


def test_several_requests_in_flight_under_uvloop(pki: Pki) -> None:
    uvloop.run(round_trip(pki))


async def refused_client_certificate(pki: Pki, files: TlsFiles) -> None:
    home = Home(pki.server)
    port = await home.start()
    visitor = Visitor(files, port)
    try:
        assert await home.drop() == Drop.TLS_HANDSHAKE
        assert home.identified == []
        # With TLS 1.3 the client may believe it connected before the server's refusal arrives;
        # nothing it sends is ever received.
        visitor.client.send(access_request(1))
        assert home.received == []
    finally:
        await visitor.client.close()
        await home.server.stop()


async def test_a_client_certificate_from_another_ca_is_refused(pki: Pki) -> None:
    await refused_client_certificate(pki, pki.stranger)


async def test_an_expired_client_certificate_is_refused(pki: Pki) -> None:
    await refused_client_certificate(pki, pki.expired)


def test_a_client_certificate_from_another_ca_is_refused_under_uvloop(pki: Pki) -> None:
    uvloop.run(refused_client_certificate(pki, pki.stranger))


async def test_a_server_certificate_with_another_name_is_refused_by_the_client(
    pki: Pki, caplog: pytest.LogCaptureFixture
) -> None:
    home = Home(pki.impostor)  # our CA, our address, but not the name the client expects
    port = await home.start()
    visitor = Visitor(pki.liguria, port)
    try:
        # The handshake succeeds (same CA); then the client checks the name and leaves.
        for _ in range(int(WAIT / 0.05)):
            if any(
                "names radsec.elsewhere.example, not radsec.sud.example" in r.message for r in caplog.records
            ):
                break
            await asyncio.sleep(0.05)
        else:
            raise AssertionError("the client never refused the certificate")
        assert visitor.states.empty()  # never reported connected
        assert not visitor.client.connected
        assert visitor.client.send(access_request(1)) is False
    finally:
        await visitor.client.close()
        await home.server.stop()
    assert home.received == []


async def test_a_server_certificate_with_the_expected_name_is_accepted_at_an_ip_address(pki: Pki) -> None:
    home = Home(pki.impostor)
    port = await home.start()
    visitor = Visitor(pki.liguria, port, expected="radsec.elsewhere.example")
    try:
        assert await visitor.state() is True
        request = access_request(3)
        assert visitor.client.send(request)
        check_reply(await visitor.reply(), request)
    finally:
        await visitor.client.close()
        await home.server.stop()


async def test_an_unknown_partner_is_disconnected_and_counted(pki: Pki) -> None:
    home = Home(pki.server, known=("radsec.veneto.example",))
    port = await home.start()
    visitor = Visitor(pki.liguria, port)
    try:
        assert await home.drop() == Drop.UNKNOWN_PEER
        assert home.identified[0] == (LIGURIA, "backup.liguria.example")
        assert home.server.connections == 0
        # the client saw a connection come up and go, or never up: either way it ends down
        states = [await visitor.state()]
        if states[0]:
            states.append(await visitor.state())
        assert states[-1] is False
    finally:
        await visitor.client.close()
        await home.server.stop()
    assert home.received == []


async def test_the_client_reconnects_after_the_server_restarts(pki: Pki) -> None:
    home = Home(pki.server)
    port = await home.start()
    visitor = Visitor(pki.liguria, port)
    try:
        assert await visitor.state() is True
        await home.server.stop()
        assert await visitor.state() is False
        assert visitor.client.send(access_request(1)) is False  # the caller fails over

        home = Home(pki.server)
        await home.start(port)
        assert await visitor.state() is True
        request = access_request(2)
        assert visitor.client.send(request)  # resent after reconnecting (RFC 6614 §2.5)
        check_reply(await visitor.reply(), request)
    finally:
        await visitor.client.close()
        await home.server.stop()


async def raw_tls(pki: Pki, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", port, ssl=client_context(pki.liguria))


async def read_until_closed(reader: asyncio.StreamReader) -> bytes:
    try:
        return await asyncio.wait_for(reader.read(), WAIT)
    except (ConnectionResetError, ssl.SSLError):
        return b""


@pytest.mark.parametrize(
    ("garbage", "reason"),
    [
        (bytes([1, 9, 0x10, 0x01]) + bytes(30), "bad_length"),  # 4097
        (bytes([1, 9, 0, 5]), "bad_length"),
        (bytes([1, 9, 0, 24]) + bytes(16) + bytes([1, 0, 0, 0]), "truncated_attribute"),
    ],
)
async def test_a_peer_that_breaks_the_framing_is_disconnected_and_counted(
    pki: Pki, garbage: bytes, reason: str
) -> None:
    home = Home(pki.server)
    port = await home.start()
    reader, writer = await raw_tls(pki, port)
    try:
        request = access_request(1)
        writer.write(request)
        header = await asyncio.wait_for(reader.readexactly(4), WAIT)
        rest = await asyncio.wait_for(reader.readexactly(int.from_bytes(header[2:4], "big") - 4), WAIT)
        check_reply(header + rest, request)  # framing and answering work on this connection
        writer.write(garbage + access_request(2))
        assert await read_until_closed(reader) == b""  # closed, and the request after it never answered
        assert await home.drop() == reason
        assert len(home.received) == 1
    finally:
        writer.close()
        await home.server.stop()


class Unread(asyncio.Protocol):
    """A partner that sends requests and never reads what comes back."""

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        transport.pause_reading()  # type: ignore[attr-defined]


async def test_a_peer_that_does_not_read_its_replies_cannot_grow_our_buffers(pki: Pki) -> None:
    home = Home(pki.server, later=True, reply_size=3800)
    port = await home.start()
    loop = asyncio.get_running_loop()
    transport, _ = await loop.create_connection(Unread, "127.0.0.1", port, ssl=client_context(pki.liguria))
    try:
        # 6000 replies of 4 kB (24 MB) cannot all fit in the socket buffers and the high-water mark
        transport.write(b"".join(access_request(i % 256) for i in range(6000)))
        assert await home.drop() == Drop.REPLY_OVERFLOW
    finally:
        transport.abort()
        await home.server.stop()


async def test_a_stalled_handshake_is_cut_and_counted(pki: Pki) -> None:
    home = Home(pki.server, handshake_timeout=0.5)
    port = await home.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)  # TCP, and then not a word
    try:
        assert await home.drop() == Drop.TLS_HANDSHAKE
        assert await read_until_closed(reader) == b""
    finally:
        writer.close()
        await home.server.stop()


async def test_connections_beyond_the_limit_are_refused_and_counted(pki: Pki) -> None:
    home = Home(pki.server, max_connections=1)
    port = await home.start()
    visitor = Visitor(pki.liguria, port)
    try:
        assert await visitor.state() is True
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        assert await home.drop() == Drop.TOO_MANY_CONNECTIONS
        assert await read_until_closed(reader) == b""
        writer.close()
        request = access_request(4)
        assert visitor.client.send(request)  # the first partner is not disturbed
        check_reply(await visitor.reply(), request)
    finally:
        await visitor.client.close()
        await home.server.stop()


async def test_an_idle_connection_is_closed_and_the_client_comes_back(pki: Pki) -> None:
    home = Home(pki.server, idle_timeout=0.3)
    port = await home.start()
    visitor = Visitor(pki.liguria, port)
    try:
        assert await visitor.state() is True
        assert await visitor.state() is False  # nothing sent: the server closed it
        assert await visitor.state() is True  # wanted, so the client reconnects
        request = access_request(5)
        assert visitor.client.send(request)
        check_reply(await visitor.reply(), request)
    finally:
        await visitor.client.close()
        await home.server.stop()


async def test_a_client_that_is_not_started_or_closed_sends_nothing(pki: Pki) -> None:
    client = RadSecClient(
        host="127.0.0.1",
        port=9,
        context=client_context(pki.liguria),
        expected_name=HOME_NAME,
        on_packet=lambda data: None,
    )
    assert not client.connected
    assert client.send(access_request(1)) is False
    await client.close()  # harmless when never started
