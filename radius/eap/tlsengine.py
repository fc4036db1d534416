"""TLS for EAP, in memory: one OpenSSL connection per conversation, fed and drained by the caller.

EAP carries TLS records in its packets, so TLS here never touches a socket: a pyOpenSSL
``Connection`` without one reads and writes two memory BIOs. The conversation writes the peer's
reassembled records in (:meth:`TlsServer.feed`), takes ours out (:meth:`TlsServer.pending_out`)
and, once the handshake is over, reads and writes the tunnel's application data.

Contexts (:func:`make_context`) are built once per process from files and shared by every
connection, one per method (the server builds them). EAP-TLS's requires a client certificate
chained to the device CA, and a session resumed in a context that never asked for one must not
pass for a device's: OpenSSL refuses to resume a session in another session-id context (each
context has its own, and its own ticket keys), so a PEAP session offered to EAP-TLS gets a full
handshake.

Session resumption: where it is on, both the server-side cache (TLS 1.2 session ids) and tickets
(TLS 1.2 and 1.3) serve it, for ``session_lifetime`` seconds. Both live in the process: the cache is
process memory and the ticket keys are random per context (pyOpenSSL cannot set them), so a peer
that reconnects through another RADIUS worker process gets a full handshake, which costs a round
trip, nothing else. Resumption never skips anything of ours: PEAP runs its inner method again, and
EAP-TLS asks the caller about the certificate again (the session keeps the peer's certificate).
TTLS is never resumed (``resumption=False``): wpa_supplicant, hence Android and Linux peers, skip
phase 2 when a re-authentication resumes a TTLS session (hostapd ``eap_peer/eap_ttls.c``,
``eap_ttls_phase2_start``: "EAP-TTLS does not use Phase2 on fast re-auth") and wait for an
EAP-Success that only a server remembering the session's inner identity could give, and
eapol_test's re-authentication failed when the server ran phase 2 again. hostapd's server keeps
the identity in the session (``SSL_SESSION_set_ex_data``); the bindings under pyOpenSSL have no
session ex_data, ticket appdata, session id, new-session callback nor ``SSL_CTX_set_num_tickets``.
A session could still be told by its secret (``Connection.master_key``): a resumed TLS 1.2
session has its first one's master secret; under TLS 1.3 it is the ticket's PSK, of which only
the last of the two tickets a full handshake issues is visible, and on the resumed handshake only
until the server writes its next ticket, inside the call that reads the peer's Finished. And a
resumed session proves the TLS secret, not the password: MS-CHAPv2 sessions could be re-checked
against the account's NT hashes, inner PAP ones by nothing we keep, so those would have to be
made unresumable, and a stateless TLS 1.3 ticket once sent cannot be withdrawn. Not clean enough
to build on: a full handshake each time. FreeRADIUS and hostapd leave resumption off by default
for all methods.

Errors: a handshake or record the peer got wrong is a :class:`TlsFailure` (the peer's fault, with
OpenSSL's words in ``detail`` for the log); a file that cannot be used is a :class:`TlsConfigError`
at start-up.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from OpenSSL import SSL, crypto

__all__ = [
    "VERSIONS",
    "TlsConfigError",
    "TlsFailure",
    "TlsServer",
    "TlsSettings",
    "make_context",
]

PrivateKey = (
    rsa.RSAPrivateKey
    | ec.EllipticCurvePrivateKey
    | ed25519.Ed25519PrivateKey
    | ed448.Ed448PrivateKey
    | dsa.DSAPrivateKey
)
VERSIONS = {"TLSv1.2": SSL.TLS1_2_VERSION, "TLSv1.3": SSL.TLS1_3_VERSION}
_CHUNK = 16384


class TlsConfigError(Exception):
    """A certificate, key or CA file cannot be used, or a setting is wrong; the message says which."""


class TlsFailure(Exception):
    """The TLS exchange failed on the peer's input (a bad record, an alert, no or a bad certificate)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True, kw_only=True)
class TlsSettings:
    """What the TLS side of EAP is built from."""

    certificate: Path  # PEM: the server's certificate, then the intermediates up to the CA peers trust
    private_key: Path  # PEM, encrypted or not
    private_key_password: bytes = field(default=b"", repr=False)  # b"": the key is not encrypted
    device_ca: Path | None = None  # PEM: the CA device certificates must chain to (EAP-TLS); None: no EAP-TLS
    min_version: str = "TLSv1.2"
    max_version: str = "TLSv1.3"
    ciphers: str | None = None  # TLS 1.2 cipher list (OpenSSL syntax); None: OpenSSL's defaults
    session_lifetime: int = 3600  # seconds a session may be resumed


