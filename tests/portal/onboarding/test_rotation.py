"""A change of the server's CA: a profile made while two CAs are pinned (``ProfileSpec.ca_der``, the
CA of today's server certificate, and ``other_cas_der``, the next one) pins both wherever the
platform can — each file read back with the parser its platform's reader stands for (plistlib,
the AOSP installer's MIME rules, xml.etree, zipfile, libnm, json, openssl) — and Android's
Passpoint file, whose installer keeps one CA, and the NetworkManager keyfile, whose blob
wpa_supplicant reads one certificate of, pin today's (docs/onboarding.md, how to rotate)."""

from __future__ import annotations

import base64
import functools
import hashlib
import io
import json
import plistlib
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import Encoding

from portal.onboarding import android, apple, eapconfig, linux, windows
from portal.onboarding.builders import windows_readme
from portal.onboarding.spec import ProfileSpec
from portal.onboarding.windows import NS
from radius.eap.trialpki import Issued, make_ca
from tests.portal.onboarding.test_android import parts_as_android, parts_by_email
from tests.portal.onboarding.winlinux import (
    PASSPOINT,
    REALM,
    certificate_credential,
    make_spec,
    password_credential,
    server_ca,
)
from tests.support.nmkeyfile import libnm_available, libnm_read

SERVER = f"radius.{REALM}"


@pytest.fixture(scope="module")
def libnm() -> None:
    if not libnm_available():
        pytest.skip("libnm's GObject bindings (Debian python3-gi, gir1.2-nm-1.0) are needed")


@functools.cache
def next_ca() -> Issued:
    return make_ca(f"{REALM} RADIUS CA 2027 (test)", organisation=REALM)


def today_der() -> bytes:
    return server_ca().certificate.public_bytes(Encoding.DER)


def next_der() -> bytes:
    return next_ca().certificate.public_bytes(Encoding.DER)


def two(**overrides: Any) -> ProfileSpec:
    return make_spec(other_cas_der=(next_der(),), **overrides)


def test_the_spec_lists_today_s_ca_first_and_each_once() -> None:
    spec = make_spec(other_cas_der=(next_der(), today_der(), next_der()))
    assert spec.pinned_cas == (today_der(), next_der())
    assert make_spec().pinned_cas == (today_der(),)
    with pytest.raises(ValueError, match="empty CA"):
        make_spec(other_cas_der=(b"",))


@pytest.mark.parametrize("kind", ["ttls", "tls"])
def test_apple_installs_each_ca_and_anchors_every_network_to_all(kind: str) -> None:
    credential = certificate_credential() if kind == "tls" else password_credential()
    spec = two(credential=credential, passpoint=PASSPOINT)
    top: dict[str, Any] = plistlib.loads(apple.mobileconfig(spec))
    roots = [p for p in top["PayloadContent"] if p["PayloadType"] == "com.apple.security.root"]
    assert [p["PayloadContent"] for p in roots] == [today_der(), next_der()]
    uuids = [p["PayloadUUID"] for p in roots]
    assert len(set(uuids)) == 2 and len({p["PayloadIdentifier"] for p in roots}) == 2
    every_uuid = [p["PayloadUUID"] for p in top["PayloadContent"]]
    assert len(every_uuid) == len(set(every_uuid))
    wifi = [p for p in top["PayloadContent"] if p["PayloadType"] == "com.apple.wifi.managed"]
    assert len(wifi) == 3  # two SSIDs and Passpoint
    for payload in wifi:
        assert payload["EAPClientConfiguration"]["PayloadCertificateAnchorUUID"] == uuids
        assert payload["EAPClientConfiguration"]["TLSTrustedServerNames"] == [SERVER]
    # the first CA keeps the id it had before the rotation: installing replaces, not piles up
    before: dict[str, Any] = plistlib.loads(apple.mobileconfig(make_spec(credential=credential)))
    (alone,) = [p for p in before["PayloadContent"] if p["PayloadType"] == "com.apple.security.root"]
    assert alone["PayloadUUID"] == uuids[0]


