"""Android's Passpoint installation file (``application/x-wifi-config``, Android 8.0+; what this
module targets and docs/onboarding.md describes is Android 10 and later).

Android installs a Passpoint profile when the browser downloads a file of that MIME type. What its
installer reads — AOSP ``android.net.wifi.hotspot2.ConfigParser`` (``buildPasspointConfig``),
``omadm.PpsMoParser`` and ``pps.Credential.validate`` — fixes the format:

- the file is the base64 of a MIME ``multipart/mixed`` message. Android's reader is line-based and
  strict: each header block may hold only ``Content-Type`` and ``Content-Transfer-Encoding``
  (``MIME-Version`` or ``Content-Disposition`` is an "Unexpected header"), the outer one says
  ``Content-Transfer-Encoding: base64``, and ``Content-Type`` has at most one parameter (the
  boundary). Each part is base64: ``application/x-passpoint-profile`` (the PPS-MO XML, required),
  ``application/x-x509-ca-cert`` (the CA, DER) and ``application/x-pkcs12`` (EAP-TLS only).
- the PPS-MO is an OMA-DM ``MgmtTree`` with no namespace prefixes (the parser compares SAX qNames):
  ``PerProviderSubscription`` (DDF ``urn:wfa:mo:hotspot2dot0-perprovidersubscription:1.0``) → one
  instance node → ``HomeSP`` (``FQDN``, ``FriendlyName``, ``RoamingConsortiumOI`` as comma-separated
  hex) and ``Credential`` (``Realm`` and either ``UsernamePassword`` or ``DigitalCertificate``).
  Any unknown node makes the whole file fail.
- ``UsernamePassword``: EAP type 21 (EAP-TTLS) is the only one Android takes, with a *non-EAP*
  inner method ``PAP``, ``MS-CHAP`` or ``MS-CHAP-V2``; the password is base64 (UTF-8), at most
  255 bytes so encoded; the username at most 63 bytes; the realm at most 253. So PEAP, and TTLS
  carrying EAP-MSCHAPv2, cannot be expressed: they are refused here rather than making a file
  Android rejects.
- ``DigitalCertificate``: ``CertificateType`` ``x509v3`` and ``CertSHA256Fingerprint`` (hex), which
  must match a certificate of the PKCS#12's chain. Android opens the PKCS#12 with an **empty**
  password (``KeyStore.load(in, new char[0])``) and wants exactly one entry, so this file carries
  the device's key and certificate re-packed that way (SHA-1 MAC, 3DES: the form Android 10–13
  read too) — not the spec's password-protected PKCS#12.
  The whole file is the secret: it is served once, over TLS, to the signed-in citizen.

What Android pins (PasspointProvider): the CA of the ``x-x509-ca-cert`` part — **one**: AOSP's
installer (``ConfigParser.createPasspointConfig``) keeps the parts in a map by MIME type, so a
second CA part replaces the first, and reads it with ``CertificateFactory.generateCertificate``
(one certificate) into ``Credential.setCaCertificate``. During a change of CA the file pins the
spec's ``ca_der``, the CA of today's server certificate; a Passpoint profile installed before the
switch stops working at the switch and must be downloaded again (docs/onboarding.md) — and the
Home SP FQDN
as the server certificate's domain *suffix* match. The PPS-MO's Android extension
``Extension/Android/AAAServerTrustedNames`` would replace that name — but Android then also swaps
our CA for the system's public CA store, which drops the CA pin; it is deliberately not written.
Hence the rule checked here: one of the server's names must be the Home SP FQDN or end with
``.<FQDN>``. Android sends ``anonymous@<Credential/Realm>`` as the outer identity whatever the spec
says, and ignores the SSIDs (Passpoint matches on ANQP: domain, Roaming Consortium, NAI realm).
"""

from __future__ import annotations

import base64
import hashlib
import io
import xml.etree.ElementTree as ET
from email.generator import BytesGenerator
from email.message import Message
from email.policy import compat32

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from portal.onboarding.spec import CertificateCredential, Passpoint, PasswordCredential, ProfileSpec
from portal.onboarding.untrusted import dns_name, text

__all__ = ["MIME_TYPE", "home_pinned", "passpoint_file", "pps_mo"]

