"""The EAP server of one process: its TLS contexts and its table of conversations, keyed by State.

Theory of operation. Every Access-Request with an EAP-Message comes to :meth:`EapServer.receive`
with its State (None on the first one), the client it came from, Framed-MTU and ``now``:

* an empty EAP-Message (EAP-Start, RFC 3579 §2.1) or an EAP-Response/Identity opens a conversation
  (one that the same State named before is dropped: the peer started over);
* any other Response goes to the conversation its State names — only for the client that got that
  State; an unknown, expired or foreign State, a full table, a packet that is no Response get
  :class:`~radius.eap.steps.Discarded` (no answer; the NAS may retry);
* a conversation past its deadline is refused ("eap_timeout"); every step it returns goes back to
  the caller, and one that ends (Accepted, Refused) leaves the table with its TLS state freed.

A State is ``b"S"`` + version (1) + the worker's index + 16 random octets
(:func:`radius.workerroute.make_state`), so a process that gets a packet of a conversation another
worker holds can tell which one and hand it over (:mod:`radius.workerroute`). The table is
bounded (``max_conversations``, and ``max_per_client`` for each client) and ordered by creation,
which is deadline order: :meth:`EapServer.expire` drops the expired ones from the front, and a
full table is first relieved of those.

A full table still lets a newcomer in at the expense of the client holding the most: its oldest
conversation is dropped (evicted: its next round finds nothing) when that client holds at least
two more than the newcomer's. Without this, a few access points (or one partner's proxy and
three access points) opening handshakes and abandoning them fill the table at their per-client
bound, and every other client is refused until their deadlines pass, then again as soon as they
reopen — measured against ``sesame serve`` (tests/interop/test_eap_flood.py). With it, a client
holding its fair share or less always gets a conversation, and the flooders only take each
other's places. Every eviction is counted (:attr:`EapServer.evicted`).

The TLS contexts are built from files at construction. When the certificate, key or device CA
is renewed, the caller (which watches the files: :mod:`radius.eapcerts`) hands the new settings
to :meth:`EapServer.replace_tls`: conversations opened from then on use the new contexts, those
under way finish on theirs; a file that cannot be used leaves everything as it was.

Nothing raised by the peer's input escapes: malformed EAP, framing and TLS become Refused or
Discarded with a reason. An exception of ours (or of an inner method) is caught too, ends its
conversation and comes back as Refused("eap_internal_error") carrying the exception for the log.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable

from OpenSSL import SSL

from radius.eap import packet
from radius.eap.conversation import TLS_METHODS, Conversation, InnerFactory, Phase, Policy
from radius.eap.packet import EapCode, EapMalformed, EapType
from radius.eap.steps import AnswerNeeded, Discarded, Refused, Step
from radius.eap.tlsengine import TlsConfigError, TlsSettings, make_context
from radius.workerroute import STATE_RANDOM, make_state

__all__ = [
    "DEFAULT_FRAGMENT_SIZE",
    "EapServer",
    "fragment_size_for",
]

DEFAULT_FRAGMENT_SIZE = 1024  # octets of TLS data per EAP packet, FreeRADIUS's fragment_size
# What an EAP packet adds to a fragment's TLS data: EAP header 4, Type 1, Flags 1, TLS Message Length
# 4 — the "EAP header (4) and EAP-TLS header (6)" FreeRADIUS 2 subtracted from Framed-MTU.
EAP_TLS_OVERHEAD = 10


def _contexts(tls: TlsSettings, methods: Iterable[EapType]) -> dict[EapType, SSL.Context]:
    """One context per method: sessions resume only within their method (see tlsengine)."""
    contexts: dict[EapType, SSL.Context] = {}
    for method in methods:
        if method is EapType.PEAP:
            contexts[method] = make_context(tls, session_context=b"sesame-eap-peap")
        elif method is EapType.TTLS:
            contexts[method] = make_context(tls, session_context=b"sesame-eap-ttls", resumption=False)
        elif method is EapType.TLS:
            contexts[method] = make_context(tls, session_context=b"sesame-eap-tls", client_ca=tls.device_ca)
    return contexts


def fragment_size_for(framed_mtu: int | None, default: int) -> int:
    """TLS data per EAP packet: ``default``, or less when the NAS says the link's MTU is smaller
    (RFC 3580 §3.12: Framed-MTU is the supplicant's MTU; values of 100 or less are ignored, as
    FreeRADIUS ignores them)."""
    if framed_mtu is None or framed_mtu <= 100:
        return default
    return min(default, framed_mtu - EAP_TLS_OVERHEAD)


class EapServer:
    """EAP for one process. ``methods`` are the enabled outer methods (EAP-TLS needs
    ``tls.device_ca``); ``default_method`` is proposed first; ``inner`` builds the inner phase of a
    PEAP or TTLS tunnel; ``realm`` is ours, for the inner phase's realm check."""

    def __init__(
        self,
        *,
        tls: TlsSettings,
        inner: InnerFactory,
        realm: str,
        methods: Iterable[EapType] = (EapType.PEAP, EapType.TTLS),
        default_method: EapType = EapType.PEAP,
        worker: int = 0,
        fragment_size: int = DEFAULT_FRAGMENT_SIZE,
        max_conversations: int = 4096,
        max_per_client: int | None = None,
        deadline: float = 30.0,
        max_rounds: int = 50,
        random: Callable[[int], bytes] = os.urandom,
    ) -> None:
        enabled = tuple(dict.fromkeys(EapType(method) for method in methods))
        if not enabled or any(method not in TLS_METHODS for method in enabled):
            raise ValueError("eap: the methods are PEAP, TTLS and TLS")
        if default_method not in enabled:
            raise ValueError(f"eap: the default method {default_method.name} is not enabled")
        if EapType.TLS in enabled and tls.device_ca is None:
            raise ValueError("eap: EAP-TLS needs the device CA")
        if fragment_size < 64 or max_conversations < 1 or deadline <= 0 or max_rounds < 1:
            raise ValueError("eap: fragment size, table size, deadline and rounds must be positive")
        make_state(worker, random(STATE_RANDOM))  # checks the worker index
        self.policy = Policy(
            methods=enabled,
            default=default_method,
            contexts=_contexts(tls, enabled),
            inner=inner,
            realm=realm,
            max_rounds=max_rounds,
        )
        self.tls = tls
        self.worker = worker
        self.fragment_size = fragment_size
        self.max_conversations = max_conversations
        self.max_per_client = max_per_client or max(1, max_conversations // 4)
        self.deadline = deadline
        self._random = random
        self._table: dict[bytes, Conversation] = {}
        # each client's conversations, in creation order too (the first is the one to evict)
        self._by_client: dict[str, dict[bytes, Conversation]] = {}
        self.evicted = 0  # conversations dropped to make room for another client's (a counter)
        self._current: Conversation | None = None  # the one a step is running in, for _internal_error

    def replace_tls(self, tls: TlsSettings) -> None:
        """New TLS contexts from ``tls`` (a renewed certificate, key or device CA) for the
        conversations opened from now on; those under way finish on the contexts they began with
        (each holds the policy it was opened under, and OpenSSL keeps a context alive while a
        connection uses it). All or nothing: :class:`~radius.eap.tlsengine.TlsConfigError` leaves
        the current contexts in place. Sessions cached by the old contexts are not resumed by the
        new ones (their peers get a full handshake)."""
        if EapType.TLS in self.policy.methods and tls.device_ca is None:
            raise TlsConfigError("eap: EAP-TLS needs the device CA")
        self.policy = dataclasses.replace(self.policy, contexts=_contexts(tls, self.policy.methods))
        self.tls = tls

    @property
    def conversations(self) -> int:
        """Conversations held (each with its TLS state). Not ``__len__``: an idle server stays truthy."""
        return len(self._table)

    def receive(
        self,
        *,
        eap_message: bytes,
        state: bytes | None,
        client: str,
        outer_name: str | None = None,
        framed_mtu: int | None = None,
        now: float,
    ) -> Step:
        """One Access-Request's EAP-Message (its attributes joined) and State."""
        self._current = None
        try:
            return self._receive(eap_message, state, client, outer_name, framed_mtu, now)
        except Exception as exc:  # ours, not the peer's: end the conversation, hand the error over
            return self._internal_error(exc)
        finally:
            self._current = None

    def supply(self, step: AnswerNeeded, answer: object, *, now: float) -> Step:
        """The caller's answer to ``step.need``."""
        conversation = self._table.get(step.handle.state)
        if conversation is None:
            return Discarded(reason="eap_unknown_state")
        self._current = conversation
        try:
            if now >= conversation.deadline:
                return self._end(conversation, self._timeout(conversation))
            return self._after(conversation, conversation.supply(step.handle, answer))
        except Exception as exc:
            return self._internal_error(exc)
        finally:
            self._current = None

    def expire(self, now: float) -> int:
        """Forget the conversations past their deadline (nothing is sent: no Request is outstanding
        that the NAS still waits on); how many."""
        expired = []
        for conversation in self._table.values():
            if now < conversation.deadline:
                break  # creation order is deadline order
            expired.append(conversation)
        for conversation in expired:
            self._drop(conversation)
        return len(expired)

    # -- the table ----------------------------------------------------------------------------------

    def _receive(
        self,
        eap_message: bytes,
        state: bytes | None,
        client: str,
        outer_name: str | None,
        framed_mtu: int | None,
        now: float,
    ) -> Step:
        known = self._table.get(state) if state is not None else None
        if known is not None and known.client != client:
            return Discarded(reason="eap_foreign_state")  # a State answers only the NAS that got it
        if not eap_message:  # EAP-Start
            if known is not None:
                self._drop(known)
            opened = self._open(client, framed_mtu, now, identifier=self._random(1)[0])
            return opened.open() if isinstance(opened, Conversation) else opened
        try:
            eap = packet.parse(eap_message)
        except EapMalformed as exc:
            if known is None:
                return Discarded(reason="eap_malformed")
            return self._end(known, self._refusal(known, "eap_malformed", exc.reason))
        if eap.code is not EapCode.RESPONSE:
            return Discarded(reason="eap_not_response")
        if eap.type == EapType.IDENTITY and (known is None or known.phase is not Phase.IDENTITY):
            if known is not None:
                self._drop(known)  # the peer started over
            opened = self._open(client, framed_mtu, now, identifier=eap.identifier)
            if not isinstance(opened, Conversation):
                return opened
            known = opened
        if known is None:
            return Discarded(reason="eap_unknown_state")
        if now >= known.deadline:
            return self._end(known, self._timeout(known))
        self._current = known
        return self._after(known, known.receive(eap, outer_name=outer_name))

    def _open(
        self, client: str, framed_mtu: int | None, now: float, *, identifier: int
    ) -> Conversation | Discarded:
        held = len(self._by_client.get(client, ()))
        if len(self._table) >= self.max_conversations or held >= self.max_per_client:
            self.expire(now)
            held = len(self._by_client.get(client, ()))
        if held >= self.max_per_client:
            return Discarded(reason="eap_client_table_full")
        if len(self._table) >= self.max_conversations and not self._evict_for(held):
            return Discarded(reason="eap_table_full")
        state = make_state(self.worker, self._random(STATE_RANDOM))
        while state in self._table:  # pragma: no cover - 128 random bits
            state = make_state(self.worker, self._random(STATE_RANDOM))
        conversation = Conversation(
            policy=self.policy,
            state=state,
            client=client,
            identifier=identifier,
            fragment_size=fragment_size_for(framed_mtu, self.fragment_size),
            deadline=now + self.deadline,
        )
        self._table[state] = conversation
        self._by_client.setdefault(client, {})[state] = conversation
        self._current = conversation
        return conversation

    def _after(self, conversation: Conversation, step: Step) -> Step:
        if conversation.finished:
            self._drop(conversation)
        return step

    def _end(self, conversation: Conversation, step: Step) -> Step:
        self._drop(conversation)
        return step

    def _drop(self, conversation: Conversation) -> None:
        conversation.close()
        if self._table.pop(conversation.state, None) is not None:
            mine = self._by_client[conversation.client]
            del mine[conversation.state]
            if not mine:
                del self._by_client[conversation.client]

    def _evict_for(self, held: int) -> bool:
        """Drop the oldest conversation of the client holding the most, if it holds at least two
        more than ``held`` (the newcomer's client's): whether room was made."""
        heaviest = max(self._by_client.values(), key=len)
        if len(heaviest) < held + 2:
            return False  # every client holds about as many: the newcomer waits like the others
        self._drop(next(iter(heaviest.values())))
        self.evicted += 1
        return True

    @staticmethod
    def _refusal(conversation: Conversation, reason: str, detail: str = "") -> Refused:
        return Refused(
            eap_message=packet.failure(conversation.identifier),
            reason=reason,
            identity=conversation.identity,
            detail=detail,
            method=conversation.label,
        )

    def _timeout(self, conversation: Conversation) -> Refused:
        return self._refusal(conversation, "eap_timeout")

    def _internal_error(self, exc: Exception) -> Refused:
        conversation = self._current
        identifier = 0
        identity = None
        if conversation is not None:
            identifier, identity = conversation.identifier, conversation.identity
            self._drop(conversation)
        return Refused(
            eap_message=packet.failure(identifier),
            reason="eap_internal_error",
            identity=identity,
            detail=f"{type(exc).__name__}: {exc}",
            error=exc,
        )
