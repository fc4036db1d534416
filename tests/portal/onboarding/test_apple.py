"""Apple configuration profiles: the structure plistlib reads back (the CA pinned by its UUID and
the server's names, the EAP method, the credential, Passpoint), what hostile text does, and the
signature as the real ``openssl cms -verify`` judges it."""

from __future__ import annotations

import plistlib
import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from portal.onboarding.apple import Signer, UnusableText, mobileconfig, sign
from portal.onboarding.spec import (
    CertificateCredential,
    Passpoint,
    PasswordCredential,
    ProfileSpec,
)
from radius.eap.trialpki import Issued, make_ca, make_device, make_server, make_signer, new_key

REALM = "wifi.region-sud.fr"
SERVER = f"radius.{REALM}"
P12_PASSWORD = "p12-secret-Zq8"


@dataclass(frozen=True)
class Pki:
    server_ca: Issued
    device: Issued
    pkcs12: bytes
    signing_ca: Issued
    signer: Issued
    other_ca: Issued
    other_signer: Issued


@pytest.fixture(scope="module")
def pki() -> Pki:
    server_ca = make_ca(f"{REALM} RADIUS CA", organisation="Région Sud")
    make_server(server_ca, SERVER)
    devices = make_ca(f"{REALM} device CA")
    device = make_device(devices, f"marie@{REALM}")
    p12 = pkcs12.serialize_key_and_certificates(
        b"marie",
        device.key,
        device.certificate,
        None,
        serialization.BestAvailableEncryption(P12_PASSWORD.encode()),
    )
    signing_ca = make_ca("Profile signing CA")
    other_ca = make_ca("Someone else's CA")
    return Pki(
        server_ca=server_ca,
        device=device,
        pkcs12=p12,
        signing_ca=signing_ca,
        signer=make_signer(signing_ca, "Région Sud profiles"),
        other_ca=other_ca,
        other_signer=make_signer(other_ca, "Région Sud profiles"),
    )


def _der(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.DER)


def _spec(pki: Pki, credential: Any = None, **changes: Any) -> ProfileSpec:
    spec = ProfileSpec(
        organisation="Région Sud",
        realm=REALM,
        ssids=("Region-Sud-Secure", "Wi-Fi Région ✓"),
        ca_der=_der(pki.server_ca.certificate),
        server_names=(SERVER, f"radius2.{REALM}"),
        credential=credential or PasswordCredential(username=f"marie@{REALM}", password="pw-1"),
        display_name="Wi-Fi Région Sud — iPhone de Marie",
        profile_id="device-42",
    )
    return replace(spec, **changes)


def _tls(pki: Pki) -> CertificateCredential:
    return CertificateCredential(
        certificate_der=_der(pki.device.certificate),
        pkcs12=pki.pkcs12,
        pkcs12_password=P12_PASSWORD,
        private_key_pem=pki.device.key_pem(),
        identity=f"marie@{REALM}",
    )


PASSPOINT = Passpoint(
    home_fqdn=REALM,
    friendly_name="Wi-Fi Région Sud",
    nai_realm=REALM,
    roaming_consortium_ois=("5A03BA0000", "001BC50460"),
)


def _parse(profile: bytes) -> dict[str, Any]:
    top: dict[str, Any] = plistlib.loads(profile)
    assert isinstance(top, dict)
    return top


def _of_type(top: dict[str, Any], payload_type: str) -> list[dict[str, Any]]:
    return [p for p in top["PayloadContent"] if p["PayloadType"] == payload_type]


def _wifi(top: dict[str, Any]) -> list[dict[str, Any]]:
    return _of_type(top, "com.apple.wifi.managed")


