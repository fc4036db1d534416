"""What the console tests share: a parser of the console's pages (stdlib ``html.parser``), and
signing in through the forms as a person would, with TOTP codes computed at the test's clock."""

from __future__ import annotations

from html.parser import HTMLParser

import httpx

from accounts import twofactor
from tests.portal.conftest import PASSWORD, Browser


class ConsolePage(HTMLParser):
    """The parts of a console page the tests read: the title, the navigation's links, the links
    of the main part, tables' row headers, ``<code>`` texts, scripts, SVG elements, alerts."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.h1 = ""
        self.nav: list[str] = []
        self.links: list[str] = []
        self.row_headers: list[str] = []
        self.codes: list[str] = []
        self.scripts = 0
        self.inline_styles = 0
        self.svgs = 0
        self.alerts: list[str] = []
        self.inputs: list[str] = []
        self._stack: list[str] = []
        self._in: dict[str, bool] = {"h1": False, "nav": False, "code": False, "alert": False, "rowth": False}
        self._text: dict[str, list[str]] = {"h1": [], "code": [], "alert": [], "rowth": []}
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "script":
            self.scripts += 1
        if tag == "style" or "style" in values:
            self.inline_styles += 1
        if tag == "svg":
            self.svgs += 1
        if tag == "input":
            self.inputs.append(values.get("name", ""))
        if tag == "nav" and "main-nav" in values.get("class", ""):
            self._in["nav"] = True
        if tag == "a" and "href" in values:
            (self.nav if self._in["nav"] else self.links).append(values["href"])
        if tag == "h1":
            self._start("h1")
        if tag == "code":
            self._start("code")
        if values.get("role") == "alert":
            self._start("alert")
        if tag == "th" and values.get("scope") == "row":
            self._start("rowth")
        self._stack.append(tag)

    def _start(self, what: str) -> None:
        self._in[what] = True
        self._text[what] = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "nav":
            self._in["nav"] = False
        for what, element in (("h1", "h1"), ("code", "code"), ("rowth", "th")):
            if tag == element and self._in[what]:
                self._in[what] = False
                text = " ".join("".join(self._text[what]).split())
                if what == "h1":
                    self.h1 = text
                elif what == "code":
                    self.codes.append(text)
                else:
                    self.row_headers.append(text)
        if tag == "p" and self._in["alert"]:
            self._in["alert"] = False
            self.alerts.append(" ".join("".join(self._text["alert"]).split()))

    def handle_data(self, data: str) -> None:
        for what, inside in self._in.items():
            if inside and what in self._text:
                self._text[what].append(data)


async def sign_in(browser: Browser, email: str, password: str = PASSWORD) -> httpx.Response:
    """The sign-in form posted; the response (a redirect when the password is right)."""
    return await browser.submit("/console/login", {"email": email, "password": password})


async def enrol(browser: Browser, password: str = PASSWORD) -> tuple[str, list[str]]:
    """Set up TOTP from the enrolment page, as a phone would at the portal's clock (with the
    password when the page asks for it): the secret and the recovery codes shown."""
    form = await browser.get("/console/enrol")
    assert form.status_code == 200, form.text
    page = ConsolePage(form.text)
    assert page.svgs == 1
    secret = page.codes[0].replace(" ", "")
    fields = {
        "csrf_token": browser.csrf_token(form.text),
        "code": twofactor.code_at(secret, browser.portal.now()),
    }
    if "password" in page.inputs:
        fields["password"] = password
    done = await browser.post("/console/enrol", data=fields)
    assert done.status_code == 200, done.text
    return secret, ConsolePage(done.text).codes


async def give_code(browser: Browser, code: str) -> httpx.Response:
    return await browser.submit("/console/login/code", {"code": code})


async def sign_out(browser: Browser) -> httpx.Response:
    """The header's "Sign out" button (on the security page, which every role has)."""
    return await browser.submit("/console/logout", {}, page="/console/security")
