"""Apple configuration profiles (``.mobileconfig``) for iOS, iPadOS and macOS, and their signature.

A profile is an XML property list (``plistlib``) whose ``PayloadContent`` lists payloads; the keys
are those of Apple's device-management reference (github.com/apple/device-management,
``mdm/profiles/``: ``TopLevel``, ``CommonPayloadKeys``, ``com.apple.wifi.managed``,
``com.apple.security.root``, ``com.apple.security.pkcs12``). This one holds:

- the CA that issued the RADIUS server's certificate (``com.apple.security.root``) — one such
  payload per pinned CA during a change of CA, all of them listed — named by
  ``PayloadCertificateAnchorUUID`` in every Wi-Fi payload, and the server's names in
  ``TLSTrustedServerNames``: with both, the device refuses any other server and shows no
  "trust this certificate?" dialog an evil twin could count on (docs/eap.md, "What devices must
  pin");
- one ``com.apple.wifi.managed`` payload per SSID, and one Passpoint (Hotspot 2.0) payload when
  the spec has Passpoint: the same ``EAPClientConfiguration`` in each;
- for EAP-TLS, the device's certificate and key (``com.apple.security.pkcs12``, with its
  password), named by the Wi-Fi payloads' ``PayloadCertificateUUID``.

Every ``PayloadUUID`` is derived from ``spec.profile_id`` (UUID version 5), and the identifiers
from the realm and that id: Apple replaces an installed profile by one with the same top-level
``PayloadIdentifier``, and updates the payloads whose identifier and UUID match, so a re-issued
profile (a renewed credential, a rotated CA) replaces the old one instead of piling up beside it.

Everything in the spec is text from operators and citizens. ``plistlib`` escapes ``&``, ``<`` and
``>`` but raises on most control characters and writes U+FFFE/U+FFFF, which no XML parser
accepts. The rule here: a text a device *matches or sends* (an SSID, a realm, a server name, an
identity, a password) is refused with :class:`UnusableText` (naming the field, never the value:
it may be a password), since any change would make a profile that silently fails to connect; a
text a person only *reads* (the organisation, the display name, the operator's name) has such
characters replaced by U+FFFD.

The module writes no sentence of its own: the description, in the citizen's language, comes
from the caller (who has the portal's catalogs). It does no I/O (bytes in, bytes out).

Signing (:func:`sign`) makes the CMS SignedData (RFC 5652) Apple verifies before it shows a
profile as "Verified": the profile embedded, SHA-256, the signer's chain included. A profile can
also be served unsigned (no signing certificate configured): devices then show "Not Verified".
"""

from __future__ import annotations

import hashlib
import plistlib
import re
import uuid
from dataclasses import dataclass
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs7
from cryptography.x509.oid import NameOID

from portal.onboarding import untrusted
from portal.onboarding.spec import CertificateCredential, PasswordCredential, ProfileSpec
from portal.onboarding.untrusted import UnusableText

__all__ = ["MEDIA_TYPE", "Signer", "UnusableText", "mobileconfig", "sign"]

#: what a browser must be told for iOS and macOS to offer installing the file
MEDIA_TYPE = "application/x-apple-aspen-config"

#: UUIDs of one device's payloads: uuid5 of this namespace and ``<profile_id>/<role>``
_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "urn:sesame:onboarding:apple")

#: EAP type numbers (IANA; Apple's ``AcceptEAPTypes``)
_EAP_TLS, _EAP_TTLS, _PEAP = 13, 21, 25
#: the spec's inner method → Apple's ``TTLSInnerAuthentication`` (EAP: EAP-MSCHAPv2 inside TTLS)
_TTLS_INNER = {"pap": "PAP", "mschapv2": "MSCHAPv2", "eap-mschapv2": "EAP"}

#: "WPA2" joins WPA2 and WPA3 networks on iOS 16 / macOS 13 and later (and any WPA network on
#: older iOS), which is what a WPA2/WPA3-Enterprise (transition mode) SSID needs; "Any" would
#: also accept WPA(1) and WEP, which this network never offers, so a downgrade gains nothing.
_ENCRYPTION = "WPA2"

#: Apple's default is TLS 1.0; the server refuses below 1.2 (docs/eap.md). The maximum is left to
#: the device (1.2 by Apple's default): the server takes both.
_TLS_MINIMUM = "1.2"

#: XML 1.0 refuses C0 controls but tab/newline and U+FFFE/U+FFFF; lone surrogates cannot be
#: encoded; DEL and C1 controls are legal XML but meaningless (and invisible) in any of our texts
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\ud800-\udfff\ufffe\uffff]")


