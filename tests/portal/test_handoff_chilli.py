"""The CoovaChilli UAM hand-off (portal.handoff): its signed arrival (``md``) and the logon URL.

The UAM vectors below were computed once, outside this code base, by three routes that agree:
openssl (``{ printf $CHALLENGE | xxd -r -p; printf %s $SECRET; } | openssl md5`` for c, and
``{ printf '\\x00'; printf %s $TOKEN; printf $C | xxd -r -p; } | openssl md5`` for CHAP), a few
lines of Node.js (Buffer XOR of the token with c repeated, crypto MD5), and the Perl of
CoovaChilli's own doc/hotspotlogin.cgi (``md5($hexchal, $uamsecret)``, ``substr($password ^
$newchal, 0, length($password))``, ``md5_hex("\\0", $password, $newchal)``). Spot check by hand:
'a' (0x61) XOR c[0] (0x4a) = 0x2b, 'b' (0x62) XOR c[1] (0x98) = 0xfa. The ``md`` values are
``printf '%s' "$URL$SECRET" | openssl md5 | tr a-f A-F``. SECRET, CHALLENGE and the TOKENs are those
of tests/portal/handoffs.py.
"""

from __future__ import annotations

import hashlib
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest

from portal.handoff import Arrival, HandoffConfig, integration
from tests.portal.handoffs import CHALLENGE, CHILLI, SECRET, TOKEN_6, TOKEN_16, TOKEN_24, reason_of

C_WITH_SECRET = "4a98b6f7eade5dd5b94f8d44d1d08598"  # openssl md5 of challenge bytes || SECRET

# A redirect as CoovaChilli builds it (redir.c bstring_buildurl): lower-case %xx, userurl encoded once.
NOTYET = (
    "https://portal.example.fr/hotspot?res=notyet&uamip=10.1.0.1&uamport=3990"
    f"&challenge={CHALLENGE}&called=AA-BB-CC-00-11-22&mac=11-22-33-44-55-66&ip=10.1.0.23"
    "&nasid=ap-mediatheque&sessionid=5f2a9c0d00000001"
    "&userurl=http%3a%2f%2fexample.com%2fnews%3fq%3da%2520b"
)
NOTYET_MD = "9034F7F53E77F066AA306DCD765166DF"  # under SECRET
NOTYET_MD_OTHER_SECRET = "BB01D62DD07D00BAEA006D7BE2708B02"  # under b"other-secret"
ALREADY = (
    "https://portal.example.fr/hotspot?nas=ap-mediatheque&res=already&uamip=10.1.0.1&uamport=3990"
    "&called=AA-BB-CC-00-11-22&mac=11-22-33-44-55-66&ip=10.1.0.23&nasid=ap-mediatheque"
    "&userurl=http%3a%2f%2fexample.com%2f"
)
ALREADY_MD = "DC0697E20B1E7343119298CD5AEFAB29"
# the same with an https userurl (kept: the one rule of accounts.weburl), and one naming a public uamip
NOTYET_HTTPS = NOTYET.replace("&userurl=http%3a", "&userurl=https%3a")
NOTYET_HTTPS_MD = "B6138D790067F09E69630C0C4183D164"
PUBLIC_UAMIP = NOTYET.replace("uamip=10.1.0.1", "uamip=203.0.113.9").partition("&userurl=")[0]
PUBLIC_UAMIP_MD = "F9828A534E78265F634DE6F073CEBD89"

CHILLI_NO_SECRET = HandoffConfig(integration="coovachilli")


def chilli(*, auth: str | None = None, secret: bytes | None = SECRET) -> HandoffConfig:
    return HandoffConfig(integration="coovachilli", secret=secret, options={"auth": auth} if auth else {})


def sign(url: str, secret: bytes = SECRET) -> str:
    """``url`` with the ``md`` chilli would append (the vectors above check this rule by hand)."""
    md = hashlib.md5(url.encode() + secret, usedforsecurity=False).hexdigest().upper()
    return f"{url}&md={md}"


def uam_arrival(*, uamip: str = "10.1.0.1", user_url: str | None = None) -> Arrival:
    return Arrival(
        integration="coovachilli",
        client_mac="11-22-33-44-55-66",
        client_ip="10.1.0.23",
        user_url=user_url,
        state={"res": "notyet", "uamip": uamip, "uamport": "3990", "challenge": CHALLENGE},
    )


# ---- CoovaChilli: arrival and md --------------------------------------------------------------


