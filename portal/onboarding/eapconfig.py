"""The ``eap-config`` file: the EAP metadata XML of GÉANT's Configuration Assistant Tool
(draft-winter-opsawg-eap-metadata; schema ``devices/xml/eap-metadata.xsd`` in GEANT/CAT), which the
geteduroam apps (Android, iOS, Windows, Linux) read and turn into the platform's own network
configuration. On Android it is the route for what the Passpoint file cannot carry (PEAP, TTLS
with EAP-MSCHAPv2, a network without Passpoint), and it configures the SSIDs as well.

The schema's facts this module follows:

- ``EAPIdentityProviderList`` → ``EAPIdentityProvider`` (attributes ``ID`` — the realm —,
  ``namespace`` ``urn:RFC4282:realm``, ``version`` 1, ``lang`` — then no sub-element carries its
  own) holding, **in this order**: ``AuthenticationMethods``, ``CredentialApplicability``,
  ``ProviderInfo``. Elements are unqualified (the schema has no target namespace).
- ``AuthenticationMethod``: ``EAPMethod/Type`` (13 TLS, 21 TTLS, 25 PEAP), then
  ``ServerSideCredential`` (``CA`` with ``format="X.509" encoding="base64"``, DER; ``ServerID``:
  one per name the server's certificate may carry), then ``ClientSideCredential``
  (``OuterIdentity``, ``InnerIdentitySuffix``, ``InnerIdentityHint``, ``UserName``, ``Password``,
  ``ClientCertificate`` with ``format="PKCS12" encoding="base64"``, ``Passphrase`` — in that
  order), then ``InnerAuthenticationMethod`` (``EAPMethod/Type`` 26 for EAP-MSCHAPv2, or
  ``NonEAPAuthMethod/Type`` 1 PAP, 3 MSCHAPv2).
- ``CredentialApplicability``: one ``IEEE80211`` per SSID (``SSID``, ``MinRSNProto`` ``CCMP``: the
  conditions inside one element are ANDed, so SSIDs are never combined) and one per Roaming
  Consortium OI (``ConsortiumOID``, hex) when the spec has Passpoint.
- ``ProviderInfo``: ``DisplayName``, ``Helpdesk`` (``EmailAddress``, ``WebAddress``).

Both pins go in: the CA and every server name. During a change of CA every pinned CA gets its own
``CA`` element (the schema allows any number; the geteduroam apps trust each). The file holds the
device's credential (password, or PKCS#12 and its passphrase): it is served once, over TLS, to the
signed-in citizen.
"""

from __future__ import annotations

import base64
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

from cryptography import x509

from portal.onboarding.spec import CertificateCredential, PasswordCredential, ProfileSpec
from portal.onboarding.untrusted import dns_name, text

__all__ = ["MIME_TYPE", "eap_config"]

#: the type CAT serves ``.eap-config`` files with, which the geteduroam apps register for
MIME_TYPE = "application/eap-config"

EAP_TLS, EAP_TTLS, EAP_PEAP, EAP_MSCHAPV2 = 13, 21, 25, 26
#: the schema's NonEAPAuthNumbers
NON_EAP_PAP, NON_EAP_MSCHAPV2 = 1, 3


def eap_config(spec: ProfileSpec) -> bytes:
    """The ``eap-config`` XML for ``spec``, UTF-8. Raises ``ValueError`` on text no profile may
    carry (see :mod:`portal.onboarding.untrusted`)."""
    root = ET.Element(
        "EAPIdentityProviderList",
        {
            "xmlns:xsi": "http://www.w3.org/2001/XMLSchema-instance",
            "xsi:noNamespaceSchemaLocation": "eap-metadata.xsd",
        },
    )
    provider = ET.SubElement(
        root,
        "EAPIdentityProvider",
        {
            "ID": dns_name("realm", spec.realm),
            "namespace": "urn:RFC4282:realm",
            "version": "1",
            "lang": text("language", spec.language, max_bytes=35),
        },
    )
    methods = ET.SubElement(provider, "AuthenticationMethods")
    _method(ET.SubElement(methods, "AuthenticationMethod"), spec)
    _applicability(ET.SubElement(provider, "CredentialApplicability"), spec)
    _provider_info(ET.SubElement(provider, "ProviderInfo"), spec)
    document: bytes = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return document


