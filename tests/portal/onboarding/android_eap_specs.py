"""Profile specs for the Android and eap-config tests, with real certificates from the trial PKI:
a RADIUS CA and its server certificate, a device CA and one device's EAP-TLS certificate."""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass
from typing import Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from portal.onboarding.spec import CertificateCredential, Passpoint, PasswordCredential, ProfileSpec
from radius.eap.trialpki import Issued, make_ca, make_device, make_server

REALM = "wifi.region-sud.example"
SERVER = f"radius.{REALM}"
PASSWORD = "Vr4i-m0t de passe/éà"  # non-ASCII on purpose: Android decodes base64 as UTF-8
PKCS12_PASSWORD = "p12-secret"
OIS = ("5A03BA0000", "001BC50460")


@dataclass(frozen=True)
class Pki:
    ca: Issued
    server: Issued
    device_ca: Issued
    device: Issued

    @property
    def ca_der(self) -> bytes:
        return self.ca.certificate.public_bytes(serialization.Encoding.DER)

    @property
    def device_der(self) -> bytes:
        return self.device.certificate.public_bytes(serialization.Encoding.DER)


@functools.cache
def pki() -> Pki:
    ca = make_ca("Région Sud RADIUS CA (test)", organisation="Région Sud")
    device_ca = make_ca("Région Sud device CA (test)")
    return Pki(
        ca=ca,
        server=make_server(ca, SERVER),
        device_ca=device_ca,
        device=make_device(device_ca, f"marie@{REALM}"),
    )


def password_credential(
    method: Literal["peap", "ttls"] = "ttls",
    inner: Literal["mschapv2", "eap-mschapv2", "pap"] = "mschapv2",
    *,
    username: str = f"marie@{REALM}",
    password: str = PASSWORD,
) -> PasswordCredential:
    return PasswordCredential(username=username, password=password, method=method, inner=inner)


def certificate_credential() -> CertificateCredential:
    p = pki()
    protected = pkcs12.serialize_key_and_certificates(
        b"marie",
        p.device.key,
        p.device.certificate,
        None,
        serialization.BestAvailableEncryption(PKCS12_PASSWORD.encode()),
    )
    return CertificateCredential(
        certificate_der=p.device_der,
        pkcs12=protected,
        pkcs12_password=PKCS12_PASSWORD,
        private_key_pem=p.device.key_pem(),
        identity=f"marie@{REALM}",
    )


def passpoint(**changes: object) -> Passpoint:
    values: dict[str, object] = {
        "home_fqdn": REALM,
        "friendly_name": "Wi-Fi Région Sud",
        "nai_realm": REALM,
        "roaming_consortium_ois": OIS,
    }
    values.update(changes)
    return Passpoint(**values)  # type: ignore[arg-type]


def spec(
    credential: PasswordCredential | CertificateCredential | None = None,
    **changes: object,
) -> ProfileSpec:
    base = ProfileSpec(
        organisation="Région Sud",
        realm=REALM,
        ssids=("Sesame-Secure", "Sésame Mairie"),
        ca_der=pki().ca_der,
        server_names=(SERVER,),
        credential=credential or password_credential(),
        passpoint=passpoint(),
        support_url="https://wifi.region-sud.example/aide",
        support_email="aide@region-sud.example",
        profile_id="7f1c3c52-7d5e-4a4e-9a43-3f5e1f0b2a10",
    )
    return dataclasses.replace(base, **changes) if changes else base  # type: ignore[arg-type]