def _by_uuid(top: dict[str, Any], payload_uuid: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [p for p in top["PayloadContent"] if p["PayloadUUID"] == payload_uuid]
    assert len(found) == 1
    return found[0]


# --- structure -------------------------------------------------------------------------------


def test_top_level_and_the_pinned_ca(pki: Pki) -> None:
    top = _parse(mobileconfig(_spec(pki), description="Le réseau sécurisé"))
    assert top["PayloadType"] == "Configuration"
    assert top["PayloadVersion"] == 1
    assert top["PayloadIdentifier"].startswith("fr.region-sud.wifi.")
    assert top["PayloadDisplayName"] == "Wi-Fi Région Sud — iPhone de Marie"
    assert top["PayloadOrganization"] == "Région Sud"
    assert top["PayloadDescription"] == "Le réseau sécurisé"
    assert top["PayloadRemovalDisallowed"] is False
    networks = _wifi(top)
    assert [w["SSID_STR"] for w in networks] == ["Region-Sud-Secure", "Wi-Fi Région ✓"]
    for wifi in networks:
        assert wifi["EncryptionType"] == "WPA2"
        assert wifi["AutoJoin"] is True
        eap = wifi["EAPClientConfiguration"]
        (anchor,) = eap["PayloadCertificateAnchorUUID"]
        ca = _by_uuid(top, anchor)
        assert ca["PayloadType"] == "com.apple.security.root"
        assert ca["PayloadContent"] == _der(pki.server_ca.certificate)
        assert x509.load_der_x509_certificate(ca["PayloadContent"]) == pki.server_ca.certificate
        assert eap["TLSTrustedServerNames"] == [SERVER, f"radius2.{REALM}"]
        assert eap["TLSAllowTrustExceptions"] is False
        assert eap["TLSMinimumVersion"] == "1.2"
        assert "IsHotspot" not in wifi
    repeated = _parse(mobileconfig(_spec(pki, ssids=("Region-Sud-Secure",) * 2)))
    assert len(_wifi(repeated)) == 1
    identifiers = [p["PayloadIdentifier"] for p in top["PayloadContent"]]
    uuids = [p["PayloadUUID"] for p in top["PayloadContent"]] + [top["PayloadUUID"]]
    assert len(set(identifiers)) == len(identifiers)
    assert len(set(uuids)) == len(uuids)
    assert all(i.startswith(top["PayloadIdentifier"] + ".") for i in identifiers)


@pytest.mark.parametrize(
    ("method", "inner", "eap_type", "ttls_inner"),
    [
        ("ttls", "pap", 21, "PAP"),
        ("ttls", "mschapv2", 21, "MSCHAPv2"),
        ("ttls", "eap-mschapv2", 21, "EAP"),
        ("peap", "eap-mschapv2", 25, None),
    ],
)
def test_password_methods(pki: Pki, method: Any, inner: Any, eap_type: int, ttls_inner: str | None) -> None:
    credential = PasswordCredential(
        username=f"marie@{REALM}", password="s3cret&<pw>", method=method, inner=inner
    )
    top = _parse(mobileconfig(_spec(pki, credential, anonymous_identity=f"anon@{REALM}")))
    assert not _of_type(top, "com.apple.security.pkcs12")
    for wifi in _wifi(top):
        eap = wifi["EAPClientConfiguration"]
        assert eap["AcceptEAPTypes"] == [eap_type]
        assert eap.get("TTLSInnerAuthentication") == ttls_inner
        assert eap["UserName"] == f"marie@{REALM}"
        assert eap["UserPassword"] == "s3cret&<pw>"
        assert eap["OuterIdentity"] == f"anon@{REALM}"
        assert "PayloadCertificateUUID" not in wifi


def test_eap_tls_carries_the_device_identity(pki: Pki) -> None:
    top = _parse(mobileconfig(_spec(pki, _tls(pki))))
    for wifi in _wifi(top):
        eap = wifi["EAPClientConfiguration"]
        assert eap["AcceptEAPTypes"] == [13]
        assert eap["UserName"] == f"marie@{REALM}"
        assert "UserPassword" not in eap and "TTLSInnerAuthentication" not in eap
        identity = _by_uuid(top, wifi["PayloadCertificateUUID"])
        assert identity["PayloadType"] == "com.apple.security.pkcs12"
        key, certificate, _ = pkcs12.load_key_and_certificates(
            identity["PayloadContent"], identity["Password"].encode()
        )
        assert certificate == pki.device.certificate
        assert key is not None and key.public_key() == pki.device.key.public_key()


def test_passpoint(pki: Pki) -> None:
    top = _parse(mobileconfig(_spec(pki, passpoint=PASSPOINT)))
    hotspots = [w for w in _wifi(top) if w.get("IsHotspot")]
    (hs20,) = hotspots
    assert len(_wifi(top)) == 3
    assert "SSID_STR" not in hs20
    assert hs20["DomainName"] == REALM
    assert hs20["DisplayedOperatorName"] == "Wi-Fi Région Sud"
    assert hs20["NAIRealmNames"] == [REALM]
    assert hs20["RoamingConsortiumOIs"] == ["5A03BA0000", "001BC50460"]
    assert hs20["ServiceProviderRoamingEnabled"] is True
    eap = hs20["EAPClientConfiguration"]
    assert _by_uuid(top, eap["PayloadCertificateAnchorUUID"][0])["PayloadContent"] == _der(
        pki.server_ca.certificate
    )
    assert eap["TLSTrustedServerNames"] == [SERVER, f"radius2.{REALM}"]


def test_passpoint_alone(pki: Pki) -> None:
    only = replace(PASSPOINT, roaming_consortium_ois=())
    top = _parse(mobileconfig(_spec(pki, _tls(pki), ssids=(), passpoint=only)))
    (hs20,) = _wifi(top)
    assert hs20["IsHotspot"] is True
    assert "RoamingConsortiumOIs" not in hs20
    assert _by_uuid(top, hs20["PayloadCertificateUUID"])["PayloadType"] == ("com.apple.security.pkcs12")


def test_a_reissued_profile_replaces_the_installed_one(pki: Pki) -> None:
    """Same device: the same bytes, and the same identifiers and UUIDs even with a new password
    and a rotated CA (what makes iOS replace rather than add); another device: none shared."""
    spec = _spec(pki, passpoint=PASSPOINT)
    assert mobileconfig(spec) == mobileconfig(spec)
    first = _parse(mobileconfig(spec))
    renewed = replace(
        spec,
        credential=PasswordCredential(username=f"marie@{REALM}", password="new"),
        ca_der=_der(make_ca("Rotated CA").certificate),
    )
    again = _parse(mobileconfig(renewed))

    def ids(top: dict[str, Any]) -> list[tuple[str, str]]:
        return [(top["PayloadIdentifier"], top["PayloadUUID"])] + [
            (p["PayloadIdentifier"], p["PayloadUUID"]) for p in top["PayloadContent"]
        ]

    assert ids(first) == ids(again)
    other = _parse(mobileconfig(replace(spec, profile_id="device-43")))
    assert not {u for _, u in ids(first)} & {u for _, u in ids(other)}
    assert other["PayloadIdentifier"] != first["PayloadIdentifier"]


# --- hostile text ----------------------------------------------------------------------------


def test_shown_texts_keep_markup_and_lose_what_xml_cannot_carry(pki: Pki) -> None:
    spec = _spec(
        pki,
        organisation='A&B <Région> ]]> "x"',
        display_name="Marie\x00\x1b[31m\ufffe\x7f phone",
        passpoint=replace(PASSPOINT, friendly_name="Op\x08erator"),
    )
    with pytest.raises(ValueError):  # what plistlib alone does with such a text
        plistlib.dumps({"k": spec.display_name})
    top = _parse(mobileconfig(spec, description="line one\x0cline two"))
    assert top["PayloadOrganization"] == 'A&B <Région> ]]> "x"'
    assert top["PayloadDisplayName"] == "Marie\ufffd\ufffd[31m\ufffd\ufffd phone"
    assert top["PayloadDescription"] == "line one\ufffdline two"
    (hs20,) = [w for w in _wifi(top) if w.get("IsHotspot")]
    assert hs20["DisplayedOperatorName"] == "Op\ufffderator"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"ssids": ("Sud\x00Secure",)}, "ssids"),
        ({"ssids": ("é" * 17,)}, "ssids"),
        ({"ssids": ("",)}, "ssids"),
        ({"server_names": (SERVER, "evil\ufffe.example")}, "server_names"),
        ({"anonymous_identity": "anon\n@x"}, "anonymous_identity"),
        ({"realm": "wifi\x00.fr"}, "realm"),
        (
            {"passpoint": Passpoint(home_fqdn="a\x01b", friendly_name="x", nai_realm="r")},
            "passpoint.home_fqdn",
        ),
    ],
)
def test_matched_texts_are_refused(pki: Pki, changes: dict[str, Any], field: str) -> None:
    with pytest.raises(UnusableText) as refused:
        mobileconfig(_spec(pki, **changes))
    assert refused.value.field == field


