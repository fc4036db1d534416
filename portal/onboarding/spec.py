"""What a device's profile for the secure network holds, whatever the platform's format.

Every format module (``apple.py``, ``android.py``, ``eapconfig.py``, ``windows.py``, ``linux.py``)
takes a :class:`ProfileSpec` and returns the bytes of a file. They do no I/O and read no settings:
the caller (the onboarding service, a CLI command, a test) fills the spec.

The rule that matters most (docs/eap.md, "What devices must pin"): every profile pins the CA that
issued the RADIUS server's certificate (``ca_der``) **and** the server's name(s)
(``server_names``); a device told to accept any certificate gives its credential to the first
evil twin. A spec without both cannot be made.

During a change of the server's CA (docs/onboarding.md, "Certificates: what to buy, what to make,
how to rotate") a profile pins more than one: ``ca_der`` stays the CA that signs today's server
certificate — what a format that can pin only one pins — and ``other_cas_der`` the others (the
next CA before the switch, the previous one after); :attr:`ProfileSpec.pinned_cas` is all of them.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "CertificateCredential",
    "Credential",
    "Passpoint",
    "PasswordCredential",
    "ProfileSpec",
]

_OI = re.compile(r"^(?:[0-9A-F]{6}|[0-9A-F]{10})$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Passpoint:
    """Hotspot 2.0 / Passpoint: how a device recognises, at any access point that advertises
    them, the networks where this identity works without knowing their SSID."""

    #: the Home SP's FQDN (Passpoint's "home" match, e.g. ``wifi.region-sud.fr``)
    home_fqdn: str
    #: what the device shows as the provider (e.g. ``Wi-Fi Région Sud``)
    friendly_name: str
    #: the NAI realm access points advertise in ANQP (usually the home realm)
    nai_realm: str
    #: Roaming Consortium OIs, upper-case hex, 3 or 5 octets (``"5A03BA0000"`` OpenRoaming,
    #: ``"001BC50460"`` eduroam): the home's own first, then those policy allows
    roaming_consortium_ois: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for oi in self.roaming_consortium_ois:
            if not _OI.match(oi):
                raise ValueError(f"a Roaming Consortium OI is 6 or 10 upper-case hex digits: {oi!r}")
        if not self.home_fqdn or not self.nai_realm:
            raise ValueError("Passpoint needs the Home SP's FQDN and the NAI realm")


@dataclass(frozen=True, slots=True, kw_only=True)
class CertificateCredential:
    """EAP-TLS: a client certificate issued for this device by the device CA, and its key."""

    #: the device's certificate, DER
    certificate_der: bytes
    #: the device's certificate and key as PKCS#12 (what Apple, Android and Windows import),
    #: protected by ``pkcs12_password`` (platforms refuse an empty one)
    pkcs12: bytes
    pkcs12_password: str
    #: the device's private key, PEM, unencrypted (NetworkManager and eapol_test read PEM files)
    private_key_pem: bytes
    #: the identity the certificate names (``username@realm`` or a device name ``…@realm``)
    identity: str
    method: Literal["tls"] = "tls"


@dataclass(frozen=True, slots=True, kw_only=True)
class PasswordCredential:
    """EAP-TTLS or PEAP with a generated per-device password (a device credential: revocable,
    never the account's own password)."""

    #: the inner identity, ``username@realm``
    username: str
    password: str
    #: the outer method and the inner one: PEAP carries EAP-MSCHAPv2; TTLS carries any of these
    method: Literal["peap", "ttls"] = "ttls"
    inner: Literal["mschapv2", "eap-mschapv2", "pap"] = "eap-mschapv2"

    def __post_init__(self) -> None:
        if self.method == "peap" and self.inner != "eap-mschapv2":
            raise ValueError("PEAP carries EAP-MSCHAPv2 only")


Credential = CertificateCredential | PasswordCredential


@dataclass(frozen=True, slots=True, kw_only=True)
class ProfileSpec:
    """One device's profile: where it may connect, whom it must trust, and with what."""

    #: who provides the network (the region's name), shown by devices and in eap-config
    organisation: str
    #: the home realm (``wifi.region-sud.fr``)
    realm: str
    #: the secure network's SSID(s); may be empty when ``passpoint`` is given
    ssids: tuple[str, ...]
    #: the CA that issued the RADIUS server's certificate, DER (pinned)
    ca_der: bytes
    #: the name(s) the RADIUS server's certificate carries (pinned; the first is the main one)
    server_names: tuple[str, ...]
    credential: Credential
    passpoint: Passpoint | None = None
    #: the outer identity sent in the clear; ``anonymous@realm`` unless told otherwise
    anonymous_identity: str = ""
    #: what the device lists the profile as ("Wi-Fi Région Sud — iPhone de Marie")
    display_name: str = ""
    #: a stable id for this device's profile, so that installing a new one replaces the old one
    profile_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: where the citizen finds help (a URL on the portal), and an email for support
    support_url: str = ""
    support_email: str = ""
    #: the profile's language (``fr``, ``it``, ``en``) for the texts it carries
    language: str = "fr"
    #: the other CAs pinned beside ``ca_der`` while the server's CA changes (DER): the next one
    #: before the switch, the previous one after; empty the rest of the time
    other_cas_der: tuple[bytes, ...] = ()

    def __post_init__(self) -> None:
        if not self.ca_der or not self.server_names:
            raise ValueError("a profile pins both the server's CA and its name")
        if not all(self.other_cas_der):
            raise ValueError("an empty CA cannot be pinned")
        if not self.ssids and self.passpoint is None:
            raise ValueError("a profile needs an SSID or Passpoint")
        if not self.anonymous_identity:
            object.__setattr__(self, "anonymous_identity", f"anonymous@{self.realm}")
        if not self.display_name:
            object.__setattr__(self, "display_name", self.organisation)

    @property
    def pinned_cas(self) -> tuple[bytes, ...]:
        """Every CA the profile pins, DER: ``ca_der`` first, then ``other_cas_der``, once each."""
        return tuple(dict.fromkeys((self.ca_der, *self.other_cas_der)))

    @property
    def outer_identity(self) -> str:
        """What goes in the clear: the anonymous identity for the tunnelled methods; for EAP-TLS
        also anonymous under TLS 1.3, but many supplicants send the certificate's identity with
        TLS 1.2, so the formats that need one use ``credential.identity`` there."""
        return self.anonymous_identity
