"""What the portal's views share: its services (built once by the composition root), and the
per-request page context (language, login, hand-off, branding, CSRF), with the one function that
renders a page.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import selectinload

from accounts.deviceca import DeviceIssuer
from accounts.disconnect import CoaSender
from accounts.models import Account, AccountStatus, Branding, Commune, Nas, Region, Site, Sponsorship
from accounts.network import AddressRules, ensure_home_region
from accounts.opendata import OpenDataPolicy
from accounts.passwords import PasswordHasher
from accounts.recordsexport import RecordsSigner
from accounts.requisition import Limits
from accounts.secretbox import SecretBox
from portal.assets import vendored
from portal.citizenidpconfig import CitizenIdpConfig
from portal.handoff import Arrival
from portal.i18n import LANGUAGE_COOKIE, LANGUAGES, Translator, load_catalogs, negotiate
from portal.mail import Mail, Postman
from portal.maptiles import TileSource
from portal.onboarding.formats import Formats
from portal.security import (
    CSRF_COOKIE,
    CSRF_FIELD,
    HANDOFF_COOKIE,
    SESSION_COOKIE,
    Csrf,
    Signer,
    content_security_policy,
)
from portal.sms import Courier, SmsConfig
from portal.ssoconfig import SsoConfig
from portal.throttle import DEFAULT_LIMITS, Throttle

TEMPLATES = Path(__file__).resolve().parent / "templates"
HANDOFF_MAX_AGE = 3600.0


def _pem(der: bytes) -> str:
    body = base64.b64encode(der).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "\n".join(["-----BEGIN CERTIFICATE-----", *lines, "-----END CERTIFICATE-----", ""])


@dataclass(frozen=True, slots=True, kw_only=True)
class PublishedCa:
    """One CA devices' profiles pin: DER, its subject and expiry."""

    der: bytes
    subject: str
    not_after: datetime

    @property
    def pem(self) -> str:
        return _pem(self.der)

    @property
    def sha256(self) -> str:
        """The fingerprint as devices and ``openssl x509 -fingerprint -sha256`` show it."""
        return ":".join(f"{octet:02X}" for octet in hashlib.sha256(self.der).digest())


@dataclass(frozen=True, slots=True, kw_only=True)
class EapProfile:
    """What a device's profile for the secure network pins (published under ``/eap/``): the CA
    that issued the RADIUS server's certificate and the server's name; and the methods offered.
    While the server's CA changes, ``other_cas`` are pinned too (the next CA before the switch,
    the previous one after: docs/onboarding.md, how to rotate). Built by the composition root
    from the EAP settings."""

    #: the CA today's server certificate chains to
    ca_der: bytes
    ca_subject: str
    ca_not_after: datetime
    server_names: tuple[str, ...]
    methods: tuple[str, ...]  # as decision records name them: "peap/mschapv2", "eap-tls", …
    other_cas: tuple[PublishedCa, ...] = ()

    @property
    def cas(self) -> tuple[PublishedCa, ...]:
        """Every CA devices pin, today's first."""
        today = PublishedCa(der=self.ca_der, subject=self.ca_subject, not_after=self.ca_not_after)
        return (today, *self.other_cas)

    @property
    def ca_pem(self) -> str:
        """Every CA devices pin, one PEM bundle, today's first."""
        return "".join(ca.pem for ca in self.cas)

    @property
    def ca_sha256(self) -> str:
        """Today's CA's fingerprint as devices and ``openssl x509 -fingerprint -sha256`` show it."""
        return self.cas[0].sha256