def test_a_refused_password_is_not_repeated(pki: Pki) -> None:
    password = "hunter2\x00\ud800"
    credential = PasswordCredential(username=f"marie@{REALM}", password=password)
    with pytest.raises(UnusableText) as refused:
        mobileconfig(_spec(pki, credential))
    assert refused.value.field == "credential.password"
    assert "hunter2" not in str(refused.value)


def test_a_ca_that_is_not_a_certificate_is_refused(pki: Pki) -> None:
    with pytest.raises(ValueError, match="ca_der"):
        mobileconfig(_spec(pki, ca_der=b"not a certificate"))


# --- signature -------------------------------------------------------------------------------


def _pem(tmp_path: Path, name: str, *certificates: x509.Certificate) -> Path:
    path = tmp_path / name
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates))
    return path


def _verify(tmp_path: Path, signed: bytes, ca: Path, *options: str) -> subprocess.CompletedProcess[bytes]:
    source, content = tmp_path / "signed.der", tmp_path / "content.plist"
    source.write_bytes(signed)
    content.unlink(missing_ok=True)
    result = subprocess.run(
        [
            "openssl",
            "cms",
            "-verify",
            "-inform",
            "DER",
            "-in",
            source,
            "-CAfile",
            ca,
            "-out",
            content,
            *options,
        ],
        capture_output=True,
        check=False,
    )
    return subprocess.CompletedProcess(
        result.args,
        result.returncode,
        content.read_bytes() if content.exists() else b"",
        result.stderr,
    )


