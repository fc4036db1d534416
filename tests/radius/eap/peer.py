"""A test-side EAP peer (a supplicant) with a real TLS client over pyOpenSSL memory BIOs, a fake inner
method for the server, and the loop that drives a conversation between them in memory.

The peer is written from the RFCs, apart from the server, so that a test fails when the two
disagree: it frames EAP packets itself (:func:`eap`, :func:`unpack_eap`, RFC 3748 §4, not
``radius.eap.packet``; the inner methods' tests use them too), fragments with its own size and
acknowledges the server's fragments (RFC 5216 §2.1.5), answers a Start of a method it does not
want with a Nak (RFC 3748 §5.3.1), acknowledges the TLS 1.3 commitment message of EAP-TLS (RFC
9190 §2.5), and computes the keys it expects with the labels written out here, not with
``radius.eap.keys``.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from OpenSSL import SSL

from radius.eap.inner import InnerFailure, InnerOutput, InnerPhase, InnerSuccess
from radius.eap.needs import Need, NeedCertificate, NeedNtHashes, NeedPassword
from radius.eap.packet import EapType
from radius.eap.server import EapServer
from radius.eap.steps import Accepted, AnswerNeeded, Challenge, Refused, Step
from tests.radius.eap.pki import Pki

FLAG_LENGTH, FLAG_MORE, FLAG_START = 0x80, 0x40, 0x20
REQUEST, RESPONSE, SUCCESS, FAILURE = 1, 2, 3, 4


def eap(code: int, identifier: int, eap_type: int | None = None, data: bytes = b"") -> bytes:
    """A whole EAP packet (RFC 3748 §4); Success and Failure have no Type."""
    if eap_type is None:
        return struct.pack("!BBH", code, identifier, 4 + len(data)) + data
    return struct.pack("!BBHB", code, identifier, 5 + len(data), eap_type) + data


def unpack_eap(packet: bytes) -> tuple[int, int, int | None, bytes]:
    """Code, Identifier, Type (None for Success and Failure), type-data of a whole EAP packet;
    checks its Length."""
    code, identifier, length = struct.unpack_from("!BBH", packet)
    assert length == len(packet), (length, len(packet))
    if code in (SUCCESS, FAILURE):
        assert length == 4
        return code, identifier, None, b""
    return code, identifier, packet[4], packet[5:]


def identity_response(identifier: int = 0, name: bytes = b"anonymous@example.org") -> bytes:
    return eap(RESPONSE, identifier, EapType.IDENTITY, name)


def response_to(eap_message: bytes, eap_type: int, data: bytes) -> bytes:
    """An EAP-Response of ``eap_type`` carrying ``data``, with the Identifier of the request in
    ``eap_message`` (RFC 3748 §4.1)."""
    return eap(RESPONSE, unpack_eap(eap_message)[1], eap_type, data)


def client_context(
    ca_file: str,
    *,
    version: str | None = None,
    certificate: tuple[str, str] | None = None,
) -> SSL.Context:
    """A TLS client trusting ``ca_file``; ``version`` pins TLSv1.2 or TLSv1.3; ``certificate`` is a
    (certificate file, key file) pair for EAP-TLS."""
    context = SSL.Context(SSL.TLS_METHOD)
    if version is not None:
        number = {"TLSv1.2": SSL.TLS1_2_VERSION, "TLSv1.3": SSL.TLS1_3_VERSION}[version]
        context.set_min_proto_version(number)
        context.set_max_proto_version(number)
    context.load_verify_locations(ca_file)
    context.set_verify(SSL.VERIFY_PEER)
    if certificate is not None:
        context.use_certificate_chain_file(certificate[0])
        context.use_privatekey_file(certificate[1])
    return context


@dataclass
class Peer:
    """One supplicant. ``replies`` maps inner data the server sends to what the peer answers;
    ``eager`` is inner data sent with the peer's Finished (as TTLS peers do)."""

    method: EapType
    context: SSL.Context
    identity: bytes = b"anonymous@example.org"
    wants: tuple[int, ...] = ()
    fragment_size: int = 1398
    session: SSL.Session | None = None
    replies: Mapping[bytes, bytes] = field(default_factory=dict)
    eager: bytes = b""
    conn: SSL.Connection | None = None
    received: list[bytes] = field(default_factory=list)
    commitment: bool = False
    outcome: str | None = None
    requests: int = 0
    tls_error: str | None = None  # what the peer's TLS refused (its alert goes to the server)
    saw_server_certificate: bool = False  # a full handshake, not a resumed one
    _outgoing: list[bytes] = field(default_factory=list)
    _incoming: bytearray = field(default_factory=bytearray)
    _handshake_done: bool = False

    def identity_response(self, identifier: int = 0) -> bytes:
        return identity_response(identifier, self.identity)

    def resuming(self, **changes: Any) -> Peer:
        """A new peer like this one (``changes`` aside) that offers this one's TLS session."""
        assert self.conn is not None, "no session to resume"
        like = {
            "method": self.method,
            "context": self.context,
            "identity": self.identity,
            "wants": self.wants,
            "fragment_size": self.fragment_size,
            "replies": self.replies,
            "eager": self.eager,
        }
        return Peer(**{**like, "session": self.conn.get_session(), **changes})

    def answer(self, eap_message: bytes) -> bytes:
        """The Response to an EAP-Request; b"" after EAP-Success or EAP-Failure (noted in ``outcome``)."""
        code, identifier, eap_type, data = unpack_eap(eap_message)
        if code == SUCCESS:
            self.outcome = "success"
            return b""
        if code == FAILURE:
            self.outcome = "failure"
            return b""
        assert code == REQUEST
        self.requests += 1
        if eap_type == EapType.IDENTITY:
            return self.identity_response(identifier)
        if eap_type != self.method:
            return eap(RESPONSE, identifier, EapType.NAK, bytes(self.wants or (self.method,)))
        return eap(RESPONSE, identifier, self.method, self._tls(data))

    def _tls(self, data: bytes) -> bytes:
        flags = data[0]
        if flags & FLAG_START:
            assert self.conn is None, "a second Start"
            self.conn = SSL.Connection(self.context, None)
            self.conn.set_connect_state()
            self.conn.set_info_callback(self._watch)
            if self.session is not None:
                self.conn.set_session(self.session)
            self._advance()
            return self._send(self._drain())
        if self._outgoing:  # the server acknowledges our fragment
            assert data == bytes([flags]) and not flags & (FLAG_LENGTH | FLAG_MORE)
            return self._outgoing.pop(0)
        body = data[5:] if flags & FLAG_LENGTH else data[1:]
        self._incoming += body
        if flags & FLAG_MORE:
            return b"\x00"  # ack
        message, self._incoming = bytes(self._incoming), bytearray()
        assert self.conn is not None
        if message:
            self.conn.bio_write(message)
        finished_now = self._advance()
        if self._handshake_done:
            for data_in in self._read_application():
                if self.method is EapType.TLS and data_in == b"\x00":
                    self.commitment = True
                    continue
                self.received.append(data_in)
                reply = self.replies.get(data_in)
                if reply is not None:
                    self.conn.sendall(reply)
            if finished_now and self.eager:
                self.conn.sendall(self.eager)
        return self._send(self._drain())

    def _advance(self) -> bool:
        """Runs the handshake; True when it finished just now."""
        assert self.conn is not None
        if self._handshake_done:
            return False
        try:
            self.conn.do_handshake()
        except SSL.WantReadError:
            return False
        except SSL.Error as exc:
            self.tls_error = str(exc)
            return False
        self._handshake_done = True
        return True

    def _watch(self, conn: SSL.Connection, where: int, ret: int) -> None:
        if where & SSL.SSL_CB_LOOP and b"read server certificate" in conn.get_state_string():
            self.saw_server_certificate = True

    def _read_application(self) -> list[bytes]:
        assert self.conn is not None
        chunks = []
        while True:
            try:
                chunks.append(self.conn.recv(65536))
            except SSL.WantReadError:
                return chunks

    def _drain(self) -> bytes:
        assert self.conn is not None
        out = b""
        while True:
            try:
                out += self.conn.bio_read(65536)
            except SSL.WantReadError:
                return out

    def _send(self, data: bytes) -> bytes:
        size = self.fragment_size
        if len(data) <= size:
            return bytes([0]) + data
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        first = struct.pack("!BI", FLAG_LENGTH | FLAG_MORE, len(data)) + chunks[0]
        self._outgoing = [bytes([FLAG_MORE]) + chunk for chunk in chunks[1:-1]] + [b"\x00" + chunks[-1]]
        return first

    # -- what the peer expects ----------------------------------------------------------------------

    @property
    def handshake_finished(self) -> bool:
        return self._handshake_done

    @property
    def version(self) -> str:
        assert self.conn is not None
        return self.conn.get_protocol_version_name()

    def expected_msk(self) -> bytes:
        assert self.conn is not None
        if self.version == "TLSv1.3":  # RFC 9190 §2.3, RFC 9427 §2.1
            material = self.conn.export_keying_material(
                b"EXPORTER_EAP_TLS_Key_Material", 128, bytes([self.method])
            )
        else:  # RFC 5216 §2.3, RFC 5281 §8
            label = b"ttls keying material" if self.method is EapType.TTLS else b"client EAP encryption"
            material = self.conn.export_keying_material(label, 128)
        return material[:64]

    def expected_ttls_challenge(self) -> bytes:
        assert self.conn is not None
        return self.conn.export_keying_material(b"ttls challenge", 17)


