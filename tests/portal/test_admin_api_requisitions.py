"""Judicial requisitions through the admin API (``/api/v1/requisitions``), on SQLite and PostgreSQL:
only the auditor may search or export; a search answers its records and is audited; the export's
signatures verify with the real ``openssl cms -verify`` — and fail once one byte of the CSV
changes; another's search cannot be exported; too many records is a 422 that is still audited."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import subprocess
import zipfile
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from accounts import admins
from accounts.models import AdminRole
from accounts.recordsexport import COLUMNS, CSV_NAME, JSON_NAME, SIGNATURE_SUFFIX, RecordsSigner
from accounts.requisition import Limits
from radius.eap.trialpki import make_ca, make_signer
from tests.accounts.requisitions import HOSTILE, MAC, Seeded, seed
from tests.portal.conftest import NOW, PASSWORD, Browser, World, bearer, token

T = NOW - timedelta(days=1)
AUDITOR = "auditor@test.example"
MAC_FOUND = ["decision:mac-refused", "in-mac-canonical", "decision:mac-auth", "in-mac-cisco", "in-mac-bare"]


@pytest.fixture
async def seeded(browser: Browser, world: World) -> Seeded:
    portal = browser.portal
    async with portal.transaction() as session:
        return await seed(
            session, region=await portal.region(session), hasher=portal.hasher, box=portal.box, t=T,
            commune_id=world.commune_a, site_id=world.site_a, other_commune_id=world.commune_b,
        )  # fmt: skip


@pytest.fixture
def ca_file(browser: Browser, tmp_path: Path) -> Path:
    """A records-signing certificate in the portal's configuration; its CA in a file for openssl."""
    ca = make_ca("Région de test records CA")
    signer = make_signer(ca, "Région de test connection records")
    portal = browser.portal
    portal.config = replace(portal.config, records_signer=RecordsSigner(signer.certificate, signer.key))
    path = tmp_path / "records-ca.pem"
    path.write_bytes(ca.certificate_pem())
    return path


def body(seeded: Seeded, kind: str, value: str, **changes: object) -> dict[str, object]:
    since, until = seeded.window
    return {"kind": kind, "value": value, "since": since.isoformat(), "until": until.isoformat()} | changes


def names(records: list[dict[str, str]]) -> list[str]:
    return [r["unique_id"] if r["record"] == "session" else f"decision:{r['reason']}" for r in records]


def openssl_verify(folder: Path, name: str, ca: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["openssl", "cms", "-verify", "-binary", "-inform", "DER",
         "-in", str(folder / (name + SIGNATURE_SUFFIX)), "-content", str(folder / name),
         "-CAfile", str(ca), "-out", "/dev/null"],
        capture_output=True, check=False, timeout=60,
    )  # fmt: skip


async def audit_entries(browser: Browser, who: dict[str, str], action: str) -> list[dict[str, object]]:
    response = await browser.get("/api/v1/audit", params={"action": action}, headers=who)
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


@pytest.mark.parametrize(
    "role_email", ["region@test.example", "valence@test.example", "support@test.example"]
)
async def test_no_one_but_the_auditor_may_search_or_export(
    browser: Browser, seeded: Seeded, ca_file: Path, role_email: str
) -> None:
    who = bearer(await token(browser, role_email))
    response = await browser.post("/api/v1/requisitions", json=body(seeded, "mac", MAC), headers=who)
    assert response.status_code == 403, response.text
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    auditor = bearer(await token(browser, AUDITOR))
    found = await browser.post("/api/v1/requisitions", json=body(seeded, "mac", MAC), headers=auditor)
    assert found.status_code == 200
    exported = await browser.get(f"/api/v1/requisitions/{found.json()['id']}/export", headers=who)
    assert exported.status_code == 403
    assert (await browser.post("/api/v1/requisitions", json=body(seeded, "mac", MAC))).status_code == 401