def test_genuine_signed_link_is_accepted() -> None:
    arrival = integration("coovachilli").arrive(url=f"{NOTYET}&md={NOTYET_MD}", params={}, config=CHILLI)
    assert arrival.integration == "coovachilli"
    assert arrival.client_mac == "11-22-33-44-55-66"
    assert arrival.client_ip == "10.1.0.23"
    assert arrival.user_url == "http://example.com/news?q=a%20b"
    assert dict(arrival.state) == {
        "res": "notyet",
        "uamip": "10.1.0.1",
        "uamport": "3990",
        "challenge": CHALLENGE,
    }


def test_md_hex_case_does_not_matter() -> None:
    arrival = integration("coovachilli").arrive(
        url=f"{NOTYET}&md={NOTYET_MD.lower()}", params={}, config=CHILLI
    )
    assert arrival.state["res"] == "notyet"


@pytest.mark.parametrize(
    "url",
    [
        pytest.param(NOTYET, id="md missing"),
        pytest.param(f"{NOTYET.replace('uamport=3990', 'uamport=3991')}&md={NOTYET_MD}", id="changed port"),
        pytest.param(f"{NOTYET.replace('ip=10.1.0.23', 'ip=10.1.0.99')}&md={NOTYET_MD}", id="changed ip"),
        pytest.param(f"{NOTYET.replace('res=notyet', 'RES=notyet')}&md={NOTYET_MD}", id="name case"),
        pytest.param(f"{NOTYET.replace('AA-BB-CC', 'aa-bb-cc')}&md={NOTYET_MD}", id="value case"),
        pytest.param(f"{NOTYET}&lang=fr&md={NOTYET_MD}", id="extra before md"),
        pytest.param(f"{NOTYET}&md={NOTYET_MD}&uamip=203.0.113.9", id="extra after md"),
        pytest.param(f"{NOTYET}&md={NOTYET_MD_OTHER_SECRET}", id="md from another secret"),
        pytest.param(f"{NOTYET}&md={NOTYET_MD[:-2]}", id="md truncated"),
        pytest.param(f"{NOTYET}&md=", id="md empty"),
        pytest.param(f"{NOTYET.replace('https://', 'http://')}&md={NOTYET_MD}", id="another portal URL"),
    ],
)
def test_tampered_or_unsigned_link_is_refused(url: str) -> None:
    assert (
        reason_of(lambda: integration("coovachilli").arrive(url=url, params={}, config=CHILLI))
        == "bad_checksum"
    )


def test_the_params_mapping_is_not_trusted() -> None:
    arrival = integration("coovachilli").arrive(
        url=f"{NOTYET}&md={NOTYET_MD}",
        params={"uamip": "203.0.113.9", "userurl": "http://evil/"},
        config=CHILLI,
    )
    assert arrival.state["uamip"] == "10.1.0.1"
    assert arrival.user_url == "http://example.com/news?q=a%20b"


def test_an_https_userurl_is_kept() -> None:
    arrival = integration("coovachilli").arrive(
        url=f"{NOTYET_HTTPS}&md={NOTYET_HTTPS_MD}", params={}, config=CHILLI
    )
    assert arrival.user_url == "https://example.com/news?q=a%20b"


def test_a_signed_link_naming_a_public_uamip_is_refused() -> None:
    """The logon URL is plain http: it may only go to the controller's private address."""
    url = f"{PUBLIC_UAMIP}&md={PUBLIC_UAMIP_MD}"
    assert reason_of(lambda: integration("coovachilli").arrive(url=url, params={}, config=CHILLI)) == (
        "login_url_not_allowed"
    )


def test_signed_link_without_configured_secret_is_refused() -> None:
    assert (
        reason_of(
            lambda: integration("coovachilli").arrive(
                url=f"{NOTYET}&md={NOTYET_MD}", params={}, config=CHILLI_NO_SECRET
            )
        )
        == "secret_missing"
    )


def test_no_link_is_accepted_without_secret() -> None:
    """Issue 14: unsigned, a link could name any uamip and the challenge the token is encoded
    under; CoovaChilli without a UAM secret is refused at arrival and at hand-off."""
    assert (
        reason_of(lambda: integration("coovachilli").arrive(url=NOTYET, params={}, config=CHILLI_NO_SECRET))
        == "secret_missing"
    )
    assert (
        reason_of(
            lambda: integration("coovachilli").handoff(
                uam_arrival(), username="marie", token=TOKEN_24, config=CHILLI_NO_SECRET
            )
        )
        == "secret_missing"
    )


def test_uamserver_option_names_the_signed_prefix_behind_a_proxy() -> None:
    seen = f"http://10.0.0.5:8000/hotspot?{NOTYET.partition('?')[2]}&md={NOTYET_MD}"
    config = HandoffConfig(
        integration="coovachilli", secret=SECRET, options={"uamserver": "https://portal.example.fr/hotspot"}
    )
    assert integration("coovachilli").arrive(url=seen, params={}, config=config).state["uamport"] == "3990"
    assert (
        reason_of(lambda: integration("coovachilli").arrive(url=seen, params={}, config=CHILLI))
        == "bad_checksum"
    )


