"""The eap-config file, parsed with ElementTree and checked against the facts of CAT's
``eap-metadata.xsd`` (elements, their order, attributes); the CA read by ``openssl x509``, the
client PKCS#12 opened by ``openssl pkcs12`` with the file's own passphrase."""

from __future__ import annotations

import base64
import hashlib
import subprocess
import xml.etree.ElementTree as ET

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from portal.onboarding import eapconfig
from tests.portal.onboarding.android_eap_specs import (
    OIS,
    PASSWORD,
    REALM,
    SERVER,
    certificate_credential,
    passpoint,
    password_credential,
    pki,
    spec,
)

#: the schema's sequences, in order (eap-metadata.xsd): a consumer may rely on the order
PROVIDER = ["AuthenticationMethods", "CredentialApplicability", "ProviderInfo"]
METHOD = ["EAPMethod", "ServerSideCredential", "ClientSideCredential", "InnerAuthenticationMethod"]
CLIENT = [
    "OuterIdentity",
    "InnerIdentityPrefix",
    "InnerIdentitySuffix",
    "InnerIdentityHint",
    "InnerIdentityEnforce",
    "UserName",
    "Password",
    "ClientCertificate",
    "Passphrase",
]


def in_schema_order(element: ET.Element, order: list[str]) -> list[str]:
    tags = [child.tag for child in element]
    assert set(tags) <= set(order), f"{element.tag}: {set(tags) - set(order)} not in the schema"
    assert tags == sorted(tags, key=order.index), f"{element.tag}: {tags} out of the schema's order"
    return tags


def parse(data: bytes) -> ET.Element:
    """The one EAPIdentityProvider, its structure checked."""
    root = ET.fromstring(data)
    assert root.tag == "EAPIdentityProviderList"  # no namespace: the schema has no target one
    (provider,) = root
    assert provider.tag == "EAPIdentityProvider"
    assert provider.attrib == {"ID": REALM, "namespace": "urn:RFC4282:realm", "version": "1", "lang": "fr"}
    assert in_schema_order(provider, PROVIDER) == PROVIDER
    methods = provider.find("AuthenticationMethods")
    assert methods is not None
    (method,) = methods
    assert method.tag == "AuthenticationMethod"
    in_schema_order(method, METHOD)
    client = method.find("ClientSideCredential")
    assert client is not None
    in_schema_order(client, CLIENT)
    return provider


def value(element: ET.Element, path: str) -> str:
    found = element.find(path)
    assert found is not None, path
    return found.text or ""


def openssl(*args: str, data: bytes) -> str:
    done = subprocess.run(["openssl", *args], input=data, capture_output=True, check=True, timeout=30)
    return done.stdout.decode()


def test_ttls_profile_pins_ca_and_server_names() -> None:
    provider = parse(eapconfig.eap_config(spec(server_names=(SERVER, f"radius2.{REALM}"))))
    method = provider.find("AuthenticationMethods/AuthenticationMethod")
    assert method is not None

    assert value(method, "EAPMethod/Type") == "21"
    (ca,) = method.findall("ServerSideCredential/CA")
    assert ca.attrib == {"format": "X.509", "encoding": "base64"}
    der = base64.b64decode(ca.text or "", validate=True)
    assert der == pki().ca_der
    read_back = openssl("x509", "-inform", "DER", "-noout", "-fingerprint", "-sha256", data=der)
    assert hashlib.sha256(der).hexdigest().upper() in read_back.replace(":", "")
    server_ids = [element.text for element in method.findall("ServerSideCredential/ServerID")]
    assert server_ids == [SERVER, f"radius2.{REALM}"]


def test_ttls_password_credential() -> None:
    method = parse(eapconfig.eap_config(spec())).find("AuthenticationMethods/AuthenticationMethod")
    assert method is not None

    assert value(method, "ClientSideCredential/OuterIdentity") == f"anonymous@{REALM}"
    assert value(method, "ClientSideCredential/InnerIdentitySuffix") == REALM
    assert value(method, "ClientSideCredential/UserName") == f"marie@{REALM}"
    assert value(method, "ClientSideCredential/Password") == PASSWORD
    assert value(method, "InnerAuthenticationMethod/NonEAPAuthMethod/Type") == "3"
    assert method.find("ClientSideCredential/ClientCertificate") is None


@pytest.mark.parametrize(
    ("method", "inner", "outer_type", "inner_path", "inner_type"),
    [
        ("ttls", "pap", "21", "NonEAPAuthMethod/Type", "1"),
        ("ttls", "mschapv2", "21", "NonEAPAuthMethod/Type", "3"),
        ("ttls", "eap-mschapv2", "21", "EAPMethod/Type", "26"),
        ("peap", "eap-mschapv2", "25", "EAPMethod/Type", "26"),
    ],
)
def test_eap_types(method: str, inner: str, outer_type: str, inner_path: str, inner_type: str) -> None:
    credential = password_credential(method, inner)  # type: ignore[arg-type]
    element = parse(eapconfig.eap_config(spec(credential))).find("AuthenticationMethods/AuthenticationMethod")
    assert element is not None
    assert value(element, "EAPMethod/Type") == outer_type
    (inner_method,) = element.findall("InnerAuthenticationMethod")
    assert [child.tag for child in inner_method] == [inner_path.split("/")[0]]
    assert value(inner_method, inner_path) == inner_type


