"""Android's Passpoint file, read back the way Android reads it: the base64 text decoded, the MIME
message parsed (by the stdlib's ``email`` and by a line reader that keeps the rules of AOSP's
``ConfigParser``), the PPS-MO parsed with SAX into the node tree AOSP's ``PpsMoParser`` builds, the
CA read by ``openssl x509`` and the PKCS#12 opened with the empty password Android uses."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import subprocess
import xml.sax
import xml.sax.handler
from dataclasses import dataclass, field

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12

from portal.onboarding import android
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

# --- reading the file ------------------------------------------------------------------------


def parts_by_email(data: bytes) -> dict[str, bytes]:
    """base64 → the stdlib's MIME parser → each part's content type and decoded body."""
    message = email.message_from_bytes(base64.b64decode(data), policy=email.policy.default)
    assert message.get_content_type() == "multipart/mixed"
    assert message["Content-Transfer-Encoding"] == "base64"
    parts: dict[str, bytes] = {}
    for part in message.iter_parts():
        assert part["Content-Transfer-Encoding"] == "base64"
        payload = part.get_payload(decode=True)
        assert isinstance(payload, bytes)
        parts[part.get_content_type()] = payload
    return parts


def parts_as_android(data: bytes) -> dict[str, bytes]:
    """The rules of AOSP's ConfigParser.parseMimeMultipartMessage: header blocks of only
    Content-Type and Content-Transfer-Encoding, at most one Content-Type parameter (the
    boundary), base64 everywhere, parts of the three known types, an end boundary."""
    lines = iter(base64.b64decode(data).decode("iso-8859-1").splitlines())

    def headers() -> dict[str, str]:
        found: dict[str, str] = {}
        for line in lines:
            if not line.strip():
                return found
            name, colon, value = line.partition(":")
            assert colon and not line[0].isspace(), f"not a header line: {line!r}"
            assert name in ("Content-Type", "Content-Transfer-Encoding"), f"Android refuses {name}"
            found[name] = value.strip()
        raise AssertionError("end of file inside headers")

    outer = headers()
    kind, *parameters = [item.strip() for item in outer["Content-Type"].split(";")]
    assert kind == "multipart/mixed" and len(parameters) == 1
    assert parameters[0].startswith("boundary=")
    boundary = parameters[0].removeprefix("boundary=").strip('"')
    assert outer["Content-Transfer-Encoding"] == "base64"
    assert any(line == f"--{boundary}" for line in lines)
    parts: dict[str, bytes] = {}
    while True:
        header = headers()
        assert set(header) == {"Content-Type", "Content-Transfer-Encoding"}
        assert header["Content-Transfer-Encoding"] == "base64"
        assert header["Content-Type"] in (android.PROFILE_TYPE, android.CA_TYPE, android.PKCS12_TYPE)
        body: list[str] = []
        for line in lines:
            if line.startswith(f"--{boundary}"):
                break
            body.append(line)
        else:
            raise AssertionError("end of file inside a part")
        parts[header["Content-Type"]] = base64.b64decode("".join(body), validate=True)
        if line == f"--{boundary}--":
            return parts


@dataclass
class XmlNode:
    tag: str
    text: str = ""
    children: list[XmlNode] = field(default_factory=list)


class _Tree(xml.sax.handler.ContentHandler):
    """AOSP's XMLParser: SAX without namespaces, nodes named by their qName."""

    def __init__(self) -> None:
        super().__init__()
        self.stack: list[XmlNode] = []
        self.root: XmlNode | None = None

    def startElement(self, name: str, attrs: object) -> None:
        node = XmlNode(name)
        if self.stack:
            self.stack[-1].children.append(node)
        else:
            self.root = node
        self.stack.append(node)

    def endElement(self, name: str) -> None:
        assert self.stack.pop().tag == name

    def characters(self, content: str) -> None:
        self.stack[-1].text += content


