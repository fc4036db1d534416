"""Support forgets a device through the admin API (issues 17 and 18), end to end: a device's
credential or certificate authenticates against a running ``sesame serve`` with ``eapol_test``
from its NetworkManager keyfile; a support agent finds the account over HTTP, sees the device
among its enrolled ones (and not its password), revokes it with ``POST …/revoke``; the same
keyfile is then refused — a password at the RADIUS workers' next poll, a certificate at the next
handshake. The helpers are tests/interop/test_onboarding_e2e.py's."""

from __future__ import annotations

import time
from collections.abc import Iterator

import httpx
import pytest

from portal.onboarding import linux
from portal.onboarding.spec import Credential, PasswordCredential
from tests.interop.conftest import REALM, need_tool
from tests.interop.test_eap import Eap, keys_match, launch_eap, succeeded
from tests.interop.test_onboarding_e2e import (
    SECRET_KEY,
    SSID,
    citizen,
    connect,
    issue_device_certificate,
    issue_device_credential,
    last_decision,
    refused_within_a_poll,
    spec_for,
)
from tests.support.ports import free_tcp_port

pytestmark = pytest.mark.slow

SUPPORT, STAFF_PASSWORD = "support@test.example", "a long helpdesk passphrase 2026"


class Served:
    def __init__(self, eap: Eap, base: str) -> None:
        self.eap, self.base = eap, base


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    need_tool("eapol_test")  # fails in CI, skips on a workstation
    workdir = tmp_path_factory.mktemp("devices-api")
    port = free_tcp_port()
    base = f"http://127.0.0.1:{port}"
    eap = launch_eap(
        workdir,
        SESAME_SECRET_KEY=SECRET_KEY,
        SESAME_WEB_ENABLED="true",
        SESAME_WEB_PORT=str(port),
        SESAME_PORTAL_PUBLIC_URL=base,
        SESAME_MAIL_OUTBOX=str(workdir / "outbox"),
    )
    try:
        eap.sesame.cli("admin", "create", SUPPORT, "--role", "support", "--password", STAFF_PASSWORD)
        deadline = time.monotonic() + 30
        while True:  # the portal starts beside the RADIUS ports, maybe a little after them
            try:
                if httpx.get(f"{base}/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, eap.sesame.log.read_text()[-3000:]
            time.sleep(0.2)
        yield Served(eap, base)
    finally:
        eap.sesame.proc.terminate()
        eap.sesame.proc.wait(timeout=30)


def support_headers(base: str) -> dict[str, str]:
    response = httpx.post(
        f"{base}/api/v1/auth/token",
        data={"grant_type": "password", "username": SUPPORT, "password": STAFF_PASSWORD},
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.mark.parametrize("kind", ["password", "certificate"])
def test_a_device_revoked_by_support_is_refused(served: Served, kind: str) -> None:
    eap, base = served.eap, served.base
    name = citizen(eap)
    credential: Credential
    if kind == "password":
        device_id, password = issue_device_credential(eap, name)
        credential = PasswordCredential(username=f"{name}@{REALM}", password=password)
        secret = password
    else:
        device_id, credential = issue_device_certificate(eap, name)
        secret = credential.pkcs12_password
    keyfile = linux.keyfile(spec_for(eap, credential), SSID)
    out = connect(eap, keyfile)
    assert succeeded(out) and keys_match(out), out[-3000:]

    headers = support_headers(base)
    found = httpx.get(f"{base}/api/v1/accounts", params={"q": name}, headers=headers).json()
    [account] = [a for a in found["items"] if a["identity"] == f"{name}@{REALM}"]
    listed = httpx.get(f"{base}/api/v1/accounts/{account['id']}/enrolled-devices", headers=headers)
    assert listed.status_code == 200 and secret not in listed.text
    assert [(d["kind"], d["id"], d["revoked_at"]) for d in listed.json()] == [(kind, device_id, None)]

    revoked = httpx.post(
        f"{base}/api/v1/accounts/{account['id']}/enrolled-devices/{kind}/{device_id}/revoke",
        headers=headers,
    )
    assert revoked.status_code == 200 and revoked.json()["revoked_at"] is not None, revoked.text
    out = refused_within_a_poll(eap, keyfile)
    assert last_decision(eap)[0] == "Access-Reject", out[-3000:]
