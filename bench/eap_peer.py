"""A supplicant for the EAP benchmark, without I/O: PEAPv0/EAP-MSCHAPv2 and EAP-TTLSv0/PAP over a
pyOpenSSL client on memory BIOs, and the RADIUS side of EAP (RFC 3579: EAP-Message in 253-octet
attributes, State, Message-Authenticator; RFC 2548 MS-MPPE keys).

It is written from the RFCs, as wpa_supplicant behaves, and apart from Sésame's EAP code, so that
the benchmark does not measure Sésame with its own code: TLS framing (RFC 5216 §2.1.5: L/M/S flags,
fragments and acks both ways), PEAPv0 inner EAP without its header except EAP-TLV (draft-josefsson
PEAPv0, [MS-PEAP]), the Result TLV, EAP-MSCHAPv2 (draft-kamath), TTLS AVPs (RFC 5281 §10). The
MS-CHAPv2 computations (RFC 2759) come from :mod:`radius.mschap`, as the EAP tests' peer takes
them (checked there against the RFC's vectors; FreeRADIUS checks them here too).

The keys it expects: TLS 1.2 PEAP "client EAP encryption" (RFC 5216 §2.3), TTLS "ttls keying
material" (RFC 5281 §8); TLS 1.3 ``EXPORTER_EAP_TLS_Key_Material`` with the method's type as context
(RFC 9427 §2.1); MS-MPPE-Recv-Key = MSK[0:32], Send-Key = MSK[32:64].
"""

from __future__ import annotations

import functools
import hashlib
import os
import struct
from dataclasses import dataclass, field

from OpenSSL import SSL
from OpenSSL._util import lib as _ssl_lib
from radpackets import ACCESS_REQUEST, MESSAGE_AUTHENTICATOR, hmac_md5

from radius.mschap import generate_authenticator_response, generate_nt_response, nt_password_hash

PEAP, TTLS, MSCHAPV2, TLV, IDENTITY, NAK = 25, 21, 26, 33, 1, 3
REQUEST, RESPONSE, SUCCESS, FAILURE = 1, 2, 3, 4
FLAG_LENGTH, FLAG_MORE, FLAG_START = 0x80, 0x40, 0x20
RESULT_TLV = 0x8003  # mandatory bit + type 3 ([MS-PEAP] 2.2.8.2.1)
EAP_MESSAGE, STATE, VENDOR_SPECIFIC = 79, 24, 26
USER_NAME, NAS_IP_ADDRESS, CALLED_STATION_ID, CALLING_STATION_ID = 1, 4, 30, 31
NAS_PORT_TYPE, FRAMED_MTU = 61, 12
MICROSOFT_ID, MS_MPPE_SEND_KEY, MS_MPPE_RECV_KEY = (311).to_bytes(4, "big"), 16, 17
MPPE = (MS_MPPE_SEND_KEY, MS_MPPE_RECV_KEY)
ACCESS_ACCEPT, ACCESS_REJECT, ACCESS_CHALLENGE = 2, 3, 11
METHODS = {"peap": PEAP, "ttls": TTLS}


class PeerError(Exception):
    """The server did something this peer does not accept (a bug to report, not a refusal)."""


def client_context(ca_file: str, version: str, *, groups: bytes = b"X25519:P-256") -> SSL.Context:
    """A TLS client pinned to one version ("1.2"/"1.3") that checks the server's chain against
    ``ca_file``; ``groups`` as wpa_supplicant on Debian's OpenSSL 3.0 offers them (no hybrid
    post-quantum group, which this pyOpenSSL's newer OpenSSL would offer first and FreeRADIUS's
    cannot use)."""
    number = {"1.2": SSL.TLS1_2_VERSION, "1.3": SSL.TLS1_3_VERSION}[version]
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_min_proto_version(number)
    context.set_max_proto_version(number)
    context.load_verify_locations(ca_file)
    context.set_verify(SSL.VERIFY_PEER)
    # pyOpenSSL has no public call for the groups list
    if _ssl_lib.SSL_CTX_set1_curves_list(context._context, groups) != 1:
        raise ValueError(f"OpenSSL refuses the groups {groups!r}")
    return context


def session_reused(conn: SSL.Connection) -> bool:
    return bool(_ssl_lib.SSL_session_reused(conn._ssl))


@functools.lru_cache(maxsize=64)
def _nt_hash(password: str) -> bytes:
    return nt_password_hash(password)  # pure-Python MD4 here (no MD4 in OpenSSL 3's default provider)


def eap_packet(code: int, identifier: int, eap_type: int | None = None, data: bytes = b"") -> bytes:
    body = (bytes([eap_type]) if eap_type is not None else b"") + data
    return struct.pack("!BBH", code, identifier, 4 + len(body)) + body