def pps_tree(document: bytes) -> dict[str, object]:
    """The PerProviderSubscription instance as PpsMoParser flattens it: {NodeName: Value or
    {children}}, refusing what it refuses (duplicates, a node with both or neither, stray tags)."""
    handler = _Tree()
    xml.sax.parseString(document, handler)
    root = handler.root
    assert root is not None and root.tag == "MgmtTree"
    assert [child.tag for child in root.children] == ["VerDTD", "Node"]
    pps = root.children[1]
    assert [child.tag for child in pps.children] == ["NodeName", "RTProperties", "Node"]
    assert pps.children[0].text.strip() == "PerProviderSubscription"
    (type_node,) = pps.children[1].children
    (ddf,) = type_node.children
    assert (type_node.tag, ddf.tag, ddf.text.strip()) == ("Type", "DDFName", android.PPS_MO_URN)
    _, instance = flatten(pps.children[2])
    assert isinstance(instance, dict)
    return instance


def flatten(node: XmlNode) -> tuple[str, object]:
    name: str | None = None
    value: str | None = None
    children: dict[str, object] = {}
    for child in node.children:
        if child.tag == "NodeName":
            assert name is None
            name = child.text.strip()
        elif child.tag == "Value":
            assert value is None
            value = child.text.strip()
        else:
            assert child.tag == "Node", f"unknown tag {child.tag}"
            key, content = flatten(child)
            assert key not in children, f"duplicate node {key}"
            children[key] = content
    assert name is not None
    assert (value is None) != (not children), f"{name}: a value or children, not both or neither"
    return name, value if value is not None else children


#: the node names AOSP's PpsMoParser knows where this file writes: anything else fails the file
KNOWN = {
    "instance": {"HomeSP", "Credential", "Policy", "AAAServerTrustRoot", "SubscriptionUpdate",
                 "SubscriptionParameters", "CredentialPriority", "Extension"},
    "HomeSP": {"FQDN", "FriendlyName", "RoamingConsortiumOI", "IconURL", "NetworkID", "HomeOIList",
               "OtherHomePartners"},
    "Credential": {"CreationDate", "ExpirationDate", "UsernamePassword", "DigitalCertificate", "Realm",
                   "CheckAAAServerCertStatus", "SIM"},
    "UsernamePassword": {"Username", "Password", "MachineManaged", "SoftTokenApp", "AbleToShare",
                         "EAPMethod"},
    "EAPMethod": {"EAPType", "InnerMethod", "VendorId", "VendorType", "InnerEAPType", "InnerVendorID",
                  "InnerVendorType"},
    "DigitalCertificate": {"CertificateType", "CertSHA256Fingerprint"},
}  # fmt: skip


def at(tree: dict[str, object], *path: str) -> object:
    """The node at ``path`` below ``tree``: a value (str) or a branch (dict)."""
    found: object = tree
    for name in path:
        assert isinstance(found, dict), f"{name}: under a leaf"
        found = found[name]
    return found


def branch(tree: dict[str, object], *path: str) -> dict[str, object]:
    found = at(tree, *path)
    assert isinstance(found, dict)
    return found


def known_nodes_only(name: str, tree: dict[str, object]) -> None:
    assert set(tree) <= KNOWN[name], f"{name}: {set(tree) - KNOWN[name]} unknown to Android"
    for child, content in tree.items():
        if isinstance(content, dict):
            known_nodes_only(child, content)


def read(data: bytes) -> tuple[dict[str, bytes], dict[str, object]]:
    """Both readers agree; the PPS-MO parsed and checked against Android's node names."""
    parts = parts_as_android(data)
    assert parts == parts_by_email(data)
    tree = pps_tree(parts[android.PROFILE_TYPE])
    known_nodes_only("instance", tree)
    return parts, tree


def openssl(*args: str, data: bytes) -> str:
    """openssl's output; ``-info`` writes to stderr, so both are returned."""
    done = subprocess.run(["openssl", *args], input=data, capture_output=True, check=True, timeout=30)
    return done.stdout.decode() + done.stderr.decode()