def test_already_comes_without_challenge_and_cannot_be_handed_off() -> None:
    arrival = integration("coovachilli").arrive(url=f"{ALREADY}&md={ALREADY_MD}", params={}, config=CHILLI)
    assert dict(arrival.state) == {"res": "already", "uamip": "10.1.0.1", "uamport": "3990"}
    assert (
        reason_of(
            lambda: integration("coovachilli").handoff(arrival, username="u", token=TOKEN_24, config=CHILLI)
        )
        == "missing_parameter"
    )


def test_failure_reason_is_kept() -> None:
    url = sign(NOTYET.replace("res=notyet", "res=failed&reason=reject"))
    assert integration("coovachilli").arrive(url=url, params={}, config=CHILLI).state["reason"] == "reject"


@pytest.mark.parametrize(
    ("old", "new", "reason"),
    [
        ("res=notyet", "res=bogus", "bad_parameter"),
        ("res=notyet&", "", "missing_parameter"),
        ("uamip=10.1.0.1", "uamip=10.1.0", "bad_parameter"),
        ("uamip=10.1.0.1", "uamip=portal.example.fr", "bad_parameter"),
        ("uamip=10.1.0.1&", "", "missing_parameter"),
        ("uamport=3990", "uamport=0", "bad_parameter"),
        ("uamport=3990", "uamport=65536", "bad_parameter"),
        ("uamport=3990", "uamport=%2B3990", "bad_parameter"),
        ("uamport=3990", "uamport=", "missing_parameter"),
        (f"challenge={CHALLENGE}", f"challenge={CHALLENGE[:-1]}", "bad_parameter"),
        (f"challenge={CHALLENGE}", f"challenge={CHALLENGE}00", "bad_parameter"),
        (f"challenge={CHALLENGE}", "challenge=" + "zz" * 16, "bad_parameter"),
        (f"challenge={CHALLENGE}&", "", "missing_parameter"),
        ("ip=10.1.0.23", "ip=10.1.0.23.4", "bad_parameter"),
        ("mac=11-22-33-44-55-66", "mac=11-22-33-44-55-66&mac=aa", "bad_parameter"),
        ("userurl=http", "userurl=%0d%0aLocation:%20http", "bad_parameter"),
        ("userurl=http", "userurl=%ff", "bad_parameter"),
    ],
)
def test_malformed_uam_parameters_are_refused(old: str, new: str, reason: str) -> None:
    url = NOTYET.replace(old, new)
    assert url != NOTYET
    assert (
        reason_of(lambda: integration("coovachilli").arrive(url=sign(url), params={}, config=CHILLI))
        == reason
    )


# ---- CoovaChilli: logon URL -----------------------------------------------------------------


def logon(url: str) -> dict[str, list[str]]:
    parts = urlsplit(url)
    assert (parts.scheme, parts.netloc, parts.path) == ("http", "10.1.0.1:3990", "/logon")
    return parse_qs(parts.query, keep_blank_values=True)


@pytest.mark.parametrize(
    ("token", "secret", "expected"),
    [
        (TOKEN_6, SECRET, "2bfad5c6d8ed"),
        (TOKEN_16, SECRET, "0bdaf5b3af981a9df005c6089c9ecac8"),
        (TOKEN_24, SECRET, "10e985da928702ecd80dba2795e1e0de78fffec3839468be"),
    ],
)
def test_pap_password_matches_independent_vectors(token: str, secret: bytes | None, expected: str) -> None:
    plan = integration("coovachilli").handoff(
        uam_arrival(), username="marie", token=token, config=chilli(secret=secret)
    )
    assert (plan.method, dict(plan.fields)) == ("GET", {})
    assert logon(plan.url) == {"username": ["marie"], "password": [expected]}


@pytest.mark.parametrize(
    ("token", "secret", "expected"),
    [
        (TOKEN_6, SECRET, "ad3b70c3dc1347aaf5308a9dece26ac6"),
        (TOKEN_16, SECRET, "942a19487138d14a7a4464012f21b36a"),
        (TOKEN_24, SECRET, "745ff9bcf92ce125635ecbdd903dbd1b"),
    ],
)
def test_chap_response_matches_independent_vectors(token: str, secret: bytes | None, expected: str) -> None:
    config = chilli(auth="chap", secret=secret)
    plan = integration("coovachilli").handoff(uam_arrival(), username="marie", token=token, config=config)
    assert logon(plan.url) == {"username": ["marie"], "response": [expected]}


