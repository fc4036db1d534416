"""Linux and ChromeOS: NetworkManager keyfiles and an ONC file, sans-I/O.

**NetworkManager keyfile** (``nm-settings-keyfile``): one connection per SSID, a GKeyFile text
that goes to ``/etc/NetworkManager/system-connections/<name>.nmconnection`` (root-owned, mode
0600, then ``nmcli connection reload``). The certificates travel *inside* the file as blobs
(``data:;base64,…``), so one file is the whole profile and nothing points at a path the user
might move. The server is pinned by the CA (``ca-cert``, DER: one CA even during a change of CA,
see :func:`ca_cert`) and its name twice: ``domain-match``
(an exact name, NetworkManager 1.24+) and ``domain-suffix-match`` (1.2+, so an older
NetworkManager that ignores ``domain-match`` still checks the name). EAP-TLS gives the device's
PKCS#12 as both ``client-cert`` and ``private-key``, as NetworkManager documents for PKCS#12,
with its password: the key is never written unencrypted.

**ONC** (ChromeOS' Open Network Configuration, Chromium's ``components/onc/docs/onc_spec.md``):
one ``UnencryptedConfiguration`` with a WiFi network per SSID, the CA as an ``Authority``
certificate referred to by ``ServerCARefs`` (``UseSystemCAs`` false: only our CA; during a change
of CA one ``Authority`` per pinned CA, all in ``ServerCARefs``: shill writes them to one PEM file
for wpa_supplicant, which trusts each), the server's
name as ``SubjectAlternativeNameMatch`` (DNS) and ``DomainSuffixMatch``. ONC requires a PKCS#12
without passphrase, so the EAP-TLS one is re-encoded unencrypted: the file is a secret, handed
over once, like the device credential itself. ONC's ``Inner`` has no EAP-MSCHAPv2 for TTLS; a
TTLS credential meant for it is given as MS-CHAPv2, which Sésame accepts with the same credential.

Every value here comes from somebody (a commune's SSID, a citizen's device label): a control
character — a line break above all, which would let a value write keyfile lines of its own — is
refused, never escaped into the file.
"""

from __future__ import annotations

import base64
import hashlib
import json
import uuid

from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import NoEncryption, pkcs12

from portal.onboarding import untrusted
from portal.onboarding.spec import CertificateCredential, ProfileSpec
from portal.onboarding.untrusted import dns_names, ssid_octets

__all__ = ["keyfile", "keyfiles", "onc"]


def _text(what: str, value: str) -> str:
    """``value`` if a profile may carry it (``untrusted.text``; empty allowed)."""
    return untrusted.text(what, value, required=False)


#: NetworkManager's phase 2 for each (outer, inner) of a password credential
_PHASE2 = {
    ("peap", "eap-mschapv2"): ("phase2-auth", "mschapv2"),
    ("ttls", "pap"): ("phase2-auth", "pap"),
    ("ttls", "mschapv2"): ("phase2-auth", "mschapv2"),
    ("ttls", "eap-mschapv2"): ("phase2-autheap", "mschapv2"),
}
_ONC_OUTER = {"peap": "PEAP", "ttls": "EAP-TTLS"}
_ONC_INNER = {"pap": "PAP", "mschapv2": "MSCHAPv2", "eap-mschapv2": "MSCHAPv2"}


def _stable_uuid(spec: ProfileSpec, what: str) -> uuid.UUID:
    """The same device's profile keeps its ids, so installing it again replaces the old one."""
    return uuid.uuid5(uuid.NAMESPACE_URL, f"sesame:profile:{spec.profile_id}:{what}")


# -- NetworkManager keyfile -------------------------------------------------------------------