@dataclass(frozen=True, slots=True, kw_only=True)
class OnboardingNetwork:
    """What devices' profiles are made with besides the network's description: the device CA that
    issues EAP-TLS certificates (None: devices get a password credential), how long those live,
    and how many profiles an account may download a day. Filled by the composition root from the
    settings; where the profile lets the device connect (SSIDs, Passpoint) is the operators'
    description, read from the database at each request (``accounts.onboarding.network_for``)."""

    device_issuer: DeviceIssuer | None = None
    certificate_days: int = 365
    daily_limit: int = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class PortalConfig:
    realm: str
    region_name: str
    public_url: str
    grace: timedelta = timedelta(minutes=15)
    remember: timedelta = timedelta(days=90)
    terms_version: str = "2026-11"
    languages: tuple[str, ...] = ("fr", "it", "en")
    login_max_age: float = 12 * 3600.0
    console_idle: float = 30 * 60.0  # the staff console: seconds without a request that end a session
    console_lifetime: float = 12 * 3600.0  # and seconds from sign-in that end it however busy
    wifi4eu_self_test: bool = False
    nas_address_rules: AddressRules = field(default_factory=AddressRules)
    eap: EapProfile | None = None  # None: the secure network's CA is not published
    onboarding: OnboardingNetwork | None = None  # None: no profiles offered on "My account"
    #: how wide a judicial requisition may search, and what signs its answers (None: exports refused)
    requisition: Limits = field(default_factory=Limits)
    records_signer: RecordsSigner | None = None
    opendata: OpenDataPolicy = field(default_factory=OpenDataPolicy)  # not public unless the region says
    sso: SsoConfig = field(default_factory=SsoConfig)  # the console's OpenID providers (none: passwords only)
    map_tiles: TileSource | None = None  # the dashboards map's background (None: none, portal/maptiles.py)
    #: the citizens' identity providers (FranceConnect…; none: no such button)
    citizen_idps: CitizenIdpConfig = field(default_factory=CitizenIdpConfig)
    sms: SmsConfig | None = None  # sign-up and recovery by SMS (None: not offered)

    @property
    def secure_cookies(self) -> bool:
        return self.public_url.startswith("https://")


