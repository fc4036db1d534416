"""NetworkManager keyfiles, read back with configparser (GKeyFile's escapes undone) and with
NetworkManager's own reader (libnm's ``nm_keyfile_read`` and ``nm_connection_verify``), and ONC
files read with json: the method, the credential, the CA and the server name pinned — and text
that would write keyfile lines of its own refused."""

from __future__ import annotations

import base64
import configparser
import json
import uuid
from collections.abc import Callable
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12

from portal.onboarding import linux
from portal.onboarding.spec import CertificateCredential, Credential
from tests.conftest import IN_CI
from tests.portal.onboarding.winlinux import (
    PASSPOINT,
    REALM,
    SERVER,
    certificate_credential,
    make_spec,
    password_credential,
    server_ca,
)
from tests.support.nmkeyfile import libnm_available, libnm_read, read_keyfile

PHASE2 = {
    ("peap", "eap-mschapv2"): ("phase2-auth", "mschapv2"),
    ("ttls", "pap"): ("phase2-auth", "pap"),
    ("ttls", "mschapv2"): ("phase2-auth", "mschapv2"),
    ("ttls", "eap-mschapv2"): ("phase2-autheap", "mschapv2"),
}


def blob(value: str) -> bytes:
    scheme, _, data = value.partition(",")
    assert scheme == "data:;base64"
    return base64.b64decode(data, validate=True)


@pytest.fixture(scope="module")
def libnm() -> None:
    if not libnm_available():
        message = "libnm's GObject bindings (Debian python3-gi, gir1.2-nm-1.0) are needed"
        if IN_CI:
            pytest.fail(message, pytrace=False)
        pytest.skip(message)


def test_one_keyfile_per_ssid_with_stable_distinct_ids() -> None:
    spec = make_spec()
    files = linux.keyfiles(spec)
    assert len(files) == 2
    assert all(name.endswith(".nmconnection") for name in files)
    read = [read_keyfile(data) for data in files.values()]
    assert [r["connection"]["id"] for r in read] == list(spec.ssids)
    assert [r["wifi"]["ssid"] for r in read] == list(spec.ssids)
    ids = {uuid.UUID(r["connection"]["uuid"]) for r in read}
    assert len(ids) == 2
    assert linux.keyfiles(spec) == files  # the same device's profile again replaces the old one
    for r in read:
        assert r["connection"]["type"] == "wifi"
        assert r["wifi"]["mode"] == "infrastructure"
        assert r["wifi-security"]["key-mgmt"] == "wpa-eap"
        assert r["ipv4"]["method"] == r["ipv6"]["method"] == "auto"


@pytest.mark.parametrize(("method", "inner"), sorted(PHASE2))
def test_a_password_credential_with_the_server_pinned(method: str, inner: str) -> None:
    spec = make_spec(credential=password_credential(method, inner, password="dev1ce-pass"))
    x = read_keyfile(linux.keyfile(spec, spec.ssids[0]))["802-1x"]
    assert x["eap"] == f"{method};"
    assert x["identity"] == f"marie@{REALM}"
    assert x["anonymous-identity"] == f"anonymous@{REALM}"
    assert x["password"] == "dev1ce-pass"
    assert x["password-flags"] == "0"
    key, phase2 = PHASE2[method, inner]
    assert x[key] == phase2
    assert not ({"phase2-auth", "phase2-autheap"} - {key}) & x.keys()
    assert x509.load_der_x509_certificate(blob(x["ca-cert"])) == server_ca().certificate
    assert x["domain-match"] == x["domain-suffix-match"] == SERVER
    assert "client-cert" not in x and "private-key" not in x


def test_eap_tls_carries_the_pkcs12_encrypted_never_a_bare_key() -> None:
    credential = certificate_credential(password="p12-pass")
    spec = make_spec(credential=credential)
    data = linux.keyfile(spec, spec.ssids[0])
    x = read_keyfile(data)["802-1x"]
    assert x["eap"] == "tls;"
    assert x["identity"] == credential.identity
    assert "password" not in x and "anonymous-identity" not in x
    assert blob(x["client-cert"]) == blob(x["private-key"]) == credential.pkcs12
    key, certificate, _ = pkcs12.load_key_and_certificates(
        blob(x["private-key"]), x["private-key-password"].encode()
    )
    assert key is not None and certificate is not None
    assert certificate.public_bytes(Encoding.DER) == credential.certificate_der
    assert b"PRIVATE KEY" not in data and credential.private_key_pem not in data
    assert x["domain-match"] == SERVER