def avp(code: int, data: bytes) -> bytes:
    """A Diameter AVP with the M flag, padded to 4 octets (RFC 5281 §10.1)."""
    length = 8 + len(data)
    return struct.pack("!II", code, 0x40 << 24 | length) + data + bytes(-length % 4)


@dataclass
class Supplicant:
    """One authentication: ``answer()`` each EAP-Request until ``outcome`` is set."""

    method: int
    identity: str
    password: str
    context: SSL.Context
    session: SSL.Session | None = None  # offered for resumption
    fragment_size: int = 1398  # wpa_supplicant's default
    outcome: str | None = None  # "success" / "failure"
    inner_ok: bool = False  # the inner method succeeded as far as the peer can tell
    conn: SSL.Connection | None = None
    _in: bytearray = field(default_factory=bytearray)
    _out: list[bytes] = field(default_factory=list)
    _done: bool = False
    _sent_inner: bool = False
    _expected_auth: str = ""
    _peer_challenge: bytes = b""

    def identity_response(self) -> bytes:
        return eap_packet(RESPONSE, 0, IDENTITY, self.identity.encode())

    def answer(self, message: bytes) -> bytes:
        """Our EAP-Response to the server's EAP packet (b"" after EAP-Success/Failure)."""
        if len(message) < 4 or int.from_bytes(message[2:4], "big") != len(message):
            raise PeerError("malformed EAP packet from the server")
        code, identifier = message[0], message[1]
        if code == SUCCESS and self.method == PEAP and self.resumed and self._done:
            # a resumed PEAP session may end without the inner method (FreeRADIUS does; wpa_supplicant
            # accepts it: "allow outer EAP-Success to terminate PEAP resumption")
            self.inner_ok = True
        if code in (SUCCESS, FAILURE):
            self.outcome = "success" if code == SUCCESS and self.inner_ok else "failure"
            return b""
        if code != REQUEST or len(message) < 5:
            raise PeerError(f"unexpected EAP code {code}")
        eap_type, data = message[4], message[5:]
        if eap_type == IDENTITY:
            return eap_packet(RESPONSE, identifier, IDENTITY, self.identity.encode())
        if eap_type != self.method:
            return eap_packet(RESPONSE, identifier, NAK, bytes([self.method]))
        return eap_packet(RESPONSE, identifier, self.method, self._tls(data))

    # -- TLS framing (RFC 5216 §2.1.5) -----------------------------------------------------------

    def _tls(self, data: bytes) -> bytes:
        if not data:
            raise PeerError("TLS method data without flags")
        flags = data[0]
        if flags & FLAG_START:
            if self.conn is not None:
                raise PeerError("a second Start")
            self.conn = SSL.Connection(self.context, None)
            self.conn.set_connect_state()
            if self.session is not None:
                self.conn.set_session(self.session)
            self._handshake()
            return self._send(self._drain())
        if self._out:  # the server acknowledges our fragment
            if len(data) != 1 or flags & (FLAG_LENGTH | FLAG_MORE):
                raise PeerError("data instead of an ack of our fragment")
            return self._out.pop(0)
        self._in += data[5:] if flags & FLAG_LENGTH else data[1:]
        if flags & FLAG_MORE:
            return b"\x00"  # ack, version 0
        record, self._in = bytes(self._in), bytearray()
        conn = self._live
        if record:
            conn.bio_write(record)
        finished_now = self._handshake()
        if self._done:
            self._application(finished_now)
        return self._send(self._drain())

    def _handshake(self) -> bool:
        if self._done:
            return False
        try:
            self._live.do_handshake()
        except SSL.WantReadError:
            return False
        except SSL.Error as exc:
            raise PeerError(f"TLS: {exc}") from None
        self._done = True
        return True

    def _drain(self) -> bytes:
        out = b""
        while True:
            try:
                out += self._live.bio_read(65536)
            except SSL.WantReadError:
                return out

    def _send(self, data: bytes) -> bytes:
        size = self.fragment_size
        if len(data) <= size:
            return b"\x00" + data
        chunks = [data[i : i + size] for i in range(0, len(data), size)]
        self._out = [bytes([FLAG_MORE]) + c for c in chunks[1:-1]] + [b"\x00" + chunks[-1]]
        return struct.pack("!BI", FLAG_LENGTH | FLAG_MORE, len(data)) + chunks[0]

    @property
    def _live(self) -> SSL.Connection:
        if self.conn is None:
            raise PeerError("TLS data before the Start")
        return self.conn

    # -- the tunnel ---------------------------------------------------------------------------------

    def _read(self) -> list[bytes]:
        chunks = []
        while True:
            try:
                chunks.append(self._live.recv(65536))
            except SSL.WantReadError:
                return chunks
            except SSL.Error as exc:
                raise PeerError(f"TLS record: {exc}") from None

    def _application(self, finished_now: bool) -> None:
        received = self._read()
        if self.method == TTLS:
            if finished_now and not self._sent_inner:  # RFC 5281 §11.2.5: User-Name and User-Password
                password = self.password.encode()
                padded = password + bytes(-len(password) % 16 or (16 if not password else 0))
                self._live.sendall(avp(1, self.identity.encode()) + avp(2, padded))
                self._sent_inner = self.inner_ok = True
            if any(received):
                raise PeerError("TTLS/PAP: the server sent inner data")
            return
        for data in received:
            if data == b"\x00" and self.version == "TLSv1.3":
                continue  # RFC 9190 §2.5's commitment message: FreeRADIUS 3.2.1 sends it in PEAP too
            reply = self._peap(data)
            if reply:
                self._live.sendall(reply)

    def _peap(self, data: bytes) -> bytes:
        """PEAPv0: inner EAP without its header (type first), except EAP-TLV, which is whole."""
        whole_packet = len(data) >= 5 and int.from_bytes(data[2:4], "big") == len(data)
        if whole_packet and data[0] in (REQUEST, SUCCESS, FAILURE):
            identifier, eap_type, body = data[1], data[4], data[5:]
            whole = True
        elif data:
            identifier, eap_type, body, whole = 0, data[0], data[1:], False
        else:
            return b""
        if eap_type == TLV and whole:
            return self._result_tlv(identifier, body)
        if eap_type == IDENTITY:
            return bytes([IDENTITY]) + self.identity.encode()
        if eap_type == MSCHAPV2:
            return self._mschapv2(body)
        raise PeerError(f"PEAP: unexpected inner type {eap_type}")

    def _result_tlv(self, identifier: int, body: bytes) -> bytes:
        if len(body) < 6 or int.from_bytes(body[0:2], "big") & 0x3FFF != RESULT_TLV & 0x3FFF:
            raise PeerError("PEAP: a TLV request without a Result TLV")
        result = int.from_bytes(body[4:6], "big")
        ok = result == 1 and self.inner_ok
        self.inner_ok = ok
        tlv = struct.pack("!HHH", RESULT_TLV, 2, 1 if ok else 2)
        return eap_packet(RESPONSE, identifier, TLV, tlv)

    def _mschapv2(self, body: bytes) -> bytes:
        opcode = body[0] if body else 0
        if opcode == 1:  # Challenge: OpCode, MS-CHAPv2-ID, MS-Length, Value-Size 16, Challenge, Name
            mschap_id, value_size = body[1], body[4]
            if value_size != 16 or len(body) < 21:
                raise PeerError("EAP-MSCHAPv2: bad Challenge")
            challenge = body[5:21]
            name = self.identity.encode()
            self._peer_challenge = os.urandom(16)
            nt_hash = _nt_hash(self.password)
            response = generate_nt_response(challenge, self._peer_challenge, name, nt_hash)
            self._expected_auth = generate_authenticator_response(
                nt_hash, response, self._peer_challenge, challenge, name
            )
            value = self._peer_challenge + bytes(8) + response + b"\x00"
            data = bytes([49]) + value + name
            return bytes([MSCHAPV2]) + struct.pack("!BBH", 2, mschap_id, 4 + len(data)) + data
        if opcode == 3:  # Success-Request "S=<authenticator response> M=…"
            message = body[4:].decode("ascii", "replace")
            if message.split(" ")[0] != self._expected_auth:
                raise PeerError("EAP-MSCHAPv2: the server's authenticator response is wrong")
            self.inner_ok = True
            return bytes([MSCHAPV2, 3])
        if opcode == 4:  # Failure-Request
            self.inner_ok = False
            return bytes([MSCHAPV2, 4])
        raise PeerError(f"EAP-MSCHAPv2: opcode {opcode}")

    # -- what the peer expects ----------------------------------------------------------------------

    @property
    def version(self) -> str:
        return self._live.get_protocol_version_name()

    @property
    def resumed(self) -> bool:
        return self.conn is not None and session_reused(self.conn)

    def expected_msk(self) -> bytes:
        conn = self._live
        if self.version == "TLSv1.3":
            label, context = b"EXPORTER_EAP_TLS_Key_Material", bytes([self.method])
            material = conn.export_keying_material(label, 128, context)
        else:
            label = b"ttls keying material" if self.method == TTLS else b"client EAP encryption"
            material = conn.export_keying_material(label, 128)
        return material[:64]

    def new_session(self) -> SSL.Session | None:
        """The session to offer next time (a TLS 1.3 ticket read with the last records). The
        connection is marked as shut down: OpenSSL makes a session not resumable when its
        connection is freed without a shutdown (EAP ends without close_notify)."""
        conn = self._live
        conn.set_shutdown(SSL.SENT_SHUTDOWN | SSL.RECEIVED_SHUTDOWN)
        return conn.get_session()


