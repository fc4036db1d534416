"""The "secure connection" section of My account: a profile for this device, downloaded once.

``POST /account/secure/link`` (CSRF-checked) answers a page with a one-time link (ten minutes,
this account only: :mod:`accounts.enrolment`); ``GET /account/secure/download/<token>`` uses it,
*then* makes the device's credential, writes the profile with the format's builder
(:mod:`portal.onboarding.formats`) and answers the file, all in one transaction, so a file that
cannot be built leaves no credential; a second GET of the same link gets a page saying it was
used. ``POST /account/secure/forget`` revokes one device's credential or certificate.

What the profile pins (the server's CA and name) comes from ``PortalConfig.eap``, the device CA
from ``PortalConfig.onboarding``, and where it may connect (SSIDs, Passpoint) from the operators'
description in the database, read in each request's transaction
(:func:`accounts.onboarding.network_for`: the commune of the access point the citizen came from
brings its own SSIDs). A format that cannot describe that network, or whose credential the server
would refuse, is not offered, and a link to it is refused before anything is issued.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta

from fastapi import APIRouter
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import enrolment
from accounts import onboarding as descriptions
from accounts.deviceca import IssuedCertificate
from accounts.enrolment import CredentialKind, EnrolledDevice, Enrolment, LinkRefused, TooManyProfiles
from accounts.errors import InvalidInput, NotFound
from accounts.models import Account
from accounts.onboarding import NetworkDescription
from portal.context import EapProfile, OnboardingNetwork, Page, PageDep, Portal, redirect
from portal.forms import Refused, read_form, show, signed_in
from portal.onboarding.detect import Platform, detect
from portal.onboarding.formats import Format, Offer, PasswordMethod, Reach
from portal.onboarding.spec import (
    CertificateCredential,
    Credential,
    Passpoint,
    PasswordCredential,
    ProfileSpec,
)

router = APIRouter(include_in_schema=False)


def _(message: str) -> str:
    """Marks a source string for Babel's extraction; the page translates it where it is shown."""
    return message


