"""The portal's throttles shared through Redis (issue 16): two portals (two hosts behind the
reverse proxy, one database, one Redis), a guesser's wrong passwords through one wait on the other,
and the owner, from another address, still logs in through either."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from portal.app import create_app
from portal.context import Portal
from portal.throttle import DEFAULT_LIMITS, Throttle
from sesame.sharedstate import RedisLink, SharedThrottle
from tests.portal.conftest import PUBLIC_URL, Browser
from tests.portal.test_pages import GOOD_PASSWORD, sign_up
from tests.support.redisserver import drop_keys, need_shared_redis, unique_prefix

GUESSER = ("198.51.100.7", 50000)
OWNER = ("203.0.113.9", 50000)


@pytest.fixture
async def hosts(engine: AsyncEngine, portal: Portal) -> AsyncIterator[list[Portal]]:
    url, prefix = need_shared_redis(), unique_prefix()
    links = [RedisLink.from_url(url, key=bytes(32), prefix=prefix, timeout=2.0) for _ in range(2)]
    try:
        yield [
            dataclasses.replace(portal, throttle=Throttle(dict(DEFAULT_LIMITS), store=SharedThrottle(link)))
            for link in links
        ]
    finally:
        for link in links:
            await link.close()
        drop_keys(url, prefix)


def browser(engine: AsyncEngine, portal: Portal, address: tuple[str, int]) -> Browser:
    app = create_app(engine=engine, portal=portal)
    client = Browser(
        transport=httpx.ASGITransport(app=app, client=address),
        base_url=PUBLIC_URL,
        headers={"Accept-Language": "en"},
    )
    client.portal, client.app = portal, app
    return client


async def test_wrong_passwords_through_one_host_make_the_guesser_wait_on_the_other(
    engine: AsyncEngine, hosts: list[Portal]
) -> None:
    first, second = hosts
    async with (
        browser(engine, first, GUESSER) as guesser_a,
        browser(engine, second, GUESSER) as guesser_b,
        browser(engine, second, OWNER) as owner,
    ):
        await sign_up(owner)
        for _ in range(5):  # login_account_ip: 5 free failures
            response = await guesser_a.submit("/login", {"identity": "alice", "password": "wrong password"})
            assert response.status_code == 401
        response = await guesser_b.submit("/login", {"identity": "alice", "password": "wrong password"})
        assert response.status_code == 429 and int(response.headers["retry-after"]) >= 1
        response = await guesser_b.submit("/login", {"identity": "alice", "password": GOOD_PASSWORD})
        assert response.status_code == 429  # even the right password waits, from there
        owner.cookies.clear()
        response = await owner.submit("/login", {"identity": "alice", "password": GOOD_PASSWORD})
        assert response.status_code == 303
