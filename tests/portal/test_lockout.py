"""Someone guessing a password elsewhere never locks its owner out (issue 14, point 5): the
admin API's token endpoint and the portal's log-in limit the guesser's address, not the account."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from tests.portal.conftest import PASSWORD, PUBLIC_URL, Browser
from tests.portal.test_pages import GOOD_PASSWORD, sign_up

GUESSER = ("198.51.100.7", 50000)  # the address of the ``browser`` fixture
OWNER = ("203.0.113.9", 50000)


@pytest.fixture
async def owner(browser: Browser) -> AsyncIterator[Browser]:
    """Another browser on the same portal, from another address."""
    async with Browser(
        transport=httpx.ASGITransport(app=browser.app, client=OWNER),
        base_url=PUBLIC_URL,
        headers={"Accept-Language": "en"},
    ) as client:
        client.portal, client.app, client.outbox = browser.portal, browser.app, browser.outbox
        yield client


async def password_grant(http: httpx.AsyncClient, password: str) -> httpx.Response:
    return await http.post(
        "/api/v1/auth/token",
        data={"grant_type": "password", "username": "region@test.example", "password": password},
    )


@pytest.mark.usefixtures("world")
async def test_wrong_admin_passwords_from_one_address_leave_the_admin_a_token_elsewhere(
    browser: Browser, owner: Browser
) -> None:
    statuses = [(await password_grant(browser, "wrong")).status_code for _ in range(8)]
    assert statuses[:5] == [400] * 5 and set(statuses[5:]) == {429}  # the guesser waits
    assert (await password_grant(browser, PASSWORD)).status_code == 429  # even with the right one
    response = await password_grant(owner, PASSWORD)
    assert response.status_code == 200 and response.json()["access_token"]
    assert (await password_grant(browser, "wrong")).status_code == 429  # the owner's success frees nobody


async def test_wrong_passwords_from_one_address_leave_the_citizen_able_to_log_in_elsewhere(
    browser: Browser, owner: Browser
) -> None:
    await sign_up(browser)
    browser.cookies.clear()
    statuses = []
    for _ in range(8):
        response = await browser.submit("/login", {"identity": "alice", "password": "wrong password"})
        statuses.append(response.status_code)
    assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
    response = await owner.submit("/login", {"identity": "alice", "password": GOOD_PASSWORD})
    assert response.status_code == 303 and response.headers["location"] == "/verify"


async def test_an_address_guessing_many_accounts_is_slowed_down(browser: Browser, owner: Browser) -> None:
    await sign_up(browser)
    browser.cookies.clear()
    statuses = []
    for i in range(52):
        response = await browser.submit("/login", {"identity": f"user{i}", "password": "wrong password"})
        statuses.append(response.status_code)
    assert statuses[:50] == [401] * 50 and set(statuses[50:]) == {429}
    response = await owner.submit("/login", {"identity": "alice", "password": GOOD_PASSWORD})
    assert response.status_code == 303
