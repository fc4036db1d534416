"""Which profile files each platform is offered, first the recommended one (sans-I/O).

A :class:`Format` names a file (media type, extension), which credential it carries, and the
builder that writes it from a :class:`~portal.onboarding.spec.ProfileSpec`. The registry is
filled once at start-up by the composition root: :func:`standard` takes the builders it has, by
format name, and offers each platform the formats of :data:`STANDARD` whose builder was given (a
format module not yet there is simply not offered). Tests register their own builders.

Titles are English source strings marked for extraction with :func:`_`; the page translates them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Literal

from portal.onboarding.detect import Platform
from portal.onboarding.spec import ProfileSpec

__all__ = ["STANDARD", "Builder", "Format", "Formats", "standard"]

Builder = Callable[[ProfileSpec], bytes]
CredentialChoice = Literal["certificate", "password"]


def _(message: str) -> str:
    """Marks a title for Babel's extraction (``-k _``); translated where it is shown."""
    return message


@dataclass(frozen=True, slots=True, kw_only=True)
class Format:
    #: unique within a platform; with it, names the format in a download link (``ios/mobileconfig``)
    name: str
    title: str
    media_type: str
    extension: str
    #: what the file carries: an EAP-TLS certificate (preferred where the platform imports one
    #: with the profile) or a generated EAP-TTLS/PEAP password
    credential: CredentialChoice
    #: the PasswordCredential's method, for ``credential="password"``
    method: Literal["peap", "ttls"] = "ttls"
    build: Builder


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

    def offers(self, detected: Platform) -> list[tuple[Platform, list[Format]]]:
        """Every platform that has a format, the detected one first (for "other": in order)."""
        platforms = [detected] if detected in self._table else []
        platforms += [p for p in ORDER if p != detected and self._table.get(p)]
        return [(p, self.for_platform(p)) for p in platforms]

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
    method: Literal["peap", "ttls"] = "ttls"


_MOBILECONFIG = Standard(
    name="mobileconfig",
    title=_("Apple configuration profile"),
    media_type="application/x-apple-aspen-config",
    extension="mobileconfig",
    credential="certificate",
)
_EAP_CONFIG = Standard(
    name="eap-config",
    title=_("eap-config file for the geteduroam app"),
    media_type="application/eap-config",
    extension="eap-config",
    credential="certificate",
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
        ),
        _EAP_CONFIG,
    ),
    Platform.WINDOWS: (
        Standard(
            name="wlan",
            title=_("Windows Wi-Fi profile"),
            media_type="application/xml",
            extension="xml",
            credential="password",
            method="peap",
        ),
        _EAP_CONFIG,
    ),
    Platform.LINUX: (
        Standard(
            name="nm-keyfile",
            title=_("NetworkManager connection"),
            media_type="text/plain",
            extension="nmconnection",
            credential="password",
        ),
        _EAP_CONFIG,
    ),
    Platform.CHROMEOS: (
        Standard(
            name="onc",
            title=_("ChromeOS network configuration (ONC)"),
            media_type="application/json",
            extension="onc",
            credential="password",
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
                        method=row.method,
                        build=builders[row.name],
                    ),
                )
    return formats
