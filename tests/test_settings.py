from pathlib import Path

import pytest

from accounts.secretbox import SecretBox
from sesame.dburl import normalize_database_url
from sesame.settings import (
    DEFAULT_DATABASE_URL,
    Environment,
    SettingsError,
    load_settings,
)

KEY = "k" * 40


def test_defaults_use_the_embedded_sqlite_database_and_standard_ports(
    settings_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESAME_SECRET_KEY", KEY)
    settings = load_settings()
    assert settings.database_url == DEFAULT_DATABASE_URL
    assert (settings.radius.auth_port, settings.radius.acct_port, settings.web.port) == (1812, 1813, 8000)
    assert settings.environment is Environment.PRODUCTION


def test_environment_variables_reach_nested_sections(
    settings_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESAME_SECRET_KEY", KEY)
    monkeypatch.setenv("SESAME_RADIUS_AUTH_PORT", "11812")
    monkeypatch.setenv("SESAME_RADIUS_ACCT_PORT", "11813")
    monkeypatch.setenv("SESAME_RADIUS_BIND", "127.0.0.1, ::1")
    monkeypatch.setenv("SESAME_WEB_BIND", "::1")
    monkeypatch.setenv("SESAME_WEB_PORT", "8080")
    monkeypatch.setenv("SESAME_REALM", "WiFi.MaRegionSud.FR")
    monkeypatch.setenv("SESAME_DATABASE_URL", "postgresql://sesame@db/sesame")
    settings = load_settings()
    assert (settings.radius.auth_port, settings.radius.acct_port) == (11812, 11813)
    assert settings.radius.addresses == ["127.0.0.1", "::1"]
    assert (settings.web.bind, settings.web.port) == ("::1", 8080)
    assert settings.realm == "wifi.maregionsud.fr"
    assert settings.database_url == "postgresql+asyncpg://sesame@db/sesame"


def test_a_toml_file_is_read_and_the_environment_wins(
    settings_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    config = tmp_path / "sesame.toml"
    config.write_text(
        f'secret_key = "{KEY}"\nrealm = "sud.example.fr"\n[radius]\nauth_port = 2812\n[web]\nport = 9000\n'
    )
    monkeypatch.setenv("SESAME_CONFIG", str(config))
    monkeypatch.setenv("SESAME_WEB_PORT", "9001")
    settings = load_settings()
    assert (settings.realm, settings.radius.auth_port, settings.web.port) == ("sud.example.fr", 2812, 9001)


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("SESAME_RADIUS_AUTH_PORT", "eighteen", "SESAME_RADIUS_AUTH_PORT"),
        ("SESAME_WEB_PORT", "70000", "SESAME_WEB_PORT"),
        ("SESAME_RADIUS_BIND", "0.0.0.0,nowhere", "SESAME_RADIUS_BIND"),
        ("SESAME_REALM", "localhost", "SESAME_REALM"),
        ("SESAME_DATABASE_URL", "mysql://x/y", "SESAME_DATABASE_URL"),
        ("SESAME_LOG_LEVEL", "chatty", "SESAME_LOG_LEVEL"),
        ("SESAME_ENVIRONMENT", "staging", "SESAME_ENVIRONMENT"),
        ("SESAME_WEB_TRUSTED_PROXIES", "*", "SESAME_WEB_TRUSTED_PROXIES"),
        ("SESAME_WEB_TRUSTED_PROXIES", "127.0.0.1,proxy.example.fr", "SESAME_WEB_TRUSTED_PROXIES"),
        ("SESAME_ONBOARDING_CERTIFICATE_DAYS", "0", "SESAME_ONBOARDING_CERTIFICATE_DAYS"),
        ("SESAME_ONBOARDING_DEVICE_CA_KEY", "/nonexistent/ca.key", "SESAME_ONBOARDING_DEVICE_CA_KEY"),
        ("SESAME_ONBOARDING_SIGNING_CERTIFICATE", __file__, "SESAME_ONBOARDING"),  # a file, no key with it
    ],
)
def test_a_bad_setting_gives_one_line_naming_it(
    settings_env: None, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, named: str
) -> None:
    monkeypatch.setenv("SESAME_SECRET_KEY", KEY)
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    message = str(excinfo.value)
    assert message.startswith(f"invalid setting {named}:")
    assert "\n" not in message


def test_forwarded_headers_are_believed_from_the_configured_proxies_only(
    settings_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESAME_SECRET_KEY", KEY)
    assert load_settings().web.proxies == ["127.0.0.1/32", "::1/128"]  # the proxy on this host
    monkeypatch.setenv("SESAME_WEB_TRUSTED_PROXIES", "10.0.8.2, 2001:db8::/64")
    assert load_settings().web.proxies == ["10.0.8.2/32", "2001:db8::/64"]
    monkeypatch.setenv("SESAME_WEB_TRUSTED_PROXIES", "")
    assert load_settings().web.proxies == []  # nobody: each peer is the client


def test_the_placeholder_secret_key_is_refused_outside_development(
    settings_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SettingsError, match="SESAME_SECRET_KEY"):
        load_settings()
    monkeypatch.setenv("SESAME_SECRET_KEY", "too-short")
    with pytest.raises(SettingsError, match="SESAME_SECRET_KEY") as excinfo:
        load_settings()
    assert "too-short" not in str(excinfo.value)
    monkeypatch.delenv("SESAME_SECRET_KEY")
    monkeypatch.setenv("SESAME_ENVIRONMENT", "development")
    assert load_settings().is_development


def test_connection_data_is_kept_the_legal_year_outside_development(
    settings_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESAME_SECRET_KEY", KEY)
    monkeypatch.setenv("SESAME_RETENTION_CONNECTION_DAYS", "30")
    with pytest.raises(SettingsError, match=r"SESAME_RETENTION.*décret 2021-1361"):
        load_settings()
    monkeypatch.setenv("SESAME_ENVIRONMENT", "development")
    assert load_settings().retention.connection_days == 30


def test_config_file_problems_are_named(
    settings_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SESAME_ENVIRONMENT", "development")
    monkeypatch.setenv("SESAME_CONFIG", str(tmp_path / "missing.toml"))
    with pytest.raises(SettingsError, match="SESAME_CONFIG: no configuration file"):
        load_settings()
    bad = tmp_path / "bad.toml"
    bad.write_text('realm = "unterminated\n')
    monkeypatch.setenv("SESAME_CONFIG", str(bad))
    with pytest.raises(SettingsError, match="cannot read"):
        load_settings()
    typo = tmp_path / "typo.toml"
    typo.write_text("[radius]\nauth_prot = 1812\n")
    monkeypatch.setenv("SESAME_CONFIG", str(typo))
    with pytest.raises(SettingsError, match="SESAME_RADIUS_AUTH_PROT: unknown setting"):
        load_settings()


def test_metrics_listen_on_loopback_port_9812_by_default_and_0_or_empty_turns_them_off(
    settings_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESAME_SECRET_KEY", KEY)
    metrics = load_settings().metrics
    assert (metrics.bind, metrics.port, metrics.enabled) == ("127.0.0.1", 9812, True)
    assert metrics.token.get_secret_value() == ""
    for off in ("0", ""):
        monkeypatch.setenv("SESAME_METRICS_PORT", off)
        assert load_settings().metrics.enabled is False
    monkeypatch.setenv("SESAME_METRICS_PORT", "19812")
    monkeypatch.setenv("SESAME_METRICS_BIND", "::1")
    metrics = load_settings().metrics
    assert (metrics.bind, metrics.port, metrics.enabled) == ("::1", 19812, True)


def test_metrics_on_an_address_other_than_loopback_need_a_bearer_token(
    settings_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESAME_SECRET_KEY", KEY)
    monkeypatch.setenv("SESAME_ENVIRONMENT", "development")  # refused in development too
    monkeypatch.setenv("SESAME_METRICS_BIND", "0.0.0.0")
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    assert str(excinfo.value).startswith("invalid setting SESAME_METRICS_TOKEN:")
    assert "loopback" in str(excinfo.value)
    monkeypatch.setenv("SESAME_METRICS_PORT", "0")  # no listener: nothing to protect
    assert load_settings().metrics.enabled is False
    monkeypatch.setenv("SESAME_METRICS_PORT", "9812")
    token = "Zm9vYmFyYmF6LXF1dXgtMTIzNDU2Nzg5"
    monkeypatch.setenv("SESAME_METRICS_TOKEN", token)
    metrics = load_settings().metrics
    assert (metrics.bind, metrics.token.get_secret_value()) == ("0.0.0.0", token)


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SESAME_METRICS_BIND", "metrics.example.fr"),
        ("SESAME_METRICS_PORT", "65536"),
        ("SESAME_METRICS_PORT", "-1"),
        ("SESAME_METRICS_TOKEN", "short"),
        ("SESAME_METRICS_TOKEN", "a token with spaces and more"),
        ("SESAME_METRICS_TOKEN", "ééééééééééééééééééé"),
    ],
)
def test_a_bad_metrics_setting_is_named(
    settings_env: None, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv("SESAME_SECRET_KEY", KEY)
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as excinfo:
        load_settings()
    assert str(excinfo.value).startswith(f"invalid setting {variable}:")
    assert value not in str(excinfo.value) or variable != "SESAME_METRICS_TOKEN"  # a secret is not echoed


@pytest.mark.parametrize(
    ("written", "normalized"),
    [
        (
            "postgresql://sesame:p%40ss@db1:5433,db2/sesame?target_session_attrs=read-write",
            "postgresql+asyncpg://sesame:p%40ss@/sesame?host=db1:5433&host=db2:5432&target_session_attrs=read-write",
        ),
        (
            "postgres://u@10.0.0.1,10.0.0.2/s",
            "postgresql+asyncpg://u@/s?host=10.0.0.1:5432&host=10.0.0.2:5432",
        ),
        ("postgresql://u@db:6432/s?sslmode=require", "postgresql+asyncpg://u@db:6432/s?sslmode=require"),
    ],
)
def test_a_database_url_may_name_several_hosts_libpq_style(written: str, normalized: str) -> None:
    assert normalize_database_url(written) == normalized


@pytest.mark.parametrize(
    "written",
    ["postgresql://u@[::1]:5432,[::2]:5432/s", "postgresql://u@db1:x,db2/s", "postgresql://u@db1,,db2/s"],
)
def test_a_multi_host_url_it_cannot_read_is_refused(written: str) -> None:
    with pytest.raises(ValueError, match="host"):
        normalize_database_url(written)


def test_the_previous_secret_key_is_accepted_during_a_rotation_only_when_it_is_long_enough(
    settings_env: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SESAME_SECRET_KEY", KEY)
    old = "the-old-secret-key-being-retired-0123456789abc"
    sealed = SecretBox(old).seal(b"nas secret", purpose="nas-secret")
    assert not load_settings().secret_box().rotating
    monkeypatch.setenv("SESAME_SECRET_KEY_PREVIOUS", "")
    assert load_settings().secret_key_previous is None
    monkeypatch.setenv("SESAME_SECRET_KEY_PREVIOUS", old)
    box = load_settings().secret_box()
    assert box.rotating and box.open(sealed, purpose="nas-secret") == b"nas secret"
    assert SecretBox(KEY).open(box.seal(b"x", purpose="p"), purpose="p") == b"x"  # the new key seals
    monkeypatch.setenv("SESAME_SECRET_KEY_PREVIOUS", "short")
    with pytest.raises(SettingsError, match="SESAME_SECRET_KEY_PREVIOUS") as excinfo:
        load_settings()
    assert "short" not in str(excinfo.value).replace("shorter", "")


def test_the_onboarding_section_from_toml_and_environment(
    settings_env: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = tmp_path / "device-ca.key"
    key.write_text("a key\n")
    config = tmp_path / "sesame.toml"
    config.write_text(f'secret_key = "{KEY}"\n[onboarding]\ndevice_ca_key = "{key}"\ncertificate_days = 90\n')
    monkeypatch.setenv("SESAME_CONFIG", str(config))
    monkeypatch.setenv("SESAME_ONBOARDING_DEVICE_CA_KEY_PASSWORD", "pass phrase")
    onboarding = load_settings().onboarding
    assert (onboarding.device_ca_key, onboarding.certificate_days) == (str(key), 90)
    assert onboarding.device_ca_key_password.get_secret_value() == "pass phrase"
    assert "pass phrase" not in repr(onboarding)
