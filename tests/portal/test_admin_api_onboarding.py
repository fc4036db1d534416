"""The secure network's description through the admin API (issue 17), on SQLite and PostgreSQL:
region admins change the region's, a commune admin reads it and changes only their own commune's
SSIDs (another commune is 404 and stays as it was, the region's is 403), refusals are 422 with
the reason, and every change is in the audit log."""

from __future__ import annotations

import json

from sqlalchemy import select

from accounts.models import AuditEntry
from tests.portal.conftest import Browser, World, bearer, token

REGION = "/api/v1/onboarding/region"


def _commune(commune_id: int) -> str:
    return f"/api/v1/onboarding/communes/{commune_id}"


async def _entries(browser: Browser, action: str) -> list[AuditEntry]:
    async with browser.portal.transaction() as session:
        found = await session.scalars(
            select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)
        )
        return list(found.all())


async def test_a_region_admin_describes_the_network_and_every_reader_sees_it(
    browser: Browser, world: World
) -> None:
    region = bearer(await token(browser, "region@test.example"))
    body = {
        "ssids": ["Wi-Fi Région Sécurisé"],
        "passpoint_fqdn": "wifi.test.example",
        "passpoint_friendly_name": "Wi-Fi Région",
        "roaming_consortium_ois": ["abcdef"],
        "eduroam": True,
    }
    changed = await browser.patch(REGION, json=body, headers=region)
    assert changed.status_code == 200, changed.text
    assert changed.json() == {
        "ssids": ["Wi-Fi Région Sécurisé"],
        "passpoint_fqdn": "wifi.test.example",
        "passpoint_friendly_name": "Wi-Fi Région",
        "nai_realm": None,
        "roaming_consortium_ois": ["ABCDEF"],
        "eduroam": True,
        "openroaming": False,
    }
    for email in ("valence@test.example", "support@test.example", "auditor@test.example"):
        seen = await browser.get(REGION, headers=bearer(await token(browser, email)))
        assert seen.status_code == 200 and seen.json() == changed.json(), email
    (entry,) = await _entries(browser, "onboarding.region.update")
    assert entry.actor == "region@test.example" and json.loads(entry.after or "")["eduroam"] is True

    # Passpoint off: its FQDN and everything that hangs on it cleared in one PATCH
    off = await browser.patch(
        REGION,
        json={
            "passpoint_fqdn": None,
            "passpoint_friendly_name": None,
            "roaming_consortium_ois": [],
            "eduroam": False,
        },
        headers=region,
    )
    assert off.status_code == 200 and off.json()["passpoint_fqdn"] is None
    assert off.json()["ssids"] == ["Wi-Fi Région Sécurisé"]


async def test_only_a_region_admin_changes_the_regions_description(browser: Browser, world: World) -> None:
    for email in ("valence@test.example", "support@test.example", "auditor@test.example"):
        refused = await browser.patch(
            REGION, json={"ssids": ["Pirate"]}, headers=bearer(await token(browser, email))
        )
        assert refused.status_code == 403, (email, refused.text)
    assert (await browser.get(REGION, headers=bearer(await token(browser, "region@test.example")))).json()[
        "ssids"
    ] == []
    assert await _entries(browser, "onboarding.region.update") == []


async def test_a_commune_admin_sets_their_communes_ssids_and_no_other(browser: Browser, world: World) -> None:
    region = bearer(await token(browser, "region@test.example"))
    valence = bearer(await token(browser, "valence@test.example"))
    assert (await browser.patch(REGION, json={"ssids": ["Région"]}, headers=region)).status_code == 200

    mine = await browser.put(_commune(world.commune_a), json={"ssids": ["Valence-Sûr"]}, headers=valence)
    assert mine.status_code == 200, mine.text
    assert mine.json() == {
        "commune_id": world.commune_a,
        "ssids": ["Valence-Sûr"],
        "effective_ssids": ["Valence-Sûr"],
    }

    # another commune: not found, for reading and for writing, and nothing changes there
    for method, json_body in (("GET", None), ("PUT", {"ssids": ["Pirate"]}), ("PUT", {"ssids": []})):
        response = await browser.request(method, _commune(world.commune_b), json=json_body, headers=valence)
        assert response.status_code == 404, (method, response.text)
        assert "Nice" not in response.text
    assert (await browser.get(_commune(99_999), headers=valence)).status_code == 404
    theirs = await browser.get(_commune(world.commune_b), headers=region)
    assert theirs.json() == {"commune_id": world.commune_b, "ssids": [], "effective_ssids": ["Région"]}

    # support reads, never writes
    support = bearer(await token(browser, "support@test.example"))
    assert (await browser.get(_commune(world.commune_a), headers=support)).status_code == 200
    assert (
        await browser.put(_commune(world.commune_a), json={"ssids": []}, headers=support)
    ).status_code == 403

    entries = await _entries(browser, "onboarding.commune.update")
    assert [(e.target, e.commune_id) for e in entries] == [(f"commune:{world.commune_a}", world.commune_a)]

    back = await browser.put(_commune(world.commune_a), json={"ssids": []}, headers=valence)
    assert back.json() == {"commune_id": world.commune_a, "ssids": [], "effective_ssids": ["Région"]}


async def test_values_devices_could_not_use_are_422_with_the_reason(browser: Browser, world: World) -> None:
    region = bearer(await token(browser, "region@test.example"))
    for body, reason in (
        ({"ssids": ["é" * 17]}, "octets"),  # 17 characters, 34 octets
        ({"ssids": ["a\tb"]}, "control"),
        ({"ssids": []}, None),  # accepted: no SSID (Passpoint alone may do)
        ({"ssids": None}, "null"),
        ({"passpoint_fqdn": "not a host"}, "DNS name"),
        ({"passpoint_fqdn": "a.fr", "roaming_consortium_ois": ["001BC50460"]}, "eduroam"),
        ({"passpoint_fqdn": "a.fr", "roaming_consortium_ois": ["ABCDEFGH"]}, "hex"),
        ({"openroaming": True}, "FQDN"),
        ({"ssid": ["typo"]}, "extra"),
    ):
        response = await browser.patch(REGION, json=body, headers=region)
        if reason is None:
            assert response.status_code == 200, response.text
            continue
        assert response.status_code == 422, (body, response.text)
        assert reason in response.text, (body, response.text)
    assert len(await _entries(browser, "onboarding.region.update")) == 1  # the accepted one only


async def test_an_ssid_comes_back_octet_for_octet(browser: Browser, world: World) -> None:
    """Other texts are NFC-normalised; an SSID is not: the access points broadcast its octets."""
    region = bearer(await token(browser, "region@test.example"))
    decomposed = "Re\u0301gion"
    response = await browser.put(_commune(world.commune_a), json={"ssids": [decomposed]}, headers=region)
    assert response.status_code == 200, response.text
    assert response.json()["ssids"][0].encode() == b"Re\xcc\x81gion"
