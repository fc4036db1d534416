"""A commune's sponsored-access setting through the admin API and the console (SQLite and PostgreSQL):
a commune admin sets their commune's sponsors, another commune's is the same 404 as a missing one,
support may not read the addresses, bad addresses and hostile text are refused with a reason, and
every change is audited."""

from __future__ import annotations

import json

from sqlalchemy import select

from accounts.models import AuditEntry, Sponsorship
from tests.portal.conftest import Browser, World, bearer, token
from tests.portal.console import sign_in

VALENCE, REGION, SUPPORT = "valence@test.example", "region@test.example", "support@test.example"
BODY = {"enabled": True, "sponsors": [{"email": "anne@valence.example", "name": "Anne Martin"}]}


async def test_the_api_sets_a_communes_sponsors_within_reach(browser: Browser, world: World) -> None:
    valence = bearer(await token(browser, VALENCE))
    mine = f"/api/v1/communes/{world.commune_a}/sponsorship"
    assert (await browser.get(mine, headers=valence)).json() == {"enabled": False, "sponsors": []}
    saved = await browser.put(mine, json=BODY, headers=valence)
    assert saved.status_code == 200 and saved.json() == BODY
    theirs = f"/api/v1/communes/{world.commune_b}/sponsorship"
    for answer in (
        await browser.get(theirs, headers=valence),
        await browser.put(theirs, json=BODY, headers=valence),
        await browser.get("/api/v1/communes/999999/sponsorship", headers=valence),
    ):
        assert answer.status_code == 404
    support = bearer(await token(browser, SUPPORT))
    assert (await browser.get(mine, headers=support)).status_code == 403
    for bad in (
        {"enabled": True, "sponsors": []},
        {"enabled": True, "sponsors": [{"email": "not an address"}]},
        {"enabled": True, "sponsors": [{"email": "anne@valence.example", "name": "Anne\u0000"}]},
        {"enabled": True, "sponsors": [{"email": "anne@valence.example", "name": "<b>"}]},
        {"enabled": True, "sponsors": [{"email": "anne@valence.example"}], "extra": 1},
    ):
        refused = await browser.put(mine, json=bad, headers=valence)
        assert refused.status_code == 422, (bad, refused.text)
    region = bearer(await token(browser, REGION))
    assert (
        await browser.put(theirs, json={"enabled": False, "sponsors": []}, headers=region)
    ).status_code == 200
    async with browser.portal.transaction() as session:
        entries = (
            await session.scalars(select(AuditEntry).where(AuditEntry.action == "sponsorship.update"))
        ).all()
        assert [(e.actor, e.commune_id) for e in entries] == [
            (VALENCE, world.commune_a),
            (REGION, world.commune_b),
        ]
        assert json.loads(entries[0].after or "") == BODY
        assert json.loads(entries[0].before or "") == {"enabled": False, "sponsors": []}


async def test_the_console_form_sets_them_and_another_commune_is_404(browser: Browser, world: World) -> None:
    await sign_in(browser, VALENCE)
    path = f"/console/communes/{world.commune_a}/sponsorship"
    page = await browser.get(path)
    assert page.status_code == 200 and 'name="sponsors"' in page.text
    assert (
        f"/console/communes/{world.commune_a}/sponsorship"
        in (await browser.get(f"/console/communes/{world.commune_a}/vouchers")).text
    )  # in the commune's section
    saved = await browser.submit(
        path, {"enabled": "yes", "sponsors": "Anne Martin <anne@valence.example>\r\nbruno@valence.example"}
    )
    assert saved.status_code == 200 and "Saved." in saved.text
    async with browser.portal.transaction() as session:
        setting = (await session.scalars(select(Sponsorship))).one()
        assert setting.enabled and setting.commune_id == world.commune_a
        assert [s["email"] for s in setting.sponsors] == ["anne@valence.example", "bruno@valence.example"]
    bad = await browser.submit(path, {"enabled": "yes", "sponsors": "anne at valence"})
    assert bad.status_code == 400 and "This cannot be saved" in bad.text
    hostile = await browser.submit(path, {"enabled": "yes", "sponsors": "anne@valence.example\x00"})
    assert hostile.status_code == 400
    other = f"/console/communes/{world.commune_b}/sponsorship"
    assert (await browser.get(other)).status_code == 404
    assert (await browser.get("/console/communes/999999/sponsorship")).status_code == 404
    async with browser.portal.transaction() as session:
        assert len((await session.scalars(select(Sponsorship))).all()) == 1
        actions = (
            await session.scalars(select(AuditEntry.action).where(AuditEntry.action == "sponsorship.update"))
        ).all()
    assert actions == ["sponsorship.update"]
