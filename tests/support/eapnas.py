"""An access point relaying EAP over RADIUS (RFC 3579) to a real server, written for hostile tests.

eapol_test runs a conversation from start to end and can only be stopped; these tests need to hold
one half-way, interleave two, replay a round, send a round from another access point or break one
on purpose. :class:`Nas` is an access point (a UDP socket on its own loopback address, a shared
secret) that sends Access-Requests carrying EAP-Message (split in 253-octet attributes, or as the
test says), State and Message-Authenticator; :class:`Supplicant` is the test-side TLS peer of
``tests/radius/eap/peer.py`` behind such an access point, with EAP-TTLS/PAP as its inner method
(its AVPs go with its Finished, as wpa_supplicant sends them), one round at a time.
"""

from __future__ import annotations

import itertools
import os
import socket
from dataclasses import dataclass, field

from OpenSSL import SSL

from radius import codec
from radius.codec import Code
from radius.eap.packet import EapType
from radius.eap.ttls import Avp, encode_avps
from tests.radius.eap.peer import Peer

USER_NAME_AVP, USER_PASSWORD_AVP = 1, 2  # RFC 5281 §11.2.5: RADIUS attribute numbers as AVP codes


def eap_message_attributes(message: bytes, size: int = 253) -> bytes:
    """EAP-Message attributes holding ``message``, ``size`` octets each (RFC 3579 §3.1 says 253);
    an empty message is one empty EAP-Message attribute (an EAP-Start, RFC 3579 §2.1)."""
    if not message:
        return codec.tlv(codec.EAP_MESSAGE, b"")
    return b"".join(codec.tlv(codec.EAP_MESSAGE, message[i : i + size]) for i in range(0, len(message), size))


@dataclass(frozen=True, slots=True)
class Reply:
    code: int
    packet: codec.Packet

    @property
    def eap(self) -> bytes:
        return b"".join(self.packet.all(codec.EAP_MESSAGE))

    @property
    def state(self) -> bytes | None:
        return self.packet.first(codec.STATE)


class Nas:
    """An access point at ``address`` (a loopback address of its own) with ``secret``, sending to
    the server's authentication ``port``. Each request gets the next Identifier and a random
    Request Authenticator; ``send`` returns the datagram so that a test can send it again."""

    def __init__(self, port: int, secret: str, *, address: str = "127.0.0.1") -> None:
        self.port = port
        self.secret = secret.encode()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((address, 0))
        self.sock.connect(("127.0.0.1", port))
        self._ids = itertools.cycle(range(256))

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> Nas:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(
        self,
        *,
        user_name: bytes = b"anonymous@example.org",
        eap: bytes | None = None,
        state: bytes | None = None,
        raw: bytes = b"",
        sign: bool = True,
        split: int = 253,
    ) -> bytes:
        """An Access-Request: User-Name, EAP-Message (``eap``, cut every ``split`` octets), State,
        then ``raw`` attributes as given."""
        attributes = codec.tlv(codec.USER_NAME, user_name) if user_name else b""
        if eap is not None:
            attributes += eap_message_attributes(eap, split)
        if state is not None:
            attributes += codec.tlv(codec.STATE, state)
        attributes += raw
        return codec.encode_request(
            code=Code.ACCESS_REQUEST,
            identifier=next(self._ids),
            secret=self.secret,
            attributes=attributes,
            authenticator=os.urandom(16),
            sign=sign,
        )

    def send(self, datagram: bytes) -> None:
        self.sock.send(datagram)

    def receive(self, datagram: bytes, timeout: float) -> Reply | None:
        """The reply to ``datagram`` (already sent), or None when none came within ``timeout``."""
        self.sock.settimeout(timeout)
        while True:
            try:
                data = self.sock.recv(4096)
            except TimeoutError:
                return None
            packet = codec.parse(data)
            if packet.identifier != datagram[1]:
                continue  # a late answer to an earlier request
            return Reply(code=packet.code, packet=packet)

    def ask_all(self, datagrams: list[bytes], *, timeout: float = 2.0) -> list[Reply | None]:
        """Send every datagram at once (at most 256: Identifiers must differ), then the reply to each
        (None where none came within ``timeout`` of the last)."""
        for datagram in datagrams:
            self.send(datagram)
        replies: dict[int, Reply] = {}
        self.sock.settimeout(timeout)
        try:
            while len(replies) < len(datagrams):
                packet = codec.parse(self.sock.recv(4096))
                replies[packet.identifier] = Reply(code=packet.code, packet=packet)
        except TimeoutError:
            pass
        return [replies.get(datagram[1]) for datagram in datagrams]

    def ask(self, datagram: bytes, *, timeout: float = 2.0, tries: int = 1) -> Reply | None:
        """Send ``datagram`` (again, identically, up to ``tries`` times, as an access point
        retransmits) until a reply comes; None when none did."""
        for _ in range(tries):
            self.send(datagram)
            reply = self.receive(datagram, timeout)
            if reply is not None:
                return reply
        return None


