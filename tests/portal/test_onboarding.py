"""The "secure connection" section of My account, through the app like a browser: the detected
platform's profile offered first, a one-time link, the file downloaded once (a second download
refused with a page), for its account only, the daily limit, and "forget this device" revoking
what RADIUS reads. The format builder is this test's own (the real ones are tested in their
modules): it writes the spec as JSON, read back here with json, and the PKCS#12 it carries is
opened with cryptography and its certificate checked against the device CA."""

from __future__ import annotations

import base64
import dataclasses
import json
from datetime import timedelta
from html.parser import HTMLParser

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts import certificates, credentials, onboarding
from accounts.deviceca import DeviceIssuer
from accounts.models import Account, AuditEntry
from portal.app import create_app
from portal.context import EapProfile, OnboardingNetwork, Portal
from portal.onboarding.detect import Platform
from portal.onboarding.formats import Format, Formats, Gettext
from portal.onboarding.spec import CertificateCredential, PasswordCredential, ProfileSpec
from radius.eap.trialpki import make_ca
from tests.conftest import TEST_REALM
from tests.portal.conftest import NOW, PUBLIC_URL, Browser, Clock
from tests.portal.test_pages import account_of, sign_up

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
ANDROID = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Mobile Safari/537.36"
)
WINDOWS = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0"
)
SERVER_CA = make_ca("RADIUS CA (test)", now=NOW - timedelta(days=1))
SERVER_CA_DER = SERVER_CA.certificate.public_bytes(Encoding.DER)
DEVICE_CA = make_ca("device CA (test)", now=NOW - timedelta(days=1))


def spec_as_json(spec: ProfileSpec, gettext: Gettext) -> bytes:
    """The test's format: what a profile must carry, as JSON."""
    credential = spec.credential
    data: dict[str, object] = {
        "ssids": list(spec.ssids),
        "server_names": list(spec.server_names),
        "ca": base64.b64encode(spec.ca_der).decode(),
        "display_name": spec.display_name,
        "profile_id": spec.profile_id,
        "language": spec.language,
    }
    if isinstance(credential, CertificateCredential):
        data["pkcs12"] = base64.b64encode(credential.pkcs12).decode()
        data["pkcs12_password"] = credential.pkcs12_password
        data["identity"] = credential.identity
    else:
        assert isinstance(credential, PasswordCredential)
        data |= {
            "username": credential.username,
            "password": credential.password,
            "method": credential.method,
            "inner": credential.inner,
        }
    return json.dumps(data).encode()


def broken(spec: ProfileSpec, gettext: Gettext) -> bytes:
    raise RuntimeError("this builder fails")


def onboarding_formats() -> Formats:
    formats = Formats()
    peap, ttls = ("peap", "eap-mschapv2"), ("ttls", "eap-mschapv2")
    for platform, name, kind, method in (
        (Platform.IOS, "mobileconfig", "certificate", ttls),
        (Platform.ANDROID, "passpoint", "certificate", ttls),
        (Platform.ANDROID, "eap-config", "password", ttls),
        (Platform.WINDOWS, "wlan", "password", peap),
        (Platform.LINUX, "broken", "password", ttls),
    ):
        formats.register(
            platform,
            Format(
                name=name, title="Wi-Fi profile", media_type=f"application/x-test-{name}", extension=name,
                credential=kind, passwords=(method,), build=broken if name == "broken" else spec_as_json,  # type: ignore[arg-type]
            ),
        )  # fmt: skip
    return formats


@pytest.fixture
async def portal(portal: Portal) -> Portal:
    """The conftest's portal, publishing a CA, with this test's formats; the secure network
    described in the database, as ``sesame onboarding set`` does."""
    portal.config = dataclasses.replace(
        portal.config,
        eap=EapProfile(
            ca_der=SERVER_CA_DER,
            ca_subject="CN=RADIUS CA (test)",
            ca_not_after=NOW + timedelta(days=3650),
            server_names=(f"radius.{TEST_REALM}",),
            methods=("peap/mschapv2", "eap-ttls/eap-mschapv2", "eap-tls"),
        ),
        onboarding=OnboardingNetwork(
            device_issuer=DeviceIssuer.load(DEVICE_CA.certificate_pem(), DEVICE_CA.key_pem()),
            daily_limit=3,
        ),
    )
    portal.formats = onboarding_formats()
    await describe(portal, ssids=["Wi-Fi Région sécurisé"])
    return portal


async def describe(portal: Portal, **changes: object) -> None:
    """The region's secure network, set through the service the CLI and the admin API use."""
    async with portal.transaction() as session:
        region = await portal.region(session)
        await onboarding.set_region_onboarding(session, region=region, changes=changes, actor="cli:test")


