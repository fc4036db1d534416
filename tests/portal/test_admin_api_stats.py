"""The dashboards' and the open data's endpoints, on SQLite and PostgreSQL: what each role sees
(a commune admin: their commune, another's → 404), CSV downloads read back with the csv module, and
the public open data — 404 until the region turns it on, then cacheable and cached."""

from __future__ import annotations

import csv
import io
from dataclasses import replace
from datetime import timedelta

import httpx
import pytest

from accounts.models import AccountingSession, AuthRecord
from accounts.opendata import OpenDataPolicy
from tests.portal.conftest import NOW, Browser, World, bearer, token

PUBLISHED = NOW.date() - timedelta(days=2)  # the last day published at NOW (over by a day)


async def add_sessions(browser: Browser, world: World) -> None:
    """Commune A (Valence, its Médiathèque): 12 people on the published day, one of them twice,
    and 2 sessions today, one still open; commune B (Nice, its Gare): 1 person on the published day
    (a small count), 3 open sessions now. Refusals: 2 at A (two reasons), 1 at B; one accepted."""
    rows = [(PUBLISHED, "a", f"u{n}", 100 * n, 7) for n in range(12)] + [(PUBLISHED, "a", "u0", 5, 5)]
    rows += [(NOW.date(), "a", "u1", 1, 1), (NOW.date(), "a", "u2", 1, 1)]
    rows += [(PUBLISHED, "b", "lonely", 999, 999)] + [(NOW.date(), "b", f"n{n}", 1, 1) for n in range(3)]
    async with browser.portal.transaction() as session:
        for n, (day, commune, username, octets_in, octets_out) in enumerate(rows):
            site, commune_id = (
                (world.site_a, world.commune_a) if commune == "a" else (world.site_b, world.commune_b)
            )
            start = NOW.replace(year=day.year, month=day.month, day=day.day, hour=9) + timedelta(minutes=n)
            open_now = day == NOW.date() and (commune == "b" or username == "u1")
            session.add(
                AccountingSession(
                    acctsessionid=f"k{n}", acctuniqueid=f"k{n:031d}", nasipaddress="10.1.0.1",
                    username=username, site_id=site, commune_id=commune_id, acctstarttime=start,
                    acctstoptime=None if open_now else start + timedelta(minutes=5),
                    acctinputoctets=octets_in, acctoutputoctets=octets_out,
                )
            )  # fmt: skip
        for minutes_ago, site, reply, reason in (
            (5, world.site_a, "Access-Reject", "bad_password"),
            (5, world.site_a, "Access-Reject", "locked"),
            (30, world.site_b, "Access-Reject", "bad_password"),
            (5, world.site_a, "Access-Accept", "ok"),
        ):
            session.add(
                AuthRecord(
                    username="someone", reply=reply, authdate=NOW - timedelta(minutes=minutes_ago),
                    site_id=site,
                    method="pap", reason=reason,
                )
            )  # fmt: skip