def ttls_pap_avps(identity: str, password: str) -> bytes:
    """The inner TTLS/PAP message: User-Name and User-Password, NUL-padded to 16 octets."""
    secret = password.encode()
    secret += bytes(-len(secret) % 16)
    return encode_avps(
        [Avp(code=USER_NAME_AVP, data=identity.encode()), Avp(code=USER_PASSWORD_AVP, data=secret)]
    )


@dataclass
class Supplicant:
    """One device behind ``nas`` running EAP-TTLS/PAP as ``identity`` (``user@realm``), trusting
    ``ca_file``; ``fragment_size``: of its TLS messages (small ones make many rounds)."""

    nas: Nas
    identity: str
    password: str
    ca_file: str
    fragment_size: int = 1000
    split: int = 253  # octets per EAP-Message attribute
    outer: str = ""  # the outer identity (User-Name, EAP-Response/Identity): anonymous@realm by default
    peer: Peer = field(init=False)
    state: bytes | None = None
    last: Reply | None = None
    sent: list[bytes] = field(default_factory=list)  # every Access-Request sent, in order
    rounds: int = 0

    def __post_init__(self) -> None:
        context = SSL.Context(SSL.TLS_METHOD)
        context.load_verify_locations(self.ca_file)
        context.set_verify(SSL.VERIFY_PEER)
        self.peer = Peer(
            method=EapType.TTLS,
            context=context,
            identity=(self.outer or f"anonymous@{self.identity.partition('@')[2]}").encode(),
            fragment_size=self.fragment_size,
            eager=ttls_pap_avps(self.identity, self.password),
        )

    @property
    def user_name(self) -> bytes:
        return self.peer.identity

    def start(self, *, timeout: float = 3.0, tries: int = 3) -> Reply | None:
        """The EAP-Response/Identity; the server's answer (an Access-Challenge proposing a method)."""
        return self._ask(self.peer.identity_response(0), timeout=timeout, tries=tries)

    def step(self, *, timeout: float = 3.0, tries: int = 3) -> Reply | None:
        """Answer the last Access-Challenge; the server's answer to that."""
        assert self.last is not None and self.last.code == Code.ACCESS_CHALLENGE, self.last
        return self._ask(self.next_response(), timeout=timeout, tries=tries)

    def next_response(self) -> bytes:
        """The peer's EAP-Response to the last challenge (the peer's state moves on)."""
        assert self.last is not None
        return self.peer.answer(self.last.eap)

    def _ask(self, eap: bytes, *, timeout: float, tries: int) -> Reply | None:
        datagram = self.nas.request(user_name=self.user_name, eap=eap, state=self.state, split=self.split)
        self.sent.append(datagram)
        self.rounds += 1
        reply = self.nas.ask(datagram, timeout=timeout, tries=tries)
        if reply is not None:
            self.last = reply
            if reply.code == Code.ACCESS_CHALLENGE:
                self.state = reply.state
        return reply

    def run(self, *, limit: int = 100) -> Reply | None:
        """From wherever the conversation is to its end: the Access-Accept or -Reject (None: the
        server stopped answering)."""
        reply = self.last if self.last is not None else self.start()
        for _ in range(limit):
            if reply is None or reply.code != Code.ACCESS_CHALLENGE:
                if reply is not None:
                    self.peer.answer(reply.eap)  # EAP-Success or -Failure: the peer's outcome
                return reply
            reply = self.step()
        raise AssertionError("the conversation did not end")

    def msk_matches(self, reply: Reply, request: bytes) -> bool:
        """Whether the MS-MPPE keys of an Access-Accept are the MSK the peer derived (RFC 2548 §2.4:
        hidden with the secret and the Request Authenticator of ``request``)."""
        keys = {}
        for vtype, value in reply.packet.vendor_attributes(codec.MICROSOFT):
            if vtype in (codec.MS_MPPE_RECV_KEY, codec.MS_MPPE_SEND_KEY):
                keys[vtype] = codec.salt_decrypt(value, self.nas.secret, request[4:20])
        msk = self.peer.expected_msk()
        return keys.get(codec.MS_MPPE_RECV_KEY) == msk[:32] and keys.get(codec.MS_MPPE_SEND_KEY) == msk[32:]
