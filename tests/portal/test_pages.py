"""The citizen's pages, driven over HTTP like a browser (httpx), on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from urllib.parse import quote

import pytest
from sqlalchemy import func, select

from accounts.models import Account, ClosedAccount, Device
from tests.conftest import TEST_REALM
from tests.portal.conftest import NOW, Browser, Clock

GOOD_PASSWORD = "correct horse battery"


async def sign_up(browser: Browser, username: str = "alice", email: str = "alice@example.fr") -> None:
    response = await browser.submit(
        "/signup", {"username": username, "email": email, "password": GOOD_PASSWORD, "terms": "yes"}
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/verify"


async def account_of(browser: Browser, username: str) -> Account | None:
    async with browser.portal.transaction() as session:
        return await session.scalar(select(Account).where(Account.username == username))


async def test_sign_up_records_consent_and_a_grace_period_then_the_code_verifies(browser: Browser) -> None:
    await sign_up(browser)
    account = await account_of(browser, "alice")
    assert account is not None and not account.email_verified
    assert account.terms_version == "2026-11" and account.terms_accepted_at == NOW
    assert account.grace_until == NOW + timedelta(minutes=15)
    assert account.locale == "en"
    mails = await browser.mails()
    assert [m["To"] for m in mails] == ["alice@example.fr"]
    assert f"alice@{TEST_REALM}" in mails[0].get_content()
    page = await browser.get("/verify")
    assert "15 minutes" in page.text  # the grace connection is offered
    wrong = await browser.submit(
        "/verify", {"code": "000000" if await browser.last_code() != "000000" else "111111"}
    )
    assert wrong.status_code == 422 and "This code is not right" in wrong.text
    right = await browser.submit("/verify", {"code": await browser.last_code()})
    assert right.status_code == 303 and right.headers["location"] == "/account"
    account = await account_of(browser, "alice")
    assert account is not None and account.email_verified and account.grace_until is None


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"username": "a"}, "username", "A username has 3 to 64 characters"),
        ({"username": "aa:bb:cc:dd:ee:ff"}, "username", "A username has 3 to 64 characters"),
        ({"email": "not-an-email"}, "email", "Enter an email address"),
        ({"terms": ""}, "terms", "accept the terms of use"),
        ({"password": "short"}, "password", "at least 8 characters"),
        ({"password": "password123"}, "password", "too common"),
        ({"password": "alice-is-me"}, "password", "cannot contain your username"),
    ],
)
async def test_a_bad_sign_up_field_gets_its_message_next_to_it(
    browser: Browser, form: dict[str, str], field: str, message: str
) -> None:
    data = {
        "username": "alice",
        "email": "alice@example.fr",
        "password": GOOD_PASSWORD,
        "terms": "yes",
    } | form
    response = await browser.submit("/signup", data)
    assert response.status_code == 422
    assert f'id="{field}-error"' in response.text and message in response.text
    assert (
        f'aria-describedby="{field}-error"' in response.text
        or f'aria-describedby="{field}-help {field}-error"' in response.text
    )
    assert await account_of(browser, "alice") is None


async def test_a_taken_username_is_said_but_a_taken_email_is_not(browser: Browser) -> None:
    await sign_up(browser)
    again = await browser.submit(
        "/signup",
        {"username": "alice", "email": "other@example.fr", "password": GOOD_PASSWORD, "terms": "yes"},
    )
    assert again.status_code == 409 and "This username is taken" in again.text
    same_email = await browser.submit(
        "/signup", {"username": "bob", "email": "alice@example.fr", "password": GOOD_PASSWORD, "terms": "yes"}
    )
    assert same_email.status_code == 200 and "Check your email" in same_email.text
    assert await account_of(browser, "bob") is None
    warning = (await browser.mails())[-1]
    assert warning["To"] == "alice@example.fr" and "already has one" in warning.get_content()


async def test_every_form_needs_its_csrf_token(browser: Browser) -> None:
    await browser.get("/login")
    for token in ("", "forged"):
        response = await browser.post("/login", data={"csrf_token": token, "identity": "x", "password": "y"})
        assert response.status_code == 400 and "This form has expired" in response.text
    browser.cookies.clear()  # another browser's token does not fit this one's cookie
    page = await browser.get("/login")
    token = browser.csrf_token(page.text)
    browser.cookies.clear()
    await browser.get("/login")
    response = await browser.post("/login", data={"csrf_token": token, "identity": "x", "password": "y"})
    assert response.status_code == 400


async def test_log_in_says_the_same_for_an_unknown_user_and_a_wrong_password(browser: Browser) -> None:
    await sign_up(browser)
    browser.cookies.clear()
    unknown = await browser.submit("/login", {"identity": "nobody", "password": GOOD_PASSWORD})
    wrong = await browser.submit("/login", {"identity": "alice", "password": "wrong password"})
    assert unknown.status_code == wrong.status_code == 401
    assert "Wrong identity or password." in unknown.text and "Wrong identity or password." in wrong.text
    for identity in ("alice", f"alice@{TEST_REALM}", "alice@example.fr", "ALICE"):
        browser.cookies.clear()
        ok = await browser.submit("/login", {"identity": identity, "password": GOOD_PASSWORD})
        assert ok.status_code == 303 and ok.headers["location"] == "/verify", identity


async def test_repeated_failures_are_slowed_down_progressively(browser: Browser) -> None:
    await sign_up(browser)
    statuses = []
    for _ in range(7):
        response = await browser.submit("/login", {"identity": "alice", "password": "wrong password"})
        statuses.append(response.status_code)
    assert statuses == [401] * 5 + [429] * 2  # five free failures, then a wait
    assert int(response.headers["Retry-After"]) >= 1 and "Too many attempts" in response.text
    # the right password is refused too while the account waits: a guesser learns nothing
    blocked = await browser.submit("/login", {"identity": "alice", "password": GOOD_PASSWORD})
    assert blocked.status_code == 429


async def test_a_password_reset_by_code_logs_other_browsers_out(browser: Browser) -> None:
    await sign_up(browser)
    old_cookies = dict(browser.cookies)
    browser.cookies.clear()
    for value in ("nobody@example.fr", "alice@example.fr"):  # the same answer either way
        response = await browser.submit("/forgot", {"identity": value})
        assert response.status_code == 303 and response.headers["location"] == "/reset"
    mails = await browser.mails()
    assert [m["To"] for m in mails] == ["alice@example.fr", "alice@example.fr"]
    code = await browser.last_code()
    wrong = await browser.submit(
        "/reset", {"identity": "alice@example.fr", "code": "999999" if code != "999999" else "888888",
                   "password": "a new long passphrase"},
    )  # fmt: skip
    assert wrong.status_code == 422
    done = await browser.submit(
        "/reset", {"identity": "alice@example.fr", "code": code, "password": "a new long passphrase"}
    )
    assert done.status_code == 303
    account = await account_of(browser, "alice")
    assert account is not None and account.email_verified  # the code proved the address
    reused = await browser.submit(
        "/reset", {"identity": "alice@example.fr", "code": code, "password": "another long passphrase"}
    )
    assert reused.status_code == 422  # a code works once
    browser.cookies.clear()
    browser.cookies.update(old_cookies)
    assert (await browser.get("/account")).headers["location"] == "/login"


async def test_my_account_devices_data_and_deletion(browser: Browser, clock: Clock) -> None:
    await sign_up(browser)
    await browser.submit("/verify", {"code": await browser.last_code()})
    account = await account_of(browser, "alice")
    assert account is not None
    async with browser.portal.transaction() as session:
        session.add(
            Device(account_id=account.id, mac="aa:bb:cc:00:11:22", remembered_until=NOW + timedelta(days=3))
        )
    page = await browser.get("/account")
    assert page.status_code == 200 and f"alice@{TEST_REALM}" in page.text and "aa:bb:cc:00:11:22" in page.text
    renamed = await browser.submit(
        "/account/devices",
        {"action": "rename", "mac": "AA-BB-CC-00-11-22", "label": "Phone"},
        page="/account",
    )
    assert renamed.status_code == 303
    assert 'value="Phone"' in (await browser.get("/account")).text
    data = await browser.get("/account/data")
    assert data.headers["content-disposition"].startswith("attachment")
    exported = json.loads(data.text)
    assert exported["account"]["identity"] == f"alice@{TEST_REALM}"
    assert exported["devices"][0]["label"] == "Phone" and "password" not in data.text.lower().replace(
        "password_", ""
    )
    forgot = await browser.submit(
        "/account/devices", {"action": "forget", "mac": "aa:bb:cc:00:11:22"}, page="/account"
    )
    assert forgot.status_code == 303 and "aa:bb:cc:00:11:22" not in (await browser.get("/account")).text
    refused = await browser.submit("/account/delete", {"password": "not my password"})
    assert refused.status_code == 422 and await account_of(browser, "alice") is not None
    deleted = await browser.submit("/account/delete", {"password": GOOD_PASSWORD})
    assert deleted.status_code == 200 and "Your account is deleted" in deleted.text
    assert await account_of(browser, "alice") is None
    async with browser.portal.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(ClosedAccount)) == 1
    assert (await browser.get("/account")).headers["location"] == "/login"


async def test_change_password(browser: Browser) -> None:
    await sign_up(browser)
    wrong = await browser.submit(
        "/account/password", {"current": "nope nope nope", "password": "brand new passphrase"}
    )
    assert wrong.status_code == 422 and "This is not your current password." in wrong.text
    done = await browser.submit(
        "/account/password", {"current": GOOD_PASSWORD, "password": "brand new passphrase"}
    )
    assert done.status_code == 200 and "Your password is changed" in done.text
    assert (await browser.get("/account")).status_code == 200  # this browser stays logged in


async def test_pages_carry_strict_security_headers(browser: Browser) -> None:
    response = await browser.get("/login")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "'unsafe-inline'" not in csp
    assert response.headers["x-frame-options"] == "DENY" and response.headers["cache-control"] == "no-store"
    assert "<script>" not in response.text  # no inline script without its nonce
    cookie = response.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie


async def test_the_language_follows_the_browser_and_the_switcher(browser: Browser) -> None:
    page = await browser.get("/login", headers={"Accept-Language": "it-IT,it;q=0.9,en;q=0.5"})
    assert '<html lang="it">' in page.text
    page = await browser.get("/login", headers={"Accept-Language": "de-DE"})
    assert '<html lang="fr">' in page.text  # the region's default
    switched = await browser.get("/lang/en?next=/signup")
    assert switched.status_code == 303 and switched.headers["location"] == "/signup"
    page = await browser.get("/login", headers={"Accept-Language": "it"})
    assert '<html lang="en">' in page.text
    assert (await browser.get("/lang/en?next=//evil.example/")).headers["location"] == "/"


async def test_captive_portal_api(browser: Browser) -> None:
    response = await browser.get("/api/captive")
    assert response.headers["content-type"] == "application/captive+json"
    assert response.json()["captive"] is True
    assert response.json()["user-portal-url"] == "http://portal.test/"


async def test_portal_events_are_counted_without_names(browser: Browser) -> None:
    from prometheus_client import REGISTRY

    def value(event: str, result: str) -> float:
        labels = {"event": event, "result": result}
        return REGISTRY.get_sample_value("sesame_portal_events_total", labels) or 0.0

    before = value("signup", "created"), value("login", "failed")
    await sign_up(browser)
    await browser.submit("/login", {"identity": "alice", "password": "wrong password"})
    assert (value("signup", "created"), value("login", "failed")) == (before[0] + 1, before[1] + 1)


async def test_sign_ups_with_a_used_address_cannot_flood_its_mailbox(browser: Browser) -> None:
    await sign_up(browser)
    for n in range(6):
        response = await browser.submit(
            "/signup",
            {"username": f"bob{n}", "email": "alice@example.fr", "password": GOOD_PASSWORD, "terms": "yes"},
        )
        assert response.status_code == 200 and "Check your email" in response.text
    warnings = [m for m in await browser.mails() if "already has one" in m.get_content()]
    assert len(warnings) == 3  # the mail_account budget


# -- issue 14 (10): what no person types, in any field of any form, and emails ----------------------

UNREADABLE = "This form holds characters that cannot be used"
FORM = re.compile(r'<form method="post" action="([^"]+)"[^>]*>(.*?)</form>', re.S)
FIELD = re.compile(r'<(?:input|select|textarea)[^>]*\bname="([^"]+)"')


async def forms_of(browser: Browser, path: str) -> list[tuple[str, list[str]]]:
    """The POST forms of a page and the names of their fields (the CSRF token aside)."""
    page = await browser.get(path)
    assert page.status_code == 200, (path, page.status_code)
    return [
        (action, [name for name in FIELD.findall(body) if name != "csrf_token"])
        for action, body in FORM.findall(page.text)
    ]


@pytest.mark.parametrize("bad", ["a\x00b", "\x00", "a\x07b", "a\ud800b", "caf\ufffd", "a\x85b"])
async def test_no_form_field_takes_what_nobody_types(browser: Browser, bad: str) -> None:
    """Every field of every form (walked from the pages, logged out and in): a NUL, a control
    character, a lone surrogate or unreadable UTF-8 is a translated 400, never a 500."""
    await sign_up(browser)
    walked = 0
    for logged_in, paths in (
        (True, ["/verify", "/account", "/account/password", "/account/delete"]),
        (False, ["/signup", "/login", "/forgot", "/reset"]),
    ):
        if not logged_in:
            await browser.post(
                "/logout", data={"csrf_token": browser.csrf_token((await browser.get("/account")).text)}
            )
        for path in paths:
            for action, fields in await forms_of(browser, path):
                for field in fields:
                    token = browser.csrf_token((await browser.get(path)).text)
                    data = dict.fromkeys(fields, "ok") | {field: bad, "csrf_token": token}
                    body = "&".join(
                        f"{quote(k)}={quote(v.encode('utf-8', 'surrogatepass'))}" for k, v in data.items()
                    )
                    response = await browser.post(
                        action, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
                    )
                    assert response.status_code == 400, (action, field, response.status_code)
                    assert UNREADABLE in response.text, (action, field)
                    walked += 1
    assert walked >= 10  # the walk found the forms
    french = await browser.get("/login", headers={"Accept-Language": "fr"})
    refused = await browser.post(
        "/login",
        data={"csrf_token": browser.csrf_token(french.text), "identity": "a\x00", "password": "x"},
        headers={"Accept-Language": "fr"},
    )
    assert refused.status_code == 400 and "caractères inutilisables" in refused.text


@pytest.mark.parametrize(
    "email",
    ["a@[127.0.0.1]", "a@-example.fr", "a@example..fr", "a@example.fr>", '"a b"@example.fr', "a@localhost"],
)
async def test_sign_up_refuses_what_is_no_email_address(browser: Browser, email: str) -> None:
    response = await browser.submit(
        "/signup", {"username": "alice", "email": email, "password": GOOD_PASSWORD, "terms": "yes"}
    )
    assert response.status_code == 422
    assert "Enter an email address, like name@example.fr." in response.text
    assert await account_of(browser, "alice") is None


async def test_an_international_domain_is_an_email_address(browser: Browser) -> None:
    await sign_up(browser, email="élodie@bücher.example")
    account = await account_of(browser, "alice")
    assert account is not None and account.email == "élodie@bücher.example"
