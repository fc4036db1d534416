"""The inner phase of each tunnel, as the EAP server asks for it once a tunnel is up
(:class:`radius.eap.conversation.InnerFactory`): PEAPv0 carries EAP-MSCHAPv2; EAP-TTLS carries
the inner methods the operator enabled (PAP, MS-CHAPv2, EAP-MSCHAPv2)."""

from __future__ import annotations

from dataclasses import dataclass

from radius.eap.inner import PEAP_MSCHAPV2, InnerPhase
from radius.eap.packet import EapType
from radius.eap.peap import PeapInner
from radius.eap.ttls import TtlsInner


@dataclass(frozen=True, slots=True, kw_only=True)
class Tunnels:
    ttls: frozenset[str]  # of radius.eap.inner's TTLS_* names

    def __call__(self, *, method: EapType, outer_identity: str, realm: str, challenge: bytes) -> InnerPhase:
        if method is EapType.TTLS:
            return TtlsInner(
                outer_identity=outer_identity, realm=realm, allowed=self.ttls, challenge=challenge
            )
        return PeapInner(outer_identity=outer_identity, realm=realm, allowed=frozenset({PEAP_MSCHAPV2}))