def _signer(issued: Issued, *chain: x509.Certificate) -> Signer:
    key = issued.key
    return Signer(certificate=issued.certificate, private_key=key, chain=chain)


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_the_signed_profile_verifies_against_the_signing_ca(pki: Pki, tmp_path: Path, kind: str) -> None:
    signing_ca = make_ca("Profile signing CA", kind=kind)
    profile = mobileconfig(_spec(pki, _tls(pki), passpoint=PASSPOINT))
    signed = sign(profile, _signer(make_signer(signing_ca, "profiles", kind=kind)))
    verified = _verify(tmp_path, signed, _pem(tmp_path, "ca.pem", signing_ca.certificate))
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout == profile
    assert _parse(verified.stdout)["PayloadContent"]


def test_another_ca_refuses_it(pki: Pki, tmp_path: Path) -> None:
    profile = mobileconfig(_spec(pki))
    signed = sign(profile, _signer(pki.other_signer))
    ca = _pem(tmp_path, "ca.pem", pki.signing_ca.certificate)
    assert _verify(tmp_path, signed, ca).returncode != 0
    # the signature itself is sound: only the chain to the trusted CA is missing
    assert _verify(tmp_path, signed, ca, "-noverify").returncode == 0


def test_one_byte_changed_breaks_the_signature(pki: Pki, tmp_path: Path) -> None:
    profile = mobileconfig(_spec(pki))
    signed = sign(profile, _signer(pki.signer))
    ca = _pem(tmp_path, "ca.pem", pki.signing_ca.certificate)
    assert _verify(tmp_path, signed, ca).returncode == 0
    at = signed.index(b"Region-Sud-Secure")
    altered = signed[:at] + b"X" + signed[at + 1 :]
    assert _verify(tmp_path, altered, ca).returncode != 0
    assert _verify(tmp_path, altered, ca, "-noverify").returncode != 0


def _intermediate(root: Issued) -> Issued:
    key = new_key()
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Intermediate")]))
        .issuer_name(root.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(root.key, hashes.SHA256())
    )
    return Issued(certificate, key)


def _root() -> Issued:
    key = new_key()
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Root")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
        .sign(key, hashes.SHA256())
    )
    return Issued(certificate, key)


def test_the_chain_travels_inside_the_signature(pki: Pki, tmp_path: Path) -> None:
    """Devices trust the root only: the intermediate must be in the CMS."""
    root = _root()
    intermediate = _intermediate(root)
    leaf = make_signer(intermediate, "profiles")
    profile = mobileconfig(_spec(pki))
    ca = _pem(tmp_path, "root.pem", root.certificate)
    with_chain = sign(profile, _signer(leaf, intermediate.certificate))
    verified = _verify(tmp_path, with_chain, ca)
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout == profile
    assert _verify(tmp_path, sign(profile, _signer(leaf)), ca).returncode != 0


def test_a_web_server_certificate_signs_too(pki: Pki, tmp_path: Path) -> None:
    """Operators often sign with their portal's TLS certificate: openssl takes it once told
    not to insist on the S/MIME purpose (docs/onboarding.md says so)."""
    web = make_server(pki.signing_ca, "portal.region-sud.fr")
    profile = mobileconfig(_spec(pki))
    signed = sign(profile, _signer(web))
    ca = _pem(tmp_path, "ca.pem", pki.signing_ca.certificate)
    assert _verify(tmp_path, signed, ca).returncode != 0  # not an S/MIME signer to openssl
    verified = _verify(tmp_path, signed, ca, "-purpose", "any")
    assert verified.returncode == 0, verified.stderr
    assert verified.stdout == profile


def test_signer_from_pem_and_a_key_that_does_not_match(pki: Pki) -> None:
    chain_file = pki.signer.certificate_pem() + pki.signing_ca.certificate_pem()
    signer = Signer.from_pem(chain_file, pki.signer.key_pem())
    assert signer.certificate == pki.signer.certificate
    assert signer.chain == (pki.signing_ca.certificate,)
    with pytest.raises(ValueError, match="does not match"):
        Signer(certificate=pki.signer.certificate, private_key=pki.other_signer.key)
