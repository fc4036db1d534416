"""Windows 10/11: WLAN profiles (``WLANProfile``, namespace ``…/WLAN/profile/v1``), sans-I/O.

What Windows reads (Microsoft's WLAN_profile schema, EapHostConfig and the method schemas
MsPeapConnectionPropertiesV1/V2, EapTtlsConnectionPropertiesV1, EapTlsConnectionPropertiesV1;
GEANT CAT's Windows module makes the same choices):

* **One profile per SSID.** The schema allows several ``SSID`` elements, but Windows' own UI
  handles one, and a profile is installed, shown and connected to by its name
  (``netsh wlan add profile filename=…``, ``netsh wlan connect name=…``): each SSID gets its own
  profile, named after it. With Passpoint, one more profile carries the ``Hotspot2`` element
  (DomainName, NAIRealm, RoamingConsortium) under a placeholder SSID (the schema requires one);
  Wi-Fi adapters without Hotspot 2.0 refuse that profile, the SSID ones still install.
  :func:`bundle` puts them in one zip with the CA (``ca.cer``) and, for EAP-TLS, the device's
  PKCS#12 (``device.p12``): the portal hands out that zip, docs/onboarding.md says how to install.
* **Server validation.** ``ServerNames`` (the server's names, ``;``-separated) and the CA's
  SHA-1 — ``TrustedRootCA`` for PEAP and EAP-TLS, ``TrustedRootCAHash`` for TTLS — with the
  prompt disabled, so a certificate from anywhere else is refused, not offered to the user.
  Windows compares the hash with certificates in its Trusted Root store: ``ca.cer`` must be
  installed there (``certutil -user -addstore Root ca.cer``). During a change of CA each pinned CA
  has its element (the schemas allow several) and its file: ``ca.cer`` (today's), ``ca-2.cer``…
* **Credentials.** A WLAN profile carries no password (Windows asks at the first connection and
  keeps it: ``cacheUserData``); the portal shows the device credential to type. EAP-TLS takes the
  certificate from the user's store, where ``device.p12`` is imported.
* **Outer identity.** TTLS sends ``AnonymousIdentity`` as given; PEAP's ``AnonymousUserName`` is
  the user part only — Windows appends the realm of the identity typed (CAT documents the same).
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from typing import Literal
from xml.etree import ElementTree as ET

from portal.onboarding import untrusted
from portal.onboarding.spec import CertificateCredential, PasswordCredential, ProfileSpec
from portal.onboarding.untrusted import dns_names, ssid_octets

__all__ = [
    "NS",
    "PASSPOINT_SSID",
    "README",
    "bundle",
    "ca_files",
    "ca_sha1",
    "passpoint_profile",
    "profiles",
    "wlan_profile",
]


def _text(what: str, value: str) -> str:
    """``value`` if a profile may carry it (``untrusted.text``; empty allowed)."""
    return untrusted.text(what, value, required=False)


#: the namespaces Windows' profile schemas use
NS = {
    "wlan": "http://www.microsoft.com/networking/WLAN/profile/v1",
    "onex": "http://www.microsoft.com/networking/OneX/v1",
    "host": "http://www.microsoft.com/provisioning/EapHostConfig",
    "common": "http://www.microsoft.com/provisioning/EapCommon",
    "base": "http://www.microsoft.com/provisioning/BaseEapConnectionPropertiesV1",
    "peap": "http://www.microsoft.com/provisioning/MsPeapConnectionPropertiesV1",
    "peap2": "http://www.microsoft.com/provisioning/MsPeapConnectionPropertiesV2",
    "mschapv2": "http://www.microsoft.com/provisioning/MsChapV2ConnectionPropertiesV1",
    "ttls": "http://www.microsoft.com/provisioning/EapTtlsConnectionPropertiesV1",
    "tls": "http://www.microsoft.com/provisioning/EapTlsConnectionPropertiesV1",
}
for _prefix, _uri in NS.items():
    if _prefix != "wlan":  # the root's namespace is the default one (see _profile)
        ET.register_namespace(_prefix, _uri)

#: the SSID the Passpoint profile names: the schema requires one; Passpoint matching ignores it
PASSPOINT_SSID = "passpoint-profile"

#: EAP method types (IANA) and the author of the method's implementation (311: Microsoft's TTLS)
_PEAP, _TTLS, _TLS, _MSCHAPV2 = 25, 21, 13, 26
_AUTHOR = {_PEAP: 0, _TTLS: 311, _TLS: 0}

Authentication = Literal["WPA2", "WPA3ENT"]


def _sub(parent: ET.Element, ns: str, tag: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, f"{{{NS[ns]}}}{tag}")
    if text is not None:
        element.text = text
    return element


def ca_sha1(ca_der: bytes) -> str:
    """The CA's SHA-1 as Windows writes thumbprints in profiles: hex pairs separated by spaces."""
    digest = hashlib.sha1(ca_der, usedforsecurity=False).hexdigest()
    return " ".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def _trusted(validation: ET.Element, prefix: str, name: str, spec: ProfileSpec) -> None:
    """One element per pinned CA: Windows accepts a server chaining to any of them."""
    for der in spec.pinned_cas:
        _sub(validation, prefix, name, ca_sha1(der))