def _escaped(value: str, what: str) -> str:
    """A string value as GKeyFile writes it: backslashes doubled, spaces at either end as
    ``\\s`` (GKeyFile would strip them); control characters were refused."""
    written = _text(what, value).replace("\\", "\\\\")
    stripped = written.strip(" ")
    lead = len(written) - len(written.lstrip(" "))
    trail = len(written) - len(written.rstrip(" ")) if stripped else 0
    return "\\s" * lead + stripped + "\\s" * trail


def _blob(data: bytes) -> str:
    return "data:;base64," + base64.b64encode(data).decode()


def ca_cert(spec: ProfileSpec) -> bytes:
    """What ``ca-cert`` holds: one CA, DER — during a change of CA, the one today's server
    certificate chains to (``spec.ca_der``). NetworkManager hands a blob to wpa_supplicant as a
    blob, and wpa_supplicant reads one certificate from a ``ca_cert`` blob (``d2i_X509``; 2.10
    falls back to the first PEM certificate; older ones read DER only): a PEM bundle, which libnm
    accepts, would pin its first CA alone — or, on an older wpa_supplicant, nothing that works.
    tests/interop/test_onboarding_rotation.py shows both through eapol_test. A keyfile made
    before the switch stops working at the switch and is downloaded again (docs/onboarding.md)."""
    return spec.ca_der


def _ssid_value(ssid: str) -> str:
    """Text as it is, unless NetworkManager could read it as a list of octets (``;`` in it):
    then the octets, which it reads back exactly."""
    raw = ssid_octets(ssid)
    if ";" in ssid:
        return "".join(f"{octet};" for octet in raw)
    return _escaped(ssid, "an SSID")


def keyfile(spec: ProfileSpec, ssid: str) -> bytes:
    """The NetworkManager connection for one SSID of ``spec``."""
    names = ";".join(dns_names(spec.server_names))
    sections: list[tuple[str, list[tuple[str, str]]]] = [
        (
            "connection",
            [
                ("id", _escaped(ssid, "an SSID")),
                ("uuid", str(_stable_uuid(spec, f"nm:{ssid}"))),
                ("type", "wifi"),
            ],
        ),
        ("wifi", [("mode", "infrastructure"), ("ssid", _ssid_value(ssid))]),
        ("wifi-security", [("key-mgmt", "wpa-eap")]),
    ]
    eap: list[tuple[str, str]] = []
    credential = spec.credential
    if isinstance(credential, CertificateCredential):
        eap += [("eap", "tls;"), ("identity", _escaped(credential.identity, "the identity"))]
    else:
        eap += [
            ("eap", f"{credential.method};"),
            ("identity", _escaped(credential.username, "the username")),
            ("anonymous-identity", _escaped(spec.anonymous_identity, "the anonymous identity")),
        ]
    eap += [("ca-cert", _blob(ca_cert(spec))), ("domain-match", names), ("domain-suffix-match", names)]
    if isinstance(credential, CertificateCredential):
        eap += [
            ("client-cert", _blob(credential.pkcs12)),
            ("private-key", _blob(credential.pkcs12)),
            ("private-key-password", _escaped(credential.pkcs12_password, "the PKCS#12 password")),
            ("private-key-password-flags", "0"),
        ]
    else:
        eap += [
            _PHASE2[credential.method, credential.inner],
            ("password", _escaped(credential.password, "the password")),
            ("password-flags", "0"),
        ]
    sections += [("802-1x", eap), ("ipv4", [("method", "auto")]), ("ipv6", [("method", "auto")])]
    lines: list[str] = []
    for section, entries in sections:
        lines.append(f"[{section}]")
        lines += [f"{key}={value}" for key, value in entries]
        lines.append("")
    return "\n".join(lines).encode()


def _ssids(spec: ProfileSpec) -> tuple[str, ...]:
    """NetworkManager and ChromeOS' ONC configure no Passpoint: a profile without SSID has
    nothing for them."""
    if not spec.ssids:
        raise ValueError("NetworkManager and ONC need an SSID: this profile has Passpoint only")
    return spec.ssids