#: what the portal must serve the file as: Android picks its installer by this type
MIME_TYPE = "application/x-wifi-config"

PROFILE_TYPE = "application/x-passpoint-profile"
CA_TYPE = "application/x-x509-ca-cert"
PKCS12_TYPE = "application/x-pkcs12"

PPS_MO_URN = "urn:wfa:mo:hotspot2dot0-perprovidersubscription:1.0"
EAP_TTLS = 21
#: the spec's TTLS inner methods → PPS-MO ``InnerMethod`` (pps.Credential.UserCredential)
_INNER = {"pap": "PAP", "mschapv2": "MS-CHAP-V2"}


def passpoint_file(spec: ProfileSpec) -> bytes:
    """The ``application/x-wifi-config`` file for ``spec`` (base64 text, ASCII)."""
    passpoint = _passpoint(spec)
    ca = _ca(spec.ca_der)  # one CA part only (see the module's doc): today's
    parts = [(PROFILE_TYPE, pps_mo(spec)), (CA_TYPE, ca.public_bytes(serialization.Encoding.DER))]
    if isinstance(spec.credential, CertificateCredential):
        parts.append((PKCS12_TYPE, _android_pkcs12(spec.credential, name=passpoint.home_fqdn)))
    return base64.encodebytes(_multipart(parts))


def pps_mo(spec: ProfileSpec) -> bytes:
    """The PerProviderSubscription MO (Hotspot 2.0 R2 spec §9.1, as Android's PpsMoParser reads
    it), UTF-8 XML. Raises ``ValueError`` for what Android cannot take (see the module's doc)."""
    passpoint = _passpoint(spec)
    root = ET.Element("MgmtTree", {"xmlns": "syncml:dmddf1.2"})
    ET.SubElement(root, "VerDTD").text = "1.2"
    pps = ET.SubElement(root, "Node")
    ET.SubElement(pps, "NodeName").text = "PerProviderSubscription"
    ddf = ET.SubElement(ET.SubElement(ET.SubElement(pps, "RTProperties"), "Type"), "DDFName")
    ddf.text = PPS_MO_URN
    instance = _node(pps, "i001")

    home = _node(instance, "HomeSP")
    _leaf(home, "FriendlyName", text("Passpoint friendly name", passpoint.friendly_name))
    _leaf(home, "FQDN", passpoint.home_fqdn)
    if passpoint.roaming_consortium_ois:
        _leaf(home, "RoamingConsortiumOI", ",".join(passpoint.roaming_consortium_ois))

    credential = _node(instance, "Credential")
    _leaf(credential, "Realm", passpoint.nai_realm)
    match spec.credential:
        case PasswordCredential() as password:
            _username_password(_node(credential, "UsernamePassword"), password)
        case CertificateCredential() as certificate:
            _certificate(_node(credential, "DigitalCertificate"), certificate)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def home_pinned(server_names: tuple[str, ...], home_fqdn: str) -> bool:
    """Whether Android, which can pin only the Home SP's FQDN as a suffix, would accept one of
    these server names (the portal offers the file only then)."""
    fqdn = home_fqdn.lower()
    return any(name.lower() == fqdn or name.lower().endswith("." + fqdn) for name in server_names)


def _passpoint(spec: ProfileSpec) -> Passpoint:
    """The spec's Passpoint settings, checked against what Android takes and pins."""
    if spec.passpoint is None:
        raise ValueError(
            "Android's x-wifi-config file is a Passpoint profile: the spec has no Passpoint "
            "settings (Home SP FQDN, NAI realm); offer the eap-config file instead"
        )
    passpoint = spec.passpoint
    fqdn = dns_name("Passpoint Home SP FQDN", passpoint.home_fqdn).lower()
    dns_name("Passpoint NAI realm", passpoint.nai_realm)
    for index, name in enumerate(spec.server_names):
        text(f"server name {index + 1}", name)
    if not home_pinned(spec.server_names, fqdn):
        raise ValueError(
            "Android checks the RADIUS server's certificate against the Home SP FQDN (a suffix "
            f"match): none of the server names is {fqdn!r} or ends with '.{fqdn}'"
        )
    return passpoint


