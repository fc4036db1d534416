"""Fixtures of the EAP tests: one throwaway PKI per session, TLS settings over it, and a factory of
servers with a deterministic ``random``."""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from radius.eap.packet import EapType
from radius.eap.server import EapServer
from radius.eap.tlsengine import TlsSettings
from tests.radius.eap.peer import InnerFactoryRecorder
from tests.radius.eap.pki import Pki


@pytest.fixture(scope="session")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki.create(Path(tmp_path_factory.mktemp("eap-pki")))


@pytest.fixture(scope="session")
def tls_settings(pki: Pki) -> TlsSettings:
    return TlsSettings(
        certificate=pki.server.certificate_file, private_key=pki.server.key_file, device_ca=pki.device_ca.file
    )


def counting_random() -> Callable[[int], bytes]:
    """Distinct, reproducible "random" octets."""
    counter = itertools.count(1)
    return lambda n: next(counter).to_bytes(n, "big") if n > 1 else bytes([next(counter) % 256])


def new_server(**overrides: Any) -> EapServer:
    """A server of every method for realm example.org, with an :class:`InnerFactoryRecorder` and
    :func:`counting_random` unless ``overrides`` say otherwise; ``tls`` is the caller's to give."""
    options: dict[str, Any] = {
        "inner": InnerFactoryRecorder(),
        "realm": "example.org",
        "methods": (EapType.PEAP, EapType.TTLS, EapType.TLS),
        "random": counting_random(),
    }
    options.update(overrides)
    return EapServer(**options)


MakeServer = Callable[..., EapServer]


@pytest.fixture
def make_server(tls_settings: TlsSettings) -> MakeServer:
    return lambda **overrides: new_server(**{"tls": tls_settings, **overrides})