#: what the page calls each platform
PLATFORM_NAMES = {
    Platform.IOS: _("iPhone and iPad"),
    Platform.MACOS: _("Mac"),
    Platform.ANDROID: _("Android"),
    Platform.WINDOWS: _("Windows"),
    Platform.LINUX: _("Linux"),
    Platform.CHROMEOS: _("Chromebook"),
    Platform.OTHER: _("Other devices"),
}
#: how a profile is installed, in a sentence or two
INSTRUCTIONS = {
    Platform.IOS: _(
        "Open the downloaded profile in Settings, under General › VPN & Device Management, then tap Install."
    ),
    Platform.MACOS: _(
        "Open the downloaded profile, then install it in System Settings › Privacy & Security › Profiles."
    ),
    Platform.ANDROID: _(
        "Open the downloaded file: Android 11 or later offers to install the Wi-Fi profile. "
        "The eap-config file is for the geteduroam app."
    ),
    Platform.WINDOWS: _(
        "Extract the downloaded zip file, open read-me.txt and run the commands it gives in a "
        "command prompt opened in that folder. Keep the file to yourself: it holds this device's "
        "credential."
    ),
    Platform.LINUX: _(
        "Copy the file to /etc/NetworkManager/system-connections/ (readable by root only), then run: "
        "nmcli connection reload"
    ),
    Platform.CHROMEOS: _("Open chrome://network, choose Import ONC file, and pick the downloaded file."),
    Platform.OTHER: "",
}
_TOKEN = re.compile(r"^[A-Za-z0-9_.-]{1,1024}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class SecureSection:
    """What the section shows: the platforms' formats (the detected platform first), the SSIDs,
    and the account's devices that have a credential."""

    detected: Platform
    offers: list[tuple[Platform, list[Format]]]
    ssids: tuple[str, ...]
    devices: list[EnrolledDevice]
    names: Mapping[Platform, str] = field(default_factory=lambda: PLATFORM_NAMES)
    instructions: Mapping[Platform, str] = field(default_factory=lambda: INSTRUCTIONS)


def _ready(portal: Portal) -> tuple[EapProfile, OnboardingNetwork] | None:
    config = portal.config
    if config.eap is None or config.onboarding is None or not portal.formats:
        return None
    return config.eap, config.onboarding


async def _described(page: Page, session: AsyncSession, account: Account) -> NetworkDescription:
    """The secure network as the operators describe it for this account, where the citizen is."""
    return await descriptions.network_for(session, account=account, commune=await page.commune(session))


def _passpoint(network: NetworkDescription) -> Passpoint | None:
    described = network.passpoint
    if described is None:
        return None
    return Passpoint(
        home_fqdn=described.home_fqdn,
        friendly_name=described.friendly_name,
        nai_realm=described.nai_realm,
        roaming_consortium_ois=described.roaming_consortium_ois,
    )


@dataclass(frozen=True, slots=True)
class _Served:
    """What a format is checked against for one request."""

    eap: EapProfile
    onboarding: OnboardingNetwork
    network: NetworkDescription

    def choice(self, fmt: Format) -> tuple[CredentialKind, PasswordMethod | None] | None:
        """The credential a download of ``fmt`` gets now: a certificate where the format carries
        one and EAP-TLS is served with a device CA here, else the format's first password method
        the server serves; None: the format is not offered (it cannot describe the network, or
        no credential it carries would be accepted)."""
        reach = Reach(
            ssids=self.network.ssids,
            passpoint=_passpoint(self.network),
            server_names=self.eap.server_names,
        )
        if not (self.network.configured and fmt.serves(reach)):
            return None
        choice = fmt.credential_for(
            served=self.eap.methods, certificates=self.onboarding.device_issuer is not None
        )
        if choice is None:
            return None
        kind, method = choice
        return (CredentialKind.CERTIFICATE if kind == "certificate" else CredentialKind.PASSWORD), method

    def password_method(self, fmt: Format) -> PasswordMethod | None:
        """The method a password credential gets in this format (None: none the server serves)."""
        choice = fmt.credential_for(served=self.eap.methods, certificates=False)
        return choice[1] if choice is not None else None

    def offered(self, fmt: Format) -> bool:
        return self.choice(fmt) is not None


async def _served(page: Page, session: AsyncSession, account: Account) -> _Served | None:
    ready = _ready(page.portal)
    if ready is None:
        return None
    return _Served(ready[0], ready[1], await _described(page, session, account))


async def secure_section(page: Page, session: AsyncSession, account: Account) -> SecureSection | None:
    """The section for My account, or None when profiles cannot be offered (no published CA, no
    SSID nor Passpoint described, or no format that can serve them)."""
    served = await _served(page, session, account)
    if served is None or not served.network.configured:
        return None
    detected = detect(page.request.headers.get("user-agent"))
    offers = page.portal.formats.offers(detected, served.offered)
    if not offers:
        return None
    return SecureSection(
        detected=detected,
        offers=offers,
        ssids=served.network.ssids,
        devices=await enrolment.enrolled_devices(session, account=account),
    )


@router.post("/account/secure/link")
async def ask_for_link(page: PageDep) -> Response:
    portal = page.portal
    async with portal.transaction() as session:
        look, account = await page.look(session), await signed_in(page, session)
        form = await read_form(page)
        served = await _served(page, session, account)
        offer = portal.formats.find(form.get("format", ""))
        choice = served.choice(offer.format) if served is not None and offer is not None else None
        if served is None or offer is None or choice is None:
            raise Refused(404, page._("This profile is not offered. Please choose another."))
        label = form.get("label", "").strip() or page.t.gettext(PLATFORM_NAMES[offer.platform])
        try:
            token = await enrolment.make_link(
                session, box=portal.box, account=account, format=offer.key,
                kind=choice[0], label=label, now=portal.now(),
                daily_limit=served.onboarding.daily_limit,
            )  # fmt: skip
        except TooManyProfiles as exc:
            raise Refused(
                429,
                page.t.ngettext(
                    "You can download at most %(num)d profile a day. Please try again tomorrow.",
                    "You can download at most %(num)d profiles a day. Please try again tomorrow.",
                    exc.limit,
                ),
            ) from None
        except InvalidInput:
            raise Refused(422, page._("Please give this device a shorter name.")) from None
    return await show(
        page, "secure_link.html", look=look, offer=offer, label=label, token=token,
        instructions=INSTRUCTIONS[offer.platform], minutes=int(enrolment.LINK_LIFETIME.total_seconds() // 60),
    )  # fmt: skip


@router.get("/account/secure/download/{token}")
async def download(page: PageDep, token: str) -> Response:
    portal = page.portal
    async with portal.transaction() as session:
        account = await signed_in(page, session)
        served = await _served(page, session, account)
        try:
            if served is None or not _TOKEN.match(token):
                raise LinkRefused(LinkRefused.MALFORMED)
            claims = enrolment.read_link(portal.box, token)
            offer = portal.formats.find(claims.format)
            choice = served.choice(offer.format) if offer is not None else None
            method = served.password_method(offer.format) if offer is not None else None
            if (
                offer is None
                or choice is None
                or (claims.kind is CredentialKind.PASSWORD and method is None)
                or (claims.kind is CredentialKind.CERTIFICATE and choice[0] is not CredentialKind.CERTIFICATE)
            ):
                # the network or the server changed since the link was made (Passpoint off, EAP-TLS
                # or a password method no longer served): refused before anything is issued
                raise LinkRefused(LinkRefused.MALFORMED)
            onboarding = served.onboarding
            got = await enrolment.redeem_link(
                session, box=portal.box, token=token, account=account, now=portal.now(),
                issuer=onboarding.device_issuer, valid_for=timedelta(days=onboarding.certificate_days),
                daily_limit=onboarding.daily_limit,
            )  # fmt: skip
        except LinkRefused as exc:
            raise Refused(*_refusal(page, exc.reason)) from None
        except TooManyProfiles:
            raise Refused(
                429, page._("You downloaded too many profiles today. Please try again tomorrow.")
            ) from None
        except InvalidInput:  # a certificate asked for, and the device CA is gone since
            raise Refused(
                503, page._("This profile cannot be made now. Please ask for a new link.")
            ) from None
        spec = profile_spec(
            portal, account=account, eap=served.eap, network=served.network, got=got,
            password_method=method, language=page.t.language,
        )  # fmt: skip
        # in the transaction: a builder that fails issues nothing
        body = offer.format.build(spec, page.t.gettext)
    return Response(
        body,
        media_type=offer.format.media_type,
        headers={
            "Content-Disposition": f'attachment; filename="{filename(portal, offer)}"',
            "Cache-Control": "no-store",
        },
    )


def _refusal(page: Page, reason: str) -> tuple[int, str]:
    if reason == LinkRefused.USED:
        return 410, page._(
            "This download link was used already: each link gives one profile, once. "
            "Ask for a new one on My account."
        )
    if reason == LinkRefused.EXPIRED:
        return 410, page._("This download link has expired. Ask for a new one on My account.")
    if reason == LinkRefused.NOT_YOURS:
        return 403, page._("This download link was made for another account.")
    return 404, page._("This download link is not valid. Ask for a new one on My account.")


@router.post("/account/secure/forget")
async def forget(page: PageDep) -> Response:
    portal = page.portal
    async with portal.transaction() as session:
        account = await signed_in(page, session)
        form = await read_form(page)
        try:
            kind, number = CredentialKind(form.get("kind", "")), int(form.get("id", ""))
            await enrolment.forget_enrolled(session, account=account, kind=kind, id=number, now=portal.now())
        except (ValueError, NotFound):
            pass  # a stale page: the list shown next is the truth
    return redirect(page, "/account")


def profile_spec(
    portal: Portal,
    *,
    account: Account,
    eap: EapProfile,
    network: NetworkDescription,
    got: Enrolment,
    password_method: PasswordMethod | None,
    language: str,
) -> ProfileSpec:
    """The profile of one device, from what the portal publishes, the operators' description of
    the network and the device's new credential (``password_method``: the outer and inner method
    of a password credential, chosen for the format and the server)."""
    config = portal.config
    issued = got.issued
    credential: Credential
    if isinstance(issued, IssuedCertificate):
        credential = CertificateCredential(
            certificate_der=issued.certificate_der,
            pkcs12=issued.pkcs12,
            pkcs12_password=issued.pkcs12_password,
            private_key_pem=issued.private_key_pem,
            identity=issued.identity,
        )
    else:
        if password_method is None:
            raise ValueError("a password credential needs its method")
        method, inner = password_method
        credential = PasswordCredential(
            username=issued.username, password=issued.password, method=method, inner=inner
        )
    return ProfileSpec(
        organisation=network.organisation,
        realm=network.realm,
        ssids=network.ssids,
        ca_der=eap.ca_der,
        other_cas_der=tuple(ca.der for ca in eap.other_cas),
        server_names=eap.server_names,
        credential=credential,
        passpoint=_passpoint(network),
        display_name=f"{network.organisation} — {got.label}",
        # the same device name gets the same id: installing a new profile replaces the old one
        profile_id=str(
            uuid.uuid5(uuid.NAMESPACE_URL, f"{config.public_url}/account/{account.id}/{got.label}")
        ),
        support_url=f"{config.public_url}/account",
        language=language,
    )


def filename(portal: Portal, offer: Offer) -> str:
    """An ASCII file name from the realm (a header cannot carry more without RFC 8187)."""
    stem = re.sub(r"[^A-Za-z0-9.-]+", "-", portal.config.realm).strip("-.") or "wifi"
    return f"{stem}-{offer.platform.value}.{offer.format.extension}"
