"""The policy pipeline over an in-memory store, with requests built by pyrad as a NAS would."""

from __future__ import annotations

import hashlib
import os
from datetime import timedelta

import pytest
from pyrad import packet as pp

from accounts.credentials import nt_hash
from accounts.policies import Policy
from accounts.sessions import DailyUsage
from radius import codec
from radius.accounting import SessionClass
from radius.attempt import (
    MSG_BAD_CREDENTIALS,
    MSG_DAILY_TIME,
    MSG_DAILY_VOLUME,
    MSG_DISABLED,
    MSG_FOREIGN_REALM,
    MSG_TOO_MANY,
    MSG_TOO_MANY_DEVICES,
    MSG_UNKNOWN_DEVICE,
    MSG_UNVERIFIED,
)
from radius.codec import Code
from radius.core import ServerCore
from radius.mschap import generate_authenticator_response, generate_nt_response
from radius.pipeline import Pipeline
from radius.ratelimit import FailureLimiter
from radius.store import DeviceView
from sesame.replytexts import reply_texts
from tests.radius.conftest import AccessPoint, decide, message
from tests.radius.pipelines import CUI_KEY, NOW, REALM, TOKEN, FakeStore, Verifier, account


async def test_pap_accepts_the_password_and_sends_the_site_policy(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore, verifier: Verifier
) -> None:
    store.policy_value = Policy(
        session_timeout=3600,
        idle_timeout=600,
        interim_interval=300,
        bandwidth_up_kbps=2000,
        bandwidth_down_kbps=8000,
    )
    _, reply = await decide(
        core, pipeline, ap.access_request(User_Name="alice@wifi.sud.example", User_Password="correct horse")
    )
    assert reply.code == pp.AccessAccept
    assert reply["Session-Timeout"] == [3600] and reply["Idle-Timeout"] == [600]
    assert reply["Acct-Interim-Interval"] == [300]
    assert reply["WISPr-Bandwidth-Max-Down"] == [8_000_000] and reply["ChilliSpot-Bandwidth-Max-Up"] == [2000]
    assert reply["Class"][0].startswith(b"sesame:")
    assert store.records[-1].reply == "Access-Accept" and store.records[-1].method == "pap"
    assert store.records[-1].class_ == reply["Class"][0].decode()


async def test_the_realm_may_be_omitted_at_home(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint
) -> None:
    _, reply = await decide(
        core, pipeline, ap.access_request(User_Name="Alice", User_Password="correct horse")
    )
    assert reply.code == pp.AccessAccept


async def test_wrong_password_and_unknown_user_look_the_same(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore, verifier: Verifier
) -> None:
    _, wrong = await decide(core, pipeline, ap.access_request(User_Name="alice", User_Password="wrong"))
    _, unknown = await decide(core, pipeline, ap.access_request(User_Name="nobody", User_Password="wrong"))
    assert wrong.code == unknown.code == pp.AccessReject
    assert message(wrong) == message(unknown) == MSG_BAD_CREDENTIALS
    assert verifier.calls == 2  # the unknown user still costs a verification
    assert [r.reason for r in store.records] == ["bad_password", "unknown_user"]


async def test_a_successful_verification_is_cached_until_the_password_changes(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore, verifier: Verifier
) -> None:
    for _ in range(3):
        _, reply = await decide(
            core, pipeline, ap.access_request(User_Name="alice", User_Password="correct horse")
        )
        assert reply.code == pp.AccessAccept
    assert verifier.calls == 1
    store.accounts["alice"] = account(password_hash="hash:new password")
    _, reply = await decide(
        core, pipeline, ap.access_request(User_Name="alice", User_Password="correct horse")
    )
    assert reply.code == pp.AccessReject
    assert verifier.calls == 2


async def test_failures_are_rate_limited_per_identity_and_source(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, verifier: Verifier, clock: list[float]
) -> None:
    for _ in range(3):
        await decide(core, pipeline, ap.access_request(User_Name="alice", User_Password="guess"))
    calls = verifier.calls
    _, reply = await decide(
        core, pipeline, ap.access_request(User_Name="alice", User_Password="correct horse")
    )
    assert reply.code == pp.AccessReject and message(reply) == MSG_TOO_MANY
    assert verifier.calls == calls  # refused without hashing
    clock[0] += 61
    _, reply = await decide(
        core, pipeline, ap.access_request(User_Name="alice", User_Password="correct horse")
    )
    assert reply.code == pp.AccessAccept


