"""Onboarding end to end through a real ``sesame serve``: the portal as the composition root
builds it from the settings (every format builder, Apple's signed with the configured signing
certificate, the device CA's key), the secure network set with ``sesame onboarding set``, a
citizen logged in over HTTP who asks for a profile and downloads it once. The file itself is what
connects: the NetworkManager keyfile and the ONC file downloaded, turned field by field into an
``eapol_test`` configuration (as tests/interop/test_onboarding_e2e.py does), authenticate against
the same server (SUCCESS, MPPE keys OK); after "Forget this device" on My account they are
refused. Run twice: with the device CA's key (EAP-TLS certificates) and without (a TTLS/PEAP
device credential). The signed Apple profile verifies with ``openssl cms -verify``."""

from __future__ import annotations

import plistlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from radius.eap.trialpki import make_ca, make_signer, write
from tests.interop.conftest import PASSWORD, REALM, SECRET, need_tool
from tests.interop.test_eap import SERVER_NAME, Eap, keys_match, launch_eap, succeeded
from tests.interop.test_onboarding_e2e import eapol_config, onc_eapol_config
from tests.portal.test_onboarding import Page
from tests.support.eapol import run_eapol_test
from tests.support.nmkeyfile import read_keyfile
from tests.support.ports import free_tcp_port

pytestmark = pytest.mark.slow

SSIDS = ("Interop-Sécurisé", "Interop 1X")
#: the method of a password credential in each file (formats.STANDARD, the server serving them all)
PASSWORD_METHODS = {"linux/nm-keyfile": "eap-ttls/eap-mschapv2", "chromeos/onc": "peap/mschapv2"}
LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"


@dataclass
class Deployment:
    eap: Eap
    base: str
    signing_ca: Path
    certificates: bool


@pytest.fixture(scope="module", params=["certificate", "password"])
def deployment(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Deployment]:
    need_tool("eapol_test")
    workdir = tmp_path_factory.mktemp(f"onboarding-{request.param}")
    signing = workdir / "signing"
    signing.mkdir()
    signing_ca = make_ca("profile-signing CA (trial)")
    signer = make_signer(signing_ca, "profiles.interop.example")
    settings = {
        "SESAME_EAP_CA": str(workdir / "pki" / "ca.pem"),  # written by launch_eap's trial PKI
        "SESAME_ONBOARDING_SIGNING_CERTIFICATE": str(write(signing / "signer.pem", signer.certificate_pem())),
        "SESAME_ONBOARDING_SIGNING_KEY": str(write(signing / "signer.key", signer.key_pem(), secret=True)),
    }
    if request.param == "certificate":
        settings["SESAME_ONBOARDING_DEVICE_CA_KEY"] = str(workdir / "pki" / "device-ca.key")
    web_port = free_tcp_port()
    base = f"http://127.0.0.1:{web_port}"
    eap = launch_eap(
        workdir,
        SESAME_WEB_ENABLED="true",
        SESAME_WEB_PORT=str(web_port),
        SESAME_PORTAL_PUBLIC_URL=base,
        SESAME_MAIL_OUTBOX=str(workdir / "outbox"),
        **settings,
    )
    try:
        eap.sesame.cli("onboarding", "set", *(a for s in SSIDS for a in ("--ssid", s)))
        eap.sesame.cli("onboarding", "set", "--passpoint-fqdn", REALM, "--rcoi", "AABBCC")
        eap.sesame.cli("user", "add", "camille", "--email", "camille@example.fr", "--password", PASSWORD)
        yield Deployment(
            eap=eap,
            base=base,
            signing_ca=write(signing / "ca.pem", signing_ca.certificate_pem()),
            certificates=request.param == "certificate",
        )
    finally:
        eap.sesame.proc.terminate()
        eap.sesame.proc.wait(timeout=30)