async def test_search_is_audited_and_its_export_verifies_with_openssl(
    browser: Browser, seeded: Seeded, ca_file: Path, tmp_path: Path
) -> None:
    who = bearer(await token(browser, AUDITOR))
    response = await browser.post(
        "/api/v1/requisitions", json=body(seeded, "mac", "02-00-5E-10-20-30"), headers=who
    )
    assert response.status_code == 200, response.text
    found = response.json()
    assert names(found["records"]) == MAC_FOUND
    assert (found["asked_by"], found["count"], found["criteria"]["value"]) == (AUDITOR, 5, MAC)
    [entry] = await audit_entries(browser, who, "requisition.search")
    assert (entry["id"], entry["actor"], entry["target"]) == (found["id"], AUDITOR, f"mac:{MAC}")
    assert entry["after"] == found["criteria"] | {
        "since": "2026-11-21T12:00:00Z", "until": "2026-11-21T14:00:00Z", "count": 5, "too_many": False,
    }  # fmt: skip

    exported = await browser.get(f"/api/v1/requisitions/{found['id']}/export", headers=who)
    assert exported.status_code == 200, exported.text
    assert exported.headers["content-type"] == "application/zip"
    assert exported.headers["content-disposition"] == f'attachment; filename="requisition-{found["id"]}.zip"'
    folder = tmp_path / "answer"
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        assert sorted(archive.namelist()) == sorted(
            [CSV_NAME, CSV_NAME + SIGNATURE_SUFFIX, JSON_NAME, JSON_NAME + SIGNATURE_SUFFIX]
        )
        archive.extractall(folder)
    for name in (CSV_NAME, JSON_NAME):
        checked = openssl_verify(folder, name, ca_file)
        assert checked.returncode == 0, checked.stderr.decode()
        assert b"Verification successful" in checked.stderr

    data = (folder / CSV_NAME).read_bytes()
    rows = list(csv.DictReader(io.StringIO(data.decode("utf-8"), newline="")))
    assert names(rows) == MAC_FOUND and list(rows[0]) == list(COLUMNS)
    about = json.loads((folder / JSON_NAME).read_text(encoding="utf-8"))
    assert about["records_csv_sha256"] == hashlib.sha256(data).hexdigest()
    assert (about["search_id"], about["asked_by"], about["exported_by"], about["records"]) == (
        found["id"],
        AUDITOR,
        AUDITOR,
        5,
    )
    assert about["criteria"] == {"kind": "mac", "value": MAC, "since": "2026-11-21T12:00:00Z",
                                 "until": "2026-11-21T14:00:00Z"}  # fmt: skip
    assert about["exported_at"] == "2026-11-22T12:00:00Z"
    [export_entry] = await audit_entries(browser, who, "requisition.export")
    assert export_entry["after"] == {
        "search_id": found["id"],
        "count": 5,
        "csv_sha256": about["records_csv_sha256"],
    }

    # one byte changed: the signature no longer verifies
    tampered = bytearray(data)
    tampered[data.index(b"in-mac-cisco")] ^= 0x01
    (folder / CSV_NAME).write_bytes(bytes(tampered))
    refused = openssl_verify(folder, CSV_NAME, ca_file)
    assert refused.returncode != 0
    assert b"Verification successful" not in refused.stderr


async def test_the_export_neutralises_spreadsheet_formulas(
    browser: Browser, seeded: Seeded, ca_file: Path
) -> None:
    who = bearer(await token(browser, AUDITOR))
    found = (
        await browser.post("/api/v1/requisitions", json=body(seeded, "ip", "10.0.0.9"), headers=who)
    ).json()
    assert found["records"][0]["username"] == HOSTILE["username"]  # the JSON answer is data, kept as it is
    exported = await browser.get(f"/api/v1/requisitions/{found['id']}/export", headers=who)
    with zipfile.ZipFile(io.BytesIO(exported.content)) as archive:
        [row] = csv.DictReader(io.StringIO(archive.read(CSV_NAME).decode("utf-8"), newline=""))
    assert row["username"] == "'" + HOSTILE["username"]
    assert row["nas_port_id"] == "'" + HOSTILE["nasportid"]
    assert row["called_station_id"] == "'" + HOSTILE["calledstationid"]
    assert row["calling_station_id"] == "'" + HOSTILE["callingstationid"]
    assert row["realm"] == "'" + HOSTILE["realm"]
    assert row["terminate_cause"] == "'" + HOSTILE["acctterminatecause"]


