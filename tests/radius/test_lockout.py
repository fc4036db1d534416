"""Failed-password limits slow a guesser without locking its victim out (issue 14, point 5).

The pipeline with the production limits, an in-memory store and a counting stand-in for argon2id;
devices are told apart by their Calling-Station-Id at the simulated access point.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from pyrad import packet as pp

from radius.attempt import MSG_BAD_CREDENTIALS, MSG_TOO_MANY
from radius.core import ServerCore
from radius.pipeline import Pipeline
from radius.ratelimit import FailureLimiter, MemoryCounters
from radius.store import DeviceView
from tests.radius.conftest import AccessPoint, decide, message
from tests.radius.pipelines import NOW, REALM, TOKEN, FakeStore, Verifier, account

GUESSER = "02-00-00-00-00-01"
CITIZEN = "02-00-00-00-00-02"
ELSEWHERE = "02-00-00-00-00-03"


@pytest.fixture
def limiter() -> FailureLimiter:
    return FailureLimiter()  # the defaults a deployment runs with


def pap(ap: AccessPoint, user: str, password: str, device: str | None = None) -> pp.Packet:
    if device:
        return ap.access_request(User_Name=user, User_Password=password, Calling_Station_Id=device)
    return ap.access_request(User_Name=user, User_Password=password)


async def test_a_flood_of_unknown_users_through_one_nas_leaves_the_other_devices_there_alone(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore, verifier: Verifier
) -> None:
    for i in range(1500):
        _, reply = await decide(core, pipeline, pap(ap, f"nobody{i}", "guess", GUESSER))
        assert reply.code == pp.AccessReject
    # the guessing device was stopped early: the rest of its guesses cost no verification
    assert verifier.calls == FailureLimiter().per_device
    assert {r.reason for r in store.records[-100:]} == {"device_rate_limited"}
    _, reply = await decide(core, pipeline, pap(ap, "alice", "correct horse", CITIZEN))
    assert reply.code == pp.AccessAccept  # verified (not cached): the NAS itself is not blocked
    assert verifier.calls == FailureLimiter().per_device + 1


async def test_guessing_an_account_blocks_the_guessing_device_only(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    for _ in range(12):
        _, reply = await decide(core, pipeline, pap(ap, "alice", "guess", GUESSER))
    assert message(reply) == MSG_TOO_MANY
    _, reply = await decide(core, pipeline, pap(ap, "alice", "correct horse", GUESSER))
    assert reply.code == pp.AccessReject and message(reply) == MSG_TOO_MANY  # not verified there
    _, reply = await decide(core, pipeline, pap(ap, "alice", "correct horse", CITIZEN))
    assert reply.code == pp.AccessAccept
    _, reply = await decide(core, pipeline, pap(ap, "alice", "correct horse"))  # no Calling-Station-Id
    assert reply.code == pp.AccessAccept


async def test_tokens_and_mac_authentication_ignore_password_limits(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    for i in range(30):  # the device, and alice from it, are over every limit but the NAS's
        await decide(core, pipeline, pap(ap, "alice" if i % 2 else f"x{i}", "guess", GUESSER))
    store.tokens[TOKEN] = (1, False)
    _, reply = await decide(core, pipeline, pap(ap, "alice", TOKEN, GUESSER))
    assert reply.code == pp.AccessAccept
    store.devices["02:00:00:00:00:01"] = DeviceView(
        mac="02:00:00:00:00:01", remembered_until=NOW + timedelta(days=1), account=account()
    )
    _, reply = await decide(core, pipeline, pap(ap, GUESSER, GUESSER, GUESSER))
    assert reply.code == pp.AccessAccept


async def test_the_right_password_verified_recently_is_accepted_even_from_a_blocked_source(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, verifier: Verifier
) -> None:
    _, reply = await decide(core, pipeline, pap(ap, "alice", "correct horse", GUESSER))
    assert reply.code == pp.AccessAccept
    for i in range(30):
        await decide(core, pipeline, pap(ap, f"x{i}", "guess", GUESSER))
    calls = verifier.calls
    _, reply = await decide(core, pipeline, pap(ap, "alice", "correct horse", GUESSER))
    assert reply.code == pp.AccessAccept and verifier.calls == calls  # known good, not verified again
    _, reply = await decide(core, pipeline, pap(ap, "alice", "wrong", GUESSER))
    assert message(reply) == MSG_TOO_MANY and verifier.calls == calls  # a guess is still not verified


async def test_refusals_of_a_blocked_source_do_not_count_against_the_account(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, verifier: Verifier, limiter: FailureLimiter
) -> None:
    for _ in range(limiter.per_identity_device + 200):
        await decide(core, pipeline, pap(ap, "alice", "guess", GUESSER))
    _, reply = await decide(core, pipeline, pap(ap, "alice", "correct horse", CITIZEN))
    assert reply.code == pp.AccessAccept
    assert verifier.serials[-1] is None  # the account is not under attack: verified at once


async def test_guesses_from_many_devices_slow_the_account_but_never_refuse_its_password(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, verifier: Verifier, limiter: FailureLimiter
) -> None:
    for i in range(limiter.per_identity):
        _, reply = await decide(core, pipeline, pap(ap, "alice", "guess", f"02-00-00-00-01-{i:02x}"))
        assert message(reply) == MSG_BAD_CREDENTIALS
    _, reply = await decide(core, pipeline, pap(ap, "alice", "correct horse", CITIZEN))
    assert reply.code == pp.AccessAccept
    assert verifier.serials[-1] == f"alice@{REALM}"  # its verifications now run one at a time


async def test_a_success_forgives_the_mistakes_of_that_device(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, limiter: FailureLimiter
) -> None:
    for _ in range(limiter.per_identity_device - 1):
        await decide(core, pipeline, pap(ap, "alice", "typo", CITIZEN))
    await decide(core, pipeline, pap(ap, "alice", "correct horse", CITIZEN))
    for _ in range(limiter.per_identity_device - 1):
        _, reply = await decide(core, pipeline, pap(ap, "alice", "typo", CITIZEN))
        assert message(reply) == MSG_BAD_CREDENTIALS


async def test_a_device_is_blocked_for_the_window_only(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, clock: list[float], limiter: FailureLimiter
) -> None:
    for _ in range(limiter.per_identity_device):
        await decide(core, pipeline, pap(ap, "bob", "guess", GUESSER))
    store_reply = (await decide(core, pipeline, pap(ap, "alice", "guess", GUESSER)))[1]
    assert message(store_reply) == MSG_BAD_CREDENTIALS  # another account from that device: verified
    _, reply = await decide(core, pipeline, pap(ap, "bob", "guess", GUESSER))
    assert message(reply) == MSG_TOO_MANY
    clock[0] += 301
    _, reply = await decide(core, pipeline, pap(ap, "bob", "guess", GUESSER))
    assert message(reply) == MSG_BAD_CREDENTIALS


def test_counters_forget_what_their_window_has_passed() -> None:
    """A name guessed once costs nothing once its window has passed: a flood of distinct names
    (the soak's unknown users) does not grow a worker's memory (it grew ~1.3 MiB/min per worker)."""
    counters = MemoryCounters(window=300.0)
    for i in range(10_000):
        counters.add(f"nobody{i}", now=float(i) / 10)  # 10 names a second for 1,000 s
    assert len(counters) <= 3_000 + 2  # what the last 300 s brought, give or take two
    assert counters.count("nobody9999", now=999.9) == 1
    assert counters.count("nobody0", now=999.9) == 0


def test_a_flood_of_names_does_not_wipe_the_count_of_a_limited_source() -> None:
    counters = MemoryCounters(window=300.0, max_entries=100)
    for t in range(5):
        counters.add("guesser", now=float(t))
    for i in range(1_000):
        counters.add(f"nobody{i}", now=5.0)
        if i % 50 == 0:  # still guessing: a recent key is not the one forgotten
            counters.add("guesser", now=5.0)
    assert len(counters) == 100
    assert counters.count("guesser", now=6.0) == 5 + 20