@dataclass(frozen=True, slots=True, kw_only=True)
class Signer:
    """The operator's profile-signing certificate, its key, and the intermediates up to (not
    including) the root devices trust: Apple needs the whole chain inside the signature."""

    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    chain: tuple[x509.Certificate, ...] = ()

    def __post_init__(self) -> None:
        if _spki(self.certificate.public_key()) != _spki(self.private_key.public_key()):
            raise ValueError("the profile-signing key does not match its certificate")

    @classmethod
    def from_pem(cls, certificates: bytes, key: bytes, password: bytes | None = None) -> Signer:
        """The signer from PEM: the certificate first, then its intermediates (as a web server's
        chain file), and its private key (``password`` if it is encrypted)."""
        chain = x509.load_pem_x509_certificates(certificates)
        private_key = serialization.load_pem_private_key(key, password)
        if not isinstance(private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
            raise ValueError("a profile-signing key is RSA or ECDSA")
        return cls(certificate=chain[0], private_key=private_key, chain=tuple(chain[1:]))


def sign(profile: bytes, signer: Signer) -> bytes:
    """The profile inside a CMS SignedData, DER, as iOS and macOS verify it.

    ``Binary``: the plist is signed as it is (without it, the content would be turned into
    S/MIME's CRLF text and no longer be the profile). The signed attributes (content type,
    digest, signing time) are kept: they are what the signature covers."""
    builder = (
        pkcs7.PKCS7SignatureBuilder()
        .set_data(profile)
        .add_signer(signer.certificate, signer.private_key, hashes.SHA256())
    )
    for certificate in signer.chain:
        builder = builder.add_certificate(certificate)
    return builder.sign(serialization.Encoding.DER, [pkcs7.PKCS7Options.Binary])


def mobileconfig(spec: ProfileSpec, *, description: str = "") -> bytes:
    """The unsigned profile (an XML plist) for ``spec``; the same spec gives the same bytes.

    ``description`` is what the device shows under the profile's name before installing it,
    translated by the caller."""
    root = _payload_uuid(spec, "profile")
    identifier = f"{_reverse_dns(spec)}.sesame.{root}"
    # one root payload per pinned CA (the first keeps the id it always had), every one an anchor
    # of the EAP configuration: during a change of CA the device trusts the server either side
    ca_uuids = [_payload_uuid(spec, "ca")] + [
        _payload_uuid(spec, "ca/" + hashlib.sha256(der).hexdigest()) for der in spec.pinned_cas[1:]
    ]
    payloads: list[dict[str, Any]] = [
        _ca_payload(spec, der, f"{identifier}.ca" + (f".{index}" if index else ""), ca_uuid)
        for index, (der, ca_uuid) in enumerate(zip(spec.pinned_cas, ca_uuids, strict=True))
    ]
    identity_uuid = None
    if isinstance(spec.credential, CertificateCredential):
        identity_uuid = _payload_uuid(spec, "identity")
        payloads.append(_identity_payload(spec.credential, identifier, identity_uuid))
    eap = _eap(spec, ca_uuids)
    for ssid in dict.fromkeys(spec.ssids):  # once each: a repeated SSID would repeat its UUID
        _check_ssid(ssid)
        wifi_uuid = _payload_uuid(spec, "wifi/" + ssid)
        wifi = _wifi_payload(eap, f"{identifier}.wifi.{wifi_uuid}", wifi_uuid, identity_uuid)
        wifi["SSID_STR"] = ssid
        wifi["PayloadDisplayName"] = ssid
        payloads.append(wifi)
    if spec.passpoint is not None:
        passpoint = spec.passpoint
        hs20_uuid = _payload_uuid(spec, "passpoint")
        wifi = _wifi_payload(eap, f"{identifier}.passpoint", hs20_uuid, identity_uuid)
        operator = _shown(passpoint.friendly_name)
        wifi |= {
            "IsHotspot": True,
            "DomainName": _exact("passpoint.home_fqdn", passpoint.home_fqdn),
            "DisplayedOperatorName": operator,
            "NAIRealmNames": [_exact("passpoint.nai_realm", passpoint.nai_realm)],
            # the access points of the region's communes and of its partners are not the Home
            # SP's own: without roaming, the device would join none of them
            "ServiceProviderRoamingEnabled": True,
            "PayloadDisplayName": operator,
        }
        if passpoint.roaming_consortium_ois:
            wifi["RoamingConsortiumOIs"] = list(passpoint.roaming_consortium_ois)
        payloads.append(wifi)
    top: dict[str, Any] = {
        "PayloadType": "Configuration",
        "PayloadVersion": 1,
        "PayloadIdentifier": identifier,
        "PayloadUUID": root,
        "PayloadDisplayName": _shown(spec.display_name),
        "PayloadOrganization": _shown(spec.organisation),
        "PayloadRemovalDisallowed": False,
        "PayloadContent": payloads,
    }
    if description:
        top["PayloadDescription"] = _shown(description)
    return plistlib.dumps(top, fmt=plistlib.FMT_XML, sort_keys=True)


def _eap(spec: ProfileSpec, ca_uuids: list[str]) -> dict[str, Any]:
    """``EAPClientConfiguration``, the same for every network of the profile."""
    eap: dict[str, Any] = {
        "PayloadCertificateAnchorUUID": list(ca_uuids),
        "TLSTrustedServerNames": [_exact("server_names", name) for name in spec.server_names],
        # macOS still honours it (iOS dropped it in 8.0, where pinning already forbids the
        # dialog): no "continue anyway" on a certificate the profile does not pin
        "TLSAllowTrustExceptions": False,
        "TLSMinimumVersion": _TLS_MINIMUM,
    }
    credential = spec.credential
    if isinstance(credential, PasswordCredential):
        eap["UserName"] = _exact("credential.username", credential.username)
        eap["UserPassword"] = _exact("credential.password", credential.password)
        eap["OuterIdentity"] = _exact("anonymous_identity", spec.anonymous_identity)
        if credential.method == "peap":
            eap["AcceptEAPTypes"] = [_PEAP]
        else:
            eap["AcceptEAPTypes"] = [_EAP_TTLS]
            eap["TTLSInnerAuthentication"] = _TTLS_INNER[credential.inner]
    else:
        # EAP-TLS has no tunnel to hide a name in (Apple: OuterIdentity is for TTLS, PEAP and
        # EAP-FAST); under TLS 1.2 the identity is sent as it is, so it is the certificate's
        eap["AcceptEAPTypes"] = [_EAP_TLS]
        eap["UserName"] = _exact("credential.identity", credential.identity)
    return eap


def _wifi_payload(
    eap: dict[str, Any], identifier: str, payload_uuid: str, identity_uuid: str | None
) -> dict[str, Any]:
    wifi: dict[str, Any] = {
        "PayloadType": "com.apple.wifi.managed",
        "PayloadVersion": 1,
        "PayloadIdentifier": identifier,
        "PayloadUUID": payload_uuid,
        "AutoJoin": True,
        "EncryptionType": _ENCRYPTION,
        # a hidden network makes the device call its name everywhere it goes
        "HIDDEN_NETWORK": False,
        "EAPClientConfiguration": dict(eap),
    }
    if identity_uuid is not None:
        wifi["PayloadCertificateUUID"] = identity_uuid
    return wifi


def _ca_payload(spec: ProfileSpec, der: bytes, identifier: str, ca_uuid: str) -> dict[str, Any]:
    try:
        certificate = x509.load_der_x509_certificate(der)
    except ValueError as error:
        raise ValueError("ca_der (or another pinned CA) is not a DER X.509 certificate") from error
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    shown = str(names[0].value) if names else spec.organisation
    return {
        "PayloadType": "com.apple.security.root",
        "PayloadVersion": 1,
        "PayloadIdentifier": identifier,
        "PayloadUUID": ca_uuid,
        "PayloadDisplayName": _shown(shown),
        "PayloadCertificateFileName": "ca.der",
        "PayloadContent": der,
    }


def _identity_payload(
    credential: CertificateCredential, identifier: str, identity_uuid: str
) -> dict[str, Any]:
    """The device's certificate and key. The password is in the profile (installing asks for
    nothing): the file is a credential itself, served once over HTTPS to its owner."""
    return {
        "PayloadType": "com.apple.security.pkcs12",
        "PayloadVersion": 1,
        "PayloadIdentifier": f"{identifier}.identity",
        "PayloadUUID": identity_uuid,
        "PayloadDisplayName": _shown(credential.identity),
        "PayloadCertificateFileName": "device.p12",
        "PayloadContent": credential.pkcs12,
        "Password": _exact("credential.pkcs12_password", credential.pkcs12_password),
    }


def _payload_uuid(spec: ProfileSpec, role: str) -> str:
    """The same for the same device and role, whatever else changes: what lets a re-issued
    profile replace the installed one. Upper case, as Apple writes them."""
    return str(uuid.uuid5(_NAMESPACE, f"{spec.profile_id}/{role}")).upper()


def _reverse_dns(spec: ProfileSpec) -> str:
    """``wifi.region-sud.fr`` → ``fr.region-sud.wifi``: each label reduced to letters, digits and
    hyphens (an identifier is no place for the rest)."""
    realm = _exact("realm", spec.realm)
    labels = [re.sub(r"[^a-z0-9-]", "-", label) for label in realm.lower().split(".") if label]
    return ".".join(reversed(labels)) or "invalid"


def _exact(field: str, value: str) -> str:
    """A text the device matches or sends: refused rather than altered."""
    return untrusted.text(field, value)


def _shown(text: str) -> str:
    """A text a person reads: what XML cannot carry becomes U+FFFD."""
    return _UNSAFE.sub("\ufffd", text)


def _check_ssid(ssid: str) -> None:
    """IEEE 802.11: an SSID is 1 to 32 octets (UTF-8 here)."""
    untrusted.text("ssids", ssid, max_bytes=32)


def _spki(key: Any) -> bytes:
    return bytes(
        key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
