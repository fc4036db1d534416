"""Hand-off integrations (portal.handoff) but CoovaChilli's (test_handoff_chilli.py): form POST
(Meraki-, pfSense- and Cisco-like controllers), none, the registry, identify_nas, and, whatever
comes in, no exception but HandoffError."""

from __future__ import annotations

import hashlib
from urllib.parse import quote, urlencode

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from portal.handoff import INTEGRATIONS, Arrival, HandoffConfig, identify_nas, integration
from tests.portal.handoffs import CHALLENGE, CHILLI, SECRET, TOKEN_24, attempt, reason_of

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