def test_chap_challenge_with_secret_is_the_documented_c() -> None:
    # What chilli puts in CHAP-Challenge; a RADIUS server checks the response against it.
    c = bytes.fromhex(C_WITH_SECRET)
    assert hashlib.md5(b"\0" + TOKEN_24.encode() + c).hexdigest() == "745ff9bcf92ce125635ecbdd903dbd1b"


def test_userurl_is_encoded_twice_and_username_once() -> None:
    plan = integration("coovachilli").handoff(
        uam_arrival(user_url="https://example.com/news?q=a%20b"),
        username="marie dupont@sesame.example",
        token=TOKEN_24,
        config=CHILLI,
    )
    query = urlsplit(plan.url).query
    assert query.startswith("username=marie%20dupont%40sesame.example&password=")
    raw_userurl = query.rpartition("&userurl=")[2]
    assert raw_userurl == "https%253A%252F%252Fexample.com%252Fnews%253Fq%253Da%252520b"
    assert unquote(unquote(raw_userurl)) == "https://example.com/news?q=a%20b"  # what redir.c ends with


@pytest.mark.parametrize(
    "user_url",
    ["javascript:alert(1)", "data:text/html,x", "//evil.example/", "https://a@evil.example/", "http://a b/"],
)
def test_a_userurl_the_rule_refuses_is_not_passed_on(user_url: str) -> None:
    plan = integration("coovachilli").handoff(
        uam_arrival(user_url=user_url), username="marie", token=TOKEN_24, config=CHILLI
    )
    assert "userurl" not in logon(plan.url)


def test_the_plain_http_page_the_person_asked_for_is_passed_on() -> None:
    """Where the person wanted to go is mostly http://, to any site: no credential goes there, so
    the strict rule for credential targets does not apply (accounts.weburl.is_destination)."""
    plan = integration("coovachilli").handoff(
        uam_arrival(user_url="http://example.com/news"), username="marie", token=TOKEN_24, config=CHILLI
    )
    assert logon(plan.url)["userurl"] == [quote("http://example.com/news", safe="")]


def test_ipv6_uamip_is_bracketed() -> None:
    plan = integration("coovachilli").handoff(
        uam_arrival(uamip="fd00:1::1"), username="marie", token=TOKEN_24, config=CHILLI
    )
    assert plan.url.startswith("http://[fd00:1::1]:3990/logon?username=marie&password=")


@pytest.mark.parametrize("uamip", ["203.0.113.9", "2001:db8::1", "169.254.1.1"])
def test_a_handoff_to_a_public_uamip_is_refused(uamip: str) -> None:
    assert (
        reason_of(
            lambda: integration("coovachilli").handoff(
                uam_arrival(uamip=uamip), username="marie", token=TOKEN_24, config=CHILLI
            )
        )
        == "login_url_not_allowed"
    )


def test_signed_arrival_then_handoff_end_to_end() -> None:
    chilli_integration = integration("coovachilli")
    arrival = chilli_integration.arrive(url=f"{NOTYET_HTTPS}&md={NOTYET_HTTPS_MD}", params={}, config=CHILLI)
    plan = chilli_integration.handoff(arrival, username="marie", token=TOKEN_24, config=CHILLI)
    assert logon(plan.url) == {
        "username": ["marie"],
        "password": ["10e985da928702ecd80dba2795e1e0de78fffec3839468be"],
        "userurl": [quote("https://example.com/news?q=a%20b", safe="")],
    }


@pytest.mark.parametrize(
    ("username", "token", "config", "reason"),
    [
        ("marie", "x" * 129, CHILLI, "bad_credentials"),  # RADIUS_PWSIZE: chilli would truncate it
        ("marie", "", CHILLI, "bad_credentials"),
        ("", TOKEN_24, CHILLI, "bad_credentials"),
        ("u" * 256, TOKEN_24, CHILLI, "bad_credentials"),
        ("marie", TOKEN_24, chilli(auth="mschapv2"), "bad_config"),
    ],
)
def test_unusable_credentials_or_settings(
    username: str, token: str, config: HandoffConfig, reason: str
) -> None:
    assert (
        reason_of(
            lambda: integration("coovachilli").handoff(
                uam_arrival(), username=username, token=token, config=config
            )
        )
        == reason
    )


def test_chap_accepts_a_long_token() -> None:
    plan = integration("coovachilli").handoff(
        uam_arrival(), username="m", token="x" * 200, config=chilli(auth="chap")
    )
    assert len(logon(plan.url)["response"][0]) == 32
