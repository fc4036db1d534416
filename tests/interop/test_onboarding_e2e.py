"""Onboarding end to end (issue 17): the NetworkManager keyfile a Linux device gets, turned field
by field into an ``eapol_test`` configuration — identity, anonymous identity, the CA blob, the
server's name, phase 2, the password or the PKCS#12 and its password — authenticates against a
running ``sesame serve`` (SUCCESS, and the MPPE keys eapol_test derived match those Sésame sent),
then fails once the device is forgotten: the device credential or certificate revoked through
the same ``accounts`` services the portal's "Forget this device" calls.

Nothing here knows how the credential is meant to be used except through the keyfile: a keyfile
that pinned the wrong CA, named the wrong server or phase 2, or lost the password would fail.
The ONC file for ChromeOS goes the same way, its fields mapped as ChromeOS' shill maps them."""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import (
    BestAvailableEncryption,
    Encoding,
    load_pem_private_key,
    pkcs12,
)
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import certificates, credentials, users
from accounts.models import Account, utcnow
from accounts.network import ensure_home_region
from accounts.secretbox import SecretBox
from portal.onboarding import linux
from portal.onboarding.spec import CertificateCredential, Credential, PasswordCredential, ProfileSpec
from radius.eap.trialpki import Issued, make_device
from sesame.db import create_engine, create_sessionmaker, unit_of_work
from tests.interop.conftest import PASSWORD, REALM, SECRET, need_tool
from tests.interop.test_eap import SERVER_NAME, Eap, keys_match, launch_eap, succeeded
from tests.support.eapol import run_eapol_test
from tests.support.nmkeyfile import read_keyfile

pytestmark = pytest.mark.slow

SECRET_KEY = secrets.token_urlsafe(48)  # this server's; the test seals device credentials with it
SSID = "Interop-Sécurisé"
T = TypeVar("T")


@pytest.fixture(scope="module")
def eap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Eap]:
    need_tool("eapol_test")  # fails in CI, skips on a workstation
    deployment = launch_eap(tmp_path_factory.mktemp("onboarding"), SESAME_SECRET_KEY=SECRET_KEY)
    try:
        yield deployment
    finally:
        deployment.sesame.proc.terminate()
        deployment.sesame.proc.wait(timeout=30)


def in_transaction(eap: Eap, username: str, action: Callable[[AsyncSession, Account], Awaitable[T]]) -> T:
    """One committed transaction on the server's database, with the citizen's account, as the
    portal's views run the ``accounts`` services."""

    async def run() -> T:
        engine = create_engine(f"sqlite+aiosqlite:///{eap.database}")
        try:
            async with unit_of_work(create_sessionmaker(engine)) as session:
                region = await ensure_home_region(session, realm=REALM)
                account = await users.find_account(session, username, region=region)
                return await action(session, account)
        finally:
            await engine.dispose()

    return asyncio.run(run())


def citizen(eap: Eap) -> str:
    name = f"o{secrets.token_hex(4)}"
    eap.sesame.cli("user", "add", name, "--email", f"{name}@example.fr", "--password", PASSWORD)
    return name


def spec_for(eap: Eap, credential: Credential) -> ProfileSpec:
    ca = x509.load_pem_x509_certificate((eap.pki / "ca.pem").read_bytes())
    return ProfileSpec(
        organisation="Interop",
        realm=REALM,
        ssids=(SSID,),
        ca_der=ca.public_bytes(Encoding.DER),
        server_names=(SERVER_NAME,),
        credential=credential,
    )


def wpa_string(value: str) -> str:
    """A wpa_supplicant string as hex: whatever the keyfile held, it cannot break the syntax."""
    return value.encode().hex()


def blob(value: str) -> bytes:
    scheme, _, data = value.partition(",")
    assert scheme == "data:;base64", value[:40]
    return base64.b64decode(data, validate=True)


def eapol_config(keyfile: bytes, directory: Path) -> Path:
    """The keyfile's [802-1x] as wpa_supplicant's network block, field by field."""
    x = read_keyfile(keyfile)["802-1x"]
    [method] = [m for m in x["eap"].split(";") if m]
    lines = ["key_mgmt=WPA-EAP", f"eap={method.upper()}", f"identity={wpa_string(x['identity'])}"]
    if "anonymous-identity" in x:
        lines.append(f"anonymous_identity={wpa_string(x['anonymous-identity'])}")
    ca = directory / f"ca-{secrets.token_hex(4)}.der"
    ca.write_bytes(blob(x["ca-cert"]))
    lines.append(f'ca_cert="{ca}"')
    lines.append(f"domain_match={wpa_string(x['domain-match'])}")
    lines.append(f"domain_suffix_match={wpa_string(x['domain-suffix-match'])}")
    if "phase2-auth" in x:
        lines.append(f'phase2="auth={x["phase2-auth"].upper()}"')
    if "phase2-autheap" in x:
        lines.append(f'phase2="autheap={x["phase2-autheap"].upper()}"')
    if "password" in x:
        lines.append(f"password={wpa_string(x['password'])}")
    if "private-key" in x:
        # a PKCS#12 holds the certificate too: wpa_supplicant then wants no client_cert
        assert blob(x["client-cert"]) == blob(x["private-key"])
        key = directory / f"device-{secrets.token_hex(4)}.p12"
        key.write_bytes(blob(x["private-key"]))
        key.chmod(0o600)
        lines += [f'private_key="{key}"', f"private_key_passwd={wpa_string(x['private-key-password'])}"]
    config = directory / f"from-keyfile-{secrets.token_hex(4)}.conf"
    config.write_text("network={\n" + "".join(f"\t{line}\n" for line in lines) + "}\n")
    return config


