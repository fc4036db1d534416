"""Which profile files each platform is offered, first the recommended one (sans-I/O).

A :class:`Format` names a file (media type, extension), which credentials it can carry, what of
the network it needs, and the builder that writes it from a
:class:`~portal.onboarding.spec.ProfileSpec`. The registry is filled once at start-up by the
composition root: :func:`standard` takes the builders it has, by format name, and offers each
platform the formats of :data:`STANDARD` whose builder was given. Tests register their own builders.

Whether a format is offered to a citizen is decided per request, against the network the
operators describe (:class:`Reach`: SSIDs, Passpoint, the server's names) and the EAP methods the
server serves: a Passpoint file for a region without Passpoint, or a password credential for a
method the server refuses, would make a file that cannot connect, so it is not offered
(:meth:`Format.serves`, :meth:`Format.credential_for`).

Titles are English source strings marked for extraction with :func:`_`; the page translates them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from portal.onboarding.android import home_pinned
from portal.onboarding.detect import Platform
from portal.onboarding.spec import Passpoint, ProfileSpec

__all__ = [
    "STANDARD",
    "Builder",
    "Format",
    "Formats",
    "Gettext",
    "PasswordMethod",
    "Reach",
    "standard",
]

#: translates a source string into the citizen's language (the texts a file carries for people)
Gettext = Callable[[str], str]
#: writes the file: the spec, and the citizen's language for the few texts a file shows
Builder = Callable[[ProfileSpec, Gettext], bytes]
CredentialChoice = Literal["certificate", "password"]
#: a password credential's outer and inner method, as ``spec.PasswordCredential`` takes them
PasswordMethod = tuple[Literal["peap", "ttls"], Literal["mschapv2", "eap-mschapv2", "pap"]]
#: what of the network a format needs: ``any`` (SSIDs or Passpoint), ``ssid`` (no Passpoint
#: support), ``passpoint`` (Passpoint only), ``ssid-or-oi`` (SSIDs or Roaming Consortium OIs)
NetworkNeed = Literal["any", "ssid", "passpoint", "ssid-or-oi"]

#: the EAP method names the server publishes (``EapProfile.methods``, as decision records name
#: them) for each password method
_SERVED_AS = {
    ("peap", "eap-mschapv2"): "peap/mschapv2",
    ("ttls", "eap-mschapv2"): "eap-ttls/eap-mschapv2",
    ("ttls", "mschapv2"): "eap-ttls/mschapv2",
    ("ttls", "pap"): "eap-ttls/pap",
}
EAP_TLS = "eap-tls"


def _(message: str) -> str:
    """Marks a title for Babel's extraction (``-k _``); translated where it is shown."""
    return message


@dataclass(frozen=True, slots=True, kw_only=True)
class Reach:
    """What a profile would tell the device, checked before a format is offered."""

    ssids: tuple[str, ...]
    passpoint: Passpoint | None
    #: the RADIUS server's names (``EapProfile.server_names``)
    server_names: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Format:
    #: unique within a platform; with it, names the format in a download link (``ios/mobileconfig``)
    name: str
    title: str
    media_type: str
    extension: str
    #: what the file carries by preference: an EAP-TLS certificate (where the platform imports
    #: one with the profile) or a generated EAP-TTLS/PEAP password
    credential: CredentialChoice
    #: the password credentials the file can carry, in order of preference (empty: none)
    passwords: tuple[PasswordMethod, ...] = ()
    network: NetworkNeed = "any"
    build: Builder

    def serves(self, reach: Reach) -> bool:
        """Whether this file can describe the network: a Passpoint-only file needs Passpoint
        (and, for Android, a server name under the Home SP's FQDN, which is all it can pin), an
        SSID-only one an SSID."""
        ois = reach.passpoint.roaming_consortium_ois if reach.passpoint is not None else ()
        if self.network == "ssid":
            return bool(reach.ssids)
        if self.network == "ssid-or-oi":
            return bool(reach.ssids or ois)
        if self.network == "passpoint":
            return reach.passpoint is not None and home_pinned(reach.server_names, reach.passpoint.home_fqdn)
        return bool(reach.ssids) or reach.passpoint is not None

    def credential_for(
        self, *, served: Collection[str], certificates: bool
    ) -> tuple[CredentialChoice, PasswordMethod | None] | None:
        """The credential a download of this format gets: a certificate where the file carries one,
        the server serves EAP-TLS and a device CA issues (``certificates``); else the first of its
        password methods the server serves; None when neither (the format is not offered)."""
        if self.credential == "certificate" and certificates and EAP_TLS in served:
            return "certificate", None
        for method in self.passwords:
            if _SERVED_AS[method] in served:
                return "password", method
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Offer:
    platform: Platform
    format: Format

    @property
    def key(self) -> str:
        return f"{self.platform.value}/{self.format.name}"


#: the order platforms are listed in after the detected one
ORDER = (
    Platform.IOS,
    Platform.ANDROID,
    Platform.WINDOWS,
    Platform.MACOS,
    Platform.LINUX,
    Platform.CHROMEOS,
)


