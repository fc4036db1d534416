"""All configuration in one pydantic-settings class.

Sources, strongest first: keyword arguments, environment variables (prefix ``SESAME_``; a
nested section's fields are ``SESAME_<SECTION>_<FIELD>``, e.g. ``SESAME_RADIUS_AUTH_PORT``),
then a TOML file named by ``--config`` or ``SESAME_CONFIG`` (sections ``[radius]``,
``[web]``, ``[metrics]``, ``[portal]``, ``[federation]``, ``[redis]``, ``[eap]``, ``[onboarding]``,
``[requisition]``, ``[console]``),
then the defaults below. A bad value stops start-up with one line naming the setting
(:func:`describe_error`).
"""

from __future__ import annotations

import enum
import ipaddress
import os
import re
from functools import lru_cache
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from accounts.disclosure import MIN_THRESHOLD
from accounts.errors import InvalidInput
from accounts.identity import normalize_realm
from accounts.network import AddressRules
from accounts.secretbox import SecretBox
from sesame.citizenidpsettings import CitizenIdpSettings
from sesame.consolesettings import ConsoleSettings
from sesame.dburl import normalize_database_url
from sesame.eapsettings import EapSettings
from sesame.onboardsettings import OnboardingSettings
from sesame.requisitionsettings import RequisitionSettings
from sesame.smssettings import SmsSettings
from sesame.ssosettings import SsoSettings

ENV_PREFIX = "SESAME_"
CONFIG_ENV = "SESAME_CONFIG"
PLACEHOLDER_SECRET_KEY = "change-me"  # noqa: S105 - the value refused outside development
MIN_SECRET_KEY_LENGTH = 32
MIN_METRICS_TOKEN_LENGTH = 16
TOKEN_CHARACTERS = re.compile(r"[A-Za-z0-9._~+/=-]+")  # RFC 6750's b64token: it goes in a header as is
DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./sesame.db"

Port = Annotated[int, Field(ge=1, le=65535)]


