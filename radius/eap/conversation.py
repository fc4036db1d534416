"""One EAP conversation: a state machine over TLS-based methods (PEAPv0, EAP-TTLSv0, EAP-TLS).

Theory of operation. A conversation lives from the peer's identity to EAP-Success or EAP-Failure.
It holds one outstanding EAP-Request at a time; each Response must carry that Request's
Identifier, else it is ignored (RFC 3748 §4.1 "MUST silently discard"; hostapd's EAP state
machine goes RECEIVED → DISCARD likewise), and every Request we send takes the next Identifier.

1. IDENTITY. The NAS usually did the identity exchange itself and relays the peer's
   EAP-Response/Identity as the first message; when it relays an EAP-Start instead (RFC 3579 §2.1)
   we send the Request/Identity. The identity is the *outer* one, often ``anonymous@realm``: it is
   kept for the inner method (which checks the inner realm against it), never authenticated here.
2. METHOD_START. We propose the configured method with a Start (S flag, RFC 5216 §2.1.1). The peer
   answers with its first TLS message, or with a Nak listing the types it wants (RFC 3748
   §5.3.1): we take the first of its list that we enable and have not proposed yet, or refuse
   ("eap_no_common_method").
3. TLS_HANDSHAKE. TLS records both ways, fragmented and acknowledged below the table (see
   :mod:`radius.eap.tlsframe`: while our fragments go out the peer may only acknowledge; while
   its fragments come in we acknowledge each), until OpenSSL says our side of the handshake is done.
4. Then the method decides.
   * EAP-TLS: CERTIFICATE — the caller is asked who the device certificate belongs to
     (:mod:`radius.eap.eaptls`); then COMMITMENT — our last flight (TLS 1.2 ChangeCipherSpec and
     Finished; TLS 1.3 tickets and the commitment message) waits for the peer's empty answer, and
     EAP-Success follows. Nothing of ours is sent before the certificate is accepted.
   * PEAP, TTLS: TUNNEL_OPENING when our last handshake flight still has to reach the peer (its
     answer is an ack, or already inner data: TTLS peers send their AVPs with their Finished);
     then INNER — application data goes to and from the :class:`radius.eap.inner.InnerPhase`,
     which may ask the caller something (INNER_ANSWER) and finally gives a result.
5. DONE or FAILED: the TLS state is freed; the server forgets the conversation.

:data:`TABLE` is the machine: for each phase, who must speak next (the peer or the caller) and the
phases it may lead to. Every transition goes through :meth:`Conversation._goto`, which refuses one
the table does not list (our bug, not the peer's).

Limits: every Response counts as a round (``max_rounds``); peer messages are at most
:data:`radius.eap.tlsframe.MAX_TLS_MESSAGE`; the server bounds time and the number of conversations.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from OpenSSL import SSL

from accounts.wiretext import is_clean
from radius.eap import eaptls, keys, packet, tlsframe
from radius.eap.inner import PEAP_MSCHAPV2, InnerFailure, InnerOutput, InnerPhase, InnerSuccess
from radius.eap.needs import Need
from radius.eap.packet import EapCode, EapPacket, EapType
from radius.eap.steps import Accepted, AnswerNeeded, Challenge, Discarded, Handle, Refused, Step
from radius.eap.tlsengine import TlsFailure, TlsServer

__all__ = ["TABLE", "Conversation", "InnerFactory", "Phase", "Policy", "Row", "Speaker"]

MAX_IDENTITY = 253  # octets, as a User-Name
VERSION = 0  # PEAPv0, TTLSv0; EAP-TLS has no version bits


class Phase(enum.StrEnum):
    IDENTITY = "identity"
    METHOD_START = "method_start"
    TLS_HANDSHAKE = "tls_handshake"
    CERTIFICATE = "certificate"
    COMMITMENT = "commitment"
    TUNNEL_OPENING = "tunnel_opening"
    INNER = "inner"
    INNER_ANSWER = "inner_answer"
    DONE = "done"
    FAILED = "failed"


class Speaker(enum.Enum):
    PEER = "peer"  # an EAP-Response moves the conversation on
    CALLER = "caller"  # an answer to the question asked moves it on


@dataclass(frozen=True, slots=True)
class Row:
    waits_for: Speaker | None  # None: the conversation is over
    next: frozenset[Phase]


def _row(waits_for: Speaker | None, *phases: Phase) -> Row:
    return Row(waits_for, frozenset(phases))


_END = (Phase.DONE, Phase.FAILED)
TABLE: Mapping[Phase, Row] = {
    Phase.IDENTITY: _row(Speaker.PEER, Phase.METHOD_START, Phase.FAILED),
    Phase.METHOD_START: _row(Speaker.PEER, Phase.METHOD_START, Phase.TLS_HANDSHAKE, Phase.FAILED),
    Phase.TLS_HANDSHAKE: _row(
        Speaker.PEER, Phase.TLS_HANDSHAKE, Phase.CERTIFICATE, Phase.TUNNEL_OPENING, Phase.INNER, Phase.FAILED
    ),
    Phase.CERTIFICATE: _row(Speaker.CALLER, Phase.COMMITMENT, *_END),
    Phase.COMMITMENT: _row(Speaker.PEER, *_END),
    Phase.TUNNEL_OPENING: _row(Speaker.PEER, Phase.INNER, Phase.FAILED),
    Phase.INNER: _row(Speaker.PEER, Phase.INNER, Phase.INNER_ANSWER, *_END),
    Phase.INNER_ANSWER: _row(Speaker.CALLER, Phase.INNER, *_END),
    Phase.DONE: _row(None),
    Phase.FAILED: _row(None),
}

#: the TLS-based methods, and the type octet of each
TLS_METHODS = (EapType.PEAP, EapType.TTLS, EapType.TLS)


class InnerFactory(Protocol):
    """Builds the inner phase of a PEAP or TTLS conversation once its tunnel is up."""

    def __call__(
        self, *, method: EapType, outer_identity: str, realm: str, challenge: bytes
    ) -> InnerPhase: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Policy:
    """What every conversation of one server shares."""

    methods: tuple[EapType, ...]  # enabled outer methods
    default: EapType  # proposed first
    contexts: Mapping[EapType, SSL.Context]  # the TLS context of each enabled method
    inner: InnerFactory
    realm: str
    max_rounds: int


class Conversation:
    """One peer's EAP conversation; see the module's theory of operation."""

    def __init__(
        self,
        *,
        policy: Policy,
        state: bytes,
        client: str,
        identifier: int,
        fragment_size: int,
        deadline: float,
    ) -> None:
        self.policy = policy
        self.state = state
        self.client = client
        self.deadline = deadline
        self.phase = Phase.IDENTITY
        self.identifier = identifier  # of the outstanding Request (or of the identity Response)
        self.rounds = 0
        self.method: EapType | None = None
        self.outer_identity = ""
        self.identity: str | None = None  # inner identity, or the device's account
        self._fragment_size = fragment_size
        self._proposed: set[EapType] = set()
        self._outgoing: list[bytes] = []
        self._reassembler = tlsframe.Reassembler()
        self._tls: TlsServer | None = None
        self._inner: InnerPhase | None = None
        self._question: Need | None = None
        self._serial = 0

    # -- entry points -------------------------------------------------------------------------------

    def open(self) -> Step:
        """Ask the peer for its identity (the NAS relayed an EAP-Start)."""
        return self._request(b"", EapType.IDENTITY)

    def receive(self, eap: EapPacket, *, outer_name: str | None = None) -> Step:
        """The peer's EAP packet (already parsed)."""
        if TABLE[self.phase].waits_for is not Speaker.PEER:
            return Discarded(reason="eap_busy")  # an answer from the caller is awaited
        if eap.code is not EapCode.RESPONSE:
            return Discarded(reason="eap_not_response")
        if eap.identifier != self.identifier:
            return Discarded(reason="eap_wrong_identifier")
        self.rounds += 1
        if self.rounds > self.policy.max_rounds:
            return self._refuse("eap_rounds")
        if self.phase is Phase.IDENTITY:
            return self._identity(eap, outer_name)
        if self.phase is Phase.METHOD_START and eap.type == EapType.NAK:
            return self._nak(eap.data)
        if eap.type != self.method:
            return Discarded(reason="eap_wrong_type")
        return self._tls_payload(eap.data)

    def supply(self, handle: Handle, answer: object) -> Step:
        """The caller's answer to the question of :class:`AnswerNeeded` ``handle``."""
        if TABLE[self.phase].waits_for is not Speaker.CALLER or handle.serial != self._serial:
            return Discarded(reason="eap_stale_answer")
        question, self._question = self._question, None
        try:
            if self.phase is Phase.CERTIFICATE:
                return self._certificate_answer(answer)
            assert question is not None and self._inner is not None
            return self._inner_output(self._inner.supply(question, answer))
        except TlsFailure as exc:
            return self._refuse("tls_failed", exc.detail)

    @property
    def finished(self) -> bool:
        return TABLE[self.phase].waits_for is None

    def close(self, *, resumable: bool = False) -> None:
        """Free the TLS state (idempotent); ``resumable``: the conversation succeeded."""
        if self._tls is not None:
            self._tls.close(resumable=resumable)
            self._tls = None
        self._inner = None
        self._outgoing = []
        self._reassembler.reset()

    # -- phases -------------------------------------------------------------------------------------

    def _identity(self, eap: EapPacket, outer_name: str | None) -> Step:
        if eap.type != EapType.IDENTITY:
            return Discarded(reason="eap_wrong_type")
        raw = eap.data
        if len(raw) > MAX_IDENTITY or (raw and not is_clean(raw)):
            return self._refuse("bad_user_name")
        self.outer_identity = raw.decode() if raw else (outer_name or "")
        return self._propose(self.policy.default)

    def _propose(self, method: EapType) -> Step:
        self._goto(Phase.METHOD_START)
        self.method = method
        self._proposed.add(method)
        self._reassembler.reset()  # a Nak may come after fragments of a message for the last method
        return self._request(tlsframe.start(VERSION))

    def _nak(self, wanted: bytes) -> Step:
        for octet in wanted:  # RFC 3748 §5.3.1: the peer's preference order; 0 means "none"
            if octet in self.policy.methods and octet not in self._proposed:
                return self._propose(EapType(octet))
        return self._refuse("eap_no_common_method")

    def _tls_payload(self, payload: bytes) -> Step:
        try:
            frame = tlsframe.read_frame(payload)
            if self._outgoing:
                if not frame.is_ack:  # RFC 5216 §2.1.5: a fragment is answered by an ack, nothing else
                    return self._refuse("eap_malformed", "data instead of a fragment ack")
                return self._request(self._outgoing.pop(0))
            message = self._reassembler.add(frame)
        except tlsframe.FrameError as exc:
            return self._refuse("eap_malformed", exc.reason)
        if message is None:
            return self._request(tlsframe.ack(VERSION))
        try:
            return _PEER_HANDLERS[self.phase](self, message)
        except TlsFailure as exc:
            return self._refuse("tls_failed", exc.detail)

    def _first_tls_message(self, message: bytes) -> Step:
        assert self.method is not None
        self._goto(Phase.TLS_HANDSHAKE)
        self._tls = TlsServer(self.policy.contexts[self.method])
        return self._handshake(message)

    def _handshake(self, message: bytes) -> Step:
        tls = self._live_tls
        tls.feed(message)
        if not tls.handshake_done:
            out = tls.pending_out()
            if not out:
                return self._refuse("tls_failed", "the peer's records leave the server nothing to answer")
            return self._send(out)
        if self.method is EapType.TLS:
            certificate = tls.peer_certificate
            if certificate is None:  # OpenSSL requires one; a guard, not a path
                return self._refuse("tls_failed", "no client certificate")
            return self._ask(Phase.CERTIFICATE, eaptls.certificate_need(certificate))
        return self._open_tunnel()

    def _certificate_answer(self, answer: object) -> Step:
        if answer is None:
            return self._refuse("certificate_refused")
        if not isinstance(answer, str):
            raise TypeError("the answer to NeedCertificate is the account's identity or None")
        self.identity = answer
        tls = self._live_tls
        if tls.version == "TLSv1.3":
            tls.write_application(eaptls.COMMITMENT)
        out = tls.pending_out()
        if not out:  # a resumed TLS 1.2 session: the peer's Finished was the last handshake message
            return self._accept(answer, eaptls.METHOD_NAME)
        self._goto(Phase.COMMITMENT)
        return self._send(out)

    def _commitment(self, message: bytes) -> Step:
        tls = self._live_tls
        tls.feed(message)
        tls.read_application()  # an alert in the peer's answer raises; data has no meaning here
        assert self.identity is not None
        return self._accept(self.identity, eaptls.METHOD_NAME)

    def _open_tunnel(self) -> Step:
        assert self.method is not None
        tls = self._live_tls
        challenge = keys.ttls_challenge(tls) if self.method is EapType.TTLS else b""
        self._inner = self.policy.inner(
            method=self.method,
            outer_identity=self.outer_identity,
            realm=self.policy.realm,
            challenge=challenge,
        )
        data = tls.read_application()
        if data:  # inner data came with the peer's Finished: it goes in with the tunnel's start
            return self._start_inner(data)
        out = tls.pending_out()
        if out:
            self._goto(Phase.TUNNEL_OPENING)
            return self._send(out)
        return self._start_inner(b"")

    def _tunnel_opening(self, message: bytes) -> Step:
        tls = self._live_tls
        tls.feed(message)
        return self._start_inner(tls.read_application())

    def _start_inner(self, data: bytes) -> Step:
        assert self._inner is not None
        self._goto(Phase.INNER)
        started = self._inner.start()
        if started.result is not None or not data:
            return self._inner_output(started)
        if started.send:
            self._live_tls.write_application(started.send)
        return self._inner_output(self._inner.receive(data))

    def _tunnel_data(self, message: bytes) -> Step:
        assert self._inner is not None
        tls = self._live_tls
        tls.feed(message)
        return self._inner_output(self._inner.receive(tls.read_application()))

    def _inner_output(self, output: InnerOutput | Need) -> Step:
        if not isinstance(output, InnerOutput):
            return self._ask(Phase.INNER_ANSWER, output)
        if isinstance(output.result, InnerSuccess):
            return self._accept(output.result.identity, output.result.method)
        if isinstance(output.result, InnerFailure):
            self.identity = output.result.identity
            return self._refuse(output.result.reason)
        self._goto(Phase.INNER)
        tls = self._live_tls
        if output.send:
            tls.write_application(output.send)
        return self._send(tls.pending_out())

    # -- steps --------------------------------------------------------------------------------------

    def _goto(self, phase: Phase) -> None:
        if phase not in TABLE[self.phase].next:
            raise RuntimeError(f"EAP conversation: no transition {self.phase} -> {phase}")
        self.phase = phase

    @property
    def _live_tls(self) -> TlsServer:
        if self._tls is None:
            raise RuntimeError("EAP conversation: no TLS connection in this phase")
        return self._tls

    def _request(self, type_data: bytes, type_: EapType | None = None) -> Challenge:
        self.identifier = (self.identifier + 1) & 0xFF
        kind = type_ if type_ is not None else self.method
        assert kind is not None
        return Challenge(eap_message=packet.request(self.identifier, kind, type_data), state=self.state)

    def _send(self, data: bytes) -> Challenge:
        first, *self._outgoing = tlsframe.fragments(data, self._fragment_size, VERSION)
        return self._request(first)

    def _ask(self, phase: Phase, need: Need) -> AnswerNeeded:
        self._goto(phase)
        self._serial += 1
        self._question = need
        return AnswerNeeded(need=need, handle=Handle(state=self.state, serial=self._serial))

    def _accept(self, identity: str, method: str) -> Accepted:
        assert self.method is not None
        msk = keys.derive(self._live_tls, self.method).msk
        self.identity = identity
        self._goto(Phase.DONE)
        self.close(resumable=True)
        return Accepted(
            eap_message=packet.success(self.identifier), identity=identity, method=method, msk=msk
        )

    def _refuse(self, reason: str, detail: str = "") -> Refused:
        method = self.label
        self._goto(Phase.FAILED)
        self.close()
        return Refused(
            eap_message=packet.failure(self.identifier),
            reason=reason,
            identity=self.identity,
            detail=detail,
            method=method,
        )

    @property
    def label(self) -> str:
        """The method as far as it got, for the decision record ("eap-ttls/pap", "peap", …)."""
        inner = getattr(self._inner, "method", "") if self._inner is not None else ""
        if inner:
            return str(inner)
        if self.method is EapType.PEAP and self._inner is not None:
            return PEAP_MSCHAPV2  # PEAP carries EAP-MSCHAPv2 only
        return _LABELS.get(self.method, "eap") if self.method is not None else "eap"


_LABELS = {EapType.TLS: eaptls.METHOD_NAME, EapType.PEAP: "peap", EapType.TTLS: "eap-ttls"}

#: which handler takes a complete peer message in each phase that waits for the peer's TLS
_PEER_HANDLERS: Mapping[Phase, Callable[[Conversation, bytes], Step]] = {
    Phase.METHOD_START: Conversation._first_tls_message,
    Phase.TLS_HANDSHAKE: Conversation._handshake,
    Phase.COMMITMENT: Conversation._commitment,
    Phase.TUNNEL_OPENING: Conversation._tunnel_opening,
    Phase.INNER: Conversation._tunnel_data,
}
