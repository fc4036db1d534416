"""The [sms] settings (issue 19): the Kannel URL under the rule of configured addresses, the
countries and budgets read, and what `sesame check` says of SMS."""

from __future__ import annotations

import pytest

from sesame.settings import SettingsError, load_settings
from sesame.smssettings import phone_rules, sms_budget, sms_limits
from tests.test_preflight import _found


@pytest.mark.parametrize(
    "url",
    ["http://kannel.example.org:13013/cgi-bin/sendsms", "http://203.0.113.9/cgi-bin/sendsms",
     "https://u:p@sms.example.org/", "ftp://127.0.0.1/"],
)  # fmt: skip
def test_a_kannel_url_that_could_leak_numbers_and_codes_does_not_load(
    settings_env: None, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("SESAME_ENVIRONMENT", "development")
    monkeypatch.setenv("SESAME_SMS_KANNEL_URL", url)
    with pytest.raises(SettingsError, match="SESAME_SMS_KANNEL_URL"):
        load_settings()


def test_countries_budgets_and_limits_are_read(settings_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SESAME_ENVIRONMENT", "development")
    monkeypatch.setenv("SESAME_SMS_KANNEL_URL", "http://127.0.0.1:13013/cgi-bin/sendsms")
    monkeypatch.setenv("SESAME_SMS_COUNTRIES", "fr, it,MC")
    monkeypatch.setenv("SESAME_SMS_COUNTRY_BUDGETS", '{"IT": 50}')
    monkeypatch.setenv("SESAME_SMS_PER_NUMBER", "2")
    sms = load_settings().sms
    assert phone_rules(sms).countries == frozenset({"FR", "IT", "MC"})
    assert sms_budget(sms).per_country == {"IT": 50}
    assert sms_limits(sms)["sms_number"].free == 2
    monkeypatch.setenv("SESAME_SMS_COUNTRIES", "France")
    with pytest.raises(SettingsError, match="SESAME_SMS_COUNTRIES"):
        load_settings()


def test_sesame_check_refuses_sms_without_a_gateway(
    settings_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert ("SESAME_SMS_KANNEL_URL", True) in _found(monkeypatch, SESAME_SMS_ENABLED="true")
    found = _found(
        monkeypatch, SESAME_SMS_ENABLED="true", SESAME_SMS_KANNEL_URL="http://127.0.0.1:13013/cgi-bin/sendsms"
    )
    assert found == [("SESAME_SMS_KANNEL_PASSWORD", False)]
    assert _found(
        monkeypatch, SESAME_SMS_ENABLED="true", SESAME_SMS_KANNEL_URL="http://127.0.0.1:13013/cgi-bin/sendsms",
        SESAME_SMS_KANNEL_USERNAME="sesame", SESAME_SMS_KANNEL_PASSWORD="a secret",
    ) == []  # fmt: skip
