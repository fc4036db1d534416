"""Which exporter label, context and length each method and TLS version takes (RFC 5216 §2.3,
RFC 5281 §8 and §11.1, RFC 9190 §2.3, RFC 9427 §2.1 and §2.4)."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from radius.eap.keys import EMSK_LENGTH, MSK_LENGTH, derive, mppe_keys, ttls_challenge
from radius.eap.packet import EapType


@dataclass
class Recorder:
    version: str
    calls: list[tuple[str, int, bytes | None]] = field(default_factory=list)

    def export(self, label: str, length: int, context: bytes | None) -> bytes:
        self.calls.append((label, length, context))
        return bytes(range(length))


@pytest.mark.parametrize(
    ("method", "version", "call"),
    [
        (EapType.TLS, "TLSv1.2", ("client EAP encryption", 128, None)),
        (EapType.PEAP, "TLSv1.2", ("client EAP encryption", 128, None)),
        (EapType.TTLS, "TLSv1.2", ("ttls keying material", 128, None)),
        (EapType.TLS, "TLSv1.3", ("EXPORTER_EAP_TLS_Key_Material", 128, b"\x0d")),
        (EapType.TTLS, "TLSv1.3", ("EXPORTER_EAP_TLS_Key_Material", 128, b"\x15")),
        (EapType.PEAP, "TLSv1.3", ("EXPORTER_EAP_TLS_Key_Material", 128, b"\x19")),
    ],
)
def test_each_method_and_version_takes_its_label(
    method: EapType, version: str, call: tuple[str, int, bytes | None]
) -> None:
    exporter = Recorder(version)
    keys = derive(exporter, method)
    assert exporter.calls == [call]
    assert (keys.msk, keys.emsk) == (bytes(range(64)), bytes(range(64, 128)))
    assert len(keys.msk) == MSK_LENGTH and len(keys.emsk) == EMSK_LENGTH


def test_only_tls_based_methods_have_these_keys() -> None:
    with pytest.raises(ValueError):
        derive(Recorder("TLSv1.2"), EapType.MD5)


@pytest.mark.parametrize("version", ["TLSv1.2", "TLSv1.3"])
def test_the_ttls_implicit_challenge_keeps_its_label_without_context(version: str) -> None:
    exporter = Recorder(version)
    assert ttls_challenge(exporter) == bytes(range(17))
    assert exporter.calls == [("ttls challenge", 17, None)]


def test_mppe_keys_are_the_msk_halves_receive_first() -> None:
    msk = bytes(range(64))
    assert mppe_keys(msk) == (bytes(range(32)), bytes(range(32, 64)))
    with pytest.raises(ValueError):
        mppe_keys(b"short")
