"""The seam between the TLS side of PEAP/TTLS and the methods run inside the tunnel (placeholder:
the inner-methods side owns this module; its version replaces this one at merge).

The TLS side decrypts what the peer sends and hands it to an :class:`InnerPhase`; what the inner
phase wants sent goes back encrypted in the next EAP-Request. Inner methods never see TLS; the TLS
code never parses inner data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from radius.eap.needs import Need


@dataclass(frozen=True, slots=True, kw_only=True)
class InnerSuccess:
    identity: str  # inner "user@realm" (realm filled in with ours when absent)
    method: str  # decision-record name, e.g. "peap/mschapv2", "eap-ttls/pap"


@dataclass(frozen=True, slots=True, kw_only=True)
class InnerFailure:
    reason: str  # "bad_password", "unknown_user", "realm_mismatch", "inner_malformed", …
    identity: str | None


@dataclass(frozen=True, slots=True, kw_only=True)
class InnerOutput:
    send: bytes = b""  # application data to encrypt and send in the next EAP-Request (b"": an ack / nothing)
    result: InnerSuccess | InnerFailure | None = None  # None: the conversation goes on
    #   PEAP sends its Result TLV and waits for the client's before result is set;
    #   TTLS/PAP sets result at once.


class InnerPhase(Protocol):
    def start(self) -> InnerOutput: ...  # right after the handshake
    def receive(self, data: bytes) -> InnerOutput | Need: ...  # decrypted application data from the peer
    def supply(self, need: Need, answer: object) -> InnerOutput: ...  # the answer to a Need it returned