@dataclass(kw_only=True)
class Portal:
    """The portal's services; one per app."""

    config: PortalConfig
    sessions: async_sessionmaker[AsyncSession]
    box: SecretBox
    hasher: PasswordHasher
    postman: Postman
    coa: CoaSender | None = None
    courier: Courier | None = None  # SMS to citizens, with ``config.sms``
    throttle: Throttle = field(default_factory=lambda: Throttle(dict(DEFAULT_LIMITS)))
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    #: the profile formats offered per platform (portal.onboarding.formats), from the composition root
    formats: Formats = field(default_factory=Formats)

    def __post_init__(self) -> None:
        self.catalogs = load_catalogs(self.config.languages)
        self.templates = Environment(
            loader=FileSystemLoader(TEMPLATES),
            autoescape=select_autoescape(default=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        vendored().install(self.templates)  # asset_url(), asset_integrity(): portal/assets.py
        self.login_signer = Signer(self.box, purpose="portal-login")
        self.handoff_signer = Signer(self.box, purpose="portal-handoff")
        self.csrf = Csrf(self.box)
        self._region_id: int | None = None

    def now(self) -> datetime:
        return self.clock()

    def translator(self, language: str | None) -> Translator:
        """The gettext functions of ``language``, or of the default language if not offered."""
        chosen = language if language in self.catalogs else self.config.languages[0]
        return Translator(chosen, self.catalogs[chosen])

    def mail_verification_code(self, t: Translator, *, to: str, code: str, identity: str) -> None:
        """Queue the email that carries a verification code, in the language of ``t``."""
        self.postman.post(
            Mail(
                to=to,
                subject=t.gettext("Your verification code: %(code)s", code=code),
                text=t.gettext(
                    "Welcome to %(region)s public Wi-Fi!\n\nYour identity: %(identity)s\n"
                    "Your verification code: %(code)s\n\nType it on the portal to confirm your email "
                    "address. If you did not sign up, ignore this message.",
                    region=self.config.region_name,
                    identity=identity,
                    code=code,
                ),
            )
        )

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """One transaction for a request's work; it commits when the block ends without error."""
        async with self.sessions() as session, session.begin():
            yield session

    async def region(self, session: AsyncSession) -> Region:
        if self._region_id is not None:
            return await session.get_one(Region, self._region_id)
        region = await ensure_home_region(session, realm=self.config.realm, name=self.config.region_name)
        self._region_id = region.id
        return region


def get_portal(request: Request) -> Portal:
    portal: Portal = request.app.state.portal
    return portal


PortalDep = Annotated[Portal, Depends(get_portal)]


# -- per-request context -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class HandoffState:
    """Where the person came from: the access point, and what its redirect told us (verified)."""

    nas_id: int
    arrival: Arrival

    @property
    def integration(self) -> str:
        return self.arrival.integration

    @property
    def client_mac(self) -> str | None:
        return self.arrival.client_mac


@dataclass(frozen=True, slots=True, kw_only=True)
class Look:
    """The branding of the page: the site's fields over its commune's over the region's."""

    title: str
    logo_url: str | None = None
    color: str | None = None
    welcome_text: str | None = None
    terms_text: str | None = None
    terms_version: str = ""
    wifi4eu_network_id: str | None = None
    #: the commune offers sponsored access (portal/sponsorpages.py): "Ask for access" is shown
    sponsored: bool = False


@dataclass(kw_only=True)
class Page:
    request: Request
    portal: Portal
    t: Translator
    csrf_cookie: str
    new_csrf_cookie: bool
    account_id: int | None
    login_fingerprint: str | None
    handoff: HandoffState | None
    set_language: str | None = None

    def _(self, message: str, **values: Any) -> str:
        return self.t.gettext(message, **values)

    @property
    def csrf_token(self) -> str:
        return self.portal.csrf.token_for(self.csrf_cookie)

    async def account(self, session: AsyncSession) -> Account | None:
        """The logged-in account, if its login cookie is still good (same password, not deleted)."""
        if self.account_id is None:
            return None
        account = await session.scalar(
            select(Account).where(Account.id == self.account_id).options(selectinload(Account.region))
        )
        if account is None or self.login_fingerprint not in password_fingerprints(self.portal, account):
            return None
        return account

    async def commune(self, session: AsyncSession) -> Commune | None:
        """The commune of the access point the person came from (the hand-off cookie), if any."""
        if self.handoff is None:
            return None
        nas = await session.get(Nas, self.handoff.nas_id)
        if nas is None:
            return None
        site = await session.get_one(Site, nas.site_id)
        return await session.get_one(Commune, site.commune_id)

    async def look(self, session: AsyncSession) -> Look:
        config = self.portal.config
        look = Look(title=config.region_name, terms_version=config.terms_version)
        if self.handoff is None:
            return look
        nas = await session.get(Nas, self.handoff.nas_id)
        if nas is None:
            return look
        site = await session.get_one(Site, nas.site_id)
        commune = await session.get_one(Commune, site.commune_id)
        values: dict[str, Any] = {"title": f"{commune.name} · {site.name}"}
        for row in (
            await session.scalar(select(Branding).where(Branding.commune_id == commune.id)),
            await session.scalar(select(Branding).where(Branding.site_id == site.id)),
        ):
            if row is None:
                continue
            for name in ("title", "logo_url", "color", "welcome_text", "terms_text", "terms_version"):
                if getattr(row, name):
                    values[name] = getattr(row, name)
        if values.get("terms_text") and "terms_version" not in values:
            values["terms_version"] = f"commune-{commune.insee_code}"
        return Look(
            title=values["title"],
            logo_url=values.get("logo_url"),
            color=values.get("color"),
            welcome_text=values.get("welcome_text"),
            terms_text=values.get("terms_text"),
            terms_version=values.get("terms_version", config.terms_version),
            wifi4eu_network_id=site.wifi4eu_network_id,
            sponsored=bool(
                await session.scalar(select(Sponsorship.enabled).where(Sponsorship.commune_id == commune.id))
            ),
        )


def password_fingerprint(portal: Portal, account: Account) -> str:
    """Changes when the password does: old login cookies stop working."""
    return portal.box.digest((account.password_hash or "").encode(), purpose="login-fingerprint")[:16]


def password_fingerprints(portal: Portal, account: Account) -> list[str]:
    """The fingerprint under each accepted key (a login made before a key rotation stays valid)."""
    value = (account.password_hash or "").encode()
    return [d[:16] for d in portal.box.digests(value, purpose="login-fingerprint")]


def login_cookie(portal: Portal, account: Account) -> str:
    return portal.login_signer.sign(
        {"a": account.id, "h": password_fingerprint(portal, account)}, now=time.time()
    )


async def get_page(request: Request, portal: PortalDep) -> Page:
    languages = portal.config.languages
    chosen = request.cookies.get(LANGUAGE_COOKIE)
    language = chosen if chosen in languages else negotiate(request.headers.get("accept-language"), languages)
    csrf_cookie = request.cookies.get(CSRF_COOKIE) or ""
    new_cookie = len(csrf_cookie) < 16
    if new_cookie:
        csrf_cookie = Csrf.new_cookie()
    now = time.time()
    login = portal.login_signer.read(
        request.cookies.get(SESSION_COOKIE), now=now, max_age=portal.config.login_max_age
    )
    handoff = portal.handoff_signer.read(
        request.cookies.get(HANDOFF_COOKIE), now=now, max_age=HANDOFF_MAX_AGE
    )
    return Page(
        request=request,
        portal=portal,
        t=Translator(language, portal.catalogs[language]),
        csrf_cookie=csrf_cookie,
        new_csrf_cookie=new_cookie,
        account_id=int(login["a"]) if login and isinstance(login.get("a"), int) else None,
        login_fingerprint=str(login.get("h")) if login else None,
        handoff=_handoff_state(handoff),
    )


def _handoff_state(payload: dict[str, Any] | None) -> HandoffState | None:
    if payload is None:
        return None
    try:
        return HandoffState(
            nas_id=int(payload["n"]),
            arrival=Arrival(
                integration=str(payload["i"]),
                client_mac=payload.get("m"),
                client_ip=payload.get("ip"),
                user_url=payload.get("u"),
                state={str(k): str(v) for k, v in dict(payload.get("s") or {}).items()},
            ),
        )
    except (KeyError, TypeError, ValueError):
        return None


def handoff_cookie(portal: Portal, handoff: HandoffState) -> str:
    return portal.handoff_signer.sign(
        {
            "n": handoff.nas_id,
            "i": handoff.arrival.integration,
            "m": handoff.arrival.client_mac,
            "ip": handoff.arrival.client_ip,
            "u": handoff.arrival.user_url,
            "s": dict(handoff.arrival.state),
        },
        now=time.time(),
    )


PageDep = Annotated[Page, Depends(get_page)]


def usable(account: Account) -> bool:
    return account.status == AccountStatus.ACTIVE


# -- rendering -----------------------------------------------------------------------------------


def render(
    page: Page,
    template: str,
    *,
    look: Look,
    status_code: int = 200,
    form_targets: tuple[str, ...] = (),
    headers: Mapping[str, str] | None = None,
    **context: Any,
) -> HTMLResponse:
    nonce = secrets.token_urlsafe(12)
    portal = page.portal
    wifi4eu = bool(look.wifi4eu_network_id)
    html = portal.templates.get_template(template).render(
        **page.t.template_globals(),
        page=page,
        look=look,
        languages={code: LANGUAGES[code] for code in portal.config.languages},
        csrf_field=CSRF_FIELD,
        csrf_token=page.csrf_token,
        nonce=nonce,
        on_color=on_color,
        wifi4eu_self_test=portal.config.wifi4eu_self_test,
        **context,
    )
    response = HTMLResponse(html, status_code=status_code, headers=dict(headers or {}))
    response.headers["Content-Security-Policy"] = content_security_policy(
        nonce=nonce, form_targets=form_targets, wifi4eu=wifi4eu
    )
    response.headers["Cache-Control"] = "no-store"
    finish(page, response)
    return response


def on_color(color: str) -> str:
    """Black or white text, whichever contrasts more with a ``#rrggbb`` background (WCAG 2.1)."""

    def channel(hex2: str) -> float:
        c = int(hex2, 16) / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    try:
        r, g, b = (channel(color[i : i + 2]) for i in (1, 3, 5))
    except ValueError:
        return "#ffffff"
    luminance = 0.2126 * r + 0.7152 * g + 0.0722 * b
    return "#000000" if (luminance + 0.05) / 0.05 > 1.05 / (luminance + 0.05) else "#ffffff"


def finish(page: Page, response: Response) -> None:
    """Cookies every response may need to set (the CSRF cookie, a language choice)."""
    secure = page.portal.config.secure_cookies
    if page.new_csrf_cookie:
        response.set_cookie(CSRF_COOKIE, page.csrf_cookie, httponly=True, samesite="strict", secure=secure)
    if page.set_language:
        response.set_cookie(
            LANGUAGE_COOKIE, page.set_language, max_age=365 * 86400, samesite="lax", secure=secure
        )


def redirect(page: Page, url: str) -> RedirectResponse:
    response = RedirectResponse(url, status_code=303)
    finish(page, response)
    return response


def set_login(page: Page, response: Response, account: Account | None) -> None:
    config = page.portal.config
    if account is None:
        response.delete_cookie(SESSION_COOKIE)
        return
    response.set_cookie(
        SESSION_COOKIE,
        login_cookie(page.portal, account),
        max_age=int(config.login_max_age),
        httponly=True,
        samesite="lax",
        secure=config.secure_cookies,
    )


def set_handoff(page: Page, response: Response, handoff: HandoffState) -> None:
    response.set_cookie(
        HANDOFF_COOKIE,
        handoff_cookie(page.portal, handoff),
        max_age=int(HANDOFF_MAX_AGE),
        httponly=True,
        samesite="lax",
        secure=page.portal.config.secure_cookies,
    )
