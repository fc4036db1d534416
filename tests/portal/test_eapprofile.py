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
from portal.context import EapProfile, Portal
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
