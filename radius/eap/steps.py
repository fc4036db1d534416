"""What :class:`radius.eap.server.EapServer` hands back, one step at a time.

The caller loops until the step is not an :class:`AnswerNeeded`::

    step = eap.receive(eap_message=..., state=..., client=..., outer_name=..., framed_mtu=..., now=now)
    while isinstance(step, AnswerNeeded):
        step = eap.supply(step, answer_to(step.need), now=now)

then sends an Access-Challenge (:class:`Challenge`), an Access-Accept (:class:`Accepted`), an
Access-Reject (:class:`Refused`) or nothing (:class:`Discarded`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from radius.eap.needs import Need

__all__ = ["Accepted", "AnswerNeeded", "Challenge", "Discarded", "Handle", "Refused", "Step"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Challenge:
    """Fired when the peer must answer an EAP-Request: an Access-Challenge with this EAP-Message (split
    in 253-octet attributes) and State."""

    eap_message: bytes
    state: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Accepted:
    """Fired when the peer proved who it is: an Access-Accept with this EAP-Success and the MSK's
    MS-MPPE keys (:func:`radius.eap.keys.mppe_keys`), after the post-auth of ``identity``."""

    eap_message: bytes
    identity: str  # "user@realm": the inner identity, or the account a device certificate belongs to
    method: str  # for the decision record: "peap/mschapv2", "eap-ttls/pap", "eap-tls", …
    msk: bytes = field(repr=False)  # 64 octets; secret


@dataclass(frozen=True, slots=True, kw_only=True)
class Refused:
    """Fired when the conversation ends without proof: an Access-Reject with this EAP-Failure."""

    eap_message: bytes
    reason: str  # the decision reason: "tls_failed", "eap_rounds", "bad_password", …
    identity: str | None  # the inner identity when one was claimed, else None
    detail: str = ""  # for the log: what the peer got wrong (OpenSSL's words, the framing rule); no secret
    error: Exception | None = None  # with "eap_internal_error": our own bug, to log with its traceback
    method: str = ""  # the method as far as it got, for the decision record ("eap-ttls/pap", "peap", …)


@dataclass(frozen=True, slots=True, kw_only=True)
class Discarded:
    """Fired when an EAP-Message gets no answer at all: unknown or expired State, a Response that does
    not answer the outstanding Request (RFC 3748 §4.1), a full conversation table. The NAS may retry."""

    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Handle:
    """Which conversation, and which of its questions, an answer resumes."""

    state: bytes
    serial: int


@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerNeeded:
    """Fired when the conversation cannot go on without the caller: a password to check, NT hashes, the
    account of a device certificate. Answer with :meth:`radius.eap.server.EapServer.supply`."""

    need: Need
    handle: Handle


Step = Challenge | Accepted | Refused | Discarded | AnswerNeeded