def ca_files(spec: ProfileSpec) -> dict[str, bytes]:
    """The CAs the zip carries, by file name: ``ca.cer`` today's, ``ca-2.cer``… the others."""
    return {
        "ca.cer" if index == 1 else f"ca-{index}.cer": der
        for index, der in enumerate(spec.pinned_cas, start=1)
    }


def _server_names(spec: ProfileSpec) -> str:
    return ";".join(dns_names(spec.server_names))


def _method(spec: ProfileSpec) -> int:
    if isinstance(spec.credential, CertificateCredential):
        return _TLS
    return _PEAP if spec.credential.method == "peap" else _TTLS


def _mschapv2(parent: ET.Element) -> None:
    """EAP-MSCHAPv2 as an inner method: never Windows' own logon credentials."""
    eap = _sub(parent, "base", "Eap")
    _sub(eap, "base", "Type", str(_MSCHAPV2))
    _sub(_sub(eap, "mschapv2", "EapType"), "mschapv2", "UseWinLogonCredentials", "false")


def _peap(config: ET.Element, spec: ProfileSpec) -> None:
    eap = _sub(config, "base", "Eap")
    _sub(eap, "base", "Type", str(_PEAP))
    kind = _sub(eap, "peap", "EapType")
    validation = _sub(kind, "peap", "ServerValidation")
    _sub(validation, "peap", "DisableUserPromptForServerValidation", "true")
    _sub(validation, "peap", "ServerNames", _server_names(spec))
    _trusted(validation, "peap", "TrustedRootCA", spec)
    _sub(kind, "peap", "FastReconnect", "true")
    _sub(kind, "peap", "InnerEapOptional", "false")
    _mschapv2(kind)
    _sub(kind, "peap", "EnableQuarantineChecks", "false")
    _sub(kind, "peap", "RequireCryptoBinding", "false")
    extensions = _sub(kind, "peap", "PeapExtensions")
    _sub(extensions, "peap2", "PerformServerValidation", "true")
    _sub(extensions, "peap2", "AcceptServerName", "true")
    privacy = _sub(extensions, "peap2", "IdentityPrivacy")
    _sub(privacy, "peap2", "EnableIdentityPrivacy", "true")
    # "@realm" alone has no user part: "@" then (as CAT writes it), never an empty name
    user = spec.anonymous_identity.partition("@")[0] or "@"
    _sub(privacy, "peap2", "AnonymousUserName", _text("the anonymous identity", user))


