"""Hand-off integrations (portal.handoff): CoovaChilli UAM, form POST, none.

The UAM vectors below were computed once, outside this code base, by three routes that agree:
openssl (``{ printf $CHALLENGE | xxd -r -p; printf %s $SECRET; } | openssl md5`` for c, and
``{ printf '\\x00'; printf %s $TOKEN; printf $C | xxd -r -p; } | openssl md5`` for CHAP), a few
lines of Node.js (Buffer XOR of the token with c repeated, crypto MD5), and the Perl of
CoovaChilli's own doc/hotspotlogin.cgi (``md5($hexchal, $uamsecret)``, ``substr($password ^
$newchal, 0, length($password))``, ``md5_hex("\\0", $password, $newchal)``). Spot check by hand:
'a' (0x61) XOR c[0] (0x4a) = 0x2b, 'b' (0x62) XOR c[1] (0x98) = 0xfa. The ``md`` values are
``printf '%s' "$URL$SECRET" | openssl md5 | tr a-f A-F``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import TypeVar
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.handoff import (
    INTEGRATIONS,
    Arrival,
    HandoffConfig,
    HandoffError,
    identify_nas,
    integration,
)

SECRET = b"s3cr3t-uam"
CHALLENGE = "5f2a9c0d7e1b3a4c6d8e0f1a2b3c4d5e"
C_WITH_SECRET = "4a98b6f7eade5dd5b94f8d44d1d08598"  # openssl md5 of challenge bytes || SECRET
TOKEN_6, TOKEN_16, TOKEN_24 = "abc123", "ABCDEFGHIJKLMNOP", "Zq3-xY_9aB7cD1eF2gH4iJ5k"

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

CHILLI = HandoffConfig(integration="coovachilli", secret=SECRET)
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


T = TypeVar("T")


def attempt(call: Callable[[], T]) -> tuple[T | None, HandoffError | None]:
    """What ``call`` returns, or the HandoffError it raises (any other exception fails the test)."""
    try:
        return call(), None
    except HandoffError as error:
        return None, error


def reason_of(call: Callable[[], object]) -> str:
    """The reason of the HandoffError that ``call`` raises."""
    with pytest.raises(HandoffError) as caught:
        call()
    return caught.value.reason


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


# ---- form_post -------------------------------------------------------------------------------

MERAKI = HandoffConfig(
    integration="form_post", options={"login_url_param": "login_url", "allowed_hosts": ".network-auth.com"}
)
# Shaped like the sample in Meraki's sign-on API documentation.
MERAKI_PARAMS = {
    "login_url": "https://n143.network-auth.com/splash/login?mauth=MM1SZQ&continue_url=http%3A%2F%2Fwww.ask.com%2F",
    "continue_url": "http://www.ask.com/",
    "ap_mac": "88:15:44:60:1c:1a",
    "ap_name": "mr53-ca",
    "ap_tags": "MR53 BLE LivingRoom",
    "client_mac": "f4:5c:89:9b:17:67",
    "client_ip": "192.168.0.13",
}


def test_meraki_like_sign_on() -> None:
    form_post = integration("form_post")
    arrival = form_post.arrive(url="https://portal.example.fr/hotspot?…", params=MERAKI_PARAMS, config=MERAKI)
    assert (arrival.client_mac, arrival.client_ip, arrival.user_url) == (
        "f4:5c:89:9b:17:67",
        "192.168.0.13",
        "http://www.ask.com/",
    )
    assert dict(arrival.state) == {"login_url": MERAKI_PARAMS["login_url"]}
    plan = form_post.handoff(arrival, username="marie", token=TOKEN_24, config=MERAKI)
    assert (plan.method, plan.url) == ("POST", MERAKI_PARAMS["login_url"])
    assert dict(plan.fields) == {"username": "marie", "password": TOKEN_24}


@pytest.mark.parametrize(
    "login_url",
    [
        "https://evil.example/splash/login",
        "https://network-auth.com.evil.example/splash/login",
        "https://evil.example/?host=n143.network-auth.com",
        "https://evil.example#@n143.network-auth.com/",
        "https://n143.network-auth.com@evil.example/",
        "https://evil.example\\@n143.network-auth.com/",
        "https://evil.example\\.network-auth.com/",
        "https:/n143.network-auth.com/",
        "ftp://n143.network-auth.com/",
        "javascript:alert(1)//n143.network-auth.com",
        "https://n143.network-auth.com:99999/",
        "https://[::1/",
        " https://n143.network-auth.com/",
        "http://n143.network-auth.com/splash/login",  # allowed host, but plain http to a public name
    ],
)
def test_login_url_outside_allowed_hosts_is_refused(login_url: str) -> None:
    params = {**MERAKI_PARAMS, "login_url": login_url}
    assert (
        reason_of(lambda: integration("form_post").arrive(url="", params=params, config=MERAKI))
        == "login_url_not_allowed"
    )


def test_handoff_checks_the_carried_login_url_again() -> None:
    arrival = Arrival(
        integration="form_post",
        client_mac=None,
        client_ip=None,
        user_url=None,
        state={"login_url": "https://evil.example/"},
    )
    assert (
        reason_of(
            lambda: integration("form_post").handoff(arrival, username="u", token=TOKEN_24, config=MERAKI)
        )
        == "login_url_not_allowed"
    )


def test_the_token_goes_only_where_the_arrival_said() -> None:
    """Settings changed between the arrival and the hand-off: the token is not posted to the new
    place (nor to the old one if the settings no longer allow it); an arrival naming no target
    gets no hand-off."""
    form_post = integration("form_post")
    arrival = form_post.arrive(url="", params={}, config=PFSENSE)
    assert arrival.state["login_url"] == PFSENSE.options["login_url"]
    moved = HandoffConfig(
        integration="form_post", options={**PFSENSE.options, "login_url": "https://c.example/"}
    )
    assert reason_of(lambda: form_post.handoff(arrival, username="u", token=TOKEN_24, config=moved)) == (
        "login_url_not_allowed"
    )
    unnamed = Arrival(integration="form_post", client_mac=None, client_ip=None, user_url=None, state={})
    assert reason_of(lambda: form_post.handoff(unnamed, username="u", token=TOKEN_24, config=PFSENSE)) == (
        "missing_parameter"
    )


@pytest.mark.parametrize(
    "login_url",
    [
        "http://evil.example/login",  # the attack of issue 14: a fixed URL on any host
        "http://203.0.113.9/login",
        "http://192.0.2.1:8002/index.php",  # TEST-NET, not a private network
        "http://169.254.0.1/",
        "http://10.1.0.1.nip.io/",
        "javascript:alert(1)",
    ],
)
def test_a_fixed_login_url_must_be_https_or_a_private_address(login_url: str) -> None:
    config = HandoffConfig(integration="form_post", options={"login_url": login_url})
    assert (
        reason_of(lambda: integration("form_post").arrive(url="", params={}, config=config)) == "bad_config"
    )


@pytest.mark.parametrize(
    ("options", "params", "reason"),
    [
        ({"login_url_param": "login_url"}, MERAKI_PARAMS, "bad_config"),  # no allowed_hosts
        ({"login_url_param": "login_url", "allowed_hosts": " , "}, MERAKI_PARAMS, "bad_config"),
        ({}, MERAKI_PARAMS, "bad_config"),  # neither login_url nor login_url_param
        ({"login_url": "ftp://192.0.2.1/"}, {}, "bad_config"),
        (MERAKI.options, {"client_mac": "f4:5c:89:9b:17:67"}, "missing_parameter"),
        (MERAKI.options, {**MERAKI_PARAMS, "client_ip": "not-an-ip"}, "bad_parameter"),
    ],
)
def test_form_post_configuration_and_parameter_errors(
    options: dict[str, str], params: dict[str, str], reason: str
) -> None:
    config = HandoffConfig(integration="form_post", options=options)
    assert reason_of(lambda: integration("form_post").arrive(url="", params=params, config=config)) == reason


PFSENSE = HandoffConfig(
    integration="form_post",
    options={
        "login_url": "http://10.0.0.1:8002/index.php?zone=cpzone1",
        "username_field": "auth_user",
        "password_field": "auth_pass",
        "extra_fields": "zone=cpzone1,accept=Continue",
        "pass_through": "redirurl",
    },
)


def test_pfsense_like_fixed_login_url() -> None:
    form_post = integration("form_post")
    params = {"redirurl": "http://example.com/", "client_mac": "00:11:22:33:44:55", "client_ip": "10.2.0.9"}
    arrival = form_post.arrive(url="", params=params, config=PFSENSE)
    assert dict(arrival.state) == {
        "f.redirurl": "http://example.com/",
        "login_url": "http://10.0.0.1:8002/index.php?zone=cpzone1",  # named at arrival, checked at hand-off
    }
    assert arrival.user_url == "http://example.com/"
    plan = form_post.handoff(arrival, username="marie", token=TOKEN_24, config=PFSENSE)
    assert (plan.method, plan.url) == ("POST", "http://10.0.0.1:8002/index.php?zone=cpzone1")
    assert dict(plan.fields) == {
        "redirurl": "http://example.com/",
        "zone": "cpzone1",
        "accept": "Continue",
        "auth_user": "marie",
        "auth_pass": TOKEN_24,
    }


def test_cisco_wlc_like_switch_url() -> None:
    config = HandoffConfig(
        integration="form_post",
        options={
            "login_url_param": "switch_url",
            "allowed_hosts": "192.0.2.1",
            "extra_fields": "buttonClicked=4",
        },
    )
    params = {
        "switch_url": "https://192.0.2.1/login.html",
        "ap_mac": "b8:be:bf:14:41:90",
        "client_mac": "28:cf:e9:13:47:cb",
        "wlan": "Free-WiFi",
        "redirect": "bbc.co.uk/",
    }
    form_post = integration("form_post")
    arrival = form_post.arrive(url="", params=params, config=config)
    assert (arrival.client_mac, arrival.user_url) == ("28:cf:e9:13:47:cb", None)  # not a URL
    plan = form_post.handoff(arrival, username="marie", token=TOKEN_24, config=config)
    assert plan.url == "https://192.0.2.1/login.html"
    assert dict(plan.fields) == {"buttonClicked": "4", "username": "marie", "password": TOKEN_24}


def test_configured_parameter_names_and_pass_through() -> None:
    config = HandoffConfig(
        integration="form_post",
        options={
            "login_url": "https://controller.example/login",
            "client_mac_param": "sta",
            "client_ip_param": "sta_ip",
            "user_url_param": "dest",
            "pass_through": "token, missing ,password",
            "extra_fields": "note=a%2Cb",
        },
    )
    params = {
        "sta": "aa-bb",
        "sta_ip": "2001:db8::5",
        "dest": "https://x.example/",
        "mac": "ignored",
        "token": "t1",
        "password": "p",
    }
    form_post = integration("form_post")
    arrival = form_post.arrive(url="", params=params, config=config)
    assert (arrival.client_mac, arrival.client_ip, arrival.user_url) == (
        "aa-bb",
        "2001:db8::5",
        "https://x.example/",
    )
    plan = form_post.handoff(arrival, username="marie", token=TOKEN_24, config=config)
    # a missing pass-through is skipped; ours override a pass-through of the same name
    assert dict(plan.fields) == {"token": "t1", "password": TOKEN_24, "note": "a,b", "username": "marie"}


def test_malformed_extra_fields_are_a_config_error() -> None:
    config = HandoffConfig(
        integration="form_post", options={"login_url": "https://c.example/", "extra_fields": "accept"}
    )
    arrival = integration("form_post").arrive(url="", params={}, config=config)
    assert (
        reason_of(
            lambda: integration("form_post").handoff(arrival, username="u", token=TOKEN_24, config=config)
        )
        == "bad_config"
    )


# ---- none, registry, identify_nas ---------------------------------------------------------------


def test_none_accepts_anything_and_goes_to_done_url() -> None:
    none = integration("none")
    arrival = none.arrive(url="\x00garbage", params={"md": "x"}, config=HandoffConfig(integration="none"))
    assert dict(arrival.state) == {}
    config = HandoffConfig(integration="none", options={"done_url": "/account"})
    assert none.handoff(arrival, username="u", token="t", config=config).url == "/account"
    plan = none.handoff(arrival, username="u", token="t", config=HandoffConfig(integration="none"))
    assert (plan.method, plan.url, dict(plan.fields)) == ("GET", "/", {})


@pytest.mark.parametrize(
    "done_url", ["http://evil.example/", "//evil.example/", "javascript:alert(1)", "https://a@evil.example/"]
)
def test_a_done_url_the_rule_refuses_is_no_redirect(done_url: str) -> None:
    none = integration("none")
    arrival = none.arrive(url="", params={}, config=HandoffConfig(integration="none"))
    config = HandoffConfig(integration="none", options={"done_url": done_url})
    assert reason_of(lambda: none.handoff(arrival, username="u", token="t", config=config)) == "bad_config"


def test_registry() -> None:
    assert set(INTEGRATIONS) == {"coovachilli", "form_post", "none"}
    assert all(item.name == name for name, item in INTEGRATIONS.items())
    with pytest.raises(KeyError, match="unknown hand-off integration 'meraki'"):
        integration("meraki")


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"nasid": "ap-mediatheque"}, "ap-mediatheque"),
        ({"nas": "ours", "nasid": "chilli"}, "ours"),
        ({"ap_name": "mr53-ca", "client_mac": "x"}, "mr53-ca"),
        ({"nasid": "", "gw_id": "gw1"}, "gw1"),
        ({"nasid": "x" * 65}, None),
        ({"nasid": "a\nb"}, None),
        ({"client_mac": "f4:5c:89:9b:17:67"}, None),
    ],
)
def test_identify_nas(params: dict[str, str], expected: str | None) -> None:
    assert identify_nas(params) == expected


# ---- no exception but HandoffError, whatever comes in ------------------------------------------

OPTION_NAMES = [
    "auth", "uamserver", "login_url", "login_url_param", "allowed_hosts", "username_field", "password_field",
    "extra_fields", "pass_through", "client_mac_param", "client_ip_param", "user_url_param", "done_url",
]  # fmt: skip
UAM_KEYS = ["res", "uamip", "uamport", "challenge", "mac", "ip", "userurl", "reason", "login_url", "md"]
VALID = ["notyet", "already", "failed", "10.1.0.1", "2001:db8::1", "3990", CHALLENGE, "https://192.0.2.1/x"]
texts = st.one_of(st.text(max_size=40), st.sampled_from(VALID))
BASES = [{}, {"auth": "chap"}, dict(MERAKI.options), dict(PFSENSE.options)]
configs = st.builds(
    HandoffConfig,
    integration=st.sampled_from(sorted(INTEGRATIONS)),
    secret=st.one_of(st.none(), st.just(SECRET), st.binary(max_size=8)),
    options=st.builds(
        lambda base, extra: {**base, **extra},
        st.sampled_from(BASES),
        st.dictionaries(st.sampled_from(OPTION_NAMES), texts, max_size=3),
    ),
)


@st.composite
def chilli_urls(draw: st.DrawFn, *, signed: bool | None = None) -> str:
    """Chilli-shaped links, signed (half the time by default) so fuzzing reaches past the checksum."""
    printable = st.text(st.characters(codec="utf-8"), max_size=30)
    fields = {"res": "notyet", "uamip": "10.1.0.1", "uamport": "3990", "challenge": CHALLENGE}
    for name in draw(st.lists(st.sampled_from(sorted(fields)), unique=True)):
        del fields[name]
    fields |= draw(st.dictionaries(st.sampled_from(UAM_KEYS), st.one_of(printable, st.sampled_from(VALID))))
    url = "https://portal.example.fr/hotspot?" + urlencode(fields, quote_via=quote)
    if signed or (signed is None and draw(st.booleans())):
        url += "&md=" + hashlib.md5(url.encode() + SECRET).hexdigest().upper()
    return url


@settings(max_examples=400, deadline=None)
@given(
    name=st.sampled_from(sorted(INTEGRATIONS)),
    url=st.one_of(st.text(max_size=200), chilli_urls()),
    params=st.dictionaries(st.one_of(st.sampled_from([*UAM_KEYS, "switch_url", "nasid"]), st.text()), texts),
    config=configs,
    username=st.one_of(st.text(max_size=20), st.just("marie")),
    token=st.one_of(st.text(max_size=200), st.just(TOKEN_24)),
    state=st.one_of(st.none(), st.dictionaries(st.sampled_from([*UAM_KEYS, "f.zone"]), texts)),
)
def test_only_handoff_errors_escape(
    name: str,
    url: str,
    params: dict[str, str],
    config: HandoffConfig,
    username: str,
    token: str,
    state: dict[str, str] | None,
) -> None:
    chosen = integration(name)
    arrival, error = attempt(lambda: chosen.arrive(url=url, params=params, config=config))
    assert error is None or (error.reason and error.message)
    if arrival is None:
        if state is None:
            return
        arrival = Arrival(
            integration=name, client_mac=None, client_ip=None, user_url=url or None, state=state
        )
    assert all(isinstance(key, str) and isinstance(value, str) for key, value in arrival.state.items())
    plan, error = attempt(lambda: chosen.handoff(arrival, username=username, token=token, config=config))
    assert error is None or (error.reason and error.message)
    if plan is not None:
        assert plan.method in ("GET", "POST")
        assert all(isinstance(value, str) for value in plan.fields.values())
    identify_nas(params)


@settings(max_examples=200, deadline=None)
@given(url=chilli_urls(signed=True))
def test_a_signed_chilli_link_is_never_refused_for_its_checksum(url: str) -> None:
    _, error = attempt(lambda: integration("coovachilli").arrive(url=url, params={}, config=CHILLI))
    assert error is None or error.reason not in ("bad_checksum", "secret_missing")