def connect(eap: Eap, keyfile: bytes) -> str:
    config = eapol_config(keyfile, eap.sesame.workdir)
    return run_eapol_test(config, eap.sesame.auth_port, SECRET, binary=need_tool("eapol_test"))


def onc_eapol_config(document: bytes, directory: Path) -> Path:
    """An ONC network's EAP as ChromeOS' shill hands it to wpa_supplicant: Outer → eap, Inner →
    phase2, the ServerCARefs' X509 → ca_cert (one PEM file of them all), SubjectAlternativeNameMatch
    → altsubject_match, DomainSuffixMatch → domain_suffix_match, the client's PKCS12 (no passphrase)
    → private_key."""
    onc = json.loads(document)
    certificates = {c["GUID"]: c for c in onc["Certificates"]}
    eap = onc["NetworkConfigurations"][0]["WiFi"]["EAP"]
    outer = {"PEAP": "PEAP", "EAP-TTLS": "TTLS", "EAP-TLS": "TLS"}[eap["Outer"]]
    lines = ["key_mgmt=WPA-EAP", f"eap={outer}", f"identity={wpa_string(eap['Identity'])}"]
    if "AnonymousIdentity" in eap:
        lines.append(f"anonymous_identity={wpa_string(eap['AnonymousIdentity'])}")
    if "Inner" in eap:
        lines.append(f'phase2="auth={eap["Inner"].upper()}"')
    if "Password" in eap:
        lines.append(f"password={wpa_string(eap['Password'])}")
    # shill writes every ServerCARefs' certificate, PEM, into one file (a CA bundle)
    ca = directory / f"onc-ca-{secrets.token_hex(4)}.pem"
    ca.write_bytes(
        b"".join(
            x509.load_der_x509_certificate(base64.b64decode(certificates[ref]["X509"])).public_bytes(
                Encoding.PEM
            )
            for ref in eap["ServerCARefs"]
        )
    )
    lines.append(f'ca_cert="{ca}"')
    san = ";".join(f"{n['Type']}:{n['Value']}" for n in eap["SubjectAlternativeNameMatch"])
    lines.append(f"altsubject_match={wpa_string(san)}")
    lines.append(f"domain_suffix_match={wpa_string(';'.join(eap['DomainSuffixMatch']))}")
    if eap.get("ClientCertType") == "Ref":
        key = directory / f"onc-device-{secrets.token_hex(4)}.p12"
        key.write_bytes(base64.b64decode(certificates[eap["ClientCertRef"]]["PKCS12"]))
        key.chmod(0o600)
        lines += [f'private_key="{key}"', 'private_key_passwd=""']
    config = directory / f"from-onc-{secrets.token_hex(4)}.conf"
    config.write_text("network={\n" + "".join(f"\t{line}\n" for line in lines) + "}\n")
    return config


def refused_within_a_poll(eap: Eap, keyfile: bytes) -> str:
    """Revocations reach the RADIUS workers' caches at their next poll (every 2 s): try until
    refused, at most 20 s (as tests/interop/test_eap.py does)."""
    deadline = time.monotonic() + 20
    while succeeded(out := connect(eap, keyfile)):
        assert time.monotonic() < deadline, "a forgotten device still accepted after 20 s"
        time.sleep(1)
    return out


def last_decision(eap: Eap) -> tuple[str, str, str]:
    """The server's latest decision, whoever it names: once a device's only credential is
    revoked the inner identity is unknown, and the refusal is recorded under the outer,
    anonymous one (the tests here run one after the other on this module's server)."""
    return eap.decisions(f"@{REALM}")[-1]


def issue_device_credential(eap: Eap, name: str) -> tuple[int, str]:
    """A device credential for ``name``'s account, as the portal issues one: its id and password."""
    box = SecretBox(SECRET_KEY)

    async def issue(session: AsyncSession, account: Account) -> tuple[int, str]:
        row, password = await credentials.create_device_credential(
            session, box=box, account=account, label="laptop"
        )
        return row.id, password

    return in_transaction(eap, name, issue)


