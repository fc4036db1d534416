"""Every real profile format through the app, as the composition root registers them
(``portal.onboarding.builders``, Apple's signed), with the secure network described in the
database by the same service as ``sesame onboarding set``: each downloaded file is read back with
the parser its platform's reader corresponds to — ``openssl cms -verify`` then plistlib; Android's
base64 MIME and PPS-MO XML; the eap-config XML; the Windows zip, its WLAN XML and its read-me;
configparser for NetworkManager's keyfile; json for ONC — and must carry the database's SSIDs (or
Passpoint), the pinned CA and server name, and this device's own credential, which the accounts
services then recognise (the certificate registered, the NT hash active) until "forget this
device". Formats that cannot serve the network are not offered."""

from __future__ import annotations

import base64
import dataclasses
import io
import json
import plistlib
import subprocess
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.serialization import Encoding, pkcs12
from cryptography.x509.oid import NameOID

from accounts import certificates, credentials, network, onboarding
from accounts.deviceca import DeviceIssuer
from accounts.models import Account
from portal.context import EapProfile, HandoffState, OnboardingNetwork, Portal, handoff_cookie
from portal.handoff import Arrival
from portal.onboarding import android, apple, windows
from portal.onboarding.builders import builders
from portal.onboarding.formats import standard
from portal.security import HANDOFF_COOKIE
from radius.eap.trialpki import make_ca, make_signer
from tests.conftest import TEST_REALM
from tests.portal.conftest import NOW, Browser
from tests.portal.onboarding.test_android import read as read_passpoint
from tests.portal.test_onboarding import ANDROID, IPHONE, WINDOWS, Page, as_, link_of, signed_up
from tests.support.nmkeyfile import read_keyfile

SERVER_NAME = f"radius.{TEST_REALM}"
SERVER_CA = make_ca("RADIUS CA (test)", now=NOW - timedelta(days=1))
SERVER_CA_DER = SERVER_CA.certificate.public_bytes(Encoding.DER)
DEVICE_CA = make_ca("device CA (test)", now=NOW - timedelta(days=1))
SIGNING_CA = make_ca("profile-signing CA (test)", now=NOW - timedelta(days=1))
SIGNER = make_signer(SIGNING_CA, "profiles.test.example", now=NOW - timedelta(days=1))
SSIDS = ["Wi-Fi Région sécurisé", "Région 1X"]
OI = "AABBCC"
ALL_METHODS = ("peap/mschapv2", "eap-ttls/pap", "eap-ttls/mschapv2", "eap-ttls/eap-mschapv2", "eap-tls")
CHROMEBOOK = (
    "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Safari/537.36"
)
LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"


@dataclass
class Carried:
    """What a profile file carries, as its platform reads it."""

    ssids: list[str]
    ca_der: bytes
    server_names: list[str]
    #: EAP-TLS: the certificate the file's PKCS#12 opens to; else None
    certificate: x509.Certificate | None = None
    username: str = ""
    password: str = ""
    method: str = ""  # e.g. "ttls/mschapv2", "peap/eap-mschapv2", "tls"
    home_fqdn: str = ""
    ois: list[str] = dataclasses.field(default_factory=list)


def _p12(data: bytes, password: str | None) -> x509.Certificate:
    key, certificate, _ = pkcs12.load_key_and_certificates(data, password.encode() if password else None)
    assert key is not None and certificate is not None
    return certificate