def read_csv(response: httpx.Response) -> list[dict[str, str]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="') and disposition.endswith('.csv"')
    return list(csv.DictReader(io.StringIO(response.content.decode("utf-8"), newline="")))


async def test_history_within_reach(browser: Browser, world: World) -> None:
    await add_sessions(browser, world)
    valence = bearer(await token(browser, "valence@test.example"))
    period: dict[str, str | int] = {"since": str(PUBLISHED), "until": str(NOW.date())}
    mine = (await browser.get("/api/v1/stats/history", params=period, headers=valence)).json()
    assert [(r["day"], r["commune_id"], r["connections"], r["people"]) for r in mine] == [
        (str(PUBLISHED), world.commune_a, 13, 12),
        (str(NOW.date()), world.commune_a, 2, 2),
    ]
    assert mine[0]["octets_in"] == sum(100 * n for n in range(12)) + 5 and mine[0]["octets_out"] == 12 * 7 + 5
    # the region level, for a commune admin, is their commune's total
    region_level = await browser.get(
        "/api/v1/stats/history", params=period | {"level": "region"}, headers=valence
    )
    assert [(r["connections"], r["commune_id"]) for r in region_level.json()] == [(13, None), (2, None)]
    others: list[dict[str, str | int]] = [{"commune_id": world.commune_b}, {"site_id": world.site_b}]
    for other in others:
        for path in (
            "/api/v1/stats/history",
            "/api/v1/stats/history.csv",
            "/api/v1/stats/refusals",
            "/api/v1/stats/refusals.csv",
        ):
            assert (await browser.get(path, params=period | other, headers=valence)).status_code == 404, path
    region = bearer(await token(browser, "region@test.example"))
    sites = (
        await browser.get("/api/v1/stats/history", params=period | {"level": "site"}, headers=region)
    ).json()
    assert {(r["site_id"], r["day"]): r["people"] for r in sites} == {
        (world.site_a, str(PUBLISHED)): 12, (world.site_a, str(NOW.date())): 2,
        (world.site_b, str(PUBLISHED)): 1, (world.site_b, str(NOW.date())): 3,
    }  # fmt: skip
    table = read_csv(await browser.get("/api/v1/stats/history.csv", params=period, headers=region))
    assert [(r["date"], r["code_insee"], r["commune"], r["connections"], r["people"]) for r in table] == [
        (str(PUBLISHED), "26362", "Valence", "13", "12"),
        (str(PUBLISHED), "06088", "Nice", "1", "1"),
        (str(NOW.date()), "26362", "Valence", "2", "2"),
        (str(NOW.date()), "06088", "Nice", "3", "3"),
    ]
    too_long = {"since": str(NOW.date() - timedelta(days=366)), "until": str(NOW.date())}
    assert (await browser.get("/api/v1/stats/history", params=too_long, headers=region)).status_code == 422


async def test_refusals_and_live_counts_within_reach(browser: Browser, world: World) -> None:
    await add_sessions(browser, world)
    valence = bearer(await token(browser, "valence@test.example"))
    today = {"since": str(NOW.date()), "until": str(NOW.date())}
    refusals = (await browser.get("/api/v1/stats/refusals", params=today, headers=valence)).json()
    assert sorted((r["reason"], r["count"], r["commune_id"]) for r in refusals) == [
        ("bad_password", 1, world.commune_a),
        ("locked", 1, world.commune_a),
    ]
    as_csv = read_csv(await browser.get("/api/v1/stats/refusals.csv", params=today, headers=valence))
    assert sorted((r["reason"], r["count"], r["code_insee"], r["commune"]) for r in as_csv) == [
        ("bad_password", "1", "26362", "Valence"),
        ("locked", "1", "26362", "Valence"),
    ]
    open_now = (await browser.get("/api/v1/stats/live/sessions", headers=valence)).json()
    assert open_now == [{"commune_id": world.commune_a, "site_id": world.site_a, "sessions": 1}]
    region = bearer(await token(browser, "region@test.example"))
    by_commune = await browser.get("/api/v1/stats/live/sessions", params={"level": "commune"}, headers=region)
    assert {r["commune_id"]: r["sessions"] for r in by_commune.json()} == {
        world.commune_a: 1,
        world.commune_b: 3,
    }
    minutes = (await browser.get("/api/v1/stats/live/authentications", headers=valence)).json()
    assert len(minutes) == 60 and minutes[-1]["minute"].startswith("2026-11-22T11:59")
    assert sum(m["accepted"] for m in minutes) == 1 and sum(m["refused"] for m in minutes) == 2
    everyone = (await browser.get("/api/v1/stats/live/authentications", headers=region)).json()
    assert sum(m["refused"] for m in everyone) == 3
    for path in ("/api/v1/stats/live/sessions", "/api/v1/stats/live/authentications"):
        response = await browser.get(path, params={"commune_id": world.commune_b}, headers=valence)
        assert response.status_code == 404, path
    support = bearer(await token(browser, "support@test.example"))
    assert (await browser.get("/api/v1/stats/live/sessions", headers=support)).status_code == 403


async def test_open_data_for_staff(browser: Browser, world: World) -> None:
    await add_sessions(browser, world)
    region = bearer(await token(browser, "region@test.example"))
    period = {"since": str(PUBLISHED - timedelta(days=1)), "until": str(NOW.date())}
    response = await browser.get("/api/v1/opendata/communes.csv", params=period, headers=region)
    table = read_csv(response)
    # today and yesterday are not published: the file stops at PUBLISHED, and says so in its name
    assert response.headers["content-disposition"].endswith(f'-{PUBLISHED.isoformat()}.csv"')
    assert table == [
        {"date": str(PUBLISHED), "code_insee": "06088", "nom_commune": "Nice", "nombre_connexions": "",
         "nombre_usagers": "", "volume_montant_octets": "", "volume_descendant_octets": "",
         "secret_statistique": "true"},
        {"date": str(PUBLISHED), "code_insee": "26362", "nom_commune": "Valence", "nombre_connexions": "13",
         "nombre_usagers": "12", "volume_montant_octets": str(sum(100 * n for n in range(12)) + 5),
         "volume_descendant_octets": str(12 * 7 + 5), "secret_statistique": "false"},
    ]  # fmt: skip
    assert "999" not in response.text  # the lonely person's volume
    valence = bearer(await token(browser, "valence@test.example"))
    sites = await browser.get("/api/v1/opendata/sites.json", params=period, headers=valence)
    assert sites.headers["content-type"] == "application/json"
    assert [(r["nom_site"], r["nombre_usagers"]) for r in sites.json()] == [("Médiathèque", 12)]
    other = await browser.get(
        "/api/v1/opendata/sites.json", params=period | {"commune_id": world.commune_b}, headers=valence
    )
    assert other.status_code == 404
    schema = await browser.get("/api/v1/opendata/schemas/sites.json", headers=valence)
    assert [f["name"] for f in schema.json()["fields"]][:3] == ["date", "code_insee", "nom_commune"]
    assert (await browser.get("/api/v1/opendata/towns.csv", params=period, headers=region)).status_code == 422
    assert (await browser.get("/api/v1/opendata/sites.xml", params=period, headers=region)).status_code == 422


@pytest.mark.parametrize(
    "path", ["/opendata/communes.csv", "/opendata/sites.json", "/opendata/schemas/sites.json"]
)
async def test_public_open_data_is_off_unless_the_region_turns_it_on(
    browser: Browser, world: World, path: str
) -> None:
    assert (await browser.get(path)).status_code == 404


async def test_public_open_data_when_on_is_cached(browser: Browser, world: World) -> None:
    await add_sessions(browser, world)
    portal = browser.portal
    portal.config = replace(
        portal.config, opendata=OpenDataPolicy(public=True, threshold=3, cache_seconds=600)
    )
    first = await browser.get("/opendata/communes.csv")  # no sign-in; the last 31 published days
    table = read_csv(first)
    assert first.headers["cache-control"] == "public, max-age=600"
    assert [(r["nom_commune"], r["nombre_connexions"], r["secret_statistique"]) for r in table] == [
        ("Nice", "", "true"),
        ("Valence", "13", "false"),
    ]
    assert first.headers["content-disposition"].endswith(
        f'-{(PUBLISHED - timedelta(days=30)).isoformat()}-{PUBLISHED.isoformat()}.csv"'
    )
    # a late record for a published day: the cached answer is served until it expires
    async with portal.transaction() as session:
        session.add(
            AccountingSession(
                acctsessionid="late", acctuniqueid="late".ljust(32, "0"), nasipaddress="10.1.0.1",
                username="late",
                site_id=world.site_a, commune_id=world.commune_a, acctstarttime=NOW - timedelta(days=2),
            )
        )  # fmt: skip
    assert (await browser.get("/opendata/communes.csv")).content == first.content
    as_json = await browser.get("/opendata/communes.json", params={"month": "2026-11"})  # another question
    assert [r["nombre_connexions"] for r in as_json.json()] == [None, 14]  # asked afresh: the late one counts
    assert as_json.headers["content-disposition"].endswith(f'-2026-11-01-{PUBLISHED.isoformat()}.json"')
    schema = await browser.get("/opendata/schemas/communes.json", params={"form": "json"})
    assert schema.json()["type"] == "array"
    # one calendar month or the default, never any period a client makes up
    for month in ("2026-13", "2026-1", "2026-11-01", "x"):
        assert (await browser.get("/opendata/communes.csv", params={"month": month})).status_code == 422
    december = await browser.get(
        "/opendata/communes.csv", params={"month": "2026-12"}
    )  # nothing published yet
    assert december.status_code == 200 and december.text.count("\r\n") == 1  # the header alone
