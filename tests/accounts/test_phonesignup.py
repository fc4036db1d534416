"""Sign-up and recovery by SMS (issue 19): numbers, codes, the daily budget — services over a
rolled-back session, on SQLite and PostgreSQL, the clock given by the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from accounts import phonesignup, selfservice, smsbudget
from accounts.errors import Conflict
from accounts.models import Account, PhoneCode, Region
from accounts.network import ensure_home_region
from accounts.passwords import PasswordHasher
from accounts.phones import (
    RULE_COUNTRY,
    RULE_NOT_MOBILE,
    RULE_UNREADABLE,
    PhoneRefused,
    PhoneRules,
    contact_of,
    has_mailbox,
    masked,
    normalize_phone,
    number_prefix,
)
from accounts.secretbox import SecretBox
from accounts.smsbudget import Budget, Spend
from sesame.db import create_sessionmaker
from tests.conftest import TEST_REALM

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CONSENT = selfservice.Consent(version="2026-11", accepted_at=NOW)
RULES = PhoneRules(countries=frozenset({"FR", "IT"}), default_country="FR")
BUDGET = Budget(daily=100)
NUMBER = "+33612345678"


# -- numbers (no database) ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "e164"),
    [("06 12 34 56 78", NUMBER), ("+33 6 12 34 56 78", NUMBER), ("0033612345678", NUMBER),
     ("+39 312 345 6789", "+393123456789")],
)  # fmt: skip
def test_mobile_numbers_are_kept_in_e164(raw: str, e164: str) -> None:
    assert normalize_phone(raw, rules=RULES) == e164


@pytest.mark.parametrize(
    ("raw", "rule"),
    [
        ("01 45 67 89 01", RULE_NOT_MOBILE),  # a landline
        ("08 99 12 34 56", RULE_NOT_MOBILE),  # premium rate
        ("08 00 12 34 56", RULE_NOT_MOBILE),  # toll free
        ("+44 7700 900123", RULE_UNREADABLE),  # not a valid number
        ("+1 201 555 0123", RULE_COUNTRY),
        ("+49 1512 3456789", RULE_COUNTRY),  # a German mobile: Germany is not allowed here
        ("", RULE_UNREADABLE),
        ("+33\x006", RULE_UNREADABLE),
        ("6" * 1000, RULE_UNREADABLE),
        ("not a number", RULE_UNREADABLE),
    ],
)
def test_what_cannot_receive_a_code_here_is_refused_with_its_reason(raw: str, rule: str) -> None:
    with pytest.raises(PhoneRefused) as refused:
        normalize_phone(raw, rules=RULES)
    assert refused.value.rule == rule


def test_prefix_mask_and_placeholder() -> None:
    assert number_prefix(NUMBER, digits=4) == "+33 6123"
    assert number_prefix("+33612399999", digits=4) == number_prefix(NUMBER, digits=4)
    assert masked(NUMBER) == "+33 6 •• •• •• 78"
    assert not has_mailbox("33612345678@phone.invalid") and has_mailbox("alice@example.fr")
    assert contact_of("33612345678@phone.invalid") == NUMBER
    assert contact_of("alice@example.fr") == "alice@example.fr"


# -- sign-up, verification, reset -----------------------------------------------------------------


async def new(session: AsyncSession, hasher: PasswordHasher, region: Region, number: str = NUMBER) -> Account:
    return await phonesignup.sign_up_by_phone(
        session, hasher=hasher, region=region, username="bob", number=number,
        password="correct horse battery", consent=CONSENT, grace=timedelta(minutes=15), locale="it",
    )  # fmt: skip


async def test_sign_up_by_phone_then_the_code_verifies_the_account_once(
    session: AsyncSession, hasher: PasswordHasher, region: Region, box: SecretBox
) -> None:
    bob = await new(session, hasher, region)
    assert not bob.email_verified and bob.grace_until == NOW + timedelta(minutes=15)
    assert not has_mailbox(bob.email)
    sent = await phonesignup.send_phone_verification(session, box=box, budget=BUDGET, account=bob, now=NOW)
    assert sent.number == NUMBER and len(sent.code) == 6 and sent.budget_reached is None
    # only a keyed digest is stored
    stored = await session.scalar(select(PhoneCode.digest).where(PhoneCode.account_id == bob.id))
    assert stored and sent.code not in stored
    wrong = "000000" if sent.code != "000000" else "111111"
    assert not await phonesignup.verify_phone(session, box=box, account=bob, code=wrong, now=NOW)
    assert await phonesignup.verify_phone(
        session, box=box, account=bob, code=f"{sent.code[:3]} {sent.code[3:]}", now=NOW
    )
    assert bob.email_verified and bob.grace_until is None
    phone = await phonesignup.phone_of(session, account=bob)
    assert phone is not None and phone.verified_at == NOW
    with pytest.raises(Conflict):  # nothing more to send
        await phonesignup.send_phone_verification(session, box=box, budget=BUDGET, account=bob, now=NOW)


async def test_a_code_expires_and_a_new_one_replaces_the_old(
    session: AsyncSession, hasher: PasswordHasher, region: Region, box: SecretBox
) -> None:
    bob = await new(session, hasher, region)
    first = await phonesignup.send_phone_verification(session, box=box, budget=BUDGET, account=bob, now=NOW)
    later = NOW + timedelta(minutes=31)
    assert not await phonesignup.verify_phone(session, box=box, account=bob, code=first.code, now=later)
    second = await phonesignup.send_phone_verification(
        session, box=box, budget=BUDGET, account=bob, now=later
    )
    if first.code != second.code:
        assert not await phonesignup.verify_phone(session, box=box, account=bob, code=first.code, now=later)
    assert await phonesignup.verify_phone(session, box=box, account=bob, code=second.code, now=later)


async def test_five_wrong_guesses_spend_the_code(
    session: AsyncSession, hasher: PasswordHasher, region: Region, box: SecretBox
) -> None:
    bob = await new(session, hasher, region)
    sent = await phonesignup.send_phone_verification(session, box=box, budget=BUDGET, account=bob, now=NOW)
    wrong = [c for c in ("000000", "111111", "222222", "333333", "444444", "555555") if c != sent.code][:5]
    for code in wrong:
        assert not await phonesignup.verify_phone(session, box=box, account=bob, code=code, now=NOW)
    assert not await phonesignup.verify_phone(session, box=box, account=bob, code=sent.code, now=NOW)


async def test_a_number_in_use_is_refused_without_naming_the_account(
    session: AsyncSession, hasher: PasswordHasher, region: Region
) -> None:
    await new(session, hasher, region)
    with pytest.raises(phonesignup.PhoneInUse):
        await phonesignup.sign_up_by_phone(
            session, hasher=hasher, region=region, username="carol", number=NUMBER,
            password="correct horse battery", consent=CONSENT, grace=timedelta(0),
        )  # fmt: skip
    with pytest.raises(Conflict):  # the username, though, is the person's own choice to change
        await new(session, hasher, region, number="+33687654321")


async def test_reset_by_sms_sets_the_password_and_logs_in(
    session: AsyncSession, hasher: PasswordHasher, region: Region, box: SecretBox
) -> None:
    bob = await new(session, hasher, region)
    assert await phonesignup.start_phone_reset(
        session, box=box, budget=BUDGET, region=region, number="+33687654321", now=NOW
    ) is None  # fmt: skip
    sent = await phonesignup.start_phone_reset(
        session, box=box, budget=BUDGET, region=region, number=NUMBER, now=NOW
    )
    assert sent is not None
    reset: dict[str, Any] = {
        "box": box,
        "hasher": hasher,
        "region": region,
        "number": NUMBER,
        "password": "a new long password",
    }
    assert await phonesignup.finish_phone_reset(session, code="x", now=NOW, **reset) is None
    late = NOW + timedelta(minutes=16)
    assert await phonesignup.finish_phone_reset(session, code=sent.code, now=late, **reset) is None
    assert await phonesignup.finish_phone_reset(session, code=sent.code, now=NOW, **reset) is bob
    assert bob.email_verified
    assert await selfservice.log_in(
        session, hasher=hasher, region=region, identity="bob", password="a new long password"
    ) is bob  # fmt: skip
    assert await phonesignup.finish_phone_reset(session, code=sent.code, now=NOW, **reset) is None  # once


# -- the daily budget -----------------------------------------------------------------------------


async def test_the_budget_says_last_once_then_refuses_until_the_next_day(
    session: AsyncSession, region: Region
) -> None:
    budget = Budget(daily=3, per_country={"IT": 1})
    spend: dict[str, Any] = {"region": region, "budget": budget}
    assert (await smsbudget.spend(session, country="FR", now=NOW, **spend)).spend is Spend.SENT
    it = await smsbudget.spend(session, country="IT", now=NOW, **spend)
    assert (it.spend, it.scope) == (Spend.LAST, "IT")
    refused = await smsbudget.spend(session, country="IT", now=NOW, **spend)
    assert (refused.spend, refused.scope) == (Spend.REFUSED, "IT")
    last = await smsbudget.spend(session, country="FR", now=NOW, **spend)
    assert (last.spend, last.scope) == (Spend.LAST, "*")
    assert (await smsbudget.spend(session, country="FR", now=NOW, **spend)).spend is Spend.REFUSED
    assert await smsbudget.spent_today(session, region=region, now=NOW) == 3
    tomorrow = NOW + timedelta(days=1)
    assert (await smsbudget.spend(session, country="FR", now=tomorrow, **spend)).spend is Spend.SENT


async def test_a_spent_budget_stops_the_code(
    session: AsyncSession, hasher: PasswordHasher, region: Region, box: SecretBox
) -> None:
    bob = await new(session, hasher, region)
    budget = Budget(daily=1)
    sent = await phonesignup.send_phone_verification(session, box=box, budget=budget, account=bob, now=NOW)
    assert sent.budget_reached == "*"
    with pytest.raises(phonesignup.BudgetSpent):
        await phonesignup.send_phone_verification(session, box=box, budget=budget, account=bob, now=NOW)


async def test_the_budget_is_shared_by_concurrent_transactions(engine: AsyncEngine) -> None:
    """Two workers' transactions at once: the count is one row, taken under its lock, so exactly
    the budget is sent and exactly one of them is told it took the last."""
    import asyncio

    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        region = await ensure_home_region(session, realm=TEST_REALM, name="Région de test")
    budget = Budget(daily=5)

    async def one() -> Spend:
        for _ in range(50):
            try:
                async with sessions() as session, session.begin():
                    mine = await session.get_one(Region, region.id)
                    return (
                        await smsbudget.spend(session, region=mine, country="FR", budget=budget, now=NOW)
                    ).spend
            except Exception as exc:  # SQLite: "database is locked" when both write at once: retry
                if "locked" not in str(exc):
                    raise
                await asyncio.sleep(0.01)
        raise AssertionError("never got through")

    results = await asyncio.gather(*(one() for _ in range(8)))
    assert results.count(Spend.SENT) == 4 and results.count(Spend.LAST) == 1
    assert results.count(Spend.REFUSED) == 3
    async with sessions() as session:
        assert await smsbudget.spent_today(session, region=region, now=NOW) == 5


async def test_the_number_logs_in_and_is_in_the_persons_data(
    session: AsyncSession, hasher: PasswordHasher, region: Region, box: SecretBox
) -> None:
    bob = await new(session, hasher, region)
    for identity in (NUMBER, "+33 6 12 34 56 78", "bob"):
        assert await selfservice.log_in(
            session, hasher=hasher, region=region, identity=identity, password="correct horse battery"
        ) is bob  # fmt: skip
    for identity in ("+33 6 12 34 56 79", "+33abc", "+" + "6" * 40):
        assert await selfservice.log_in(
            session, hasher=hasher, region=region, identity=identity, password="correct horse battery"
        ) is None  # fmt: skip
    sent = await phonesignup.send_phone_verification(session, box=box, budget=BUDGET, account=bob, now=NOW)
    await phonesignup.verify_phone(session, box=box, account=bob, code=sent.code, now=NOW)
    data = (await selfservice.export_data(session, account=bob))["account"]
    assert data["mobile_number"] == NUMBER and data["mobile_number_verified_at"] == NOW.isoformat()
    assert data["email"] is None  # not the placeholder


async def test_support_finds_a_citizen_by_the_number_as_they_say_it(
    session: AsyncSession, hasher: PasswordHasher, region: Region
) -> None:
    from accounts.helpdesk import find_citizens

    bob = await new(session, hasher, region)
    for said in ("06 12 34 56 78", "+33 6 12 34 56 78", "0612345678", "12 34 56 78"):
        assert await find_citizens(session, said) == [bob], said
    for said in ("06 12 34 56 79", "4321", "07 12 34 56 78"):
        assert await find_citizens(session, said) == [], said
