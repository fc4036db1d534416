"""Windows WLAN profiles, read back with ElementTree by namespace: the schema's element order,
the method and its inner method, the CA's SHA-1 and the server names pinned with the prompt off,
the anonymous outer identity, Hotspot 2.0, and what hostile text cannot do."""

from __future__ import annotations

import io
import zipfile
from xml.etree import ElementTree as ET

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import pkcs12

from portal.onboarding import windows
from portal.onboarding.windows import NS
from tests.portal.onboarding.winlinux import (
    PASSPOINT,
    REALM,
    SERVER,
    certificate_credential,
    make_spec,
    password_credential,
    server_ca,
)


def parse(data: bytes) -> ET.Element:
    assert data.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    root = ET.fromstring(data)
    assert root.tag == f"{{{NS['wlan']}}}WLANProfile"
    return root


def one(root: ET.Element, path: str) -> ET.Element:
    found = root.findall(path, NS)
    assert len(found) == 1, (path, found)
    return found[0]


def value(root: ET.Element, path: str) -> str:
    return one(root, path).text or ""


def ca_thumbprint() -> str:
    return server_ca().certificate.fingerprint(hashes.SHA1()).hex()  # what Windows pins


def local(element: ET.Element) -> str:
    return element.tag.rpartition("}")[2]


EAP = "wlan:MSM/wlan:security/onex:OneX/onex:EAPConfig/host:EapHostConfig"


def test_one_profile_per_ssid_named_after_it_in_the_schema_order() -> None:
    spec = make_spec()
    files = windows.profiles(spec)
    assert sorted(files) == ["wlan-1.xml", "wlan-2.xml"]
    for name, ssid in zip(("wlan-1.xml", "wlan-2.xml"), spec.ssids, strict=True):
        root = parse(files[name])
        assert [local(child) for child in root] == [
            "name",
            "SSIDConfig",
            "connectionType",
            "connectionMode",
            "autoSwitch",
            "MSM",
        ]
        assert value(root, "wlan:name") == ssid
        assert value(root, "wlan:SSIDConfig/wlan:SSID/wlan:name") == ssid
        assert bytes.fromhex(value(root, "wlan:SSIDConfig/wlan:SSID/wlan:hex")) == ssid.encode()
        assert value(root, "wlan:connectionType") == "ESS"
        auth = one(root, "wlan:MSM/wlan:security/wlan:authEncryption")
        assert [(local(c), c.text) for c in auth] == [
            ("authentication", "WPA2"),
            ("encryption", "AES"),
            ("useOneX", "true"),
        ]


def test_peap_pins_the_ca_and_the_server_name_with_eap_mschapv2_inside() -> None:
    spec = make_spec(credential=password_credential("peap", "eap-mschapv2"))
    root = parse(windows.wlan_profile(spec, spec.ssids[0]))
    assert value(root, f"{EAP}/host:EapMethod/common:Type") == "25"
    assert value(root, f"{EAP}/host:EapMethod/common:AuthorId") == "0"
    eap = one(root, f"{EAP}/host:Config/base:Eap")
    assert value(eap, "base:Type") == "25"
    validation = one(eap, "peap:EapType/peap:ServerValidation")
    assert value(validation, "peap:DisableUserPromptForServerValidation") == "true"
    assert value(validation, "peap:ServerNames") == SERVER
    assert value(validation, "peap:TrustedRootCA").replace(" ", "") == ca_thumbprint()
    assert value(eap, "peap:EapType/base:Eap/base:Type") == "26"
    assert value(eap, "peap:EapType/base:Eap/mschapv2:EapType/mschapv2:UseWinLogonCredentials") == "false"
    extensions = one(eap, "peap:EapType/peap:PeapExtensions")
    assert value(extensions, "peap2:PerformServerValidation") == "true"
    assert value(extensions, "peap2:AcceptServerName") == "true"
    assert value(extensions, "peap2:IdentityPrivacy/peap2:EnableIdentityPrivacy") == "true"
    # Windows appends the realm of the identity typed: the user part only
    assert value(extensions, "peap2:IdentityPrivacy/peap2:AnonymousUserName") == "anonymous"