def _method(method: ET.Element, spec: ProfileSpec) -> None:
    credential = spec.credential
    outer = {"tls": EAP_TLS, "ttls": EAP_TTLS, "peap": EAP_PEAP}[credential.method]
    _sub(ET.SubElement(method, "EAPMethod"), "Type", str(outer))

    server = ET.SubElement(method, "ServerSideCredential")
    for der in spec.pinned_cas:
        try:
            x509.load_der_x509_certificate(der)
        except ValueError:
            raise ValueError("the spec's CA is not a DER X.509 certificate") from None
        ca = ET.SubElement(server, "CA", {"format": "X.509", "encoding": "base64"})
        ca.text = base64.b64encode(der).decode("ascii")
    for index, name in enumerate(spec.server_names):
        _sub(server, "ServerID", text(f"server name {index + 1}", name))

    client = ET.SubElement(method, "ClientSideCredential")
    match credential:
        case PasswordCredential():
            _sub(client, "OuterIdentity", text("anonymous identity", spec.outer_identity))
            _sub(client, "InnerIdentitySuffix", spec.realm)
            _sub(client, "InnerIdentityHint", "true")
            _sub(client, "UserName", text("username", credential.username))
            _sub(client, "Password", text("password", credential.password))
            inner = ET.SubElement(method, "InnerAuthenticationMethod")
            if credential.inner == "eap-mschapv2":
                _sub(ET.SubElement(inner, "EAPMethod"), "Type", str(EAP_MSCHAPV2))
            else:
                number = NON_EAP_PAP if credential.inner == "pap" else NON_EAP_MSCHAPV2
                _sub(ET.SubElement(inner, "NonEAPAuthMethod"), "Type", str(number))
        case CertificateCredential():
            # The certificate's identity, not the anonymous one: with TLS 1.2 many supplicants
            # send it in the clear anyway (spec.ProfileSpec.outer_identity).
            _sub(client, "OuterIdentity", text("certificate identity", credential.identity))
            certificate = ET.SubElement(
                client, "ClientCertificate", {"format": "PKCS12", "encoding": "base64"}
            )
            certificate.text = base64.b64encode(credential.pkcs12).decode("ascii")
            _sub(client, "Passphrase", text("PKCS#12 password", credential.pkcs12_password))


def _applicability(applicability: ET.Element, spec: ProfileSpec) -> None:
    ois = spec.passpoint.roaming_consortium_ois if spec.passpoint is not None else ()
    if not spec.ssids and not ois:
        raise ValueError(
            "an eap-config names its networks by SSID or Roaming Consortium OI: the spec has neither"
        )
    for index, ssid in enumerate(spec.ssids):
        network = ET.SubElement(applicability, "IEEE80211")
        _sub(network, "SSID", text(f"SSID {index + 1}", ssid, max_bytes=32))
        _sub(network, "MinRSNProto", "CCMP")
    for oi in ois:
        _sub(ET.SubElement(applicability, "IEEE80211"), "ConsortiumOID", oi.lower())


def _provider_info(info: ET.Element, spec: ProfileSpec) -> None:
    _sub(info, "DisplayName", text("display name", spec.display_name))
    if spec.support_email or spec.support_url:
        helpdesk = ET.SubElement(info, "Helpdesk")
        if spec.support_email:
            _sub(helpdesk, "EmailAddress", text("support email", spec.support_email))
        if spec.support_url:
            if urlsplit(text("support URL", spec.support_url)).scheme not in ("https", "http"):
                raise ValueError("the support URL is not an http(s) URL")
            _sub(helpdesk, "WebAddress", spec.support_url)


def _sub(parent: ET.Element, name: str, value: str) -> None:
    ET.SubElement(parent, name).text = value