def read_mobileconfig(data: bytes, tmp_path: Path) -> Carried:
    signed, ca, content = tmp_path / "p.mobileconfig", tmp_path / "signing-ca.pem", tmp_path / "p.plist"
    signed.write_bytes(data)
    ca.write_bytes(SIGNING_CA.certificate_pem())
    done = subprocess.run(
        ["openssl", "cms", "-verify", "-inform", "DER", "-in", signed, "-CAfile", ca, "-out", content],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    top = plistlib.loads(content.read_bytes())
    payloads = {p["PayloadUUID"]: p for p in top["PayloadContent"]}
    wifi = [p for p in top["PayloadContent"] if p["PayloadType"] == "com.apple.wifi.managed"]
    eap = wifi[0]["EAPClientConfiguration"]
    assert all(w["EAPClientConfiguration"] == eap for w in wifi)
    hotspot = [w for w in wifi if w.get("IsHotspot")]
    carried = Carried(
        ssids=[w["SSID_STR"] for w in wifi if "SSID_STR" in w],
        ca_der=payloads[eap["PayloadCertificateAnchorUUID"][0]]["PayloadContent"],
        server_names=eap["TLSTrustedServerNames"],
        home_fqdn=hotspot[0]["DomainName"] if hotspot else "",
        ois=hotspot[0].get("RoamingConsortiumOIs", []) if hotspot else [],
    )
    if eap["AcceptEAPTypes"] == [13]:
        identity = payloads[wifi[0]["PayloadCertificateUUID"]]
        carried.certificate = _p12(identity["PayloadContent"], identity["Password"])
        carried.method = "tls"
    else:
        inner = {"MSCHAPv2": "mschapv2", "EAP": "eap-mschapv2", "PAP": "pap"}
        outer = {21: "ttls", 25: "peap"}[eap["AcceptEAPTypes"][0]]
        carried.method = (
            f"{outer}/{inner[eap['TTLSInnerAuthentication']] if outer == 'ttls' else 'eap-mschapv2'}"
        )
        carried.username, carried.password = eap["UserName"], eap["UserPassword"]
    return carried


def read_android(data: bytes, tmp_path: Path) -> Carried:
    parts, tree = read_passpoint(data)
    home = tree["HomeSP"]
    credential = tree["Credential"]
    assert isinstance(home, dict) and isinstance(credential, dict)
    carried = Carried(
        ssids=[],
        ca_der=parts[android.CA_TYPE],
        server_names=[],  # Android pins the Home SP's FQDN as a suffix (android.home_pinned)
        home_fqdn=str(home["FQDN"]),
        ois=str(home.get("RoamingConsortiumOI", "")).split(","),
    )
    if "DigitalCertificate" in credential:
        carried.certificate = _p12(parts[android.PKCS12_TYPE], None)  # Android's empty password
        carried.method = "tls"
    else:
        user = credential["UsernamePassword"]
        assert isinstance(user, dict) and isinstance(user["EAPMethod"], dict)
        assert user["EAPMethod"]["EAPType"] == "21"
        carried.method = {"MS-CHAP-V2": "ttls/mschapv2", "PAP": "ttls/pap"}[user["EAPMethod"]["InnerMethod"]]
        carried.username = str(user["Username"])
        carried.password = base64.b64decode(str(user["Password"])).decode()
    return carried


def read_eap_config(data: bytes, tmp_path: Path) -> Carried:
    root = ET.fromstring(data)
    method = root.find("EAPIdentityProvider/AuthenticationMethods/AuthenticationMethod")
    assert method is not None
    networks = root.findall("EAPIdentityProvider/CredentialApplicability/IEEE80211")
    carried = Carried(
        ssids=[n.findtext("SSID") or "" for n in networks if n.find("SSID") is not None],
        ca_der=base64.b64decode(method.findtext("ServerSideCredential/CA") or ""),
        server_names=[s.text or "" for s in method.findall("ServerSideCredential/ServerID")],
        ois=[
            (n.findtext("ConsortiumOID") or "").upper()
            for n in networks
            if n.find("ConsortiumOID") is not None
        ],
    )
    client = method.find("ClientSideCredential")
    assert client is not None
    outer = {"13": "tls", "21": "ttls", "25": "peap"}[method.findtext("EAPMethod/Type") or ""]
    if outer == "tls":
        certificate = base64.b64decode(client.findtext("ClientCertificate") or "")
        carried.certificate = _p12(certificate, client.findtext("Passphrase"))
        carried.method = "tls"
    else:
        inner = method.find("InnerAuthenticationMethod")
        assert inner is not None
        name = (
            "eap-mschapv2"
            if inner.findtext("EAPMethod/Type") == "26"
            else {"1": "pap", "3": "mschapv2"}[inner.findtext("NonEAPAuthMethod/Type") or ""]
        )
        carried.method = f"{outer}/{name}"
        carried.username, carried.password = (
            client.findtext("UserName") or "",
            client.findtext("Password") or "",
        )
    return carried


def read_windows(data: bytes, tmp_path: Path) -> Carried:
    archive = zipfile.ZipFile(io.BytesIO(data))
    readme = archive.read(windows.README).decode("utf-8-sig").split("\r\n")
    profiles = sorted(n for n in archive.namelist() if n.startswith("wlan-"))
    ns = windows.NS
    ssids: list[str] = []
    names: set[str] = set()
    thumbprints: set[str] = set()
    methods: set[str | None] = set()
    for name in profiles:
        root = ET.fromstring(archive.read(name))
        assert f"netsh wlan add profile user=current filename={name}" in readme
        ssids.append(root.findtext("wlan:SSIDConfig/wlan:SSID/wlan:name", namespaces=ns) or "")
        config = root.find("wlan:MSM/wlan:security/onex:OneX/onex:EAPConfig/host:EapHostConfig", ns)
        assert config is not None
        methods.add(config.findtext("host:EapMethod/common:Type", namespaces=ns))
        for element in config.iter():
            local = element.tag.rpartition("}")[2]
            if local == "ServerNames":
                names.add(element.text or "")
            elif local in ("TrustedRootCA", "TrustedRootCAHash"):
                thumbprints.add((element.text or "").replace(" ", "").lower())
    assert len(names) == len(thumbprints) == len(methods) == 1
    ca_der = archive.read("ca.cer")
    assert thumbprints == {x509.load_der_x509_certificate(ca_der).fingerprint(hashes.SHA1()).hex()}
    assert "certutil -user -addstore Root ca.cer" in readme
    carried = Carried(ssids=ssids, ca_der=ca_der, server_names=next(iter(names)).split(";"))
    if methods == {"13"}:
        [command] = [line for line in readme if line.startswith("certutil -user -p ")]
        password = command.removeprefix("certutil -user -p ").removesuffix(" -importPFX device.p12")
        carried.certificate = _p12(archive.read("device.p12"), password)
        carried.method = "tls"
    else:
        carried.method = {"25": "peap/eap-mschapv2", "21": "ttls"}[methods.pop() or ""]
        carried.username = next(x for x in readme if x.startswith("User name: ")).removeprefix("User name: ")
        carried.password = next(x for x in readme if x.startswith("Password: ")).removeprefix("Password: ")
    return carried


def _blob(value: str) -> bytes:
    scheme, _, data = value.partition(",")
    assert scheme == "data:;base64"
    return base64.b64decode(data, validate=True)


def read_keyfile_profile(data: bytes, tmp_path: Path) -> Carried:
    keyfile = read_keyfile(data)
    x = keyfile["802-1x"]
    carried = Carried(
        ssids=[keyfile["wifi"]["ssid"]], ca_der=_blob(x["ca-cert"]), server_names=x["domain-match"].split(";")
    )
    if x["eap"] == "tls;":
        carried.certificate = _p12(_blob(x["private-key"]), x["private-key-password"])
        carried.method = "tls"
    else:
        inner = x.get("phase2-auth") or f"eap-{x['phase2-autheap']}"
        carried.method = f"{x['eap'].rstrip(';')}/{'eap-mschapv2' if x['eap'] == 'peap;' else inner}"
        carried.username, carried.password = x["identity"], x["password"]
    return carried


def read_onc(data: bytes, tmp_path: Path) -> Carried:
    document = json.loads(data)
    certificates = {c["GUID"]: c for c in document["Certificates"]}
    networks = document["NetworkConfigurations"]
    eap = networks[0]["WiFi"]["EAP"]
    assert all(n["WiFi"]["EAP"] == eap for n in networks) and eap["UseSystemCAs"] is False
    [ca] = eap["ServerCARefs"]
    carried = Carried(
        ssids=[n["WiFi"]["SSID"] for n in networks],
        ca_der=base64.b64decode(certificates[ca]["X509"]),
        server_names=[m["Value"] for m in eap["SubjectAlternativeNameMatch"]],
    )
    if eap["Outer"] == "EAP-TLS":
        carried.certificate = _p12(base64.b64decode(certificates[eap["ClientCertRef"]]["PKCS12"]), None)
        carried.method = "tls"
    else:
        outer = {"PEAP": "peap", "EAP-TTLS": "ttls"}[eap["Outer"]]
        carried.method = f"{outer}/{'eap-mschapv2' if outer == 'peap' else eap['Inner'].lower()}"
        carried.username, carried.password = eap["Identity"], eap["Password"]
    return carried


Reader = Callable[[bytes, Path], Carried]
#: format → (user agent, media type, reader)
FORMATS: dict[str, tuple[str, str, Reader]] = {
    "ios/mobileconfig": (IPHONE, apple.MEDIA_TYPE, read_mobileconfig),
    "android/passpoint": (ANDROID, android.MIME_TYPE, read_android),
    "android/eap-config": (ANDROID, "application/eap-config", read_eap_config),
    "windows/wlan": (WINDOWS, "application/zip", read_windows),
    "linux/nm-keyfile": (LINUX, "text/plain", read_keyfile_profile),
    "chromeos/onc": (CHROMEBOOK, "application/json", read_onc),
}
#: what each platform is offered first
RECOMMENDED = {
    "ios": "ios/mobileconfig",
    "android": "android/passpoint",
    "windows": "windows/wlan",
    "linux": "linux/nm-keyfile",
    "chromeos": "chromeos/onc",
}
#: the method each format's password credential gets when the server serves them all
PASSWORD_METHODS = {
    "ios/mobileconfig": "ttls/mschapv2",
    "android/passpoint": "ttls/mschapv2",
    "android/eap-config": "peap/eap-mschapv2",
    "windows/wlan": "peap/eap-mschapv2",
    "linux/nm-keyfile": "ttls/eap-mschapv2",
    "chromeos/onc": "peap/eap-mschapv2",
}


def configure(portal: Portal, *, certificates: bool = True, methods: tuple[str, ...] = ALL_METHODS) -> None:
    portal.config = dataclasses.replace(
        portal.config,
        eap=EapProfile(
            ca_der=SERVER_CA_DER,
            ca_subject="CN=RADIUS CA (test)",
            ca_not_after=NOW + timedelta(days=3650),
            server_names=(SERVER_NAME,),
            methods=methods,
        ),
        onboarding=OnboardingNetwork(
            device_issuer=DeviceIssuer.load(DEVICE_CA.certificate_pem(), DEVICE_CA.key_pem())
            if certificates
            else None,
        ),
    )


@pytest.fixture
async def portal(portal: Portal) -> Portal:
    """The conftest's portal with the real builders (Apple's signed) and a CA published; the
    region's secure network described in the database: two SSIDs and Passpoint."""
    configure(portal)
    portal.formats = standard(builders(apple.Signer(certificate=SIGNER.certificate, private_key=SIGNER.key)))
    await describe(
        portal, ssids=SSIDS, passpoint_fqdn=TEST_REALM, passpoint_friendly_name="Wi-Fi Région",
        roaming_consortium_ois=[OI],
    )  # fmt: skip
    return portal


async def describe(portal: Portal, **changes: Any) -> None:
    async with portal.transaction() as session:
        region = await portal.region(session)
        await onboarding.set_region_onboarding(session, region=region, changes=changes, actor="cli:test")


async def offers(browser: Browser) -> list[str]:
    return Page((await browser.get("/account")).text).offers


async def active_hashes(browser: Browser, account: Account) -> list[bytes]:
    async with browser.portal.transaction() as session:
        found = await credentials.active_nt_hashes(session, box=browser.portal.box, account_id=account.id)
    return [h for _, h in found]


async def owner(browser: Browser, account: Account, certificate: x509.Certificate) -> object:
    async with browser.portal.transaction() as session:
        return await certificates.certificate_owner(
            session, region_id=account.region_id, issuer_der=certificate.issuer.public_bytes(),
            serial=certificate.serial_number, now=NOW,
        )  # fmt: skip


async def forget_all(browser: Browser) -> None:
    for form in [
        f for f in Page((await browser.get("/account")).text).forms if f["action"].endswith("/forget")
    ]:
        assert (await browser.post("/account/secure/forget", data=form)).status_code == 303


@pytest.mark.parametrize("kind", ["certificate", "password"])
@pytest.mark.parametrize("fmt", sorted(FORMATS))
async def test_each_format_carries_the_described_network_and_this_devices_credential(
    browser: Browser, tmp_path: Path, fmt: str, kind: str
) -> None:
    if kind == "password":
        configure(browser.portal, certificates=False)
    user_agent, media_type, reader = FORMATS[fmt]
    alice = await signed_up(await as_(browser, user_agent))
    assert (await offers(browser))[0] == RECOMMENDED[fmt.split("/")[0]]
    got = await browser.get(await link_of(browser, fmt, "Appareil"))
    assert got.status_code == 200 and got.headers["content-type"].split(";")[0] == media_type
    assert got.headers["cache-control"] == "no-store"
    carried = reader(got.content, tmp_path)

    # where: the database's network
    if fmt == "android/passpoint":
        assert carried.home_fqdn == TEST_REALM and carried.ois == [OI]
    elif fmt == "linux/nm-keyfile":
        assert carried.ssids == SSIDS[:1]  # one connection: the first SSID, the preferred one
    else:
        assert carried.ssids == SSIDS
    if fmt in ("ios/mobileconfig", "android/eap-config"):
        assert carried.ois == [OI]
    # whom it trusts: the CA and the server's name
    assert carried.ca_der == SERVER_CA_DER
    assert carried.server_names == ([] if fmt == "android/passpoint" else [SERVER_NAME])
    # with what: this device's own credential, which RADIUS's services recognise until forgotten
    if kind == "certificate":
        assert carried.method == "tls" and carried.certificate is not None
        carried.certificate.verify_directly_issued_by(DEVICE_CA.certificate)
        [cn] = carried.certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        assert cn.value == f"alice@{TEST_REALM}"
        assert await owner(browser, alice, carried.certificate) is not None
        await forget_all(browser)
        assert await owner(browser, alice, carried.certificate) is None
    else:
        assert carried.method.startswith(PASSWORD_METHODS[fmt].split("/")[0])
        if fmt != "windows/wlan":  # Windows' profile names the outer method; the read-me the rest
            assert carried.method == PASSWORD_METHODS[fmt]
        assert carried.username == f"alice@{TEST_REALM}"
        assert await active_hashes(browser, alice) == [credentials.nt_hash(carried.password)]
        await forget_all(browser)
        assert await active_hashes(browser, alice) == []
    assert (await browser.get(got.request.url.path)).status_code == 410  # the link served once


async def test_formats_that_cannot_serve_the_network_are_not_offered(browser: Browser) -> None:
    await signed_up(await as_(browser, ANDROID))
    everything = set(FORMATS) | {"macos/mobileconfig", "windows/eap-config", "linux/eap-config"}
    assert set(await offers(browser)) == everything
    # Android's Passpoint pins the Home SP's FQDN as a suffix: a server name outside it would fail
    await describe(browser.portal, passpoint_fqdn="elsewhere.example")
    assert "android/passpoint" not in await offers(browser)
    # no Passpoint: no Passpoint file; the others still configure the SSIDs
    await describe(
        browser.portal, passpoint_fqdn=None, passpoint_friendly_name=None, roaming_consortium_ois=[]
    )
    assert set(await offers(browser)) == everything - {"android/passpoint"}
    # Passpoint alone: nothing for NetworkManager and ONC, which configure no Passpoint
    await describe(browser.portal, ssids=[], passpoint_fqdn=TEST_REALM, roaming_consortium_ois=[OI])
    assert set(await offers(browser)) == everything - {"linux/nm-keyfile", "chromeos/onc"}
    # a link made before the network changed is refused at the download, nothing issued
    link = await link_of(browser, "android/passpoint")
    await describe(
        browser.portal,
        ssids=SSIDS,
        passpoint_fqdn=None,
        passpoint_friendly_name=None,
        roaming_consortium_ois=[],
    )
    assert (await browser.get(link)).status_code == 404


async def test_password_methods_follow_what_the_server_serves(browser: Browser) -> None:
    """Without a device CA, Android's Passpoint needs TTLS/MS-CHAPv2 (no PEAP, no EAP-MSCHAPv2
    inside TTLS, and a device credential cannot answer PAP): a server serving PEAP only gets no
    Passpoint file, and the eap-config carries PEAP."""
    configure(browser.portal, certificates=False, methods=("peap/mschapv2", "eap-ttls/pap"))
    await signed_up(await as_(browser, ANDROID))
    assert "android/passpoint" not in await offers(browser)
    got = await browser.get(await link_of(browser, "android/eap-config"))
    assert read_eap_config(got.content, Path()).method == "peap/eap-mschapv2"
    configure(browser.portal, certificates=False, methods=("eap-ttls/pap",))
    assert await offers(browser) == []  # PAP checks the account's password: no device credential
    assert "Secure connection" not in (await browser.get("/account")).text


async def test_the_communes_own_ssids_where_the_citizen_came_from(browser: Browser) -> None:
    portal = browser.portal
    async with portal.transaction() as session:
        region = await portal.region(session)
        valence = await network.add_commune(session, region=region, name="Valence", insee_code="26362")
        site = await network.add_site(session, commune=valence, name="Médiathèque")
        nas = await network.add_nas(
            session, box=portal.box, site=site, name="ap", address="10.1.0.1", secret="secret-a-123"
        )
        await onboarding.set_commune_ssids(
            session, commune=valence, ssids=["Valence Wi-Fi Sûr"], actor="cli:t"
        )
        nas_id = nas.id
    await signed_up(await as_(browser, WINDOWS))
    arrival = Arrival(integration="none", client_mac=None, client_ip=None, user_url=None, state={})
    browser.cookies.set(HANDOFF_COOKIE, handoff_cookie(portal, HandoffState(nas_id=nas_id, arrival=arrival)))
    page = (await browser.get("/account")).text
    assert "Valence Wi-Fi Sûr" in page and SSIDS[0] not in page
    got = await browser.get(await link_of(browser, "android/eap-config"))
    assert read_eap_config(got.content, Path()).ssids == ["Valence Wi-Fi Sûr"]
    browser.cookies.delete(HANDOFF_COOKIE)
    got = await browser.get(await link_of(browser, "android/eap-config", "second"))
    assert read_eap_config(got.content, Path()).ssids == SSIDS


async def test_the_windows_read_me_speaks_the_citizens_language(browser: Browser) -> None:
    """A WLAN profile holds no password: the zip's read-me gives the user name and password Windows
    asks for, in the page's language (the portal's catalogs)."""
    configure(browser.portal, certificates=False)
    browser.headers["Accept-Language"] = "fr"
    alice = await signed_up(await as_(browser, WINDOWS))
    data = (await browser.get(await link_of(browser, "windows/wlan", "PC"))).content
    readme = zipfile.ZipFile(io.BytesIO(data)).read(windows.README).decode("utf-8-sig").split("\r\n")
    assert f"Nom d'utilisateur : alice@{TEST_REALM}" in readme
    [password] = [
        line.removeprefix("Mot de passe : ") for line in readme if line.startswith("Mot de passe : ")
    ]
    assert await active_hashes(browser, alice) == [credentials.nt_hash(password)]


async def test_a_certificate_link_is_refused_once_the_device_ca_is_gone(browser: Browser) -> None:
    alice = await signed_up(await as_(browser, IPHONE))
    link = await link_of(browser, "ios/mobileconfig")
    configure(browser.portal, certificates=False)  # the operator removed the device CA's key
    assert (await browser.get(link)).status_code == 404
    async with browser.portal.transaction() as session:
        account = await session.get_one(Account, alice.id)
        assert await certificates.list_certificates(session, account=account) == []
    assert await active_hashes(browser, alice) == []
