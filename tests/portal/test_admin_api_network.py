"""The admin API on what decides where citizens, and their credentials, go (issue 14), on SQLite and
PostgreSQL: access point addresses a commune admin cannot take from another commune, and hand-offs
that only a region admin sets, within the one rule for URLs."""

from __future__ import annotations

from sqlalchemy import select

from accounts.models import AuditEntry, Nas
from tests.portal.conftest import Browser, World, bearer, token

# -- access point addresses (issue 14, point 6) ------------------------------------------------------


async def test_a_commune_admin_cannot_take_another_communes_addresses(browser: Browser, world: World) -> None:
    valence = bearer(await token(browser, "valence@test.example"))
    new = {"site_id": world.site_a, "name": "rogue", "secret": "rogue-secret-1"}
    for address in ("10.2.0.5", "10.2.0.0/23", "::ffff:10.2.0.5", "10.0.0.0/8", "0.0.0.0/0", "::/0"):
        response = await browser.post(
            "/api/v1/access-points", json=new | {"address": address}, headers=valence
        )
        assert response.status_code in (409, 422), (address, response.text)
        assert "ap-b" not in response.text and "10.2.0.0/24" not in response.text
    override = await browser.post(
        "/api/v1/access-points", json=new | {"address": "10.2.0.5", "allow_overlap": True}, headers=valence
    )
    assert override.status_code == 403 and "region admin" in override.json()["detail"]
    for address in ("10.2.0.7", "::ffff:10.2.0.0/120", "0.0.0.0/0"):
        moved = await browser.patch(
            f"/api/v1/access-points/{world.ap_a}",
            json={"address": address, "coa_port": 1700},
            headers=valence,
        )
        assert moved.status_code in (409, 422), (address, moved.text)
    assert (
        await browser.patch(
            f"/api/v1/access-points/{world.ap_a}",
            json={"address": "10.2.0.7", "allow_overlap": True},
            headers=valence,
        )
    ).status_code == 403
    mine = await browser.get(f"/api/v1/access-points/{world.ap_a}", headers=valence)
    assert mine.json()["address"] == "10.1.0.0/24" and mine.json()["coa_port"] == 3799  # nothing changed
    moved = await browser.patch(
        f"/api/v1/access-points/{world.ap_a}", json={"address": "10.1.0.0/25"}, headers=valence
    )
    assert moved.status_code == 200 and moved.json()["address"] == "10.1.0.0/25"


async def test_a_region_admin_may_allow_an_overlap_explicitly_and_it_is_audited(
    browser: Browser, world: World
) -> None:
    region = bearer(await token(browser, "region@test.example"))
    new = {
        "site_id": world.site_a,
        "name": "controller",
        "address": "10.2.0.8",
        "secret": "controller-secret",
    }
    refused = await browser.post("/api/v1/access-points", json=new, headers=region)
    assert refused.status_code == 409 and "overlaps" in refused.json()["detail"]
    wide = await browser.post(
        "/api/v1/access-points", json=new | {"address": "10.0.0.0/8", "allow_overlap": True}, headers=region
    )
    assert wide.status_code == 422 and "too wide" in wide.json()["detail"]
    created = await browser.post("/api/v1/access-points", json=new | {"allow_overlap": True}, headers=region)
    assert created.status_code == 201, created.text
    async with browser.portal.transaction() as session:
        entry = await session.scalar(select(AuditEntry).where(AuditEntry.action == "access_point.create"))
        assert entry is not None and '"allow_overlap": true' in (entry.after or "")