def keyfiles(spec: ProfileSpec) -> dict[str, bytes]:
    """One keyfile per SSID, by file name (``<n>-<uuid>.nmconnection``: nothing of the SSID in
    the name, which NetworkManager does not need and a file system might not like)."""
    _ssids(spec)
    return {
        f"sesame-{number}-{_stable_uuid(spec, f'nm:{ssid}')}.nmconnection": keyfile(spec, ssid)
        for number, ssid in enumerate(spec.ssids, start=1)
    }


# -- ONC --------------------------------------------------------------------------------------


def _unencrypted_pkcs12(credential: CertificateCredential) -> bytes:
    """The device's PKCS#12 again, without passphrase, as ONC requires."""
    key, certificate, extra = pkcs12.load_key_and_certificates(
        credential.pkcs12, credential.pkcs12_password.encode()
    )
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey) or certificate is None:
        raise ValueError("the PKCS#12 holds no EC or RSA key with its certificate")
    return pkcs12.serialize_key_and_certificates(
        name=_text("the identity", credential.identity).encode(),
        key=key,
        cert=certificate,
        cas=extra or None,
        encryption_algorithm=NoEncryption(),
    )


def onc(spec: ProfileSpec) -> bytes:
    """The ONC file for ChromeOS: every SSID of ``spec``, the CA and, for EAP-TLS, the device's
    certificate and key."""
    names = dns_names(spec.server_names)
    # one Authority per pinned CA (the first keeps the GUID it always had), each a ServerCARef
    ca_guids = ["{" + str(_stable_uuid(spec, "onc:ca")) + "}"] + [
        "{" + str(_stable_uuid(spec, f"onc:ca:{hashlib.sha256(der).hexdigest()}")) + "}"
        for der in spec.pinned_cas[1:]
    ]
    certificates: list[dict[str, object]] = [
        {"GUID": guid, "Type": "Authority", "X509": base64.b64encode(der).decode()}
        for guid, der in zip(ca_guids, spec.pinned_cas, strict=True)
    ]
    credential = spec.credential
    eap: dict[str, object]
    if isinstance(credential, CertificateCredential):
        client_guid = "{" + str(_stable_uuid(spec, "onc:client")) + "}"
        certificates.append(
            {
                "GUID": client_guid,
                "Type": "Client",
                "PKCS12": base64.b64encode(_unencrypted_pkcs12(credential)).decode(),
            }
        )
        eap = {
            "Outer": "EAP-TLS",
            "Identity": _text("the identity", credential.identity),
            "ClientCertType": "Ref",
            "ClientCertRef": client_guid,
        }
    else:
        eap = {
            "Outer": _ONC_OUTER[credential.method],
            "Inner": _ONC_INNER[credential.inner],
            "Identity": _text("the username", credential.username),
            "AnonymousIdentity": _text("the anonymous identity", spec.anonymous_identity),
            "Password": _text("the password", credential.password),
        }
    eap |= {
        "SaveCredentials": True,
        "UseSystemCAs": False,
        "ServerCARefs": ca_guids,
        "SubjectAlternativeNameMatch": [{"Type": "DNS", "Value": name} for name in names],
        "DomainSuffixMatch": names,
    }
    networks = [
        {
            "GUID": "{" + str(_stable_uuid(spec, f"onc:{ssid}")) + "}",
            "Name": ssid,
            "Type": "WiFi",
            "WiFi": {
                "SSID": ssid,
                "HexSSID": ssid_octets(ssid).hex().upper(),
                "Security": "WPA-EAP",
                "AutoConnect": True,
                "HiddenSSID": False,
                "EAP": eap,
            },
        }
        for ssid in _ssids(spec)
    ]
    document = {
        "Type": "UnencryptedConfiguration",
        "NetworkConfigurations": networks,
        "Certificates": certificates,
    }
    return json.dumps(document, ensure_ascii=False, indent=2).encode()