def _ttls(config: ET.Element, spec: ProfileSpec, credential: PasswordCredential) -> None:
    ttls = _sub(config, "ttls", "EapTtls")
    validation = _sub(ttls, "ttls", "ServerValidation")
    _sub(validation, "ttls", "ServerNames", _server_names(spec))
    _trusted(validation, "ttls", "TrustedRootCAHash", spec)
    _sub(validation, "ttls", "DisablePrompt", "true")
    phase2 = _sub(ttls, "ttls", "Phase2Authentication")
    if credential.inner == "pap":
        _sub(phase2, "ttls", "PAPAuthentication")
    elif credential.inner == "mschapv2":
        _sub(_sub(phase2, "ttls", "MSCHAPv2Authentication"), "ttls", "UseWinlogonCredentials", "false")
    else:
        _mschapv2(phase2)
    phase1 = _sub(ttls, "ttls", "Phase1Identity")
    _sub(phase1, "ttls", "IdentityPrivacy", "true")
    _sub(
        phase1,
        "ttls",
        "AnonymousIdentity",
        _text("the anonymous identity", spec.anonymous_identity),
    )


def _tls(config: ET.Element, spec: ProfileSpec) -> None:
    eap = _sub(config, "base", "Eap")
    _sub(eap, "base", "Type", str(_TLS))
    kind = _sub(eap, "tls", "EapType")
    store = _sub(_sub(kind, "tls", "CredentialsSource"), "tls", "CertificateStore")
    _sub(store, "tls", "SimpleCertSelection", "true")
    validation = _sub(kind, "tls", "ServerValidation")
    _sub(validation, "tls", "DisableUserPromptForServerValidation", "true")
    _sub(validation, "tls", "ServerNames", _server_names(spec))
    _trusted(validation, "tls", "TrustedRootCA", spec)
    _sub(kind, "tls", "DifferentUsername", "false")


def _onex(security: ET.Element, spec: ProfileSpec) -> None:
    onex = _sub(security, "onex", "OneX")
    _sub(onex, "onex", "cacheUserData", "true")
    _sub(onex, "onex", "authMode", "user")
    host = _sub(_sub(onex, "onex", "EAPConfig"), "host", "EapHostConfig")
    method = _method(spec)
    eap_method = _sub(host, "host", "EapMethod")
    _sub(eap_method, "common", "Type", str(method))
    _sub(eap_method, "common", "VendorId", "0")
    _sub(eap_method, "common", "VendorType", "0")
    _sub(eap_method, "common", "AuthorId", str(_AUTHOR[method]))
    config = _sub(host, "host", "Config")
    credential = spec.credential
    if isinstance(credential, CertificateCredential):
        _tls(config, spec)
    elif credential.method == "peap":
        _peap(config, spec)
    else:
        _ttls(config, spec, credential)


def _ssid(ssid: str) -> tuple[str, str]:
    return ssid_octets(ssid).hex().upper(), ssid