@pytest.mark.parametrize(
    ("inner", "phase2"),
    [
        ("pap", "ttls:PAPAuthentication"),
        ("mschapv2", "ttls:MSCHAPv2Authentication"),
        ("eap-mschapv2", "base:Eap"),
    ],
)
def test_ttls_pins_the_ca_hash_and_carries_the_inner_method(inner: str, phase2: str) -> None:
    spec = make_spec(credential=password_credential("ttls", inner))
    root = parse(windows.wlan_profile(spec, spec.ssids[0]))
    assert value(root, f"{EAP}/host:EapMethod/common:Type") == "21"
    assert value(root, f"{EAP}/host:EapMethod/common:AuthorId") == "311"
    ttls = one(root, f"{EAP}/host:Config/ttls:EapTtls")
    assert value(ttls, "ttls:ServerValidation/ttls:ServerNames") == SERVER
    assert value(ttls, "ttls:ServerValidation/ttls:TrustedRootCAHash").replace(" ", "") == ca_thumbprint()
    assert value(ttls, "ttls:ServerValidation/ttls:DisablePrompt") == "true"
    methods = list(one(ttls, "ttls:Phase2Authentication"))
    assert len(methods) == 1
    assert methods[0].tag == "{{{}}}{}".format(NS[phase2.split(":")[0]], phase2.split(":")[1])
    if inner == "eap-mschapv2":
        assert value(methods[0], "base:Type") == "26"
    assert value(ttls, "ttls:Phase1Identity/ttls:IdentityPrivacy") == "true"
    assert value(ttls, "ttls:Phase1Identity/ttls:AnonymousIdentity") == f"anonymous@{REALM}"


def test_eap_tls_takes_the_certificate_from_the_store_and_pins_the_server() -> None:
    spec = make_spec(credential=certificate_credential())
    root = parse(windows.wlan_profile(spec, spec.ssids[0]))
    assert value(root, f"{EAP}/host:EapMethod/common:Type") == "13"
    kind = one(root, f"{EAP}/host:Config/base:Eap/tls:EapType")
    assert value(kind, "tls:CredentialsSource/tls:CertificateStore/tls:SimpleCertSelection") == "true"
    assert value(kind, "tls:ServerValidation/tls:DisableUserPromptForServerValidation") == "true"
    assert value(kind, "tls:ServerValidation/tls:ServerNames") == SERVER
    assert value(kind, "tls:ServerValidation/tls:TrustedRootCA").replace(" ", "") == ca_thumbprint()


def test_several_server_names_are_one_list() -> None:
    spec = make_spec(server_names=(SERVER, f"radius2.{REALM}"))
    root = parse(windows.wlan_profile(spec, spec.ssids[0]))
    assert value(root, f"{EAP}/host:Config/ttls:EapTtls/ttls:ServerValidation/ttls:ServerNames").split(
        ";"
    ) == [
        SERVER,
        f"radius2.{REALM}",
    ]


def test_no_password_is_ever_written_in_a_profile() -> None:
    spec = make_spec(credential=password_credential("peap", password="unique-password-4711"))
    for data in windows.profiles(spec).values():
        assert b"unique-password-4711" not in data


def test_passpoint_gets_a_profile_of_its_own_with_hotspot2() -> None:
    spec = make_spec(passpoint=PASSPOINT)
    files = windows.profiles(spec)
    assert sorted(files) == ["passpoint.xml", "wlan-1.xml", "wlan-2.xml"]
    assert all(parse(files[n]).find("wlan:Hotspot2", NS) is None for n in ("wlan-1.xml", "wlan-2.xml"))
    root = parse(files["passpoint.xml"])
    assert [local(child) for child in root][:4] == ["name", "SSIDConfig", "Hotspot2", "connectionType"]
    assert value(root, "wlan:name") == "Wi-Fi Région Sud (Passpoint)"
    assert value(root, "wlan:Hotspot2/wlan:DomainName") == REALM
    assert [e.text for e in root.findall("wlan:Hotspot2/wlan:NAIRealm/wlan:name", NS)] == [REALM]
    ois = [e.text for e in root.findall("wlan:Hotspot2/wlan:RoamingConsortium/wlan:OUI", NS)]
    assert ois == ["5A03BA0000", "001BC50460"]
    # the same pinned EAP configuration as the SSID profiles
    assert value(root, f"{EAP}/host:Config/ttls:EapTtls/ttls:ServerValidation/ttls:ServerNames") == SERVER