def test_several_server_names() -> None:
    spec = make_spec(server_names=(SERVER, f"radius2.{REALM}"))
    x = read_keyfile(linux.keyfile(spec, spec.ssids[0]))["802-1x"]
    assert x["domain-match"].split(";") == [SERVER, f"radius2.{REALM}"]


CREDENTIALS: dict[str, Callable[[], Credential]] = {
    "peap": lambda: password_credential("peap", "eap-mschapv2"),
    "ttls-pap": lambda: password_credential("ttls", "pap"),
    "ttls-eap-mschapv2": lambda: password_credential("ttls", "eap-mschapv2"),
    "tls": certificate_credential,
}


@pytest.mark.usefixtures("libnm")
@pytest.mark.parametrize("kind", sorted(CREDENTIALS))
def test_networkmanager_reads_and_verifies_the_keyfile(kind: str) -> None:
    credential = CREDENTIALS[kind]()
    spec = make_spec(credential=credential)
    data = linux.keyfile(spec, spec.ssids[0])
    nm = libnm_read(data)
    ours = read_keyfile(data)
    assert nm["id"] == spec.ssids[0]
    assert bytes.fromhex(nm["ssid"]) == spec.ssids[0].encode()
    assert nm["uuid"] == ours["connection"]["uuid"]
    assert nm["key_mgmt"] == "wpa-eap"
    assert bytes.fromhex(nm["ca_cert"]) == spec.ca_der
    assert nm["domain_match"] == nm["domain_suffix_match"] == SERVER
    if isinstance(credential, CertificateCredential):
        assert nm["eap"] == ["tls"]
        assert (nm["client_cert_scheme"], nm["private_key_scheme"]) == ("blob", "blob")
        assert nm["private_key_format"] == "pkcs12"
        assert nm["private_key_password"] == credential.pkcs12_password
    else:
        assert nm["eap"] == [credential.method]
        assert nm["identity"] == credential.username
        assert nm["anonymous_identity"] == f"anonymous@{REALM}"
        assert nm["password"] == credential.password
        key, phase2 = PHASE2[credential.method, credential.inner]
        assert nm[key.replace("-", "_")] == phase2


AWKWARD: list[dict[str, Any]] = [
    {"ssid": " padded ", "password": "back\\slash; semi=colon #hash"},
    {"ssid": "semi;colon", "password": " lead and trail "},
    {"ssid": "Mé[802-1x]", "password": "%(interp)s $HOME"},
    {"ssid": "back\\slash\\s", "password": "="},
    {"ssid": " ", "password": "  "},
    {"ssid": "1;2;3", "password": "#not a comment"},
]


@pytest.mark.parametrize("case", AWKWARD, ids=lambda c: repr(c["ssid"]))
def test_awkward_but_legitimate_text_reads_back_exactly(case: dict[str, Any]) -> None:
    spec = make_spec(ssids=(case["ssid"],), credential=password_credential(password=case["password"]))
    data = linux.keyfile(spec, case["ssid"])
    read = read_keyfile(data)
    assert read["connection"]["id"] == case["ssid"]
    assert read["802-1x"]["password"] == case["password"]
    if libnm_available():
        nm = libnm_read(data)
        assert nm["id"] == case["ssid"]
        assert bytes.fromhex(nm["ssid"]) == case["ssid"].encode()
        assert nm["password"] == case["password"]


INJECTIONS = [
    "x\n[802-1x]\neap=md5;\nca-cert=",
    "x\r\n[wifi-security]\nkey-mgmt=none",
    "x\x00y",
    "x\x1b[2J",
    "x\u2028y",
    "x\x85y",
]


@pytest.mark.parametrize("hostile", INJECTIONS)
@pytest.mark.parametrize("where", ["ssid", "password", "username", "anonymous_identity"])
def test_text_that_could_write_keyfile_lines_is_refused(hostile: str, where: str) -> None:
    ssid, password, username = "RS-secure", "ok-password", f"marie@{REALM}"
    anonymous = f"anonymous@{REALM}"
    if where == "ssid":
        ssid = hostile[:30]
    elif where == "password":
        password = hostile
    elif where == "username":
        username = hostile
    else:
        anonymous = hostile
    credential = password_credential(password=password)
    credential = type(credential)(username=username, password=password, method="ttls", inner="pap")
    spec = make_spec(ssids=(ssid,), credential=credential, anonymous_identity=anonymous)
    with pytest.raises(ValueError, match="control character"):
        linux.keyfiles(spec)
    with pytest.raises(ValueError, match="control character"):
        linux.onc(spec)