async def test_a_refusal_is_in_the_accounts_language_only_once_the_credential_is_proved(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    pipeline.texts = reply_texts(["fr", "it", "en"])  # sesame/compose.py: the portal's languages
    store.accounts["alice"] = account(status="disabled", locale="it")
    store.accounts["bob"] = account(id=2, username="bob", status="disabled", locale="xx")  # not offered
    _, reply = await decide(core, pipeline, ap.access_request(User_Name="alice", User_Password="wrong"))
    unknown = await decide(core, pipeline, ap.access_request(User_Name="nobody", User_Password="wrong"))
    # before the password is proved: the region's first language, whoever the identity is
    assert message(reply) == message(unknown[1]) == "Utilisateur inconnu ou mot de passe erroné"
    _, reply = await decide(
        core, pipeline, ap.access_request(User_Name="alice", User_Password="correct horse")
    )
    assert reply.code == pp.AccessReject and message(reply) == "Questo account è disattivato"
    _, reply = await decide(core, pipeline, ap.access_request(User_Name="bob", User_Password="correct horse"))
    assert message(reply) == "Ce compte est désactivé"


async def test_account_state_is_told_only_after_the_credential_is_proved(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    store.accounts["alice"] = account(status="disabled")
    _, reply = await decide(core, pipeline, ap.access_request(User_Name="alice", User_Password="wrong"))
    assert message(reply) == MSG_BAD_CREDENTIALS
    _, reply = await decide(
        core, pipeline, ap.access_request(User_Name="alice", User_Password="correct horse")
    )
    assert reply.code == pp.AccessReject and message(reply) == MSG_DISABLED
    store.accounts["alice"] = account(email_verified=False)
    _, reply = await decide(
        core, pipeline, ap.access_request(User_Name="alice", User_Password="correct horse")
    )
    assert message(reply) == MSG_UNVERIFIED


async def test_a_foreign_realm_is_rejected(core: ServerCore, pipeline: Pipeline, ap: AccessPoint) -> None:
    _, reply = await decide(
        core, pipeline, ap.access_request(User_Name="marco@liguria.example", User_Password="x")
    )
    assert reply.code == pp.AccessReject and message(reply) == MSG_FOREIGN_REALM


async def test_a_token_is_accepted_once(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore, verifier: Verifier
) -> None:
    store.tokens[TOKEN] = (1, False)
    _, first = await decide(core, pipeline, ap.access_request(User_Name="alice", User_Password=TOKEN))
    _, second = await decide(core, pipeline, ap.access_request(User_Name="alice", User_Password=TOKEN))
    assert (first.code, second.code) == (pp.AccessAccept, pp.AccessReject)
    assert store.records[0].method == "token"
    assert verifier.calls == 1  # only the second, failed attempt fell back to a password check
    assert store.lookups == 1  # and only it needed a separate account lookup


async def test_a_token_of_another_account_is_refused(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    store.accounts["bob"] = account(id=2, username="bob")
    store.tokens[TOKEN] = (1, False)
    _, reply = await decide(core, pipeline, ap.access_request(User_Name="bob", User_Password=TOKEN))
    assert reply.code == pp.AccessReject
    assert store.tokens[TOKEN] == (1, False)


async def test_a_token_is_refused_at_another_access_point(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    """Issue 14: a token handed to ap-valence (client 1) must not open legacy-ap (client 2),
    over PAP or CHAP; it stays unused, so the access point it was meant for still takes it."""
    store.tokens[TOKEN] = (1, False)
    elsewhere = "198.51.100.5"  # legacy-ap
    _, pap = await decide(
        core, pipeline, ap.access_request(User_Name="alice", User_Password=TOKEN), source=elsewhere
    )
    challenge = os.urandom(16)
    response = hashlib.md5(b"\x07" + TOKEN.encode() + challenge).digest()
    chap = ap.access_request(User_Name="alice", CHAP_Password=b"\x07" + response, CHAP_Challenge=challenge)
    _, chapped = await decide(core, pipeline, chap, source=elsewhere)
    assert (pap.code, chapped.code) == (pp.AccessReject, pp.AccessReject)
    assert store.tokens[TOKEN] == (1, False)
    _, home = await decide(core, pipeline, ap.access_request(User_Name="alice", User_Password=TOKEN))
    assert home.code == pp.AccessAccept


async def test_a_token_bound_to_no_access_point_is_refused(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    store.tokens[TOKEN] = (1, False)
    store.token_nas[TOKEN] = None
    _, reply = await decide(core, pipeline, ap.access_request(User_Name="alice", User_Password=TOKEN))
    assert reply.code == pp.AccessReject and store.tokens[TOKEN] == (1, False)


async def test_a_token_over_chap_is_accepted_once(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    store.tokens[TOKEN] = (1, False)

    def chap_request() -> pp.Packet:
        challenge = os.urandom(16)
        response = hashlib.md5(b"\x07" + TOKEN.encode() + challenge).digest()
        return ap.access_request(
            User_Name="alice", CHAP_Password=b"\x07" + response, CHAP_Challenge=challenge
        )

    _, first = await decide(core, pipeline, chap_request())
    _, second = await decide(core, pipeline, chap_request())
    assert (first.code, second.code) == (pp.AccessAccept, pp.AccessReject)


@pytest.mark.parametrize("notation", ["AA-BB-CC-DD-EE-FF", "aabbccddeeff", "aa:bb:cc:dd:ee:ff"])
async def test_mac_authentication_of_a_remembered_device(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore, notation: str
) -> None:
    store.devices["aa:bb:cc:dd:ee:ff"] = DeviceView(
        mac="aa:bb:cc:dd:ee:ff", account=account(), remembered_until=NOW + timedelta(days=1)
    )
    _, reply = await decide(
        core,
        pipeline,
        ap.access_request(User_Name=notation, User_Password=notation, Calling_Station_Id="AA-BB-CC-DD-EE-FF"),
    )
    assert reply.code == pp.AccessAccept
    assert store.records[-1].method == "mac" and store.records[-1].account_id == 1


async def test_mac_authentication_refuses_expired_unknown_and_spoofed(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    store.devices["aa:bb:cc:dd:ee:ff"] = DeviceView(
        mac="aa:bb:cc:dd:ee:ff", account=account(), remembered_until=NOW - timedelta(seconds=1)
    )
    for user, calling in [
        ("AA-BB-CC-DD-EE-FF", "AA-BB-CC-DD-EE-FF"),
        ("11-22-33-44-55-66", "11-22-33-44-55-66"),
    ]:
        _, reply = await decide(
            core, pipeline, ap.access_request(User_Name=user, User_Password=user, Calling_Station_Id=calling)
        )
        assert reply.code == pp.AccessReject and message(reply) == MSG_UNKNOWN_DEVICE
    store.devices["aa:bb:cc:dd:ee:ff"] = DeviceView(
        mac="aa:bb:cc:dd:ee:ff", account=account(), remembered_until=NOW + timedelta(days=1)
    )
    _, reply = await decide(
        core,
        pipeline,
        ap.access_request(
            User_Name="AA-BB-CC-DD-EE-FF", User_Password="x", Calling_Station_Id="11-22-33-44-55-66"
        ),
    )
    assert reply.code == pp.AccessReject  # User-Name and the MAC the AP saw disagree


async def test_mschapv2_with_a_device_credential(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    device_password = "k7m2q9xw4r8t3vz6p5nh"
    store.hashes[1] = [(10, nt_hash("another one")), (11, nt_hash(device_password))]
    challenge, peer = os.urandom(16), os.urandom(16)
    nt_response = generate_nt_response(challenge, peer, b"alice", nt_hash(device_password))
    response = b"\x05\x00" + peer + bytes(8) + nt_response
    request = ap.access_request(User_Name="alice", MS_CHAP_Challenge=challenge, MS_CHAP2_Response=response)
    _, reply = await decide(core, pipeline, request)
    assert reply.code == pp.AccessAccept
    expected = generate_authenticator_response(
        nt_hash(device_password), nt_response, peer, challenge, b"alice"
    )
    assert reply["MS-CHAP2-Success"] == [b"\x05" + expected.encode()]
    reply.secret = request.secret
    reply.request_authenticator = request.authenticator
    assert len(reply["MS-MPPE-Send-Key"][0]) == 16 and len(reply["MS-MPPE-Recv-Key"][0]) == 16

    wrong = ap.access_request(
        User_Name="alice",
        MS_CHAP_Challenge=challenge,
        MS_CHAP2_Response=b"\x05\x00" + peer + bytes(8) + bytes(24),
    )
    _, reply = await decide(core, pipeline, wrong)
    assert reply.code == pp.AccessReject
    assert reply["MS-CHAP-Error"][0].startswith("\x05E=691")


async def test_eap_is_refused_clearly_for_now(core: ServerCore, pipeline: Pipeline, ap: AccessPoint) -> None:
    _, reply = await decide(
        core,
        pipeline,
        ap.access_request(User_Name="anonymous@wifi.sud.example", EAP_Message=b"\x02\x01\x00\x06\x01a"),
    )
    assert reply.code == pp.AccessReject and "EAP" in message(reply)


async def test_no_password_at_all_is_rejected(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    decision, _ = await decide(core, pipeline, ap.access_request(User_Name="alice"))
    assert decision.code is Code.ACCESS_REJECT
    assert store.records[-1].reason == "no_credentials"


async def test_mschap_v1_with_a_device_credential(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    from radius.mschap import challenge_response, hash_nt_password_hash

    device_password = "k7m2q9xw4r8t3vz6p5nh"
    store.hashes[1] = [(11, nt_hash(device_password))]
    challenge = os.urandom(8)
    response = b"\x09\x01" + bytes(24) + challenge_response(challenge, nt_hash(device_password))
    request = ap.access_request(User_Name="alice", MS_CHAP_Challenge=challenge, MS_CHAP_Response=response)
    _, reply = await decide(core, pipeline, request)
    assert reply.code == pp.AccessAccept
    hidden = reply["MS-CHAP-MPPE-Keys"][0]
    keys = codec.decrypt_user_password(hidden, request.secret, request.authenticator)
    assert keys is not None
    assert keys[8:24] == hash_nt_password_hash(nt_hash(device_password))[:16]

    lm_only = b"\x09\x00" + bytes(24) + challenge_response(challenge, nt_hash(device_password))
    request = ap.access_request(User_Name="alice", MS_CHAP_Challenge=challenge, MS_CHAP_Response=lm_only)
    _, reply = await decide(core, pipeline, request)
    assert reply.code == pp.AccessReject


# the limiter fixture, replaced for this test: a NAS budget of two failures
@pytest.mark.parametrize("limiter", [FailureLimiter(per_identity_device=100, per_nas=2, window=60)])
async def test_the_nas_budget_gates_password_hashing_only(
    core: ServerCore, pipeline: Pipeline, store: FakeStore, verifier: Verifier, ap: AccessPoint
) -> None:
    _, reply = await decide(
        core, pipeline, ap.access_request(User_Name="alice", User_Password="correct horse")
    )
    assert reply.code == pp.AccessAccept  # now cached
    for name in ("x1", "x2"):
        await decide(core, pipeline, ap.access_request(User_Name=name, User_Password="guess"))
    calls = verifier.calls
    _, reply = await decide(core, pipeline, ap.access_request(User_Name="x3", User_Password="guess"))
    assert message(reply) == MSG_TOO_MANY and verifier.calls == calls
    _, reply = await decide(
        core, pipeline, ap.access_request(User_Name="alice", User_Password="correct horse")
    )
    assert reply.code == pp.AccessAccept  # a cached verification still works behind that NAS
    store.tokens[TOKEN] = (1, False)
    _, reply = await decide(core, pipeline, ap.access_request(User_Name="alice", User_Password=TOKEN))
    assert reply.code == pp.AccessAccept


async def test_the_class_names_the_account_signed(
    core: ServerCore, store: FakeStore, verifier: Verifier, ap: AccessPoint
) -> None:
    classes = SessionClass(b"k" * 32)
    pipeline = Pipeline(realm=REALM, store=store, verify_password=verifier, classes=classes, cui_key=CUI_KEY)
    _, reply = await decide(
        core, pipeline, ap.access_request(User_Name="alice", User_Password="correct horse")
    )
    value = reply["Class"][0]
    assert classes.account_id(value) == 1
    assert SessionClass(b"other key" * 4).account_id(value) is None  # nobody else can make one
    forged = value.replace(b"sesame:1.", b"sesame:2.")
    assert classes.account_id(forged) is None
    _, again = await decide(
        core, pipeline, ap.access_request(User_Name="alice", User_Password="correct horse")
    )
    assert again["Class"][0] != value  # one per Access-Accept


async def test_simultaneous_use_counts_other_devices_only(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    store.policy_value = Policy(simultaneous_use=2)
    store.open_macs[1] = ["aa:bb:cc:00:00:01", "aa:bb:cc:00:00:02"]

    def request(mac: str) -> pp.Packet:
        return ap.access_request(User_Name="alice", User_Password="correct horse", Calling_Station_Id=mac)

    decision, reply = await decide(core, pipeline, request("AA-BB-CC-00-00-03"))
    assert decision.code == Code.ACCESS_REJECT and message(reply) == MSG_TOO_MANY_DEVICES
    assert store.records[-1].reason == "simultaneous_use"
    # one of the two devices reconnecting (another access point, another MAC notation) is let in
    decision, _ = await decide(core, pipeline, request("aabb.cc00.0002"))
    assert decision.code == Code.ACCESS_ACCEPT
    store.open_macs[1] = ["aa:bb:cc:00:00:01"]
    decision, _ = await decide(core, pipeline, request("AA-BB-CC-00-00-03"))
    assert decision.code == Code.ACCESS_ACCEPT


async def test_daily_time_limit_shortens_the_session_then_refuses(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    store.policy_value = Policy(session_timeout=3600, daily_time_limit=5400)
    alice = ap.access_request(User_Name="alice", User_Password="correct horse")
    _, reply = await decide(core, pipeline, alice)
    assert reply["Session-Timeout"] == [3600]  # the session timeout is the tighter one
    store.used_today[1] = DailyUsage(seconds=5000, octets=0)
    _, reply = await decide(
        core, pipeline, ap.access_request(User_Name="alice", User_Password="correct horse")
    )
    assert reply.code == pp.AccessAccept and reply["Session-Timeout"] == [400]
    store.used_today[1] = DailyUsage(seconds=5400, octets=0)
    decision, reply = await decide(
        core, pipeline, ap.access_request(User_Name="alice", User_Password="correct horse")
    )
    assert decision.code == Code.ACCESS_REJECT and message(reply) == MSG_DAILY_TIME


async def test_daily_volume_limit_sends_what_is_left_in_64_bits(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    store.policy_value = Policy(daily_octets_limit=10 * 2**32 + 500)
    store.used_today[1] = DailyUsage(seconds=0, octets=2**32)
    _, reply = await decide(
        core, pipeline, ap.access_request(User_Name="alice", User_Password="correct horse")
    )
    assert reply["ChilliSpot-Max-Total-Gigawords"] == [9] and reply["ChilliSpot-Max-Total-Octets"] == [500]
    store.used_today[1] = DailyUsage(seconds=0, octets=10 * 2**32 + 500)
    decision, reply = await decide(
        core, pipeline, ap.access_request(User_Name="alice", User_Password="correct horse")
    )
    assert decision.code == Code.ACCESS_REJECT and message(reply) == MSG_DAILY_VOLUME


async def test_an_unverified_account_connects_during_its_grace_period_only(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint, store: FakeStore
) -> None:
    grace_until = NOW + timedelta(minutes=10)
    store.accounts["alice"] = account(email_verified=False, grace_until=grace_until)
    _, reply = await decide(
        core, pipeline, ap.access_request(User_Name="alice", User_Password="correct horse")
    )
    assert reply.code == pp.AccessAccept
    assert reply["Session-Timeout"] == [600]  # the grace left, shorter than the policy's
    store.accounts["alice"] = account(email_verified=False, grace_until=NOW - timedelta(seconds=1))
    _, reply = await decide(
        core, pipeline, ap.access_request(User_Name="alice", User_Password="correct horse")
    )
    assert reply.code == pp.AccessReject and message(reply) == MSG_UNVERIFIED


async def test_a_chargeable_user_identity_is_returned_when_asked_opaque_stable_and_per_partner(
    core: ServerCore, pipeline: Pipeline, ap: AccessPoint
) -> None:
    asked = ap.access_request(
        User_Name="alice", User_Password="correct horse", Chargeable_User_Identity=b"\x00"
    )
    _, reply = await decide(core, pipeline, asked)
    cui = reply["Chargeable-User-Identity"][0]
    assert len(cui) == 32 and b"alice" not in cui
    _, again = await decide(
        core,
        pipeline,
        ap.access_request(
            User_Name="alice", User_Password="correct horse", identifier=2, Chargeable_User_Identity=b"\x00"
        ),
    )
    assert again["Chargeable-User-Identity"] == [cui]  # RFC 4372: stable
    _, unasked = await decide(
        core, pipeline, ap.access_request(User_Name="alice", User_Password="correct horse", identifier=3)
    )
    assert "Chargeable-User-Identity" not in unasked
    # a partner's proxy sees another value for the same citizen: partners cannot link their records
    assert pipeline.chargeable_identity(1, 7) not in (cui, pipeline.chargeable_identity(1, 8))
    assert pipeline.chargeable_identity(1, None) == cui