# --------------------------------------------------------------------------------------------------
# RADIUS (RFC 3579)


def _attr(code: int, value: bytes) -> bytes:
    return bytes((code, len(value) + 2)) + value


@dataclass(frozen=True, slots=True)
class NasInfo:
    """What an access point adds to each Access-Request (as eapol_test sends)."""

    calling_station_id: bytes
    called_station_id: bytes = b"02-00-00-00-00-01:bench"
    framed_mtu: int = 1400


def access_request(
    identifier: int,
    secret: bytes,
    user_name: str,
    eap_message: bytes,
    state: bytes | None,
    nas: NasInfo,
) -> tuple[bytes, bytes]:
    """(packet, Request Authenticator): Message-Authenticator first, EAP-Message in 253-octet parts."""
    auth = os.urandom(16)
    attrs = b"".join(
        (
            _attr(USER_NAME, user_name.encode()),
            _attr(NAS_IP_ADDRESS, b"\x7f\x00\x00\x01"),
            _attr(CALLED_STATION_ID, nas.called_station_id),
            _attr(CALLING_STATION_ID, nas.calling_station_id),
            _attr(NAS_PORT_TYPE, (19).to_bytes(4, "big")),
            _attr(FRAMED_MTU, nas.framed_mtu.to_bytes(4, "big")),
            *(_attr(EAP_MESSAGE, eap_message[i : i + 253]) for i in range(0, len(eap_message), 253)),
            _attr(STATE, state) if state is not None else b"",
        )
    )
    head = struct.pack("!BBH", ACCESS_REQUEST, identifier, 38 + len(attrs)) + auth
    ma = bytes((MESSAGE_AUTHENTICATOR, 18))
    signature = hmac_md5(secret, head + ma + bytes(16) + attrs)
    return head + ma + signature + attrs, auth