def make_context(
    settings: TlsSettings,
    *,
    session_context: bytes = b"sesame-eap",
    client_ca: Path | None = None,
    resumption: bool = True,
) -> SSL.Context:
    """A server context; sessions resume only in a context of the same ``session_context``. With
    ``client_ca`` (EAP-TLS) a client certificate is required and verified by OpenSSL against that
    CA alone (the configured CA is the trust anchor even when it is an intermediate; its own issuers
    are not asked for). Without ``resumption``, or with a ``session_lifetime`` of 0, no session is
    ever resumed (TLS 1.3 still sends a ticket nobody can use)."""
    for name in (settings.min_version, settings.max_version):
        if name not in VERSIONS:
            raise TlsConfigError(f"eap: unknown TLS version {name!r} (one of {', '.join(VERSIONS)})")
    if VERSIONS[settings.min_version] > VERSIONS[settings.max_version]:
        raise TlsConfigError("eap: the minimum TLS version is above the maximum")
    if settings.session_lifetime < 0:
        raise TlsConfigError("eap: the session lifetime cannot be negative")
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_min_proto_version(VERSIONS[settings.min_version])
    context.set_max_proto_version(VERSIONS[settings.max_version])
    # No renegotiation (a TLS 1.2 peer could make the server redo handshakes at will), no compression.
    context.set_options(SSL.OP_NO_RENEGOTIATION | SSL.OP_NO_COMPRESSION | SSL.OP_CIPHER_SERVER_PREFERENCE)
    if settings.ciphers:
        try:
            context.set_cipher_list(settings.ciphers.encode())
        except SSL.Error as exc:
            raise TlsConfigError(
                f"eap: cipher list {settings.ciphers!r} selects nothing: {_why(exc)}"
            ) from None
    try:
        context.use_certificate_chain_file(str(settings.certificate))
    except (OSError, SSL.Error) as exc:
        raise TlsConfigError(f"eap: cannot use certificate {settings.certificate}: {_why(exc)}") from None
    try:
        context.use_privatekey(_private_key(settings))
        context.check_privatekey()
    except SSL.Error as exc:
        raise TlsConfigError(
            f"eap: the private key {settings.private_key} is not the key of certificate "
            f"{settings.certificate}: {_why(exc)}"
        ) from None
    context.set_session_id(session_context)
    if resumption and settings.session_lifetime > 0:
        context.set_session_cache_mode(SSL.SESS_CACHE_SERVER)
        context.set_timeout(settings.session_lifetime)
    else:
        context.set_session_cache_mode(SSL.SESS_CACHE_OFF)
        context.set_options(SSL.OP_NO_TICKET)
    if client_ca is None:
        context.set_verify(SSL.VERIFY_NONE)
        return context
    try:
        context.load_verify_locations(str(client_ca))
        context.load_client_ca(str(client_ca).encode())
    except (OSError, SSL.Error) as exc:
        raise TlsConfigError(f"eap: cannot use device CA file {client_ca}: {_why(exc)}") from None
    store = context.get_cert_store()
    if store is None:  # pragma: no cover - OpenSSL gives every context a store
        raise TlsConfigError("eap: OpenSSL gave no certificate store")
    store.set_flags(crypto.X509StoreFlags.PARTIAL_CHAIN)
    # No callback: OpenSSL's verdict stands (chain, dates, purpose sslclient as a server sets it).
    context.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT | SSL.VERIFY_CLIENT_ONCE)
    return context


def _private_key(settings: TlsSettings) -> PrivateKey:
    """The key, decrypted here: OpenSSL's own loader would ask for a missing password on the
    terminal, and pyOpenSSL's password callback is deprecated."""
    path, password = settings.private_key, settings.private_key_password or None
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TlsConfigError(f"eap: cannot read private key {path}: {_why(exc)}") from None
    try:
        try:
            key = load_pem_private_key(data, password)
        except TypeError:
            if password is None:
                raise TlsConfigError(
                    f"eap: the private key {path} is encrypted: its password is needed"
                ) from None
            key = load_pem_private_key(data, None)  # a password for a key that needs none: harmless
    except (ValueError, TypeError, UnsupportedAlgorithm):
        raise TlsConfigError(
            f"eap: cannot use private key {path}: not a PEM private key, or the wrong password"
        ) from None
    if not isinstance(key, PrivateKey):
        raise TlsConfigError(f"eap: the private key {path} is of a kind TLS cannot use here")
    return key


