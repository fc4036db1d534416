"""The portal's SMS pages (issue 19) over the outbox gateway: sign up with a number, confirm it,
reset the password by SMS; the throttles per number, address and prefix, and the daily budget with
its metric and one log line."""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from accounts.phones import PhoneRules
from accounts.smsbudget import Budget
from portal.context import Portal
from portal.sms import Courier, OutboxGateway, SmsConfig
from tests.portal.conftest import Browser

PASSWORD = "a long walk in Valence"


def enable_sms(portal: Portal, folder: Path, *, budget: Budget | None = None) -> None:
    rules = PhoneRules(countries=frozenset({"FR", "IT"}), default_country="FR")
    portal.config = replace(portal.config, sms=SmsConfig(rules=rules, budget=budget or Budget(daily=100)))
    portal.courier = Courier(OutboxGateway(folder))


async def texts(browser: Browser, folder: Path) -> list[tuple[str, str]]:
    assert browser.portal.courier is not None
    await browser.portal.courier.drain()
    return read_outbox(folder)


def read_outbox(folder: Path) -> list[tuple[str, str]]:
    found = []
    for path in sorted(folder.glob("*.sms")):
        head, _, body = path.read_text().partition("\n\n")
        found.append((head.removeprefix("To: "), body.strip()))
    return found


def code_in(text: str) -> str:
    found = re.search(r"\b(\d{6})\b", text)
    assert found, text
    return found.group(1)


async def sign_up(browser: Browser, username: str, phone: str) -> object:
    return await browser.submit(
        "/signup/phone", {"username": username, "phone": phone, "password": PASSWORD, "terms": "yes"}
    )


async def test_the_pages_are_not_there_unless_the_region_offers_sms(browser: Browser) -> None:
    for path in ("/signup/phone", "/forgot/phone", "/reset/phone"):
        assert (await browser.get(path)).status_code == 404
    assert "/signup/phone" not in (await browser.get("/signup")).text


async def test_sign_up_with_a_number_confirm_it_then_log_in(browser: Browser, tmp_path: Path) -> None:
    folder = tmp_path / "sms"
    enable_sms(browser.portal, folder)
    assert 'href="/signup/phone"' in (await browser.get("/signup")).text
    response = await sign_up(browser, "camille", "06 12 34 56 78")
    assert response.status_code == 303 and response.headers["location"] == "/verify/phone"  # type: ignore[attr-defined]
    page = await browser.get("/verify/phone")
    assert "+33 6 •• •• •• 78" in page.text and "12 34 56" not in page.text
    assert (await browser.get("/verify")).headers["location"] == "/verify/phone"
    ((to, text),) = await texts(browser, folder)
    assert to == "+33612345678" and "Région de test" in text
    assert (await browser.submit("/verify/phone", {"code": "not it"})).status_code == 422
    done = await browser.submit("/verify/phone", {"code": code_in(text)})
    assert done.status_code == 303 and done.headers["location"] == "/account"
    await browser.post("/logout", data={"csrf_token": browser.csrf_token((await browser.get("/login")).text)})
    login = await browser.submit("/login", {"identity": "camille", "password": PASSWORD})
    assert login.status_code == 303 and login.headers["location"] == "/account"
    # no mail was written for the account's placeholder address
    assert await browser.mails() == []


async def test_bad_numbers_are_told_in_the_page_language(browser: Browser, tmp_path: Path) -> None:
    enable_sms(browser.portal, tmp_path / "sms")
    browser.headers["Accept-Language"] = "fr"
    response = await sign_up(browser, "camille", "08 99 12 34 56")
    assert response.status_code == 422  # type: ignore[attr-defined]
    assert "lignes fixes, aux numéros surtaxés" in response.text  # type: ignore[attr-defined]
    response = await sign_up(browser, "camille", "+1 201 555 0123")
    assert "ce pays ne sont pas acceptés" in response.text  # type: ignore[attr-defined]
    assert await texts(browser, tmp_path / "sms") == []


async def test_a_number_in_use_gets_the_same_answer_and_no_sms(browser: Browser, tmp_path: Path) -> None:
    folder = tmp_path / "sms"
    enable_sms(browser.portal, folder)
    await sign_up(browser, "camille", "0612345678")
    browser.cookies.clear()
    again = await sign_up(browser, "dominique", "+33612345678")
    assert again.status_code == 200 and "+33 6 •• •• •• 78" in again.text  # type: ignore[attr-defined]
    assert len(await texts(browser, folder)) == 1