async def test_nothing_moves_into_another_commune(browser: Browser, world: World) -> None:
    """A site stays in its commune and an access point at its site: neither can be moved (into
    another commune's reach or out of it) by any field of a PATCH."""
    for email in ("valence@test.example", "region@test.example"):
        who = bearer(await token(browser, email))
        for path, body in (
            (f"/api/v1/sites/{world.site_a}", {"commune_id": world.commune_b}),
            (f"/api/v1/access-points/{world.ap_a}", {"site_id": world.site_b}),
            (f"/api/v1/access-points/{world.ap_a}", {"commune_id": world.commune_b}),
        ):
            response = await browser.patch(path, json=body, headers=who)
            assert response.status_code == 422, (email, path, response.text)
    region = bearer(await token(browser, "region@test.example"))
    site = (await browser.get(f"/api/v1/sites/{world.site_a}", headers=region)).json()
    ap = (await browser.get(f"/api/v1/access-points/{world.ap_a}", headers=region)).json()
    assert site["commune_id"] == world.commune_a and ap["site_id"] == world.site_a


# -- hand-offs (issue 14, points 1 and 2) -----------------------------------------------------------


async def test_hand_off_targets_are_the_regions_and_follow_the_one_rule(
    browser: Browser, world: World
) -> None:
    """Issue 14: a commune admin cannot point their access point's hand-off anywhere (403 with a
    reason); a region admin cannot either, outside https:// or a private controller address (422);
    CoovaChilli without its UAM secret is refused; rotating the UAM secret stays the commune's."""
    valence = bearer(await token(browser, "valence@test.example"))
    region = bearer(await token(browser, "region@test.example"))
    ap = f"/api/v1/access-points/{world.ap_a}"
    harvest = {"handoff": "form_post", "handoff_options": {"login_url": "https://evil.example/collect"}}
    refused = await browser.patch(ap, json=harvest, headers=valence)
    assert refused.status_code == 403 and "region admin" in refused.json()["detail"]
    only_options = await browser.patch(ap, json={"handoff_options": {"done_url": "/"}}, headers=valence)
    assert only_options.status_code == 403
    for bad in (
        {"handoff": "form_post", "handoff_options": {"login_url": "http://evil.example/collect"}},
        {"handoff": "form_post", "handoff_options": {"login_url": "http://203.0.113.9:8002/"}},
        {"handoff": "form_post", "handoff_options": {"login_url": "javascript:alert(1)"}},
        {"handoff": "form_post", "handoff_options": {"login_url_param": "login_url"}},  # no allowed_hosts
        {"handoff": "form_post", "handoff_options": {}},
        {"handoff": "none", "handoff_options": {"done_url": "http://evil.example/"}},
        {"handoff": "none", "handoff_options": {"done_url": "//evil.example/"}},
        {"handoff": "coovachilli"},  # no UAM secret
        {
            "handoff": "coovachilli",
            "uam_secret": "s3cret",
            "handoff_options": {"uamserver": "http://x.example/"},
        },
    ):
        response = await browser.patch(ap, json=bad, headers=region)
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["detail"], bad
    async with browser.portal.transaction() as session:
        nas = await session.get_one(Nas, world.ap_a)
        assert (nas.handoff, nas.handoff_options, nas.uam_secret_ciphertext) == ("none", None, None)
    good = {"handoff": "form_post", "handoff_options": {"login_url": "http://10.1.0.1:8002/index.php"}}
    assert (await browser.patch(ap, json=good, headers=region)).status_code == 200
    chilli = {"handoff": "coovachilli", "uam_secret": "uam-secret-42"}
    assert (await browser.patch(ap, json=chilli, headers=region)).status_code == 200
    rotated = await browser.patch(ap, json={"uam_secret": "uam-secret-43"}, headers=valence)
    assert rotated.status_code == 200 and rotated.json()["has_uam_secret"]
    removed = await browser.patch(ap, json={"uam_secret": ""}, headers=region)
    assert removed.status_code == 422  # CoovaChilli keeps its secret


