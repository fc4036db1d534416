"""The secure network's profile on the portal: the CA devices must trust (PEM and DER, as phones
want it) and the server name they must check, with the CA's fingerprint as openssl prints it; none
of it when no CA is configured."""

from __future__ import annotations

import dataclasses
import subprocess
from collections.abc import AsyncIterator

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.app import create_app
from portal.context import EapProfile, Portal, PublishedCa
from radius.eap.trialpki import make_ca
from tests.conftest import TEST_REALM
from tests.portal.conftest import PUBLIC_URL

SERVER_NAME = f"radius.{TEST_REALM}"


@pytest.fixture(scope="module")
def ca_pem() -> bytes:
    return make_ca(f"{TEST_REALM} RADIUS CA", organisation="Région de test").certificate_pem()


def _profile(ca_pem: bytes) -> EapProfile:
    ca = x509.load_pem_x509_certificate(ca_pem)
    return EapProfile(
        ca_der=ca.public_bytes(serialization.Encoding.DER),
        ca_subject=ca.subject.rfc4514_string(),
        ca_not_after=ca.not_valid_after_utc,
        server_names=(SERVER_NAME,),
        methods=("peap/mschapv2", "eap-ttls/pap", "eap-tls"),
    )


@pytest.fixture
async def http(engine: AsyncEngine, portal: Portal, ca_pem: bytes) -> AsyncIterator[httpx.AsyncClient]:
    portal.config = dataclasses.replace(portal.config, eap=_profile(ca_pem))
    app = create_app(engine=engine, portal=portal)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as client:
        yield client


def _openssl(*args: str, data: bytes) -> bytes:
    return subprocess.run(["openssl", *args], input=data, capture_output=True, check=True).stdout


async def test_the_ca_is_published_as_pem_and_as_der_for_phones(
    http: httpx.AsyncClient, ca_pem: bytes
) -> None:
    pem = await http.get("/eap/ca.pem")
    assert pem.status_code == 200 and pem.headers["content-type"].startswith("application/x-pem-file")
    der = await http.get("/eap/ca.crt")
    assert der.status_code == 200 and der.headers["content-type"] == "application/x-x509-ca-cert"
    published = x509.load_pem_x509_certificate(pem.content)
    assert published == x509.load_pem_x509_certificate(ca_pem)
    assert x509.load_der_x509_certificate(der.content) == published
    assert _openssl("x509", "-outform", "DER", data=pem.content) == der.content  # openssl reads the PEM
    assert "public" in pem.headers["cache-control"]


async def test_the_server_name_and_the_ca_fingerprint_are_what_devices_check(
    http: httpx.AsyncClient, ca_pem: bytes
) -> None:
    response = await http.get("/eap/server.json")
    assert response.status_code == 200
    body = response.json()
    fingerprint = _openssl("x509", "-noout", "-fingerprint", "-sha256", data=ca_pem)
    assert fingerprint.decode().strip() == f"sha256 Fingerprint={body['ca_sha256']}"
    assert body["server_name"] == SERVER_NAME and body["server_names"] == [SERVER_NAME]
    assert body["methods"] == ["peap/mschapv2", "eap-ttls/pap", "eap-tls"]
    assert body["outer_identity"] == f"anonymous@{TEST_REALM}"
    assert body["realm"] == TEST_REALM
    assert f"{TEST_REALM} RADIUS CA" in body["ca_subject"]
    assert (await http.get(body["ca_pem"])).status_code == 200
    assert (await http.get(body["ca_der"])).status_code == 200


async def test_nothing_is_published_without_a_ca(engine: AsyncEngine, portal: Portal) -> None:
    app = create_app(engine=engine, portal=portal)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as client:
        for path in ("/eap/ca.pem", "/eap/ca.crt", "/eap/server.json"):
            assert (await client.get(path)).status_code == 404


# -- a change of the server's CA: both CAs published ----------------------------------------------


@pytest.fixture
async def rotating(
    engine: AsyncEngine, portal: Portal, ca_pem: bytes
) -> AsyncIterator[tuple[httpx.AsyncClient, bytes]]:
    """The portal while devices pin today's CA and the next one."""
    following = make_ca(f"{TEST_REALM} RADIUS CA 2027", organisation="Région de test").certificate
    profile = dataclasses.replace(
        _profile(ca_pem),
        other_cas=(
            PublishedCa(
                der=following.public_bytes(serialization.Encoding.DER),
                subject=following.subject.rfc4514_string(),
                not_after=following.not_valid_after_utc,
            ),
        ),
    )
    portal.config = dataclasses.replace(portal.config, eap=profile)
    app = create_app(engine=engine, portal=portal)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=PUBLIC_URL) as client:
        yield client, following.public_bytes(serialization.Encoding.PEM)


async def test_during_a_change_of_ca_every_pinned_ca_is_published(
    rotating: tuple[httpx.AsyncClient, bytes], ca_pem: bytes
) -> None:
    http, next_pem = rotating
    bundle = (await http.get("/eap/ca.pem")).content
    today, following = x509.load_pem_x509_certificates(bundle)
    assert today == x509.load_pem_x509_certificate(ca_pem)
    assert following == x509.load_pem_x509_certificate(next_pem)
    # openssl reads the bundle certificate by certificate, as supplicants do
    p7 = _openssl("crl2pkcs7", "-nocrl", "-certfile", "/dev/stdin", data=bundle)
    listed = _openssl("pkcs7", "-print_certs", "-noout", data=p7).decode()
    assert listed.count("subject=") == 2 and "RADIUS CA 2027" in listed
    # a DER file holds one certificate: today's
    assert x509.load_der_x509_certificate((await http.get("/eap/ca.crt")).content) == today

    body = (await http.get("/eap/server.json")).json()
    assert [ca["signs_server_certificate"] for ca in body["cas"]] == [True, False]
    for listed, pem in zip(body["cas"], (ca_pem, next_pem), strict=True):
        fingerprint = _openssl("x509", "-noout", "-fingerprint", "-sha256", data=pem).decode().strip()
        assert fingerprint == f"sha256 Fingerprint={listed['sha256']}"
        assert listed["not_after"] == x509.load_pem_x509_certificate(pem).not_valid_after_utc.isoformat()
        one = await http.get(listed["der"])
        assert one.status_code == 200 and one.headers["content-type"] == "application/x-x509-ca-cert"
        assert x509.load_der_x509_certificate(one.content) == x509.load_pem_x509_certificate(pem)
    assert body["ca_sha256"] == body["cas"][0]["sha256"]
    assert (await http.get(f"/eap/ca/{'AB' * 32}.crt")).status_code == 404