def peap_peer(pki: Pki, **fields: Any) -> Peer:
    """A PEAP peer trusting the server's CA, whatever TLS version the two agree on."""
    return Peer(method=EapType.PEAP, context=client_context(str(pki.server_ca.file)), **fields)


@dataclass
class FakeInner:
    """A stand-in inner method: says ``hello`` first (PEAP-like) unless ``quiet`` (TTLS-like), accepts
    ``ok``, asks for a password on ``password``, refuses ``no``, answers ``big`` with 5,000 octets,
    and echoes anything else."""

    quiet: bool = False
    calls: list[str] = field(default_factory=list)

    def start(self) -> InnerOutput:
        self.calls.append("start")
        return InnerOutput(send=b"" if self.quiet else b"hello")

    def receive(self, data: bytes) -> InnerOutput | Need:
        self.calls.append(f"receive:{data[:20]!r}")
        if data == b"ok":
            return InnerOutput(result=InnerSuccess(identity="alice@example.org", method="fake/ok"))
        if data == b"password":
            return NeedPassword(identity="alice@example.org", password="secret")
        if data == b"no":
            return InnerOutput(result=InnerFailure(reason="bad_password", identity="alice@example.org"))
        if data == b"big":
            return InnerOutput(send=bytes(range(256)) * 19 + bytes(136))
        if data == b"boom":
            raise KeyError("an inner method's bug")
        return InnerOutput(send=b"echo:" + data if data else b"")

    def supply(self, need: Need, answer: object) -> InnerOutput:
        self.calls.append(f"supply:{answer!r}")
        assert isinstance(need, NeedPassword)
        if answer is True:
            return InnerOutput(result=InnerSuccess(identity=need.identity, method="fake/password"))
        return InnerOutput(result=InnerFailure(reason="bad_password", identity=need.identity))