# --- what the file holds ---------------------------------------------------------------------


def test_ttls_profile_as_android_reads_it() -> None:
    parts, tree = read(android.passpoint_file(spec()))

    assert set(parts) == {android.PROFILE_TYPE, android.CA_TYPE}
    # no Extension/Android/AAAServerTrustedNames: with it Android trusts the public CAs, not ours
    assert set(tree) == {"HomeSP", "Credential"}
    assert tree["HomeSP"] == {
        "FriendlyName": "Wi-Fi Région Sud",
        "FQDN": REALM,
        "RoamingConsortiumOI": ",".join(OIS),
    }
    assert at(tree, "Credential", "Realm") == REALM
    user = branch(tree, "Credential", "UsernamePassword")
    assert user["Username"] == f"marie@{REALM}"
    assert isinstance(user["Password"], str)
    assert base64.b64decode(user["Password"], validate=True).decode("utf-8") == PASSWORD
    assert user["EAPMethod"] == {"EAPType": "21", "InnerMethod": "MS-CHAP-V2"}
    assert [int(oi, 16) for oi in ",".join(OIS).split(",")] == [0x5A03BA0000, 0x001BC50460]


def test_the_ca_part_is_the_pinned_ca_and_openssl_reads_it() -> None:
    parts, _ = read(android.passpoint_file(spec()))

    assert parts[android.CA_TYPE] == pki().ca_der
    read_back = openssl(
        "x509", "-inform", "DER", "-noout", "-subject", "-fingerprint", "-sha256", data=parts[android.CA_TYPE]
    )
    assert "RADIUS CA (test)" in read_back
    assert hashlib.sha256(pki().ca_der).hexdigest().upper() in read_back.replace(":", "")


def test_pap_inner_method() -> None:
    _, tree = read(android.passpoint_file(spec(password_credential("ttls", "pap"))))
    assert at(tree, "Credential", "UsernamePassword", "EAPMethod") == {
        "EAPType": "21",
        "InnerMethod": "PAP",
    }


def test_tls_profile_carries_a_pkcs12_android_opens_with_an_empty_password() -> None:
    parts, tree = read(android.passpoint_file(spec(certificate_credential())))

    assert set(parts) == {android.PROFILE_TYPE, android.CA_TYPE, android.PKCS12_TYPE}
    assert set(branch(tree, "Credential")) == {"Realm", "DigitalCertificate"}
    digital = branch(tree, "Credential", "DigitalCertificate")
    assert digital["CertificateType"] == "x509v3"

    key, certificate, others = pkcs12.load_key_and_certificates(parts[android.PKCS12_TYPE], b"")
    assert certificate is not None and key is not None
    assert others == []  # Android wants exactly one entry
    assert certificate.public_bytes(serialization.Encoding.DER) == pki().device_der
    assert key.public_key() == certificate.public_key()
    fingerprint = bytes.fromhex(str(digital["CertSHA256Fingerprint"]))  # as Android's parseHexString
    assert fingerprint == hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).digest()

    # the legacy form Android 10-13 read (OpenSSL 3's default, AES and a SHA-256 MAC, they refuse)
    info = openssl("pkcs12", "-info", "-noout", "-passin", "pass:", data=parts[android.PKCS12_TYPE])
    assert "MAC: sha1" in info
    assert "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC" in info
    assert "AES" not in info and "PBES2" not in info
    listed = openssl("pkcs12", "-passin", "pass:", "-nokeys", "-clcerts", data=parts[android.PKCS12_TYPE])
    assert (
        x509.load_pem_x509_certificate(listed.encode()).public_bytes(serialization.Encoding.DER)
        == pki().device_der
    )


def test_without_roaming_consortium_the_node_is_left_out() -> None:
    _, tree = read(android.passpoint_file(spec(passpoint=passpoint(roaming_consortium_ois=()))))
    assert set(branch(tree, "HomeSP")) == {"FriendlyName", "FQDN"}


