"""``sesame check``: is this configuration ready for production?

Settings that parse are not yet settings a region can open to the public with: the example realm,
a portal reached over plain ``http://``, the placeholder region name citizens would read ("du
réseau Région"), no SMTP server (the codes citizens need land in a local folder), certificates
that cannot be used, devices' profiles that would go unsigned. Each is a :class:`Finding` naming
the setting to change. ``sesame check`` prints them; ``sesame serve`` runs the same checks at start
in production (``SESAME_ENVIRONMENT=production``, the default) and refuses to start while any
blocking one is left, listing them all at once.

Only the services that run are checked: a RADIUS-only host (``SESAME_WEB_ENABLED=false``) shows
no page and sends no mail, so it needs no region name, public URL or SMTP server.
"""

from __future__ import annotations

from dataclasses import dataclass

from federation.tls import TlsError
from radius.eap.tlsengine import TlsConfigError
from radius.eapcerts import CertificateUnreadable
from sesame.compose import check_eap, check_radsec
from sesame.onboardsettings import OnboardingFileError, load_device_issuer, load_signer
from sesame.requisitionsettings import RecordsFileError, load_records_signer
from sesame.settings import Settings

#: the realm a fresh install has (the settings' default)
EXAMPLE_REALMS = frozenset({"wifi.example.org"})
#: region names that are placeholders, compared case-folded
PLACEHOLDER_REGION_NAMES = frozenset({"région", "region", ""})
#: the sender a fresh install has: a domain no mail server will vouch for
EXAMPLE_SENDER_DOMAIN = "@wifi.example.org"
#: names reserved for examples and tests (RFC 2606, RFC 6761): no partner can route to them
RESERVED_SUFFIXES = (
    ".example", ".test", ".invalid", ".localhost", ".example.org", ".example.com", ".example.net",
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class Finding:
    """Something to change before production: ``setting`` names it as an environment variable;
    a ``blocking`` one stops ``sesame serve`` in production, the others are printed."""

    setting: str
    problem: str
    blocking: bool = True

    def __str__(self) -> str:
        return f"{self.setting}: {self.problem}"


def _realm(settings: Settings) -> list[Finding]:
    realm = settings.realm
    if realm in EXAMPLE_REALMS:
        return [Finding(setting="SESAME_REALM", problem=f"{realm} is the example realm: set your region's")]
    if f".{realm}".endswith(RESERVED_SUFFIXES) or realm in {s.lstrip(".") for s in RESERVED_SUFFIXES}:
        return [
            Finding(
                setting="SESAME_REALM",
                problem=f"{realm} is a name reserved for examples and tests: no partner can route to it",
                blocking=False,
            )
        ]
    return []


def _portal(settings: Settings) -> list[Finding]:
    """What citizens see and receive: only when the web portal runs (the region's name is what
    its pages call the network)."""
    if not (settings.web.enabled and settings.portal.enabled):
        return []
    found = _region_name(settings)
    url = settings.portal.public_url
    if not url.startswith("https://"):
        found.append(
            Finding(
                setting="SESAME_PORTAL_PUBLIC_URL",
                problem=f"{url} is not https://: citizens' passwords would cross the network in clear",
            )
        )
    if not settings.mail.smtp_host:
        found.append(
            Finding(
                setting="SESAME_MAIL_SMTP_HOST",
                problem="no SMTP server: verification and reset codes would only be written to "
                f"{settings.mail.outbox}, never sent",
            )
        )
    elif settings.mail.sender.rstrip(">").endswith(EXAMPLE_SENDER_DOMAIN):
        found.append(
            Finding(
                setting="SESAME_MAIL_SENDER",
                problem="the example sender: set an address of your domain that its mail server vouches for",
            )
        )
    return found


def _sms(settings: Settings) -> list[Finding]:
    """SMS sign-up (issue 19): codes must leave through a gateway, one that asks for credentials."""
    sms = settings.sms
    if not (sms.enabled and settings.web.enabled and settings.portal.enabled):
        return []
    if not sms.kannel_url:
        return [
            Finding(
                setting="SESAME_SMS_KANNEL_URL",
                problem=f"no SMS gateway: the codes citizens need would only be written to {sms.outbox}",
            )
        ]
    if not sms.kannel_username or not sms.kannel_password.get_secret_value():
        return [
            Finding(
                setting="SESAME_SMS_KANNEL_PASSWORD",
                problem="Kannel's sendsms without a username and password: anyone who reaches it sends SMS",
                blocking=False,
            )
        ]
    return []


def _region_name(settings: Settings) -> list[Finding]:
    if settings.region_name.strip().casefold() in PLACEHOLDER_REGION_NAMES:
        return [
            Finding(
                setting="SESAME_REGION_NAME",
                problem=f"{settings.region_name!r} is the placeholder: the portal would say "
                f'"du réseau {settings.region_name}"; set your region\'s name (e.g. "Région Sud")',
            )
        ]
    return []


def _certificates(settings: Settings) -> list[Finding]:
    found = []
    for setting, usable in (("SESAME_EAP_*", check_eap), ("SESAME_FEDERATION_RADSEC_*", check_radsec)):
        try:
            usable(settings)
        except (CertificateUnreadable, TlsConfigError, TlsError) as exc:
            found.append(Finding(setting=setting, problem=str(exc)))
    return found


def _onboarding(settings: Settings) -> list[Finding]:
    """The files profiles are signed and devices' certificates issued with, when set, must be usable;
    and a portal that offers the secure network (it publishes EAP's CA) without a signing
    certificate hands out unsigned profiles: Apple devices show them as "Not Verified", which
    citizens are rightly taught to refuse — a warning, since the network works all the same."""
    found = []
    onboarding = settings.onboarding
    for setting, load in (
        ("SESAME_ONBOARDING_SIGNING_*", lambda: load_signer(onboarding)),
        (
            "SESAME_ONBOARDING_DEVICE_CA_KEY",
            lambda: load_device_issuer(onboarding, device_ca=settings.eap.device_ca),
        ),
    ):
        try:
            load()
        except OnboardingFileError as exc:
            found.append(Finding(setting=setting, problem=str(exc)))
    offered = settings.web.enabled and settings.portal.enabled and (settings.eap.enabled or settings.eap.ca)
    if offered and not onboarding.signing_certificate:
        found.append(
            Finding(
                setting="SESAME_ONBOARDING_SIGNING_CERTIFICATE",
                problem="no profile-signing certificate: devices' profiles would go unsigned "
                '(Apple devices show them as "Not Verified")',
                blocking=False,
            )
        )
    return found


def _requisition(settings: Settings) -> list[Finding]:
    """The records-signing files, when set, must be usable: a judicial requisition's answer that
    cannot be signed cannot be exported. None set is said nowhere: searches work, exports are
    refused with the settings to set (docs/privacy.md)."""
    try:
        load_records_signer(settings.requisition)
    except RecordsFileError as exc:
        return [Finding(setting="SESAME_REQUISITION_SIGNING_*", problem=str(exc))]
    return []


def _environment(settings: Settings) -> list[Finding]:
    if settings.is_development:
        return [
            Finding(
                setting="SESAME_ENVIRONMENT",
                problem="development accepts a placeholder secret key and a short retention: set production",
            )
        ]
    return []


def check(settings: Settings) -> list[Finding]:
    """Every finding, blocking ones first, in the order of the settings file."""
    found = (
        _environment(settings)
        + _realm(settings)
        + _portal(settings)
        + _sms(settings)
        + _certificates(settings)
        + _onboarding(settings)
        + _requisition(settings)
    )
    return sorted(found, key=lambda f: not f.blocking)


def blocking(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if f.blocking]


def refusal(findings: list[Finding]) -> str:
    """The start-up error of ``sesame serve`` in production: every blocking finding, one per line."""
    lines = [f"  - {finding}" for finding in blocking(findings)]
    return (
        "not ready for production (SESAME_ENVIRONMENT=production); change:\n"
        + "\n".join(lines)
        + "\n  (`sesame check` lists the same; SESAME_ENVIRONMENT=development runs anyway, for trials only)"
    )