def test_android_s_passpoint_file_carries_one_ca_part_today_s() -> None:
    spec = two(credential=password_credential("ttls", "mschapv2"), passpoint=PASSPOINT)
    data = android.passpoint_file(spec)
    parts = parts_as_android(data)  # AOSP's rules: parts in a map by type, one CA
    assert parts[android.CA_TYPE] == today_der()
    assert list(parts_by_email(data)).count(android.CA_TYPE) == 1
    shown = subprocess.run(
        ["openssl", "x509", "-inform", "DER", "-noout", "-subject"],
        input=parts[android.CA_TYPE],
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert "RADIUS CA (test)" in shown and "2027" not in shown


@pytest.mark.parametrize("kind", ["ttls", "peap", "tls"])
def test_eap_config_has_a_ca_element_for_each(kind: str) -> None:
    credential = certificate_credential() if kind == "tls" else password_credential(kind)
    root = ET.fromstring(eapconfig.eap_config(two(credential=credential)))
    cas = root.findall(
        "./EAPIdentityProvider/AuthenticationMethods/AuthenticationMethod/ServerSideCredential/CA"
    )
    assert [base64.b64decode(ca.text or "", validate=True) for ca in cas] == [today_der(), next_der()]
    assert all(ca.attrib == {"format": "X.509", "encoding": "base64"} for ca in cas)
    server = root.find(
        "./EAPIdentityProvider/AuthenticationMethods/AuthenticationMethod/ServerSideCredential"
    )
    assert server is not None and [e.tag for e in server] == ["CA", "CA", "ServerID"]


def _sha1(der: bytes) -> str:
    return hashlib.sha1(der, usedforsecurity=False).hexdigest()


@pytest.mark.parametrize(
    ("kind", "path"),
    [
        ("peap", "peap:EapType/peap:ServerValidation/peap:TrustedRootCA"),
        ("ttls", "ttls:EapTtls/ttls:ServerValidation/ttls:TrustedRootCAHash"),
        ("tls", "tls:EapType/tls:ServerValidation/tls:TrustedRootCA"),
    ],
)
def test_windows_pins_each_hash_and_the_zip_carries_each_ca(kind: str, path: str) -> None:
    credential = certificate_credential() if kind == "tls" else password_credential(kind, "eap-mschapv2")
    spec = two(credential=credential)
    config = "onex:OneX/onex:EAPConfig/host:EapHostConfig/host:Config"
    eap = "base:Eap/" if kind != "ttls" else ""
    for name, data in windows.profiles(spec).items():
        root = ET.fromstring(data)
        found = root.findall(f"wlan:MSM/wlan:security/{config}/{eap}{path}", NS)
        assert [e.text.replace(" ", "") for e in found if e.text] == [
            _sha1(today_der()),
            _sha1(next_der()),
        ], name
    readme = windows_readme(spec, lambda text: text)
    with zipfile.ZipFile(io.BytesIO(windows.bundle(spec, readme=readme))) as archive:
        assert archive.read("ca.cer") == today_der()
        assert archive.read("ca-2.cer") == next_der()
        text = archive.read(windows.README).decode("utf-8-sig")
    assert "certutil -user -addstore Root ca.cer" in text.splitlines()
    assert "certutil -user -addstore Root ca-2.cer" in text.splitlines()


def test_the_networkmanager_keyfile_pins_today_s_ca_alone(libnm: None) -> None:
    """wpa_supplicant reads one certificate from a blob (linux.ca_cert): the keyfile pins one."""
    spec = two(credential=password_credential())
    read = libnm_read(linux.keyfile(spec, spec.ssids[0]))  # nm_keyfile_read + nm_connection_verify
    assert bytes.fromhex(read["ca_cert"]) == today_der()


def test_onc_has_an_authority_for_each_and_refers_to_all() -> None:
    document = json.loads(linux.onc(two(credential=certificate_credential())))
    authorities = [c for c in document["Certificates"] if c["Type"] == "Authority"]
    assert [base64.b64decode(c["X509"]) for c in authorities] == [today_der(), next_der()]
    guids = [c["GUID"] for c in authorities]
    for network in document["NetworkConfigurations"]:
        assert network["WiFi"]["EAP"]["ServerCARefs"] == guids
        assert network["WiFi"]["EAP"]["UseSystemCAs"] is False