async def test_sms_are_throttled_per_number_and_per_prefix(browser: Browser, tmp_path: Path) -> None:
    folder = tmp_path / "sms"
    enable_sms(browser.portal, folder)
    await sign_up(browser, "camille", "0612345678")
    for _ in range(2):  # 3 SMS per number: the sign-up's and two resends
        assert (await browser.submit("/verify/phone", {"action": "resend"})).status_code == 200
    refused = await browser.submit("/verify/phone", {"action": "resend"})
    assert refused.status_code == 429 and "Retry-After" in refused.headers
    assert len(await texts(browser, folder)) == 3
    # a run of numbers of one range (SMS pumping) is stopped by the prefix's limit, whatever the
    # address: 20 SMS per prefix and hour
    for n in range(30):
        browser.cookies.clear()
        await browser.portal.throttle.store.clear([f"signup_ip\0{a}" for a in ("198.51.100.7",)])
        await browser.portal.throttle.store.clear([f"sms_ip\0{a}" for a in ("198.51.100.7",)])
        response = await sign_up(browser, f"pump{n}", f"06123{n:05d}")
        if response.status_code == 429:  # type: ignore[attr-defined]
            break
    assert n == 17  # 3 SMS of the prefix +33 6123 went before: the 18th number is refused
    assert len(await texts(browser, folder)) == 20


async def test_the_daily_budget_stops_the_spending_with_a_metric_and_one_log_line(
    browser: Browser, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "sms"
    enable_sms(browser.portal, folder, budget=Budget(daily=2))
    before = REGISTRY.get_sample_value("sesame_sms_budget_refused_total", {"budget": "*"}) or 0.0
    with caplog.at_level(logging.WARNING, logger="portal.smspages"):
        for n, number in enumerate(("0612345678", "0698765432", "0698765433")):
            browser.cookies.clear()
            response = await sign_up(browser, f"user{n}", number)
    assert response.status_code == 503  # type: ignore[attr-defined]
    assert "sign up with an email address" in response.text  # type: ignore[attr-defined]
    assert len(await texts(browser, folder)) == 2
    reached = [r for r in caplog.records if "budget" in r.getMessage()]
    assert len(reached) == 1 and "of the region is reached" in reached[0].getMessage()
    assert REGISTRY.get_sample_value("sesame_sms_budget_refused_total", {"budget": "*"}) == before + 1
    # the refused sign-up left no account behind: the username is free
    browser.portal.config = replace(
        browser.portal.config,
        sms=SmsConfig(rules=browser.portal.config.sms.rules, budget=Budget(daily=5)),  # type: ignore[union-attr]
    )
    browser.cookies.clear()
    assert (await sign_up(browser, "user2", "0698765433")).status_code == 303  # type: ignore[attr-defined]


async def test_reset_by_sms(browser: Browser, tmp_path: Path) -> None:
    folder = tmp_path / "sms"
    enable_sms(browser.portal, folder)
    await sign_up(browser, "camille", "0612345678")
    browser.cookies.clear()
    unknown = await browser.submit("/forgot/phone", {"phone": "0698765432"})
    known = await browser.submit("/forgot/phone", {"phone": "+33 6 12 34 56 78"})
    assert unknown.headers["location"] == known.headers["location"] == "/reset/phone"
    (_, _), (to, text) = await texts(browser, folder)
    assert to == "+33612345678"
    new = "another long walk"
    wrong = await browser.submit("/reset/phone", {"phone": "0612345678", "code": "000000x", "password": new})
    assert wrong.status_code == 422
    done = await browser.submit(
        "/reset/phone", {"phone": "0612345678", "code": code_in(text), "password": new}
    )
    assert done.status_code == 303
    assert (await browser.submit("/login", {"identity": "camille", "password": new})).status_code == 303


async def test_hostile_fields_get_a_page_never_a_500(browser: Browser, tmp_path: Path) -> None:
    enable_sms(browser.portal, tmp_path / "sms")
    for phone in ("+33\x006 12 34 56 78", "6" * 100_000, "☎" * 40):
        response = await sign_up(browser, "camille", phone)
        assert response.status_code in (400, 422), (phone[:20], response.status_code)  # type: ignore[attr-defined]
    token = browser.csrf_token((await browser.get("/forgot/phone")).text)
    raw = f"csrf_token={token}&phone=%FF%FE%00".encode()
    response = await browser.post(
        "/forgot/phone", content=raw, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert response.status_code == 400
    code = await browser.submit(
        "/reset/phone", {"phone": "0612345678", "code": "9" * 10_000, "password": "x" * 5000}
    )
    assert code.status_code == 422
    assert await texts(browser, tmp_path / "sms") == []