@dataclass(slots=True)
class Reply:
    code: int
    eap_message: bytes
    state: bytes | None
    send_key: bytes | None
    recv_key: bytes | None


def read_reply(data: bytes, req_auth: bytes, secret: bytes) -> Reply:
    """Checks the Response Authenticator and the Message-Authenticator (required with EAP-Message,
    RFC 3579 §3.2), decrypts the MS-MPPE keys; PeerError when something is wrong."""
    if len(data) < 20 or int.from_bytes(data[2:4], "big") != len(data):
        raise PeerError("malformed RADIUS reply")
    if hashlib.md5(data[:4] + req_auth + data[20:] + secret).digest() != data[4:20]:
        raise PeerError("bad Response Authenticator")
    eap, state, ma_at = [], None, -1
    keys: dict[int, bytes] = {}
    pos = 20
    while pos < len(data):
        code, length = data[pos], data[pos + 1]
        if length < 2 or pos + length > len(data):
            raise PeerError("malformed attribute")
        value = data[pos + 2 : pos + length]
        if code == EAP_MESSAGE:
            eap.append(value)
        elif code == STATE:
            state = value
        elif code == MESSAGE_AUTHENTICATOR:
            ma_at = pos
        elif code == VENDOR_SPECIFIC and len(value) > 6 and value[:4] == MICROSOFT_ID and value[4] in MPPE:
            keys[value[4]] = _mppe_key(value[6 : 4 + value[5]], req_auth, secret)
        pos += length
    if ma_at < 0:
        raise PeerError("no Message-Authenticator in an EAP reply")
    zeroed = data[: ma_at + 2] + bytes(16) + data[ma_at + 18 :]
    if hmac_md5(secret, zeroed[:4] + req_auth + zeroed[20:]) != data[ma_at + 2 : ma_at + 18]:
        raise PeerError("bad Message-Authenticator")
    return Reply(data[0], b"".join(eap), state, keys.get(MS_MPPE_SEND_KEY), keys.get(MS_MPPE_RECV_KEY))


def _mppe_key(value: bytes, req_auth: bytes, secret: bytes) -> bytes:
    """RFC 2548 §2.4.2: Salt (2) then the key length octet, key and padding, hidden with MD5."""
    salt, hidden = value[:2], value[2:]
    if len(hidden) % 16 or not hidden:
        raise PeerError("MS-MPPE key of a bad length")
    plain, previous = bytearray(), req_auth + salt
    for i in range(0, len(hidden), 16):
        block = hidden[i : i + 16]
        pad = hashlib.md5(secret + previous).digest()
        plain += bytes(a ^ b for a, b in zip(block, pad, strict=True))
        previous = block
    length = plain[0]
    if length + 1 > len(plain):
        raise PeerError("MS-MPPE key longer than its attribute")
    return bytes(plain[1 : 1 + length])