async def test_only_one_s_own_searches_can_be_exported(
    browser: Browser, seeded: Seeded, ca_file: Path
) -> None:
    async with browser.portal.transaction() as session:
        await admins.create_admin(
            session, hasher=browser.portal.hasher, email="dpo2@test.example", role=AdminRole.AUDITOR,
            password=PASSWORD,
        )  # fmt: skip
    first, second = bearer(await token(browser, AUDITOR)), bearer(await token(browser, "dpo2@test.example"))
    found = (await browser.post("/api/v1/requisitions", json=body(seeded, "mac", MAC), headers=first)).json()
    other = await browser.get(f"/api/v1/requisitions/{found['id']}/export", headers=second)
    assert other.status_code == 404, other.text
    # an audit entry that is not a search is no search
    exported = await browser.get(f"/api/v1/requisitions/{found['id']}/export", headers=first)
    [entry] = await audit_entries(browser, first, "requisition.export")
    assert exported.status_code == 200
    not_a_search = await browser.get(f"/api/v1/requisitions/{entry['id']}/export", headers=first)
    assert not_a_search.status_code == 404


async def test_no_signer_configured_refuses_the_export(browser: Browser, seeded: Seeded) -> None:
    who = bearer(await token(browser, AUDITOR))
    found = (await browser.post("/api/v1/requisitions", json=body(seeded, "mac", MAC), headers=who)).json()
    refused = await browser.get(f"/api/v1/requisitions/{found['id']}/export", headers=who)
    assert refused.status_code == 409
    assert "SESAME_REQUISITION_SIGNING_CERTIFICATE" in refused.json()["detail"]


async def test_too_many_records_says_narrow_the_window_and_is_audited(
    browser: Browser, seeded: Seeded, ca_file: Path
) -> None:
    portal = browser.portal
    portal.config = replace(portal.config, requisition=Limits(max_records=4))
    who = bearer(await token(browser, AUDITOR))
    response = await browser.post("/api/v1/requisitions", json=body(seeded, "mac", MAC), headers=who)
    assert response.status_code == 422
    assert "narrow the window" in response.json()["detail"]
    [entry] = await audit_entries(browser, who, "requisition.search")
    assert entry["id"] == response.json()["id"]
    assert entry["after"]["too_many"] is True and entry["after"]["count"] is None  # type: ignore[index]
    refused = await browser.get(f"/api/v1/requisitions/{entry['id']}/export", headers=who)
    assert refused.status_code == 422  # never the records
    assert "too many" in refused.json()["detail"]


@pytest.mark.parametrize(
    ("changes", "says"),
    [
        ({"until": (T + timedelta(days=32)).isoformat()}, "longer than 31 days"),
        ({"until": T.isoformat()}, "end after it starts"),
        ({"value": "not-an-address"}, "not an IP address"),
        ({"kind": "mac", "value": "02:00:5e:10:20"}, "not a MAC"),
        ({"kind": "identity", "value": "alice"}, "username@realm"),
        ({"kind": "pseudonym", "value": "deleted-123"}, "24 hexadecimal"),
    ],
)
async def test_bad_searches_are_422_with_a_reason(
    browser: Browser, seeded: Seeded, changes: dict[str, object], says: str
) -> None:
    who = bearer(await token(browser, AUDITOR))
    response = await browser.post(
        "/api/v1/requisitions", json=body(seeded, "ip", "10.0.0.5") | changes, headers=who
    )
    assert response.status_code == 422
    assert says in response.json()["detail"]
    assert await audit_entries(browser, who, "requisition.search") == []  # nothing was searched


@pytest.mark.parametrize(
    "changes",
    [
        {"since": "2026-11-21T12:00:00"},  # naive
        {"kind": "email"},
        {"extra": "field"},
        {"value": ""},
    ],
)
async def test_malformed_bodies_are_422(browser: Browser, seeded: Seeded, changes: dict[str, object]) -> None:
    who = bearer(await token(browser, AUDITOR))
    response = await browser.post(
        "/api/v1/requisitions", json=body(seeded, "ip", "10.0.0.5") | changes, headers=who
    )
    assert response.status_code == 422, response.text
