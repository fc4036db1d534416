"""The ``[sms]`` section of the settings (``SESAME_SMS_*``): sign-up and recovery by SMS (issue 19;
docs/sms.md, docs/configuration.md).

Off unless ``enabled``. The gateway is Kannel's ``sendsms`` (``kannel_url``: checked at start as
every address a citizen's data goes to, :func:`portal.kannel.sendsms_url`), or, without a URL, a
folder of ``.sms`` files (development; ``sesame check`` refuses it in production). The throttles
(per number, per client address, per number prefix) and the daily budgets are the defences against
SMS pumping (docs/security.md).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator

from accounts.errors import InvalidInput
from accounts.phones import PhoneRules
from accounts.smsbudget import Budget
from portal.kannel import KannelGateway, sendsms_url
from portal.sms import Courier, OutboxGateway, SmsConfig, SmsGateway
from portal.throttle import Limit

__all__ = ["SmsSettings", "phone_rules", "sms_budget", "sms_config", "sms_courier", "sms_limits"]

COUNTRY = r"^[A-Z]{2}$"


class SmsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool = False
    #: Kannel's smsbox sendsms URL, e.g. http://127.0.0.1:13013/cgi-bin/sendsms ("": the outbox)
    kannel_url: str = ""
    kannel_username: str = Field(default="", max_length=64)
    kannel_password: SecretStr = SecretStr("")
    #: GET (query string) or POST (X-Kannel-* headers, text as body: no secret in access logs)
    kannel_method: str = Field(default="POST", pattern="^(GET|POST)$")
    #: the sender citizens see (an alphanumeric sender ID or a short code, as the operator allows)
    sender: str = Field(default="Wi-Fi", min_length=1, max_length=16, pattern=r"^[A-Za-z0-9 +._-]+$")
    timeout: float = Field(default=10.0, gt=0.0, le=60.0)
    #: where SMS are written without a Kannel URL (development, tests)
    outbox: str = "./sms-outbox"
    #: the countries whose mobile numbers are accepted (comma-separated ISO 3166 alpha-2)
    countries: str = "FR"
    #: the country a number without "+" is read in
    default_country: str = Field(default="FR", pattern=COUNTRY)
    #: SMS the region may send a day (UTC), all countries together
    daily_budget: int = Field(default=500, ge=0, le=10_000_000)
    #: per destination country, e.g. {"IT": 50}; a country not named has only the region's
    country_budgets: dict[str, int] = {}
    #: SMS per number, per client address and per number prefix in `window_minutes`
    per_number: int = Field(default=3, ge=1, le=100)
    per_address: int = Field(default=10, ge=1, le=10_000)
    per_prefix: int = Field(default=20, ge=1, le=100_000)
    window_minutes: int = Field(default=60, ge=1, le=24 * 60)
    #: national digits after the country code that make a prefix (+33 6123…)
    prefix_digits: int = Field(default=4, ge=1, le=8)

    @field_validator("kannel_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value:
            return value
        try:
            return sendsms_url(value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None

    @field_validator("countries")
    @classmethod
    def _countries(cls, value: str) -> str:
        codes = [c.strip().upper() for c in value.split(",") if c.strip()]
        if not codes or any(len(c) != 2 or not c.isalpha() or not c.isascii() for c in codes):
            raise ValueError("a comma-separated list of ISO 3166 alpha-2 codes, e.g. FR,IT,MC")
        return ",".join(codes)

    @field_validator("country_budgets")
    @classmethod
    def _country_budgets(cls, value: dict[str, int]) -> dict[str, int]:
        for country, budget in value.items():
            if len(country) != 2 or not country.isupper() or not country.isalpha() or budget < 0:
                raise ValueError("country codes (ISO 3166 alpha-2, upper case) to SMS a day (0 or more)")
        return value


def phone_rules(settings: SmsSettings) -> PhoneRules:
    return PhoneRules(
        countries=frozenset(settings.countries.split(",")),
        default_country=settings.default_country,
        prefix_digits=settings.prefix_digits,
    )


def sms_budget(settings: SmsSettings) -> Budget:
    return Budget(daily=settings.daily_budget, per_country=dict(settings.country_budgets))


def sms_limits(settings: SmsSettings) -> dict[str, Limit]:
    """The throttle's limits on sending: every SMS counts (as sign-ups do), and past the free ones
    each further attempt waits twice as long, up to the window."""
    window = settings.window_minutes * 60.0
    return {
        "sms_number": Limit(free=settings.per_number, window=window, max_delay=window),
        "sms_ip": Limit(free=settings.per_address, window=window, max_delay=window),
        "sms_prefix": Limit(free=settings.per_prefix, window=window, max_delay=window),
    }


def sms_config(settings: SmsSettings) -> SmsConfig | None:
    """What the portal needs to offer SMS (None: not offered)."""
    if not settings.enabled:
        return None
    return SmsConfig(rules=phone_rules(settings), budget=sms_budget(settings))


def sms_courier(settings: SmsSettings) -> Courier | None:
    """The background sender over Kannel, or over the outbox folder without a Kannel URL."""
    if not settings.enabled:
        return None
    gateway: SmsGateway
    if settings.kannel_url:
        gateway = KannelGateway(
            url=settings.kannel_url,
            username=settings.kannel_username,
            password=settings.kannel_password.get_secret_value(),
            sender=settings.sender,
            method=settings.kannel_method,
            timeout=settings.timeout,
        )
    else:
        gateway = OutboxGateway(Path(settings.outbox))
    return Courier(gateway)