def test_what_an_injection_would_have_done() -> None:
    """Not vacuous: the same lines written raw make a keyfile configparser refuses (a second
    [802-1x]) — what a reader more lenient than strict configparser would have obeyed."""
    good = linux.keyfile(make_spec(), "RS-secure").decode()
    injected = good.replace("password=s3cret", "password=x\n[802-1x]\neap=md5;")
    with pytest.raises(configparser.DuplicateSectionError):
        read_keyfile(injected.encode())


@pytest.mark.parametrize("name", [f"{SERVER};evil.example", f"{SERVER}\n", "*.example"])
def test_a_server_name_that_is_not_a_dns_name_is_refused(name: str) -> None:
    spec = make_spec(server_names=(name,))
    with pytest.raises(ValueError, match="DNS name"):
        linux.keyfiles(spec)
    with pytest.raises(ValueError, match="DNS name"):
        linux.onc(spec)


# -- ONC ----------------------------------------------------------------------------------------


def certificates_by_guid(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["GUID"]: c for c in document["Certificates"]}


@pytest.mark.parametrize(
    ("method", "inner", "outer", "onc_inner"),
    [
        ("peap", "eap-mschapv2", "PEAP", "MSCHAPv2"),
        ("ttls", "pap", "EAP-TTLS", "PAP"),
        ("ttls", "mschapv2", "EAP-TTLS", "MSCHAPv2"),
        ("ttls", "eap-mschapv2", "EAP-TTLS", "MSCHAPv2"),
    ],
)
def test_onc_with_a_password_credential(method: str, inner: str, outer: str, onc_inner: str) -> None:
    spec = make_spec(credential=password_credential(method, inner, password="onc-pass"))
    document = json.loads(linux.onc(spec))
    assert document["Type"] == "UnencryptedConfiguration"
    networks = document["NetworkConfigurations"]
    assert [n["Name"] for n in networks] == list(spec.ssids)
    certificates = certificates_by_guid(document)
    assert len(certificates) == 1
    guids = [n["GUID"] for n in networks] + list(certificates)
    assert len(set(guids)) == len(guids)
    for network in networks:
        assert network["Type"] == "WiFi"
        wifi = network["WiFi"]
        assert wifi["Security"] == "WPA-EAP"
        assert bytes.fromhex(wifi["HexSSID"]) == wifi["SSID"].encode()
        eap = wifi["EAP"]
        assert (eap["Outer"], eap["Inner"]) == (outer, onc_inner)
        assert eap["Identity"] == f"marie@{REALM}"
        assert eap["AnonymousIdentity"] == f"anonymous@{REALM}"
        assert eap["Password"] == "onc-pass"
        assert eap["SaveCredentials"] is True
        assert eap["UseSystemCAs"] is False
        assert eap["SubjectAlternativeNameMatch"] == [{"Type": "DNS", "Value": SERVER}]
        assert eap["DomainSuffixMatch"] == [SERVER]
        [ca_ref] = eap["ServerCARefs"]
        authority = certificates[ca_ref]
        assert authority["Type"] == "Authority"
        ca = base64.b64decode(authority["X509"], validate=True)
        assert x509.load_der_x509_certificate(ca) == server_ca().certificate


def test_onc_with_eap_tls_carries_the_client_pkcs12_without_passphrase() -> None:
    credential = certificate_credential()
    spec = make_spec(credential=credential, ssids=("RS-secure",))
    document = json.loads(linux.onc(spec))
    certificates = certificates_by_guid(document)
    [network] = document["NetworkConfigurations"]
    eap = network["WiFi"]["EAP"]
    assert eap["Outer"] == "EAP-TLS"
    assert "Password" not in eap and "Inner" not in eap
    assert eap["Identity"] == credential.identity
    assert eap["ClientCertType"] == "Ref"
    client = certificates[eap["ClientCertRef"]]
    assert client["Type"] == "Client"
    key, certificate, _ = pkcs12.load_key_and_certificates(base64.b64decode(client["PKCS12"]), None)
    assert key is not None and certificate is not None
    assert certificate.public_bytes(Encoding.DER) == credential.certificate_der
    assert certificates[eap["ServerCARefs"][0]]["Type"] == "Authority"


def test_a_passpoint_only_profile_has_nothing_for_networkmanager_or_onc() -> None:
    spec = make_spec(ssids=(), passpoint=PASSPOINT)
    with pytest.raises(ValueError, match="Passpoint only"):
        linux.keyfiles(spec)
    with pytest.raises(ValueError, match="Passpoint only"):
        linux.onc(spec)