def _why(exc: BaseException) -> str:
    if isinstance(exc, SSL.Error) and exc.args and isinstance(exc.args[0], list):
        reasons = [str(entry[-1]) for entry in exc.args[0] if isinstance(entry, tuple) and entry]
        if reasons:
            return "; ".join(reasons)
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return str(exc) or type(exc).__name__


class TlsServer:
    """The server end of one TLS connection over memory BIOs."""

    def __init__(self, context: SSL.Context) -> None:
        self._conn: SSL.Connection | None = SSL.Connection(context, None)
        self._conn.set_accept_state()
        self._conn.set_info_callback(self._watch)
        self._handshake_done = False
        self._sent_certificate = False

    def _watch(self, conn: SSL.Connection, where: int, ret: int) -> None:
        # A full handshake is the only one where the server writes its Certificate (TLS 1.2 and 1.3);
        # pyOpenSSL has no SSL_session_reused, so resumption is told by its absence.
        if where & SSL.SSL_CB_LOOP and b"write certificate" in conn.get_state_string():
            self._sent_certificate = True

    @property
    def _live(self) -> SSL.Connection:
        if self._conn is None:
            raise RuntimeError("this TLS connection was closed")
        return self._conn

    @property
    def handshake_done(self) -> bool:
        return self._handshake_done

    @property
    def resumed(self) -> bool:
        """Whether the finished handshake resumed an earlier session."""
        return self._handshake_done and not self._sent_certificate

    @property
    def version(self) -> str:
        """The protocol agreed, ``TLSv1.2`` or ``TLSv1.3`` (empty until the handshake is done)."""
        return self._live.get_protocol_version_name() if self._handshake_done else ""

    def feed(self, data: bytes) -> None:
        """Records from the peer; the handshake goes on as far as they allow."""
        conn = self._live
        if data:
            conn.bio_write(data)
        if self._handshake_done:
            return
        try:
            conn.do_handshake()
        except SSL.WantReadError:
            return
        except SSL.Error as exc:
            raise TlsFailure("handshake", _why(exc)) from None
        self._handshake_done = True

    def pending_out(self) -> bytes:
        """Every record waiting to go to the peer (and none any more)."""
        conn = self._live
        out = []
        while True:
            try:
                chunk = conn.bio_read(_CHUNK)
            except SSL.WantReadError:
                break
            if not chunk:
                break
            out.append(chunk)
        return b"".join(out)

    def read_application(self) -> bytes:
        """The application data the peer's records fed so far carried (b"" if none)."""
        conn = self._live
        if not self._handshake_done:
            return b""
        out = []
        while True:
            try:
                chunk = conn.recv(_CHUNK)
            except SSL.WantReadError:
                break
            except SSL.ZeroReturnError:
                raise TlsFailure("closed", "the peer closed the tunnel") from None
            except SSL.Error as exc:
                raise TlsFailure("record", _why(exc)) from None
            if not chunk:
                break
            out.append(chunk)
        return b"".join(out)

    def write_application(self, data: bytes) -> None:
        """Application data for the peer, encrypted into records that :meth:`pending_out` returns."""
        conn = self._live
        if not self._handshake_done:
            raise RuntimeError("no application data before the handshake is over")
        view = memoryview(data)
        while view:
            sent = conn.send(view[:_CHUNK].tobytes())
            view = view[sent:]

    def export(self, label: str, length: int, context: bytes | None) -> bytes:
        """RFC 5705 / RFC 8446 §7.5 keying material; ``context`` None is "no context" (TLS 1.2 makes a
        difference between none and empty)."""
        return self._live.export_keying_material(label.encode("ascii"), length, context)

    @property
    def peer_certificate(self) -> x509.Certificate | None:
        """The certificate the peer presented (kept by a resumed session too), None if it sent none."""
        certificate = self._live.get_peer_certificate()
        return None if certificate is None else certificate.to_cryptography()

    def close(self, *, resumable: bool = False) -> None:
        """Free the OpenSSL state now (the connection's buffers and keys); nothing works after.

        ``resumable``: the conversation succeeded, so its session may be resumed. OpenSSL drops a
        TLS 1.2 session from the cache when a connection is freed without a shutdown (it may have
        ended badly); the close_notify itself is never sent (EAP ends with EAP-Success)."""
        if resumable and self._conn is not None and self._handshake_done:
            self._conn.set_shutdown(SSL.SENT_SHUTDOWN | SSL.RECEIVED_SHUTDOWN)
        self._conn = None
