"""The format modules as the registry's builders (:data:`portal.onboarding.formats.Builder`), by
format name, as the composition root registers them (sans-I/O).

The format modules write no sentence of their own; the few texts a file shows a person — Apple's
description under the profile's name, the Windows zip's read-me — are written here, as English
source strings marked for extraction, in the citizen's language through the ``gettext`` the
portal passes with the spec.

One file per format: NetworkManager's keyfile configures one connection, so the citizen gets the
first SSID's (operators list SSIDs in order of preference); ONC, Apple, Windows and eap-config
carry them all.
"""

from __future__ import annotations

from functools import partial

from portal.onboarding import android, apple, eapconfig, linux, windows
from portal.onboarding.formats import Builder, Gettext
from portal.onboarding.spec import CertificateCredential, ProfileSpec

__all__ = ["builders"]


def _(message: str) -> str:
    """Marks a source string for Babel's extraction; translated by the ``gettext`` given."""
    return message


APPLE_DESCRIPTION = _(
    "Connects this device to the secure Wi-Fi network of %(organisation)s with a credential of "
    "its own, and checks that the network really is ours."
)


def builders(signer: apple.Signer | None = None) -> dict[str, Builder]:
    """Every format of :data:`portal.onboarding.formats.STANDARD`; Apple's profiles signed by
    ``signer`` when one is configured (else served unsigned: "Not Verified" on the device)."""
    return {
        "mobileconfig": partial(mobileconfig, signer=signer),
        "passpoint": passpoint,
        "eap-config": eap_config,
        "wlan": wlan,
        "nm-keyfile": nm_keyfile,
        "onc": onc,
    }


def mobileconfig(spec: ProfileSpec, gettext: Gettext, *, signer: apple.Signer | None = None) -> bytes:
    description = gettext(APPLE_DESCRIPTION) % {"organisation": spec.organisation}
    profile = apple.mobileconfig(spec, description=description)
    return apple.sign(profile, signer) if signer is not None else profile


def passpoint(spec: ProfileSpec, gettext: Gettext) -> bytes:
    return android.passpoint_file(spec)


def eap_config(spec: ProfileSpec, gettext: Gettext) -> bytes:
    return eapconfig.eap_config(spec)


def onc(spec: ProfileSpec, gettext: Gettext) -> bytes:
    return linux.onc(spec)


def nm_keyfile(spec: ProfileSpec, gettext: Gettext) -> bytes:
    if not spec.ssids:
        raise ValueError("a NetworkManager keyfile needs an SSID: this profile has Passpoint only")
    return linux.keyfile(spec, spec.ssids[0])


def wlan(spec: ProfileSpec, gettext: Gettext) -> bytes:
    return windows.bundle(spec, readme=windows_readme(spec, gettext))


def windows_readme(spec: ProfileSpec, gettext: Gettext) -> str:
    """How to install the zip, and the secret it takes: the PKCS#12's password, or the user name
    and password Windows asks for at the first connection (a WLAN profile holds no password)."""
    credential = spec.credential
    files = list(windows.profiles(spec))
    lines = [
        gettext(_("Wi-Fi profiles: %(name)s")) % {"name": spec.display_name},
        "",
        gettext(
            _(
                "These files hold this device's own credential for the secure Wi-Fi network: keep "
                "them to yourself, and delete them once installed."
            )
        ),
        "",
        gettext(_("In a command prompt (cmd) opened in this folder, run:")),
        "",
        # one line per pinned CA: during a change of CA the zip carries ca.cer and ca-2.cer
        *(f"certutil -user -addstore Root {name}" for name in windows.ca_files(spec)),
    ]
    if isinstance(credential, CertificateCredential):
        lines.append(f"certutil -user -p {credential.pkcs12_password} -importPFX device.p12")
    lines += [f"netsh wlan add profile user=current filename={name}" for name in files]
    lines += [
        "",
        gettext(
            _(
                "The first command installs the certificate authority of the network's server: "
                "Windows asks you to confirm it."
            )
        ),
    ]
    if spec.passpoint is not None:
        lines.append(
            gettext(
                _(
                    "passpoint.xml works only with Wi-Fi adapters that know Passpoint (Hotspot 2.0): "
                    "if Windows refuses it, the other profiles are enough."
                )
            )
        )
    if isinstance(credential, CertificateCredential):
        lines.append(
            gettext(_("The password of device.p12 is %(password)s; Windows will not ask for it again."))
            % {"password": credential.pkcs12_password}
        )
    else:
        lines += [
            "",
            gettext(
                _("The first time Windows connects, it asks for a user name and a password: give these.")
            ),
            "",
            gettext(_("User name: %(username)s")) % {"username": credential.username},
            gettext(_("Password: %(password)s")) % {"password": credential.password},
        ]
    return "\n".join(lines)