def test_tls_carries_the_pkcs12_and_its_passphrase() -> None:
    method = parse(eapconfig.eap_config(spec(certificate_credential()))).find(
        "AuthenticationMethods/AuthenticationMethod"
    )
    assert method is not None

    assert value(method, "EAPMethod/Type") == "13"
    assert method.find("InnerAuthenticationMethod") is None
    assert value(method, "ClientSideCredential/OuterIdentity") == f"marie@{REALM}"
    certificate = method.find("ClientSideCredential/ClientCertificate")
    assert certificate is not None
    assert certificate.attrib == {"format": "PKCS12", "encoding": "base64"}
    bundle = base64.b64decode(certificate.text or "", validate=True)
    passphrase = value(method, "ClientSideCredential/Passphrase")

    listed = openssl("pkcs12", "-passin", f"pass:{passphrase}", "-nokeys", data=bundle)
    device = x509.load_pem_x509_certificate(listed.encode())
    assert device.public_bytes(serialization.Encoding.DER) == pki().device_der
    with pytest.raises(subprocess.CalledProcessError):
        openssl("pkcs12", "-passin", "pass:wrong", "-nokeys", data=bundle)


def test_networks_ssids_and_roaming_consortia() -> None:
    provider = parse(eapconfig.eap_config(spec()))
    networks = provider.findall("CredentialApplicability/IEEE80211")

    ssids = [(value(n, "SSID"), value(n, "MinRSNProto")) for n in networks if n.find("SSID") is not None]
    assert ssids == [("Sesame-Secure", "CCMP"), ("Sésame Mairie", "CCMP")]
    consortia = [value(n, "ConsortiumOID") for n in networks if n.find("ConsortiumOID") is not None]
    assert [int(oi, 16) for oi in consortia] == [int(oi, 16) for oi in OIS]
    # the conditions inside one IEEE80211 are ANDed: never an SSID and an OI together
    assert all(len(list(network)) <= 2 for network in networks)
    assert all(not (n.find("SSID") is not None and n.find("ConsortiumOID") is not None) for n in networks)


def test_passpoint_only_spec_names_networks_by_consortium() -> None:
    provider = parse(eapconfig.eap_config(spec(ssids=())))
    assert [child[0].tag for child in provider.findall("CredentialApplicability/IEEE80211")] == [
        "ConsortiumOID",
        "ConsortiumOID",
    ]
    with pytest.raises(ValueError, match="SSID or Roaming Consortium"):
        eapconfig.eap_config(spec(ssids=(), passpoint=passpoint(roaming_consortium_ois=())))


def test_provider_info() -> None:
    provider = parse(eapconfig.eap_config(spec(display_name="Wi-Fi Région Sud — Pixel de Marie")))
    assert value(provider, "ProviderInfo/DisplayName") == "Wi-Fi Région Sud — Pixel de Marie"
    assert value(provider, "ProviderInfo/Helpdesk/EmailAddress") == "aide@region-sud.example"
    assert value(provider, "ProviderInfo/Helpdesk/WebAddress") == "https://wifi.region-sud.example/aide"
    bare = parse(eapconfig.eap_config(spec(support_url="", support_email="")))
    assert bare.find("ProviderInfo/Helpdesk") is None


def test_markup_stays_text() -> None:
    name = '</DisplayName><Password>x</Password> & "q"'
    password = "<p>&amp;</p>"
    provider = parse(eapconfig.eap_config(spec(password_credential(password=password), display_name=name)))
    assert value(provider, "ProviderInfo/DisplayName") == name
    assert (
        value(provider, "AuthenticationMethods/AuthenticationMethod/ClientSideCredential/Password")
        == password
    )


@pytest.mark.parametrize(
    "changes",
    [
        {"ssids": ("Sesame\x00",)},
        {"ssids": ("x" * 33,)},
        {"display_name": "Région\x07"},
        {"display_name": "Région\u202e"},
        {"support_email": "aide@example\r\nBcc: x@example"},
        {"support_url": "javascript:alert(1)"},
        {"server_names": ("radius.example\n",)},
        {"realm": "realm example"},
        {"anonymous_identity": "anonymous\x00@example"},
    ],
)
def test_hostile_text_is_refused(changes: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        eapconfig.eap_config(spec(None, **changes))


def test_a_hostile_password_is_refused_without_being_echoed() -> None:
    hostile = "secret\ufffe"
    with pytest.raises(ValueError, match="password") as refused:
        eapconfig.eap_config(spec(password_credential(password=hostile)))
    assert hostile not in str(refused.value)


def test_a_ca_that_is_not_a_certificate_is_refused() -> None:
    with pytest.raises(ValueError, match="CA"):
        eapconfig.eap_config(spec(ca_der=b"not a certificate"))
