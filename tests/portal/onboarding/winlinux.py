"""Profile specs for the Windows and Linux format tests: a CA for the RADIUS server, a device CA
and device certificates from radius/eap/trialpki.py, credentials of every kind."""

from __future__ import annotations

import functools
from typing import Any

from cryptography.hazmat.primitives.serialization import BestAvailableEncryption, Encoding, pkcs12

from portal.onboarding.spec import CertificateCredential, Passpoint, PasswordCredential, ProfileSpec
from radius.eap.trialpki import Issued, make_ca, make_device

REALM = "wifi.region-sud.example"
SERVER = f"radius.{REALM}"


@functools.cache
def server_ca() -> Issued:
    return make_ca(f"{REALM} RADIUS CA (test)", organisation=REALM)


@functools.cache
def device_ca() -> Issued:
    return make_ca(f"{REALM} device CA (test)", organisation=REALM)


def certificate_credential(
    identity: str = f"marie@{REALM}", password: str = "p12-secret"
) -> CertificateCredential:
    device = make_device(device_ca(), identity)
    bundle = pkcs12.serialize_key_and_certificates(
        b"device", device.key, device.certificate, None, BestAvailableEncryption(password.encode())
    )
    return CertificateCredential(
        certificate_der=device.certificate.public_bytes(Encoding.DER),
        pkcs12=bundle,
        pkcs12_password=password,
        private_key_pem=device.key_pem(),
        identity=identity,
    )


def password_credential(
    method: str = "ttls", inner: str = "eap-mschapv2", password: str = "s3cret"
) -> PasswordCredential:
    return PasswordCredential(username=f"marie@{REALM}", password=password, method=method, inner=inner)  # type: ignore[arg-type]


PASSPOINT = Passpoint(
    home_fqdn=REALM,
    friendly_name="Wi-Fi Région Sud",
    nai_realm=REALM,
    roaming_consortium_ois=("5A03BA0000", "001BC50460"),
)


def make_spec(**overrides: Any) -> ProfileSpec:
    fields: dict[str, Any] = {
        "organisation": "Région Sud",
        "realm": REALM,
        "ssids": ("Région-Sud-Sécurisé", "RS-secure"),
        "ca_der": server_ca().certificate.public_bytes(Encoding.DER),
        "server_names": (SERVER,),
        "credential": password_credential(),
        "profile_id": "5b8f1c2e-5a7d-4f0e-9a55-1c1f3f0f7e11",
    } | overrides
    return ProfileSpec(**fields)