def _profile(
    name: str, ssid: str, spec: ProfileSpec, authentication: Authentication, *, hotspot2: bool
) -> bytes:
    root = ET.Element(f"{{{NS['wlan']}}}WLANProfile")
    _sub(root, "wlan", "name", _text("a profile name", name))
    ssid_hex, ssid_name = _ssid(ssid)
    element = _sub(_sub(root, "wlan", "SSIDConfig"), "wlan", "SSID")
    _sub(element, "wlan", "hex", ssid_hex)
    _sub(element, "wlan", "name", ssid_name)
    if hotspot2 and spec.passpoint is not None:
        passpoint = spec.passpoint
        hs2 = _sub(root, "wlan", "Hotspot2")
        _sub(
            hs2,
            "wlan",
            "DomainName",
            _text("the Home SP's FQDN", passpoint.home_fqdn),
        )
        _sub(
            _sub(hs2, "wlan", "NAIRealm"),
            "wlan",
            "name",
            _text("the NAI realm", passpoint.nai_realm),
        )
        if passpoint.roaming_consortium_ois:
            consortium = _sub(hs2, "wlan", "RoamingConsortium")
            for oi in passpoint.roaming_consortium_ois:
                _sub(consortium, "wlan", "OUI", oi)
    _sub(root, "wlan", "connectionType", "ESS")
    _sub(root, "wlan", "connectionMode", "auto")
    _sub(root, "wlan", "autoSwitch", "false")
    security = _sub(_sub(root, "wlan", "MSM"), "wlan", "security")
    auth = _sub(security, "wlan", "authEncryption")
    _sub(auth, "wlan", "authentication", authentication)
    _sub(auth, "wlan", "encryption", "AES")
    _sub(auth, "wlan", "useOneX", "true")
    if authentication == "WPA2":  # fast roaming between the region's access points (CAT does the same)
        _sub(security, "wlan", "PMKCacheMode", "enabled")
        _sub(security, "wlan", "PMKCacheTTL", "720")
        _sub(security, "wlan", "PMKCacheSize", "128")
        _sub(security, "wlan", "preAuthMode", "disabled")
    _onex(security, spec)
    # the declaration as Windows writes it in the profiles it exports (ElementTree's own uses ')
    body = ET.tostring(root, encoding="unicode", default_namespace=NS["wlan"])
    return ('<?xml version="1.0" encoding="UTF-8"?>\n' + body).encode()


def wlan_profile(spec: ProfileSpec, ssid: str, *, authentication: Authentication = "WPA2") -> bytes:
    """The profile for one SSID, named after it. ``WPA2`` (the default) also joins WPA2/WPA3
    transition networks and Windows 10; ``WPA3ENT`` is for WPA3-only networks (Windows 11)."""
    return _profile(ssid, ssid, spec, authentication, hotspot2=False)


def passpoint_profile(spec: ProfileSpec, *, authentication: Authentication = "WPA2") -> bytes:
    """The Hotspot 2.0 profile: any access point advertising the home FQDN, realm or an OI."""
    if spec.passpoint is None:
        raise ValueError("this profile has no Passpoint part")
    name = f"{spec.passpoint.friendly_name} (Passpoint)"
    return _profile(name, PASSPOINT_SSID, spec, authentication, hotspot2=True)


def profiles(spec: ProfileSpec, *, authentication: Authentication = "WPA2") -> dict[str, bytes]:
    """Every profile of ``spec`` by file name: one per SSID, then the Passpoint one if any."""
    files: dict[str, bytes] = {}
    for number, ssid in enumerate(spec.ssids, start=1):
        files[f"wlan-{number}.xml"] = wlan_profile(spec, ssid, authentication=authentication)
    if spec.passpoint is not None:
        files["passpoint.xml"] = passpoint_profile(spec, authentication=authentication)
    return files


#: the text file of the zip that says how to install it, and with what (docs/onboarding.md)
README = "read-me.txt"


def bundle(spec: ProfileSpec, *, authentication: Authentication = "WPA2", readme: str = "") -> bytes:
    """What the portal hands to a Windows device: a zip of the profiles, the CA to trust
    (``ca.cer``, DER) and, for EAP-TLS, the device's certificate and key (``device.p12``,
    protected by the credential's PKCS#12 password); ``readme``, the caller's text in the
    citizen's language, becomes :data:`README`. A WLAN profile cannot carry a password, so that
    text is where the citizen finds the PKCS#12's password, or the user name and password Windows
    asks for at the first connection: the zip is a secret, like every profile holding a credential."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        if readme:
            # Notepad's line ends, and a BOM so that older Notepads read UTF-8 as UTF-8
            text = "\r\n".join(readme.splitlines()) + "\r\n"
            archive.writestr(README, b"\xef\xbb\xbf" + text.encode("utf-8"))
        for name, data in profiles(spec, authentication=authentication).items():
            archive.writestr(name, data)
        for name, der in ca_files(spec).items():
            archive.writestr(name, der)
        if isinstance(spec.credential, CertificateCredential):
            archive.writestr("device.p12", spec.credential.pkcs12)
    return buffer.getvalue()
