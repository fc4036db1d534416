"""The "secure connection" section of My account: a profile for this device, downloaded once.

``POST /account/secure/link`` (CSRF-checked) answers a page with a one-time link (ten minutes,
this account only: :mod:`accounts.enrolment`); ``GET /account/secure/download/<token>`` uses it,
*then* makes the device's credential, writes the profile with the format's builder
(:mod:`portal.onboarding.formats`) and answers the file, all in one transaction, so a file that
cannot be built leaves no credential; a second GET of the same link gets a page saying it was
used. ``POST /account/secure/forget`` revokes one device's credential or certificate.

What the profile pins (the server's CA and name) comes from ``PortalConfig.eap``, where it may
connect (SSIDs, Passpoint) and the device CA from ``PortalConfig.onboarding``.
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
from accounts.deviceca import IssuedCertificate
from accounts.enrolment import CredentialKind, EnrolledDevice, Enrolment, LinkRefused, TooManyProfiles
from accounts.errors import InvalidInput, NotFound
from accounts.models import Account
from portal.context import EapProfile, OnboardingNetwork, Page, PageDep, Portal, redirect
from portal.forms import Refused, read_form, show, signed_in
from portal.onboarding.detect import Platform, detect
from portal.onboarding.formats import Format, Offer
from portal.onboarding.spec import CertificateCredential, Credential, PasswordCredential, ProfileSpec

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
        "In a terminal, in the download folder, run netsh wlan add profile user=current filename= "
        "followed by the downloaded file's name."
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
    if config.eap is None or config.onboarding is None or not config.onboarding.usable or not portal.formats:
        return None
    return config.eap, config.onboarding


async def secure_section(page: Page, session: AsyncSession, account: Account) -> SecureSection | None:
    """The section for My account, or None when profiles cannot be offered (no published CA, no
    network description, or no format)."""
    ready = _ready(page.portal)
    if ready is None:
        return None
    detected = detect(page.request.headers.get("user-agent"))
    return SecureSection(
        detected=detected,
        offers=page.portal.formats.offers(detected),
        ssids=ready[1].ssids,
        devices=await enrolment.enrolled_devices(session, account=account),
    )


def _kind(fmt: Format, eap: EapProfile, network: OnboardingNetwork) -> CredentialKind:
    """A certificate where the format carries one and EAP-TLS is served with a device CA here;
    else a generated password."""
    if fmt.credential == "certificate" and network.device_issuer is not None and "eap-tls" in eap.methods:
        return CredentialKind.CERTIFICATE
    return CredentialKind.PASSWORD


@router.post("/account/secure/link")
async def ask_for_link(page: PageDep) -> Response:
    portal = page.portal
    async with portal.transaction() as session:
        look, account = await page.look(session), await signed_in(page, session)
        form = await read_form(page)
        ready = _ready(portal)
        offer = portal.formats.find(form.get("format", ""))
        if ready is None or offer is None:
            raise Refused(404, page._("This profile is not offered. Please choose another."))
        label = form.get("label", "").strip() or page.t.gettext(PLATFORM_NAMES[offer.platform])
        try:
            token = await enrolment.make_link(
                session, box=portal.box, account=account, format=offer.key,
                kind=_kind(offer.format, *ready), label=label, now=portal.now(),
                daily_limit=ready[1].daily_limit,
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
        ready = _ready(portal)
        try:
            if ready is None or not _TOKEN.match(token):
                raise LinkRefused(LinkRefused.MALFORMED)
            offer = portal.formats.find(enrolment.read_link(portal.box, token).format)
            if offer is None:  # a format no longer offered: refused before anything is issued
                raise LinkRefused(LinkRefused.MALFORMED)
            eap, network = ready
            got = await enrolment.redeem_link(
                session, box=portal.box, token=token, account=account, now=portal.now(),
                issuer=network.device_issuer, valid_for=timedelta(days=network.certificate_days),
                daily_limit=network.daily_limit,
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
            portal, account=account, eap=eap, network=network, got=got, offer=offer, language=page.t.language
        )
        body = offer.format.build(spec)  # in the transaction: a builder that fails issues nothing
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
    network: OnboardingNetwork,
    got: Enrolment,
    offer: Offer,
    language: str,
) -> ProfileSpec:
    """The profile of one device, from what the portal publishes and the device's new credential."""
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
        method = offer.format.method
        credential = PasswordCredential(username=issued.username, password=issued.password, method=method)
    return ProfileSpec(
        organisation=config.region_name,
        realm=config.realm,
        ssids=network.ssids,
        ca_der=eap.ca_der,
        server_names=eap.server_names,
        credential=credential,
        passpoint=network.passpoint,
        display_name=f"{config.region_name} — {got.label}",
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