class Formats:
    """Platform → formats, in order of preference. Unknown names are refused when registered."""

    def __init__(self) -> None:
        self._table: dict[Platform, list[Format]] = {}

    def register(self, platform: Platform, fmt: Format) -> None:
        if platform is Platform.OTHER:
            raise ValueError("formats are registered for a named platform; 'other' is offered them all")
        existing = self._table.setdefault(platform, [])
        if any(f.name == fmt.name for f in existing):
            raise ValueError(f"{platform.value} has a format named {fmt.name} already")
        if "/" in fmt.name or not fmt.name:
            raise ValueError(f"a format's name is a non-empty word without '/': {fmt.name!r}")
        existing.append(fmt)

    def __bool__(self) -> bool:
        return any(self._table.values())

    def for_platform(self, platform: Platform) -> list[Format]:
        return list(self._table.get(platform, ()))

    def offers(
        self, detected: Platform, usable: Callable[[Format], bool] = lambda _: True
    ) -> list[tuple[Platform, list[Format]]]:
        """Every platform that has a ``usable`` format, the detected one first (for "other": in
        order)."""
        kept = {p: [f for f in formats if usable(f)] for p, formats in self._table.items()}
        platforms = [detected] if kept.get(detected) else []
        platforms += [p for p in ORDER if p != detected and kept.get(p)]
        return [(p, kept[p]) for p in platforms]

    def find(self, key: str) -> Offer | None:
        """The offer a link's ``platform/name`` names, or None (a hostile or stale key)."""
        platform_name, _, name = key.partition("/")
        try:
            platform = Platform(platform_name)
        except ValueError:
            return None
        for fmt in self._table.get(platform, ()):
            if fmt.name == name:
                return Offer(platform=platform, format=fmt)
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class Standard:
    """One row of :data:`STANDARD`: a format without its builder."""

    name: str
    title: str
    media_type: str
    extension: str
    credential: CredentialChoice
    passwords: tuple[PasswordMethod, ...] = ()
    network: NetworkNeed = "any"


#: a device credential is an NT hash (accounts/credentials.py): it answers MS-CHAPv2, inside PEAP
#: or TTLS, never PAP (PAP inside TTLS checks the account's own password)
_MSCHAPV2_FAMILY: tuple[PasswordMethod, ...] = (
    ("peap", "eap-mschapv2"),
    ("ttls", "eap-mschapv2"),
    ("ttls", "mschapv2"),
)
_MOBILECONFIG = Standard(
    name="mobileconfig",
    title=_("Apple configuration profile"),
    media_type="application/x-apple-aspen-config",
    extension="mobileconfig",
    credential="certificate",
    # Passpoint's username/password credential is EAP-TTLS (CAT writes no PEAP Passpoint payload)
    passwords=(("ttls", "mschapv2"), ("ttls", "eap-mschapv2"), ("peap", "eap-mschapv2")),
)
_EAP_CONFIG = Standard(
    name="eap-config",
    title=_("eap-config file for the geteduroam app"),
    media_type="application/eap-config",
    extension="eap-config",
    credential="certificate",
    passwords=_MSCHAPV2_FAMILY,
    network="ssid-or-oi",
)

#: what each platform is offered, the recommended first (issue 17; docs/onboarding.md)
STANDARD: Mapping[Platform, tuple[Standard, ...]] = {
    Platform.IOS: (_MOBILECONFIG,),
    Platform.MACOS: (_MOBILECONFIG,),
    Platform.ANDROID: (
        Standard(
            name="passpoint",
            title=_("Passpoint profile for Android"),
            media_type="application/x-wifi-config",
            extension="config",
            credential="certificate",
            # Android's PPS-MO: EAP-TTLS with a non-EAP inner method only (no PEAP, no
            # EAP-MSCHAPv2); of those, a device credential answers MS-CHAPv2
            passwords=(("ttls", "mschapv2"),),
            network="passpoint",
        ),
        _EAP_CONFIG,
    ),
    Platform.WINDOWS: (
        Standard(
            name="wlan",
            title=_("Windows Wi-Fi profiles (zip)"),
            media_type="application/zip",
            extension="zip",
            credential="certificate",
            passwords=_MSCHAPV2_FAMILY,
        ),
        _EAP_CONFIG,
    ),
    Platform.LINUX: (
        Standard(
            name="nm-keyfile",
            title=_("NetworkManager connection"),
            media_type="text/plain",
            extension="nmconnection",
            credential="certificate",
            passwords=(("ttls", "eap-mschapv2"), ("peap", "eap-mschapv2"), ("ttls", "mschapv2")),
            network="ssid",
        ),
        _EAP_CONFIG,
    ),
    Platform.CHROMEOS: (
        Standard(
            name="onc",
            title=_("ChromeOS network configuration (ONC)"),
            media_type="application/json",
            extension="onc",
            credential="certificate",
            # ONC's Inner has no EAP-MSCHAPv2 for TTLS: linux.onc writes MSCHAPv2 for it
            passwords=(("peap", "eap-mschapv2"), ("ttls", "mschapv2")),
            network="ssid",
        ),
    ),
}


def standard(
    builders: Mapping[str, Builder], *, table: Mapping[Platform, Iterable[Standard]] = STANDARD
) -> Formats:
    """The registry of :data:`STANDARD` for the builders given by format name (``mobileconfig``,
    ``passpoint``, ``eap-config``, ``wlan``, ``nm-keyfile``, ``onc``). A builder for a name no
    row has is a configuration error, found at start-up."""
    unknown = set(builders) - {row.name for rows in table.values() for row in rows}
    if unknown:
        raise ValueError(f"no profile format is named {', '.join(sorted(unknown))}")
    formats = Formats()
    for platform, rows in table.items():
        for row in rows:
            if row.name in builders:
                formats.register(
                    platform,
                    Format(
                        name=row.name,
                        title=row.title,
                        media_type=row.media_type,
                        extension=row.extension,
                        credential=row.credential,
                        passwords=row.passwords,
                        network=row.network,
                        build=builders[row.name],
                    ),
                )
    return formats