def issue_device_certificate(eap: Eap, name: str) -> tuple[int, CertificateCredential]:
    """A certificate from the device CA, registered for ``name``'s account, and the credential a
    profile carries (a PKCS#12 under a password of its own)."""
    device_ca = Issued(
        x509.load_pem_x509_certificate((eap.pki / "device-ca.pem").read_bytes()),
        load_pem_private_key((eap.pki / "device-ca.key").read_bytes(), None),  # type: ignore[arg-type]
    )
    device = make_device(device_ca, f"{name}@{REALM}")

    async def register(session: AsyncSession, account: Account) -> int:
        row = await certificates.register_certificate(
            session, account=account, certificate=device.certificate, label="laptop", now=utcnow()
        )
        return row.id

    certificate_id = in_transaction(eap, name, register)
    password = secrets.token_urlsafe(12)
    return certificate_id, CertificateCredential(
        certificate_der=device.certificate.public_bytes(Encoding.DER),
        pkcs12=pkcs12.serialize_key_and_certificates(
            b"laptop", device.key, device.certificate, None, BestAvailableEncryption(password.encode())
        ),
        pkcs12_password=password,
        private_key_pem=device.key_pem(),
        identity=f"{name}@{REALM}",
    )


@pytest.mark.parametrize(
    ("method", "inner", "label"),
    [("ttls", "eap-mschapv2", "eap-ttls/eap-mschapv2"), ("peap", "eap-mschapv2", "peap/mschapv2")],
)
def test_a_device_credential_from_its_keyfile_until_the_device_is_forgotten(
    eap: Eap, method: str, inner: str, label: str
) -> None:
    name = citizen(eap)
    credential_id, password = issue_device_credential(eap, name)
    credential = PasswordCredential(
        username=f"{name}@{REALM}",
        password=password,
        method=method,  # type: ignore[arg-type]
        inner=inner,  # type: ignore[arg-type]
    )
    keyfile = linux.keyfile(spec_for(eap, credential), SSID)

    out = connect(eap, keyfile)
    assert succeeded(out) and keys_match(out), out[-3000:]
    assert eap.decisions(name)[-1] == ("Access-Accept", label, "accepted")

    async def forget(session: AsyncSession, account: Account) -> None:
        await credentials.revoke_device_credential(
            session, account=account, credential_id=credential_id, now=utcnow()
        )

    in_transaction(eap, name, forget)
    out = refused_within_a_poll(eap, keyfile)
    assert last_decision(eap)[:2] == ("Access-Reject", label), out[-3000:]


def test_an_eap_tls_certificate_from_its_keyfile_until_the_device_is_forgotten(eap: Eap) -> None:
    name = citizen(eap)
    certificate_id, credential = issue_device_certificate(eap, name)
    keyfile = linux.keyfile(spec_for(eap, credential), SSID)

    out = connect(eap, keyfile)
    assert succeeded(out) and keys_match(out), out[-3000:]
    assert eap.decisions(name)[-1] == ("Access-Accept", "eap-tls", "accepted")

    async def forget(session: AsyncSession, account: Account) -> None:
        await certificates.revoke_certificate(
            session, account=account, certificate_id=certificate_id, now=utcnow()
        )

    in_transaction(eap, name, forget)
    out = refused_within_a_poll(eap, keyfile)
    assert last_decision(eap)[:2] == ("Access-Reject", "eap-tls"), out[-3000:]


def test_a_keyfile_pinning_another_server_name_is_refused_by_the_device(eap: Eap) -> None:
    """Not vacuous: the name pinned in the keyfile is what eapol_test checks — a keyfile for
    another server name fails against this server, though the credential is good."""
    name = citizen(eap)
    credential = PasswordCredential(
        username=f"{name}@{REALM}", password=issue_device_credential(eap, name)[1]
    )
    spec = spec_for(eap, credential)
    assert succeeded(out := connect(eap, linux.keyfile(spec, SSID))), out[-3000:]
    elsewhere = ProfileSpec(
        organisation=spec.organisation,
        realm=REALM,
        ssids=spec.ssids,
        ca_der=spec.ca_der,
        server_names=(f"evil.{REALM}",),
        credential=credential,
    )
    out = connect(eap, linux.keyfile(elsewhere, SSID))
    assert not succeeded(out), out[-3000:]
    assert "Domain" in out or "domain" in out, out[-3000:]


@pytest.mark.parametrize("kind", ["ttls", "tls"])
def test_the_onc_file_authenticates_too(eap: Eap, kind: str) -> None:
    """ChromeOS' file, read as shill reads it: the TTLS device credential (given as MS-CHAPv2:
    ONC has no EAP-MSCHAPv2 for TTLS) and the EAP-TLS certificate in a PKCS#12 without
    passphrase, as ONC requires."""
    name = citizen(eap)
    credential: Credential
    if kind == "ttls":
        credential = PasswordCredential(
            username=f"{name}@{REALM}", password=issue_device_credential(eap, name)[1]
        )
        label = "eap-ttls/mschapv2"
    else:
        credential, label = issue_device_certificate(eap, name)[1], "eap-tls"
    config = onc_eapol_config(linux.onc(spec_for(eap, credential)), eap.sesame.workdir)
    out = run_eapol_test(config, eap.sesame.auth_port, SECRET, binary=need_tool("eapol_test"))
    assert succeeded(out) and keys_match(out), out[-3000:]
    assert eap.decisions(name)[-1] == ("Access-Accept", label, "accepted")
