"""SMS limits across hosts (issue 19): two portals (two hosts behind the reverse proxy, one
database, one Redis), a run of sign-ups by SMS spread over both is throttled by the number prefix as
one. (The daily budget is counted in the database: tests/accounts/test_phonesignup.py shows
concurrent transactions sharing it.)"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.phones import PhoneRules
from accounts.smsbudget import Budget
from portal.context import Portal
from portal.sms import Courier, OutboxGateway, SmsConfig
from portal.throttle import DEFAULT_LIMITS, Limit, Throttle
from sesame.sharedstate import RedisLink, SharedThrottle
from tests.portal.test_shared_throttle import browser
from tests.portal.test_sms_pages import PASSWORD, read_outbox
from tests.support.redisserver import drop_keys, need_shared_redis, unique_prefix

RULES = PhoneRules(countries=frozenset({"FR"}))


@pytest.fixture
async def hosts(engine: AsyncEngine, portal: Portal, tmp_path: Path) -> AsyncIterator[list[Portal]]:
    url, prefix = need_shared_redis(), unique_prefix()
    links = [RedisLink.from_url(url, key=bytes(32), prefix=prefix, timeout=2.0) for _ in range(2)]
    limits = {**DEFAULT_LIMITS, "sms_prefix": Limit(free=4, window=3600.0, max_delay=3600.0)}
    config = dataclasses.replace(portal.config, sms=SmsConfig(rules=RULES, budget=Budget(daily=100)))
    try:
        yield [
            dataclasses.replace(
                portal,
                config=config,
                throttle=Throttle(dict(limits), store=SharedThrottle(link)),
                courier=Courier(OutboxGateway(tmp_path / "sms")),
            )
            for link in links
        ]
    finally:
        for link in links:
            await link.close()
        drop_keys(url, prefix)


async def test_a_run_of_numbers_of_one_prefix_is_throttled_across_hosts(
    engine: AsyncEngine, hosts: list[Portal], tmp_path: Path
) -> None:
    statuses = []
    for n in range(6):
        # each sign-up from another address, alternating hosts: only the prefix is common
        async with browser(engine, hosts[n % 2], (f"198.51.100.{n + 1}", 50000)) as client:
            response = await client.submit(
                "/signup/phone",
                {"username": f"pump{n}", "phone": f"061234{n:04d}", "password": PASSWORD, "terms": "yes"},
            )
            statuses.append(response.status_code)
    assert statuses == [303, 303, 303, 303, 429, 429]
    for host in hosts:
        assert host.courier is not None
        await host.courier.drain()
    assert len(read_outbox(tmp_path / "sms")) == 4