@pytest.fixture
def citizen(deployment: Deployment) -> Iterator[httpx.Client]:
    """Camille, logged in on the portal over HTTP, with Linux's user agent."""
    with httpx.Client(
        base_url=deployment.base, headers={"User-Agent": LINUX, "Accept-Language": "en"}
    ) as http:
        login = http.get("/login")
        token = next(f["csrf_token"] for f in Page(login.text).forms if "csrf_token" in f)
        done = http.post("/login", data={"csrf_token": token, "identity": "camille", "password": PASSWORD})
        assert done.status_code == 303 and done.headers["location"] == "/account", done.text
        yield http


def download(http: httpx.Client, fmt: str) -> bytes:
    page = Page(http.get("/account").text)
    form = next(f for f in page.forms if f.get("format") == fmt)
    link = Page(http.post("/account/secure/link", data=form | {"label": fmt}).text).download
    assert link is not None
    got = http.get(link)
    assert got.status_code == 200, got.text
    assert http.get(link).status_code == 410  # once
    return got.content


def forget_all(http: httpx.Client) -> None:
    forms = [f for f in Page(http.get("/account").text).forms if f["action"] == "/account/secure/forget"]
    assert forms
    for form in forms:
        assert http.post("/account/secure/forget", data=form).status_code == 303


def connect(deployment: Deployment, config: Path) -> str:
    return run_eapol_test(config, deployment.eap.sesame.auth_port, SECRET, binary=need_tool("eapol_test"))


def refused_within_a_poll(deployment: Deployment, config: Path) -> str:
    """A forgotten certificate is refused at the next handshake; a forgotten device credential
    at the RADIUS workers' next poll (2 s): retried for at most 20 s."""
    deadline = time.monotonic() + 20
    while succeeded(out := connect(deployment, config)):
        assert time.monotonic() < deadline, "a forgotten device is still accepted after 20 s"
        time.sleep(1)
    return out


@pytest.mark.parametrize("fmt", ["linux/nm-keyfile", "chromeos/onc"])
def test_the_downloaded_file_connects_until_the_device_is_forgotten(
    deployment: Deployment, citizen: httpx.Client, fmt: str
) -> None:
    data = download(citizen, fmt)
    workdir = deployment.eap.sesame.workdir
    if fmt == "linux/nm-keyfile":
        keyfile = read_keyfile(data)
        assert keyfile["wifi"]["ssid"] == SSIDS[0] and keyfile["802-1x"]["domain-match"] == SERVER_NAME
        assert keyfile["802-1x"]["eap"] == ("tls;" if deployment.certificates else "ttls;")
        config = eapol_config(data, workdir)
    else:
        config = onc_eapol_config(data, workdir)
    out = connect(deployment, config)
    assert succeeded(out) and keys_match(out), out[-3000:]
    expected = "eap-tls" if deployment.certificates else PASSWORD_METHODS[fmt]
    assert deployment.eap.decisions("camille")[-1] == ("Access-Accept", expected, "accepted")
    forget_all(citizen)
    out = refused_within_a_poll(deployment, config)
    assert not succeeded(out)


def test_the_apple_profile_is_signed_with_the_configured_certificate(
    deployment: Deployment, citizen: httpx.Client, tmp_path: Path
) -> None:
    signed = tmp_path / "wifi.mobileconfig"
    signed.write_bytes(download(citizen, "ios/mobileconfig"))
    content = tmp_path / "profile.plist"
    done = subprocess.run(
        ["openssl", "cms", "-verify", "-inform", "DER", "-in", signed, "-CAfile", deployment.signing_ca,
         "-out", content],
        capture_output=True, check=False, timeout=30,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    top = plistlib.loads(content.read_bytes())
    wifi = [p for p in top["PayloadContent"] if p["PayloadType"] == "com.apple.wifi.managed"]
    assert [p.get("SSID_STR") for p in wifi] == [*SSIDS, None]  # and the Passpoint payload
    assert wifi[-1]["DomainName"] == REALM and wifi[-1]["RoamingConsortiumOIs"] == ["AABBCC"]
    assert {p["EAPClientConfiguration"]["AcceptEAPTypes"][0] for p in wifi} == (
        {13} if deployment.certificates else {21}
    )
    forget_all(citizen)