def test_passpoint_only() -> None:
    spec = make_spec(ssids=(), passpoint=PASSPOINT)
    assert sorted(windows.profiles(spec)) == ["passpoint.xml"]
    with pytest.raises(ValueError, match="Passpoint"):
        windows.passpoint_profile(make_spec())


def test_wpa3_enterprise_on_request() -> None:
    spec = make_spec()
    root = parse(windows.wlan_profile(spec, spec.ssids[0], authentication="WPA3ENT"))
    assert value(root, "wlan:MSM/wlan:security/wlan:authEncryption/wlan:authentication") == "WPA3ENT"
    assert root.find("wlan:MSM/wlan:security/wlan:PMKCacheMode", NS) is None


def test_the_bundle_holds_the_profiles_the_ca_and_the_device_certificate() -> None:
    credential = certificate_credential(password="zip-p12-pass")
    spec = make_spec(credential=credential, passpoint=PASSPOINT)
    with zipfile.ZipFile(io.BytesIO(windows.bundle(spec))) as archive:
        assert archive.testzip() is None
        assert sorted(archive.namelist()) == [
            "ca.cer",
            "device.p12",
            "passpoint.xml",
            "wlan-1.xml",
            "wlan-2.xml",
        ]
        assert x509.load_der_x509_certificate(archive.read("ca.cer")) == server_ca().certificate
        key, certificate, _ = pkcs12.load_key_and_certificates(archive.read("device.p12"), b"zip-p12-pass")
        assert key is not None and certificate is not None
        assert certificate.subject.rfc4514_string() == f"CN=marie@{REALM}"
        for name in ("passpoint.xml", "wlan-1.xml", "wlan-2.xml"):
            parse(archive.read(name))
    with zipfile.ZipFile(io.BytesIO(windows.bundle(make_spec()))) as archive:
        assert "device.p12" not in archive.namelist()


def test_markup_in_an_ssid_is_text_not_xml() -> None:
    ssid = "a<b>&\"c'</name>"
    spec = make_spec(ssids=(ssid,))
    root = parse(windows.wlan_profile(spec, ssid))
    assert value(root, "wlan:name") == ssid
    assert value(root, "wlan:SSIDConfig/wlan:SSID/wlan:name") == ssid


@pytest.mark.parametrize("ssid", ["evil\n<x/>", "nul\x00", "bell\x07", "del\x7f", "x" * 33, "é" * 17, ""])
def test_an_ssid_windows_cannot_take_is_refused(ssid: str) -> None:
    spec = make_spec(ssids=(ssid,) if ssid else ("ok",))
    with pytest.raises(ValueError):
        windows.wlan_profile(spec, ssid)


@pytest.mark.parametrize("name", [f"{SERVER};evil.example", f"{SERVER}\n", "evil example", "-bad.example"])
def test_a_server_name_that_is_not_a_dns_name_is_refused(name: str) -> None:
    spec = make_spec(server_names=(name,))
    with pytest.raises(ValueError, match="DNS name"):
        windows.profiles(spec)


def test_control_characters_in_the_anonymous_identity_are_refused() -> None:
    spec = make_spec(anonymous_identity=f"anonymous\r\n@{REALM}")
    with pytest.raises(ValueError, match="control character"):
        windows.profiles(spec)


def test_peap_with_an_outer_identity_of_the_realm_alone() -> None:
    spec = make_spec(credential=password_credential("peap"), anonymous_identity=f"@{REALM}")
    root = parse(windows.wlan_profile(spec, spec.ssids[0]))
    path = f"{EAP}/host:Config/base:Eap/peap:EapType/peap:PeapExtensions/peap2:IdentityPrivacy"
    assert value(root, f"{path}/peap2:AnonymousUserName") == "@"