async def test_a_sites_hand_off_is_set_on_all_its_access_points(browser: Browser, world: World) -> None:
    valence = bearer(await token(browser, "valence@test.example"))
    region = bearer(await token(browser, "region@test.example"))
    await browser.post(
        "/api/v1/access-points",
        json={
            "site_id": world.site_a,
            "name": "ap-a2",
            "address": "10.1.1.0/24",
            "secret": "another-secret-1",
        },
        headers=valence,
    )
    body = {"handoff": "coovachilli", "uam_secret": "uam-secret-42", "handoff_options": {"auth": "chap"}}
    refused = await browser.put(f"/api/v1/sites/{world.site_a}/handoff", json=body, headers=valence)
    assert refused.status_code == 403 and "region admin" in refused.json()["detail"]
    done = await browser.put(f"/api/v1/sites/{world.site_a}/handoff", json=body, headers=region)
    assert done.status_code == 200 and "uam-secret-42" not in done.text
    assert [(a["name"], a["handoff"], a["has_uam_secret"]) for a in done.json()] == [
        ("ap-a", "coovachilli", True),
        ("ap-a2", "coovachilli", True),
    ]
    unknown = await browser.put(
        f"/api/v1/sites/{world.site_a}/handoff", json={"handoff": "telepathy"}, headers=region
    )
    assert unknown.status_code == 422
    assert (
        await browser.put(f"/api/v1/sites/{world.site_b}/handoff", json={"handoff": "none"}, headers=valence)
    ).status_code == 404


# -- created in one call (issue 16) ---------------------------------------------------------------


async def test_an_access_point_is_created_with_its_handoff_in_one_call(
    browser: Browser, world: World
) -> None:
    region = bearer(await token(browser, "region@test.example"))
    new = {"site_id": world.site_a, "name": "chilli", "address": "10.1.1.7", "secret": "chilli-secret-1"}
    chilli = new | {"vendor": "CoovaChilli", "handoff": "coovachilli", "uam_secret": "uam-secret-42"}
    created = await browser.post("/api/v1/access-points", json=chilli, headers=region)
    assert created.status_code == 201, created.text
    body = created.json()
    assert (body["vendor"], body["handoff"], body["has_uam_secret"]) == ("coovachilli", "coovachilli", True)
    assert "uam-secret-42" not in created.text
    form = new | {"name": "form", "address": "10.1.1.8"}
    form |= {"handoff": "form_post", "handoff_options": {"login_url": "http://10.1.0.1:8002/index.php"}}
    assert (await browser.post("/api/v1/access-points", json=form, headers=region)).status_code == 201

    # a hand-off that cannot be used refuses the whole creation: nothing half-made
    lacking = new | {"name": "lacking", "address": "10.1.1.9", "handoff": "coovachilli"}  # no UAM secret
    assert (await browser.post("/api/v1/access-points", json=lacking, headers=region)).status_code == 422
    valence = bearer(await token(browser, "valence@test.example"))
    theirs = await browser.post(
        "/api/v1/access-points", json=new | {"name": "theirs", "address": "10.1.1.10", "handoff": "form_post",
                                             "handoff_options": {"login_url": "http://10.1.0.1/"}},
        headers=valence,
    )  # fmt: skip
    assert theirs.status_code == 403 and "region admin" in theirs.json()["detail"]
    async with browser.portal.transaction() as session:
        names = set((await session.scalars(select(Nas.shortname))).all())
        assert {"chilli", "form"} <= names and not {"lacking", "theirs"} & names
        entry = await session.scalar(
            select(AuditEntry).where(AuditEntry.target == f"access_point:{body['id']}")
        )
        assert entry is not None and '"handoff": "coovachilli"' in (entry.after or "")
        assert "uam-secret-42" not in (entry.after or "")


async def test_an_unknown_vendor_is_refused_with_the_known_ones(browser: Browser, world: World) -> None:
    region = bearer(await token(browser, "region@test.example"))
    new = {"site_id": world.site_a, "name": "typo", "address": "10.1.1.20", "secret": "typo-secret-1"}
    refused = await browser.post("/api/v1/access-points", json=new | {"vendor": "meraky"}, headers=region)
    assert refused.status_code == 422
    assert "unknown vendor" in refused.text and "meraki" in refused.text and "meraky" not in refused.text
    accepted = await browser.post("/api/v1/access-points", json=new | {"vendor": " Meraki "}, headers=region)
    assert accepted.status_code == 201 and accepted.json()["vendor"] == "meraki"