def test_the_same_spec_makes_the_same_file() -> None:
    assert android.passpoint_file(spec()) == android.passpoint_file(spec())


def test_markup_in_the_friendly_name_stays_text() -> None:
    name = 'Wi-Fi </Value></Node><Node><NodeName>Policy</NodeName> & "co"'
    _, tree = read(android.passpoint_file(spec(passpoint=passpoint(friendly_name=name))))
    assert at(tree, "HomeSP", "FriendlyName") == name


# --- what Android cannot take is refused -----------------------------------------------------


def test_without_passpoint_there_is_no_android_file() -> None:
    with pytest.raises(ValueError, match="Passpoint"):
        android.passpoint_file(spec(passpoint=None))


def test_peap_is_refused() -> None:
    with pytest.raises(ValueError, match="not PEAP"):
        android.passpoint_file(spec(password_credential("peap", "eap-mschapv2")))


def test_ttls_with_eap_mschapv2_is_refused() -> None:
    with pytest.raises(ValueError, match="non-EAP inner method"):
        android.passpoint_file(spec(password_credential("ttls", "eap-mschapv2")))


def test_a_server_name_outside_the_home_fqdn_is_refused() -> None:
    """Android pins the Home SP FQDN as the server certificate's domain suffix."""
    with pytest.raises(ValueError, match="suffix"):
        android.passpoint_file(spec(server_names=("radius.elsewhere.example",)))
    with pytest.raises(ValueError, match="suffix"):
        android.passpoint_file(spec(server_names=(f"evil{REALM}",)))
    read(android.passpoint_file(spec(server_names=("other.example", REALM.upper()))))


def test_a_key_that_is_not_the_certificates_is_refused() -> None:
    other = pki().server.key_pem()
    credential = certificate_credential()
    mismatched = type(credential)(
        certificate_der=credential.certificate_der,
        pkcs12=credential.pkcs12,
        pkcs12_password=credential.pkcs12_password,
        private_key_pem=other,
        identity=credential.identity,
    )
    with pytest.raises(ValueError, match="does not match"):
        android.passpoint_file(spec(mismatched))


def test_a_ca_that_is_not_a_certificate_is_refused() -> None:
    with pytest.raises(ValueError, match="CA"):
        android.passpoint_file(spec(ca_der=b"\x30\x03\x02\x01\x01"))


def test_lengths_android_refuses() -> None:
    with pytest.raises(ValueError, match="63 bytes"):
        android.passpoint_file(spec(password_credential(username="é" * 32 + f"@{REALM}")))
    with pytest.raises(ValueError, match="255"):
        android.passpoint_file(spec(password_credential(password="x" * 200)))


@pytest.mark.parametrize(
    ("where", "hostile"),
    [
        ("friendly_name", "Wi-Fi\x00Région"),
        ("friendly_name", "Wi-Fi\u202eduS"),
        ("home_fqdn", "wifi.example\n"),
        ("home_fqdn", "wifi<x>.example"),
        ("nai_realm", "realm.example\r\nContent-Type: text/html"),
    ],
)
def test_hostile_passpoint_text_is_refused(where: str, hostile: str) -> None:
    with pytest.raises(ValueError):
        android.passpoint_file(spec(passpoint=passpoint(**{where: hostile}), server_names=(SERVER,)))


@pytest.mark.parametrize("hostile", ["pass\x00word", "pass\nword", "pass\x1b[2Jword", "pass\x85word"])
def test_a_hostile_password_is_refused_without_being_echoed(hostile: str) -> None:
    with pytest.raises(ValueError, match="password") as refused:
        android.passpoint_file(spec(password_credential(password=hostile)))
    assert hostile not in str(refused.value)


def test_a_hostile_username_is_refused() -> None:
    with pytest.raises(ValueError, match="username"):
        android.passpoint_file(spec(password_credential(username="marie\x07@" + REALM)))