@dataclass
class InnerFactoryRecorder:
    """The ``inner`` of an :class:`EapServer`: builds :class:`FakeInner`\\ s and remembers each call."""

    quiet_for: frozenset[EapType] = frozenset({EapType.TTLS})
    built: list[dict[str, object]] = field(default_factory=list)
    phases: list[FakeInner] = field(default_factory=list)

    def __call__(self, *, method: EapType, outer_identity: str, realm: str, challenge: bytes) -> InnerPhase:
        self.built.append(
            {"method": method, "outer_identity": outer_identity, "realm": realm, "challenge": challenge}
        )
        phase = FakeInner(quiet=method in self.quiet_for)
        self.phases.append(phase)
        return phase


def default_answer(need: Need) -> object:
    if isinstance(need, NeedCertificate):
        return "alice@example.org"
    if isinstance(need, NeedPassword):
        return need.password == "secret"
    if isinstance(need, NeedNtHashes):
        return []
    raise AssertionError(need)


@dataclass
class Run:
    final: Step
    steps: list[Step]
    questions: list[Need]

    @property
    def challenges(self) -> int:
        return sum(isinstance(step, Challenge) for step in self.steps)


def converse(
    server: EapServer,
    peer: Peer,
    *,
    answer: Callable[[Need], object] = default_answer,
    now: float = 1000.0,
    client: str = "ap-1",
    framed_mtu: int | None = None,
    limit: int = 200,
    eap_start: bool = False,
) -> Run:
    """Drives ``peer`` against ``server`` from its identity (or, with ``eap_start``, from an EAP-Start
    the NAS relays) to the end or ``limit`` messages; the peer gets the final Success or Failure too."""
    first = b"" if eap_start else peer.identity_response()
    step = server.receive(eap_message=first, state=None, client=client, framed_mtu=framed_mtu, now=now)
    steps, questions = [step], []
    for _ in range(limit):
        while isinstance(step, AnswerNeeded):
            questions.append(step.need)
            step = server.supply(step, answer(step.need), now=now)
            steps.append(step)
        if isinstance(step, Accepted | Refused):
            peer.answer(step.eap_message)
            return Run(final=step, steps=steps, questions=questions)
        if not isinstance(step, Challenge):
            return Run(final=step, steps=steps, questions=questions)
        reply = peer.answer(step.eap_message)
        step = server.receive(
            eap_message=reply, state=step.state, client=client, framed_mtu=framed_mtu, now=now
        )
        steps.append(step)
    raise AssertionError("the conversation did not end")
