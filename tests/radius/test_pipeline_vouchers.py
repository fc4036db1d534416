"""A guest's voucher through the policy pipeline (over the in-memory store): its code over PAP as
user name and password, the rules in post-auth (window, duration from first use, place, devices,
allowance) for the code and for a portal token alike, the reply's Session-Timeout and volume, and
guesses counted as failed passwords."""

from __future__ import annotations

import ipaddress
from datetime import timedelta

import pytest

from accounts.policies import Policy
from accounts.sessions import DailyUsage
from accounts.vouchercodes import VoucherState, voucher_username
from radius.attempt import MSG_BAD_CREDENTIALS, MSG_TOO_MANY, MSG_VOUCHER_EXPIRED, MSG_VOUCHER_PLACE
from radius.clients import Client, ClientTable
from radius.codec import Code
from radius.core import ServerCore
from radius.pipeline import Pipeline
from tests.radius.conftest import SECRET, AccessPoint, decide, message
from tests.radius.pipelines import NOW, TOKEN, FakeStore, account

CODE = "K7XM-P3QR-T9VW"
GUEST = voucher_username(4, 1)
HOUR = timedelta(hours=1)


@pytest.fixture
def clients() -> ClientTable:
    return ClientTable(
        [
            Client(
                id=1,
                name="ap-valence",
                network=ipaddress.ip_network("192.0.2.0/24"),
                secret=SECRET,
                site_id=7,
                commune_id=3,
            )
        ]
    )


def _state(**overrides: object) -> VoucherState:
    values: dict[str, object] = {
        "voucher_id": 11,
        "account_id": 5,
        "valid_from": NOW - HOUR,
        "valid_until": NOW + 10 * HOUR,
        "expires_at": NOW + 10 * HOUR,
        "duration": 2 * HOUR,
        "first_used_at": None,
        "revoked": False,
        "octets_limit": 3 * 2**32 + 7,
        "octets_used": 0,
        "max_devices": 1,
        "communes": frozenset(),
        "sites": frozenset({7}),
        "batch_commune_id": 3,
    }
    values.update(overrides)
    return VoucherState(**values)  # type: ignore[arg-type]


@pytest.fixture
def store() -> FakeStore:
    guest = account(id=5, username=GUEST, password_hash=None)
    return FakeStore(accounts={GUEST: guest}, vouchers={CODE.replace("-", ""): (GUEST, _state())})


async def test_a_voucher_code_over_pap_is_accepted_with_its_limits(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    store.policy_value = Policy(session_timeout=3 * 3600, daily_octets_limit=2**40)
    decision, reply = await decide(
        core, pipeline, ap.access_request(User_Name=CODE.lower(), User_Password=CODE)
    )
    assert decision.code == Code.ACCESS_ACCEPT
    assert reply["Session-Timeout"] == [7200]  # the voucher's two hours, not the place's three
    assert reply["ChilliSpot-Max-Total-Gigawords"] == [3] and reply["ChilliSpot-Max-Total-Octets"] == [7]
    assert store.voucher_uses == [(11, NOW)]
    assert store.records[-1].method == "voucher" and store.records[-1].account_id == 5


async def test_used_since_an_hour_it_has_an_hour_left(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    store.vouchers[CODE.replace("-", "")] = (GUEST, _state(first_used_at=NOW - HOUR, expires_at=NOW + HOUR))
    _, reply = await decide(core, pipeline, ap.access_request(User_Name=CODE, User_Password=CODE))
    assert reply["Session-Timeout"] == [3600] and store.voucher_uses == []


@pytest.mark.parametrize(
    ("state", "reason", "said"),
    [
        (_state(first_used_at=NOW - 2 * HOUR, expires_at=NOW), "voucher_expired", MSG_VOUCHER_EXPIRED),
        (_state(valid_until=NOW, expires_at=NOW), "voucher_expired", MSG_VOUCHER_EXPIRED),
        (_state(revoked=True), "voucher_revoked", MSG_VOUCHER_EXPIRED),
        (_state(sites=frozenset({8})), "voucher_wrong_place", MSG_VOUCHER_PLACE),
        (_state(octets_used=3 * 2**32 + 7), "voucher_volume", "This voucher's data allowance is used up"),
    ],
)
async def test_refusals(
    core: ServerCore,
    pipeline: Pipeline,
    ap: AccessPoint,
    store: FakeStore,
    state: VoucherState,
    reason: str,
    said: str,
) -> None:
    store.vouchers[CODE.replace("-", "")] = (GUEST, state)
    decision, reply = await decide(core, pipeline, ap.access_request(User_Name=CODE, User_Password=CODE))
    assert decision.code == Code.ACCESS_REJECT and message(reply) == said
    assert store.records[-1].reason == reason and store.voucher_uses == []


async def test_one_device_at_a_time(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    store.open_macs[5] = ["02:00:00:00:00:01"]
    request = ap.access_request(User_Name=CODE, User_Password=CODE, Calling_Station_Id="02-00-00-00-00-02")
    decision, _ = await decide(core, pipeline, request)
    assert decision.code == Code.ACCESS_REJECT and store.records[-1].reason == "voucher_devices"
    same = ap.access_request(User_Name=CODE, User_Password=CODE, Calling_Station_Id="02-00-00-00-00-01")
    assert (await decide(core, pipeline, same))[0].code == Code.ACCESS_ACCEPT  # the same device again


async def test_a_portal_token_of_a_voucher_gets_the_voucher_rules(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    store.tokens[TOKEN] = (5, False)
    store.used_today[5] = DailyUsage(0, 0)
    decision, reply = await decide(core, pipeline, ap.access_request(User_Name=GUEST, User_Password=TOKEN))
    assert decision.code == Code.ACCESS_ACCEPT and reply["Session-Timeout"] == [7200]
    store.tokens["B" * 24] = (5, False)
    store.vouchers[CODE.replace("-", "")] = (GUEST, _state(sites=frozenset({8})))
    decision, _ = await decide(core, pipeline, ap.access_request(User_Name=GUEST, User_Password="B" * 24))
    assert decision.code == Code.ACCESS_REJECT and store.records[-1].reason == "voucher_wrong_place"


async def test_guessing_codes_is_limited_like_passwords(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    said = []
    guesses = [f"XXXX-XXXX-XX{a}{b}" for a in "YZ" for b in "ABCDEFGHJK"]  # 20: the limit per device
    for guess in [*guesses, CODE]:
        request = ap.access_request(
            User_Name=guess, User_Password=guess, Calling_Station_Id="02-00-00-00-00-09"
        )
        decision, reply = await decide(core, pipeline, request)
        said.append(message(reply) if decision.code == Code.ACCESS_REJECT else "accepted")
    assert said[0] == MSG_BAD_CREDENTIALS
    assert said[-1] == MSG_TOO_MANY  # the device guessing is held back, even with the right code
    assert store.records[0].reason == "unknown_voucher"


async def test_a_code_with_another_password_is_not_a_voucher(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    decision, _ = await decide(
        core, pipeline, ap.access_request(User_Name=CODE, User_Password="K7XM-P3QR-T9VA")
    )
    assert decision.code == Code.ACCESS_REJECT and store.records[-1].method == "pap"