def _username_password(parent: ET.Element, credential: PasswordCredential) -> None:
    if credential.method != "ttls":
        raise ValueError("Android's Passpoint takes EAP-TTLS or EAP-TLS credentials, not PEAP")
    inner = _INNER.get(credential.inner)
    if inner is None:
        raise ValueError(
            "Android's Passpoint runs EAP-TTLS with a non-EAP inner method (MS-CHAP-V2 or PAP), "
            f"not {credential.inner!r}"
        )
    _leaf(parent, "Username", text("username", credential.username, max_bytes=63))
    password = base64.b64encode(text("password", credential.password).encode("utf-8")).decode("ascii")
    if len(password) > 255:
        raise ValueError("the password is longer than Android's Passpoint takes (255 bytes in base64)")
    _leaf(parent, "Password", password)
    method = _node(parent, "EAPMethod")
    _leaf(method, "EAPType", str(EAP_TTLS))
    _leaf(method, "InnerMethod", inner)


def _certificate(parent: ET.Element, credential: CertificateCredential) -> None:
    _leaf(parent, "CertificateType", "x509v3")
    _leaf(parent, "CertSHA256Fingerprint", hashlib.sha256(credential.certificate_der).hexdigest().upper())


def _node(parent: ET.Element, name: str) -> ET.Element:
    node = ET.SubElement(parent, "Node")
    ET.SubElement(node, "NodeName").text = name
    return node


def _leaf(parent: ET.Element, name: str, value: str) -> None:
    ET.SubElement(_node(parent, name), "Value").text = value


def _ca(der: bytes) -> x509.Certificate:
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError:
        raise ValueError("the spec's CA is not a DER X.509 certificate") from None


def _android_pkcs12(credential: CertificateCredential, *, name: str) -> bytes:
    """The device's key and certificate as the one entry of a PKCS#12 Android opens with an empty
    password.

    In the "legacy" form every Android reads — SHA-1 MAC, PBE-SHA1-3DES bags — not OpenSSL 3's
    default (PBES2/AES, SHA-256 MAC), which Android 13 and older refuse as a "wrong password".
    With an empty password the encryption protects nothing; the file's single TLS download does.
    cryptography's public builder refuses an empty password, so its encryption object is built
    directly (the test decodes the result with openssl, which fails if cryptography changes it).
    """
    try:
        certificate = x509.load_der_x509_certificate(credential.certificate_der)
        key = serialization.load_pem_private_key(credential.private_key_pem, password=None)
    except ValueError:
        raise ValueError("the device's certificate or private key cannot be read") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise ValueError("the device's key is neither RSA nor ECDSA")
    if key.public_key() != certificate.public_key():
        raise ValueError("the device's private key does not match its certificate")
    legacy_empty = serialization._KeySerializationEncryption(
        serialization.PrivateFormat.PKCS12,
        b"",
        kdf_rounds=2048,
        hmac_hash=hashes.SHA1(),  # noqa: S303 (the legacy MAC old Androids verify; the key is empty anyway)
        key_cert_algorithm=pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC,
    )
    return pkcs12.serialize_key_and_certificates(name.encode("utf-8"), key, certificate, None, legacy_empty)


def _multipart(parts: list[tuple[str, bytes]]) -> bytes:
    """The MIME message Android's ConfigParser reads, written by the stdlib's generator.

    Plain :class:`email.message.Message` objects, not ``email.mime``: the latter add
    ``MIME-Version`` to every part, a header Android refuses. The boundary derives from the
    content, so the same spec gives the same file; a base64 line cannot start with ``--``.
    """
    digest = hashlib.sha256()
    for kind, data in parts:
        digest.update(kind.encode("ascii") + len(data).to_bytes(8, "big") + data)
    outer = Message()
    outer["Content-Type"] = f'multipart/mixed; boundary="sesame-{digest.hexdigest()[:32]}"'
    outer["Content-Transfer-Encoding"] = "base64"
    for kind, data in parts:
        part = Message()
        part["Content-Type"] = kind
        part["Content-Transfer-Encoding"] = "base64"
        part.set_payload(base64.encodebytes(data).decode("ascii"))
        outer.attach(part)
    buffer = io.BytesIO()
    BytesGenerator(buffer, mangle_from_=False, maxheaderlen=0, policy=compat32.clone(linesep="\r\n")).flatten(
        outer
    )
    return buffer.getvalue()