class Environment(enum.StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class SettingsError(Exception):
    """The configuration cannot be used; the message names the setting."""


def _check_addresses(value: str) -> str:
    parts = [p.strip() for p in value.split(",") if p.strip()]
    if not parts:
        raise ValueError("give at least one IP address")
    for part in parts:
        ipaddress.ip_address(part)  # ValueError names the bad part
    return ",".join(parts)


class RadiusSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: Comma-separated addresses to listen on; ``0.0.0.0`` and ``::`` for every interface.
    bind: str = "0.0.0.0"  # noqa: S104 - access points reach us from the network
    auth_port: Port = 1812
    acct_port: Port = 1813
    workers: int = Field(default=1, ge=1, le=64)
    enabled: bool = True
    #: extra FreeRADIUS-format dictionary files, comma-separated, loaded after Sésame's own
    dictionaries: str = ""
    #: the widest range an access point may be given (shorter prefixes are refused: 0.0.0.0/0 would
    #: take every other access point's traffic); IPv4-mapped IPv6 ranges count as IPv4
    nas_min_prefix_v4: int = Field(default=16, ge=0, le=32)
    nas_min_prefix_v6: int = Field(default=48, ge=0, le=128)
    #: threads verifying argon2id passwords (a pool of their own), and how many verifications may
    #: wait for one, in all and from one NAS; more: the request is dropped and the NAS retries.
    #: Each waiting verification holds one of ``concurrency``'s workers: keep well below it, so
    #: that MAC, token, cached and proxied requests still find a worker during a guessing flood
    password_threads: int = Field(default=2, ge=1, le=64)
    max_pending_verifications: int = Field(default=16, ge=1)
    max_pending_verifications_per_nas: int = Field(default=8, ge=1)
    #: wrong passwords within ``guess_window`` seconds past which a password not verified recently
    #: is refused unverified: from one device for one account, from one device (Calling-Station-Id
    #: at a NAS), from one NAS; past ``guesses_per_account`` from anywhere an account's
    #: verifications run one at a time (never refused: see radius/ratelimit.py)
    guesses_per_account_device: int = Field(default=5, ge=1)
    guesses_per_device: int = Field(default=20, ge=1)
    guesses_per_nas: int = Field(default=600, ge=1)
    guesses_per_account: int = Field(default=10, ge=1)
    guess_window: float = Field(default=300.0, gt=0.0, le=86_400.0)
    #: RFC 5080 duplicate cache lifetime of an answered request, seconds
    duplicate_lifetime: float = Field(default=10.0, ge=1.0, le=60.0)
    #: concurrent requests in the policy, and how many may queue before new ones are dropped
    concurrency: int = Field(default=64, ge=1, le=4096)
    #: entries per process: accounts and devices looked up, successful password verifications
    #: (size them for the people who return within verification_ttl seconds)
    cache_size: int = Field(default=500_000, ge=1_000)
    #: load the most recently seen accounts and the remembered devices into the caches at start
    preload: bool = True
    verification_cache_size: int = Field(default=200_000, ge=1_000)
    verification_ttl: float = Field(default=600.0, ge=0.0, le=86_400.0)
    queue_size: int = Field(default=8192, ge=16)

    @field_validator("bind")
    @classmethod
    def _bind(cls, value: str) -> str:
        return _check_addresses(value)

    @field_validator("dictionaries")
    @classmethod
    def _dictionaries(cls, value: str) -> str:
        for part in filter(None, (p.strip() for p in value.split(","))):
            if not Path(part).is_file():
                raise ValueError(f"no dictionary file at {part}")
        return value

    @property
    def addresses(self) -> list[str]:
        return self.bind.split(",")

    @property
    def nas_address_rules(self) -> AddressRules:
        return AddressRules(min_prefix_v4=self.nas_min_prefix_v4, min_prefix_v6=self.nas_min_prefix_v6)

    @property
    def dictionary_files(self) -> list[Path]:
        return [Path(p.strip()) for p in self.dictionaries.split(",") if p.strip()]


class PolicySettings(BaseModel):
    """Region defaults for Access-Accept replies; communes and sites may override each field."""

    model_config = ConfigDict(extra="forbid")

    session_timeout: int | None = Field(default=3 * 3600, ge=0)
    idle_timeout: int | None = Field(default=15 * 60, ge=0)
    interim_interval: int | None = Field(default=5 * 60, ge=0)
    bandwidth_up_kbps: int | None = Field(default=None, ge=0)
    bandwidth_down_kbps: int | None = Field(default=None, ge=0)
    #: open sessions per account at once; 0 or empty: no limit
    simultaneous_use: int | None = Field(default=3, ge=0)
    #: per account per day in a commune: seconds connected, bytes in and out; empty: no limit
    daily_time_limit: int | None = Field(default=None, ge=0)
    daily_octets_limit: int | None = Field(default=None, ge=0)


class AccountingSettings(BaseModel):
    """Accounting (RFC 2866) and the housekeeping of sessions."""

    model_config = ConfigDict(extra="forbid")

    #: an open session with no record for this many seconds is closed as stale
    #: (a few interim intervals: the default interim interval is 300 s)
    stale_after: int = Field(default=3 * 300 + 60, ge=60)
    #: the day that daily limits count, in this time zone
    timezone: str = "Europe/Paris"
    #: most accounting records committed in one transaction
    batch_size: int = Field(default=1000, ge=1, le=10_000)
    #: Accounting-Requests in progress at once, per process: the largest batch a process can gather
    concurrency: int = Field(default=256, ge=1, le=4096)
    #: Change-of-Authorization / Disconnect requests: seconds to wait for an answer, and retries
    coa_timeout: float = Field(default=2.0, gt=0.0, le=30.0)
    coa_retries: int = Field(default=2, ge=0, le=10)

    @field_validator("timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class RetentionSettings(BaseModel):
    """How long personal data is kept (French law: CPCE L34-1, décret 2021-1361; see docs/privacy.md)."""

    model_config = ConfigDict(extra="forbid")

    #: connection data (sessions) and authentication records, days after the connection
    connection_days: int = Field(default=365, ge=1, le=3650)
    #: sign-up data of a deleted account (its email), days after the account closed
    closed_account_days: int = Field(default=365, ge=1, le=3650)
    #: rows deleted per transaction by ``sesame retention purge``
    batch_size: int = Field(default=5000, ge=1, le=100_000)
    #: an account signed up on the portal and never verified is deleted this many days after sign-up
    unverified_days: int = Field(default=7, ge=1, le=365)
    #: an account with no connection and no log-in for this many days is warned, then deleted
    #: ``inactive_notice_days`` later unless the person comes back; 0 keeps unused accounts
    inactive_days: int = Field(default=365, ge=0, le=3650)
    inactive_notice_days: int = Field(default=30, ge=7, le=365)
    #: where ``sesame retention purge`` writes its counts for node_exporter's textfile collector
    #: (``--collector.textfile.directory``); empty: nowhere
    metrics_file: str = ""

    @model_validator(mode="after")
    def _notice_within_inactivity(self) -> RetentionSettings:
        if self.inactive_days and self.inactive_days <= self.inactive_notice_days:
            raise ValueError(
                "inactive_days must be longer than inactive_notice_days (or 0: keep unused accounts)"
            )
        return self


class OpenDataSettings(BaseModel):
    """The open data (docs/privacy.md, "Open data"): daily statistics per commune and site, small
    counts hidden. Admins with ``stats:read`` always have them; ``public`` also serves them to
    anyone, without signing in, under ``/opendata/``."""

    model_config = ConfigDict(extra="forbid")

    public: bool = False
    #: rows counting fewer people are left empty (and enough others to keep them so)
    threshold: int = Field(default=10, ge=MIN_THRESHOLD, le=1000)
    #: how long a public answer is reused (in this process, and by browsers and proxies)
    cache_seconds: int = Field(default=3600, ge=0, le=86_400)


class WebSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    bind: str = "127.0.0.1"
    port: Port = 8000
    enabled: bool = True
    #: The reverse proxies whose X-Forwarded-For and X-Forwarded-Proto are believed: addresses or
    #: networks, comma-separated; "" believes nobody. From any other peer the headers are ignored and
    #: the peer's own address is the client's (the throttles and the captive API key on it). The
    #: default is the proxy on this host, the deployment deploy/nginx describes.
    trusted_proxies: str = "127.0.0.1,::1"

    @field_validator("bind")
    @classmethod
    def _bind(cls, value: str) -> str:
        ipaddress.ip_address(value)
        return value

    @field_validator("trusted_proxies")
    @classmethod
    def _trusted_proxies(cls, value: str) -> str:
        for item in (part.strip() for part in value.split(",")):
            if not item:
                continue
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError:
                # "*" too: believing anyone lets every client choose the address it is throttled by
                raise ValueError(f"{item!r} is not an IP address or network") from None
        return value

    @property
    def proxies(self) -> list[str]:
        """The trusted proxies as uvicorn's ``forwarded_allow_ips`` takes them (never "*")."""
        return [
            str(ipaddress.ip_network(p.strip(), strict=False))
            for p in self.trusted_proxies.split(",")
            if p.strip()
        ]


class MetricsSettings(BaseModel):
    """Prometheus metrics (``GET /metrics``) on a listener of their own, never on the public web port."""

    model_config = ConfigDict(extra="forbid", validate_default=True)

    #: loopback by default (Prometheus or its agent on this host); another address needs a token
    bind: str = "127.0.0.1"
    #: 0 or empty: no metrics listener
    port: int = Field(default=9812, ge=0, le=65_535)
    #: a bearer token Prometheus must send (its ``authorization: credentials_file``); empty: none,
    #: which is allowed only on a loopback address
    token: SecretStr = SecretStr("")

    @field_validator("bind")
    @classmethod
    def _bind(cls, value: str) -> str:
        ipaddress.ip_address(value)
        return value

    @field_validator("port", mode="before")
    @classmethod
    def _port(cls, value: object) -> object:
        return 0 if isinstance(value, str) and not value.strip() else value

    @field_validator("token")
    @classmethod
    def _token(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        token = value.get_secret_value()
        if token and (len(token) < MIN_METRICS_TOKEN_LENGTH or not TOKEN_CHARACTERS.fullmatch(token)):
            raise ValueError(
                f"use at least {MIN_METRICS_TOKEN_LENGTH} letters, digits or -._~+/= "
                "(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')"
            )
        bind, port = info.data.get("bind"), info.data.get("port")
        if port and bind and not token and not ipaddress.ip_address(bind).is_loopback:
            raise ValueError(f"metrics on {bind}, not a loopback address, need a bearer token")
        return value

    @property
    def enabled(self) -> bool:
        return self.port != 0


class RedisSettings(BaseModel):
    """Short-lived state shared by every process and host (``sesame/sharedstate.py``): the
    failed-password limits and the portal's throttles. No URL: each process keeps its own."""

    model_config = ConfigDict(extra="forbid")

    #: ``redis://[:password@]host:6379/0``, ``rediss://`` for TLS, ``unix:///run/redis.sock``; empty: none
    url: SecretStr = SecretStr("")
    #: seconds an operation may take before the limits fall back to this process's memory
    timeout: float = Field(default=0.25, gt=0, le=5)
    #: seconds between tries once Redis stopped answering
    retry_after: float = Field(default=2.0, gt=0, le=60)
    #: before every key, so that several deployments (or test runs) can share one Redis
    prefix: str = Field(default="sesame:", max_length=64, pattern=r"^[A-Za-z0-9_.:-]*$")

    @field_validator("url")
    @classmethod
    def _url(cls, value: SecretStr) -> SecretStr:
        url = value.get_secret_value().strip()
        if url and not url.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("use a redis://, rediss:// or unix:// URL")
        return SecretStr(url)


class PortalSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    #: The URL citizens reach the portal at, behind the operator's reverse proxy.
    public_url: str = "http://127.0.0.1:8000"
    enabled: bool = True
    #: minutes an unverified new account may connect, to read its verification email (0: none)
    grace_minutes: int = Field(default=15, ge=0, le=24 * 60)
    #: days a device the person chose to remember reconnects by MAC authentication
    remember_days: int = Field(default=90, ge=1, le=400)
    #: the version of the region's terms of use and privacy notice (recorded with each consent)
    terms_version: str = Field(default="2026-11", min_length=1, max_length=32)
    #: languages offered, the first is the default
    languages: str = "fr,it,en"
    #: hours a portal login lasts in the browser
    login_hours: int = Field(default=12, ge=1, le=24 * 30)
    #: the staff console: minutes without a request that end a session, hours from sign-in that end it
    console_idle_minutes: int = Field(default=30, ge=5, le=8 * 60)
    console_hours: int = Field(default=12, ge=1, le=24)
    #: WiFi4EU: load the monitoring snippet in self-test mode (while the Commission validates the site)
    wifi4eu_self_test: bool = False

    @field_validator("public_url")
    @classmethod
    def _public_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/?#]+(/[^?#]*)?$", value):
            raise ValueError("give the portal's public URL, e.g. https://wifi.example.fr")
        return value.rstrip("/")

    @field_validator("languages")
    @classmethod
    def _languages(cls, value: str) -> str:
        offered = [code.strip() for code in value.split(",") if code.strip()]
        unknown = [code for code in offered if code not in ("fr", "it", "en")]
        if not offered or unknown:
            raise ValueError("choose among fr, it, en (comma-separated, the default first)")
        return ",".join(offered)


class MailSettings(BaseModel):
    """Email to citizens (verification and reset codes). Without an SMTP host, messages are
    written to the outbox folder instead (development, tests)."""

    model_config = ConfigDict(extra="forbid")

    smtp_host: str = ""
    smtp_port: Port = 587
    #: "starttls" (port 587), "tls" (implicit TLS, port 465) or "none" (a local relay)
    smtp_security: str = Field(default="starttls", pattern="^(starttls|tls|none)$")
    smtp_username: str = ""
    smtp_password: SecretStr = SecretStr("")
    sender: str = "Wi-Fi <no-reply@wifi.example.org>"
    outbox: str = "./outbox"


class FederationSettings(BaseModel):
    """Partner regions (realm routing, proxying, RadSec). Partners themselves are in the database
    (``sesame partner add``); these are how the proxy behaves."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    #: our name in Operator-Name (RFC 5580, namespace 1) and in F-Ticks VISINST; default: the realm
    operator_name: str = ""
    #: F-Ticks: the federation's name and our country (ISO 3166 alpha-2)
    fticks_federation: str = "sesame"
    country: str = Field(default="FR", pattern="^[A-Z]{2}$")
    fticks: bool = True
    #: home-server health, as FreeRADIUS's proxy.conf (seconds)
    response_window: float = Field(default=10.0, gt=0.0, le=120.0)
    zombie_period: float = Field(default=40.0, gt=0.0, le=3600.0)
    check_interval: float = Field(default=10.0, gt=0.0, le=600.0)
    answers_to_alive: int = Field(default=3, ge=1, le=20)
    retry_interval: float = Field(default=2.0, gt=0.0, le=60.0)
    retries: int = Field(default=2, ge=0, le=10)
    #: requests in flight to one partner at once (beyond: dropped, the access point retries)
    max_outstanding: int = Field(default=1024, ge=1, le=65_536)
    #: refuse home-server replies without Message-Authenticator (BlastRADIUS, CVE-2024-3596);
    #: turn off only for a partner on FreeRADIUS older than 3.2.5 that does not send it
    require_message_authenticator: bool = True
    #: the address proxied requests leave from ("": the kernel's choice), as FreeRADIUS's src_ipaddr;
    #: partners allow us by it
    source_address: str = ""
    #: RadSec (RFC 6614): our certificate and key, the CA partners' certificates chain to
    radsec_certificate: str = ""
    radsec_private_key: str = ""
    radsec_ca: str = ""
    #: RadSec listener for partners' proxies ("" or port 0: none)
    radsec_bind: str = "0.0.0.0"  # noqa: S104 - partners reach us from the network
    radsec_port: int = Field(default=0, ge=0, le=65_535)


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="_",
        env_nested_max_split=1,
        extra="forbid",
        validate_default=True,
    )

    environment: Environment = Environment.PRODUCTION
    database_url: str = DEFAULT_DATABASE_URL
    realm: str = "wifi.example.org"
    region_name: str = "Région"
    secret_key: SecretStr = SecretStr(PLACEHOLDER_SECRET_KEY)
    #: during a key rotation, the key being replaced: it still opens and verifies, never seals
    secret_key_previous: SecretStr | None = None
    log_level: str = "INFO"
    log_format: str = Field(default="text", pattern="^(text|json)$")

    radius: RadiusSettings = RadiusSettings()
    policy: PolicySettings = PolicySettings()
    accounting: AccountingSettings = AccountingSettings()
    retention: RetentionSettings = RetentionSettings()
    opendata: OpenDataSettings = OpenDataSettings()
    web: WebSettings = WebSettings()
    metrics: MetricsSettings = MetricsSettings()
    portal: PortalSettings = PortalSettings()
    mail: MailSettings = MailSettings()
    federation: FederationSettings = FederationSettings()
    eap: EapSettings = EapSettings()
    onboarding: OnboardingSettings = OnboardingSettings()
    requisition: RequisitionSettings = RequisitionSettings()
    sso: SsoSettings = SsoSettings()
    console: ConsoleSettings = ConsoleSettings()
    citizenidp: CitizenIdpSettings = CitizenIdpSettings()
    redis: RedisSettings = RedisSettings()
    sms: SmsSettings = SmsSettings()

    @field_validator("realm")
    @classmethod
    def _realm(cls, value: str) -> str:
        try:
            return normalize_realm(value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return normalize_database_url(value)

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("use DEBUG, INFO, WARNING or ERROR")
        return level

    @field_validator("secret_key")
    @classmethod
    def _secret_key(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        key = value.get_secret_value()
        if info.data.get("environment") is not Environment.DEVELOPMENT and (
            key == PLACEHOLDER_SECRET_KEY or len(key) < MIN_SECRET_KEY_LENGTH
        ):
            raise ValueError(
                f"set a random value of at least {MIN_SECRET_KEY_LENGTH} characters outside development "
                "(python3 -c 'import secrets; print(secrets.token_urlsafe(48))')"
            )
        return value

    @field_validator("secret_key_previous")
    @classmethod
    def _secret_key_previous(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < MIN_SECRET_KEY_LENGTH:
            raise ValueError(f"the previous secret key is shorter than {MIN_SECRET_KEY_LENGTH} characters")
        return value

    def secret_box(self) -> SecretBox:
        """The box over SESAME_SECRET_KEY and, during a rotation, SESAME_SECRET_KEY_PREVIOUS."""
        previous = [self.secret_key_previous.get_secret_value()] if self.secret_key_previous else []
        return SecretBox(self.secret_key.get_secret_value(), *previous)

    @field_validator("retention")
    @classmethod
    def _retention(cls, value: RetentionSettings, info: ValidationInfo) -> RetentionSettings:
        if info.data.get("environment") is not Environment.DEVELOPMENT and value.connection_days < 365:
            raise ValueError(
                "connection_days: connection data must be kept a year (décret 2021-1361); "
                "less is accepted only in development"
            )
        return value

    @property
    def is_development(self) -> bool:
        return self.environment is Environment.DEVELOPMENT

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = os.environ.get(CONFIG_ENV)
        if config_file:
            path = Path(config_file)
            if not path.is_file():
                raise SettingsError(f"{CONFIG_ENV}: no configuration file at {path}")
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)


def _setting_name(loc: tuple[int | str, ...]) -> str:
    parts = [str(p) for p in loc if isinstance(p, str)]
    return ENV_PREFIX + "_".join(parts).upper() if parts else "settings"


def describe_error(exc: ValidationError) -> str:
    """One line per bad setting, naming it as an environment variable (secrets never echoed)."""
    lines = []
    for error in exc.errors():
        name = _setting_name(error["loc"])
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting"
        lines.append(f"invalid setting {name}: {message}")
    return "; ".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Settings from the environment and config file, or :class:`SettingsError` naming the bad one."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise SettingsError(describe_error(exc)) from None
    except (OSError, ValueError) as exc:  # an unreadable or malformed TOML file
        raise SettingsError(f"{CONFIG_ENV}: cannot read the configuration file: {exc}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()