class Page(HTMLParser):
    """The parts of a page these tests read: the profile buttons in order, the forms' fields,
    the download link."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.offers: list[str] = []
        self.forms: list[dict[str, str]] = []
        self.download: str | None = None
        self.open_details: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append({"action": values.get("action", "")})
        elif tag == "input" and self.forms and "name" in values:
            self.forms[-1][values["name"]] = values.get("value", "")
        elif tag == "button" and "data-format" in values:
            self.offers.append(values["data-format"])
        elif tag == "a" and values.get("id") == "download":
            self.download = values["href"]


async def as_(browser: Browser, user_agent: str) -> Browser:
    browser.headers["User-Agent"] = user_agent
    return browser


async def signed_up(browser: Browser, name: str = "alice") -> Account:
    await sign_up(browser, name, f"{name}@example.fr")
    await browser.submit("/verify", {"code": await browser.last_code()})
    account = await account_of(browser, name)
    assert account is not None
    return account


async def ask(browser: Browser, fmt: str, label: str = "Mon téléphone") -> httpx.Response:
    page = Page((await browser.get("/account")).text)
    form = next(f for f in page.forms if f.get("format") == fmt)
    return await browser.post("/account/secure/link", data=form | {"label": label})


async def link_of(browser: Browser, fmt: str, label: str = "Mon téléphone") -> str:
    response = await ask(browser, fmt, label)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    download = Page(response.text).download
    assert download is not None and download.startswith("/account/secure/download/")
    return download


@pytest.mark.parametrize(
    ("user_agent", "first"),
    [(IPHONE, "ios/mobileconfig"), (ANDROID, "android/passpoint"), (WINDOWS, "windows/wlan")],
)
async def test_the_detected_platform_is_offered_first_and_the_others_too(
    browser: Browser, user_agent: str, first: str
) -> None:
    await signed_up(await as_(browser, user_agent))
    page = await browser.get("/account")
    assert page.status_code == 200 and page.headers["cache-control"] == "no-store"
    offers = Page(page.text).offers
    assert offers[0] == first
    assert sorted(offers) == sorted(
        ["ios/mobileconfig", "android/passpoint", "android/eap-config", "windows/wlan", "linux/broken"]
    )
    assert "Wi-Fi Région sécurisé" in page.text


async def test_a_profile_is_downloaded_once_with_a_certificate_radius_accepts_until_forgotten(
    browser: Browser,
) -> None:
    alice = await signed_up(await as_(browser, IPHONE))
    link = await link_of(browser, "ios/mobileconfig")
    got = await browser.get(link)
    assert got.status_code == 200
    assert got.headers["content-type"] == "application/x-test-mobileconfig"
    assert got.headers["content-disposition"] == f'attachment; filename="{TEST_REALM}-ios.mobileconfig"'
    assert got.headers["cache-control"] == "no-store"
    profile = json.loads(got.content)
    assert profile["ssids"] == ["Wi-Fi Région sécurisé"]
    assert profile["server_names"] == [f"radius.{TEST_REALM}"]
    assert base64.b64decode(profile["ca"]) == SERVER_CA_DER
    assert profile["display_name"].endswith("Mon téléphone") and profile["language"] == "en"
    key, certificate, chain = pkcs12.load_key_and_certificates(
        base64.b64decode(profile["pkcs12"]), profile["pkcs12_password"].encode()
    )
    assert certificate is not None and isinstance(key, ec.EllipticCurvePrivateKey)
    assert certificate.issuer == DEVICE_CA.certificate.subject and chain == [DEVICE_CA.certificate]
    certificate.verify_directly_issued_by(DEVICE_CA.certificate)
    assert profile["identity"] == f"alice@{TEST_REALM}"
    # the second download of the same link: a page that says so, and no second certificate
    again = await browser.get(link)
    assert again.status_code == 410 and "used already" in again.text
    assert again.headers["content-type"].startswith("text/html")

    async def owner() -> certificates.CertificateOwner | None:
        async with browser.portal.transaction() as session:
            return await certificates.certificate_owner(
                session, region_id=alice.region_id, issuer_der=certificate.issuer.public_bytes(),
                serial=certificate.serial_number, now=NOW,
            )  # fmt: skip

    assert (await owner()) is not None
    page = await browser.get("/account")
    forget = next(f for f in Page(page.text).forms if f["action"] == "/account/secure/forget")
    assert forget["kind"] == "certificate"
    assert (await browser.post("/account/secure/forget", data=forget)).status_code == 303
    assert (await owner()) is None  # RADIUS reads this at every handshake: refused from now on
    assert "No device has a profile yet." in (await browser.get("/account")).text
    async with browser.portal.transaction() as session:
        actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
    assert actions == ["onboarding.region.update", "device.profile.issue", "device.forget"]


async def test_a_password_profile_gives_a_device_credential(browser: Browser) -> None:
    alice = await signed_up(await as_(browser, WINDOWS))
    profile = json.loads((await browser.get(await link_of(browser, "windows/wlan", "PC"))).content)
    assert profile["method"] == "peap" and profile["username"] == f"alice@{TEST_REALM}"
    async with browser.portal.transaction() as session:
        hashes = await credentials.active_nt_hashes(session, box=browser.portal.box, account_id=alice.id)
    assert [h for _, h in hashes] == [credentials.nt_hash(profile["password"])]


async def test_another_account_cannot_use_the_link(
    browser: Browser, engine: AsyncEngine, portal: Portal
) -> None:
    await signed_up(await as_(browser, ANDROID))
    link = await link_of(browser, "android/passpoint")
    app = create_app(engine=engine, portal=portal)
    async with Browser(
        transport=httpx.ASGITransport(app=app, client=("198.51.100.8", 50000)),
        base_url=PUBLIC_URL,
        headers={"Accept-Language": "en"},
    ) as other:
        other.portal, other.app, other.outbox = portal, app, browser.outbox
        await signed_up(other, "bob")
        refused = await other.get(link)
        assert refused.status_code == 403 and "another account" in refused.text
        assert (await other.get("/account/secure/download/not-a-link")).status_code == 404
    # logged out: the log-in page, nothing issued
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as nobody:
        anonymous = await nobody.get(link)
    assert anonymous.status_code == 303 and anonymous.headers["location"] == "/login"
    assert (await browser.head(link)).status_code == 405  # a HEAD (a link checker) spends nothing
    assert (await browser.get(link)).status_code == 200  # still good for its owner


async def test_a_link_expires_after_ten_minutes(browser: Browser, clock: Clock) -> None:
    await signed_up(await as_(browser, ANDROID))
    link = await link_of(browser, "android/eap-config")
    clock.now = NOW + timedelta(minutes=10)
    expired = await browser.get(link)
    assert expired.status_code == 410 and "expired" in expired.text


async def test_profiles_are_limited_per_day(browser: Browser, clock: Clock) -> None:
    await signed_up(await as_(browser, ANDROID))
    for n in range(3):
        assert (
            await browser.get(await link_of(browser, "android/eap-config", f"phone {n}"))
        ).status_code == 200
    refused = await ask(browser, "android/eap-config")
    assert refused.status_code == 429 and "at most 3 profiles a day" in refused.text
    clock.now = NOW + timedelta(days=1, minutes=1)
    assert (await browser.get(await link_of(browser, "android/eap-config"))).status_code == 200


async def test_a_builder_that_fails_issues_nothing_and_forms_need_their_token(browser: Browser) -> None:
    alice = await signed_up(await as_(browser, IPHONE))
    link = await link_of(browser, "linux/broken")
    with pytest.raises(RuntimeError):
        await browser.get(link)
    async with browser.portal.transaction() as session:
        account = await session.get_one(Account, alice.id)
        assert await credentials.list_device_credentials(session, account=account) == []
    no_token = await browser.post("/account/secure/link", data={"format": "ios/mobileconfig", "label": "x"})
    assert no_token.status_code == 400
    unknown = await browser.submit(
        "/account/secure/link", {"format": "ios/none", "label": "x"}, page="/account"
    )
    assert unknown.status_code == 404


async def test_no_section_without_a_network_to_offer(browser: Browser) -> None:
    await describe(browser.portal, ssids=[])
    await signed_up(await as_(browser, IPHONE))
    page = await browser.get("/account")
    assert Page(page.text).offers == [] and "Secure connection" not in page.text


async def test_the_section_speaks_the_pages_language(browser: Browser) -> None:
    browser.headers["Accept-Language"] = "fr"
    await signed_up(await as_(browser, IPHONE))
    page = (await browser.get("/account")).text
    assert "Connexion sécurisée" in page and "Pour cet appareil : iPhone et iPad" in page
    link = await ask(browser, "ios/mobileconfig")
    assert "Ce lien sert une fois, pendant 10 minutes, et seulement pour vous." in link.text
    used = Page(link.text).download
    assert used is not None and (await browser.get(used)).status_code == 200
    assert "a déjà servi" in (await browser.get(used)).text
