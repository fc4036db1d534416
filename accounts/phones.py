"""Mobile numbers: what a person may sign up with and receive codes on (issue 19), no database code.

A number is read with ``phonenumbers`` (Google's libphonenumber metadata), in the region's default
country unless it starts with ``+``, and kept in E.164 (``+33612345678``). It is refused unless
libphonenumber knows it as a valid **mobile** number (``MOBILE``, or ``FIXED_LINE_OR_MOBILE`` where
a country's plan cannot tell them apart) of a country the region allows: premium-rate, shared-cost,
toll-free, VoIP, pagers and landlines cannot receive a code, and are where SMS pumping fraud sends
them (docs/security.md).

:func:`number_prefix` is the throttle's third key: the country code and the first national digits,
so that a run of numbers of one range (``+33 6 12 …``), the mark of SMS pumping, is slowed down as
one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from accounts.errors import InvalidInput

#: longer input is not a phone number (E.164 has at most 15 digits; spaces and dashes around them)
MAX_INPUT_LENGTH = 32
MOBILE_TYPES = frozenset({PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE})

#: why a number was refused (:attr:`PhoneRefused.rule`), for a translated message
RULE_UNREADABLE = "unreadable"
RULE_COUNTRY = "country"
RULE_NOT_MOBILE = "not_mobile"


class PhoneRefused(InvalidInput):
    """A number nobody may sign up with here; ``rule`` says why."""

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True, slots=True, kw_only=True)
class PhoneRules:
    """The countries whose numbers are accepted (ISO 3166 alpha-2), the one a number without ``+``
    is read in, and how many national digits the prefix throttle groups numbers by."""

    countries: frozenset[str] = field(default_factory=lambda: frozenset({"FR"}))
    default_country: str = "FR"
    prefix_digits: int = 4


def normalize_phone(raw: str, *, rules: PhoneRules) -> str:
    """``raw`` as E.164 if it is a mobile number of an allowed country, else :class:`PhoneRefused`."""
    text = raw.strip()
    if not text or len(text) > MAX_INPUT_LENGTH or not text.isprintable():
        raise PhoneRefused("not a phone number", rule=RULE_UNREADABLE)
    try:
        number = phonenumbers.parse(text, rules.default_country)
    except NumberParseException:
        raise PhoneRefused("not a phone number", rule=RULE_UNREADABLE) from None
    if not phonenumbers.is_valid_number(number):
        raise PhoneRefused("not a valid phone number", rule=RULE_UNREADABLE)
    if phonenumbers.region_code_for_number(number) not in rules.countries:
        raise PhoneRefused("numbers of this country are not accepted", rule=RULE_COUNTRY)
    if phonenumbers.number_type(number) not in MOBILE_TYPES:
        raise PhoneRefused("not a mobile number", rule=RULE_NOT_MOBILE)
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def country_of(e164: str) -> str:
    """The ISO 3166 alpha-2 country of a number :func:`normalize_phone` accepted."""
    return str(phonenumbers.region_code_for_number(phonenumbers.parse(e164)))


def number_prefix(e164: str, *, digits: int) -> str:
    """The country code and the first ``digits`` national digits: ``+33 6123``."""
    number = phonenumbers.parse(e164)
    return f"+{number.country_code} {phonenumbers.national_significant_number(number)[:digits]}"


def masked(e164: str) -> str:
    """The number as a page may show it back: ``+33 6 •• •• •• 78`` (international format, every
    digit but the first national one and the last two hidden)."""
    number = phonenumbers.parse(e164)
    shown = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    code = f"+{number.country_code}"
    rest = shown[len(code) :]
    digits = [i for i, c in enumerate(rest) if c.isdigit()]
    hidden = set(digits[1:-2])
    return code + "".join("•" if i in hidden else c for i, c in enumerate(rest))


def placeholder_email(e164: str) -> str:
    """The address an account signed up by SMS holds in ``account.email`` (unique per region, not
    null): the number under ``phone.invalid``, a domain that never receives mail (RFC 2606); the
    portal's postman drops mail to it (``portal.mail``)."""
    return f"{e164.lstrip('+')}@{PHONE_ONLY_DOMAIN}"


PHONE_ONLY_DOMAIN = "phone.invalid"


def contact_of(email: str | None) -> str:
    """What staff read as the account's contact: its email, or for an account signed up by SMS
    its number (``+33612345678``) rather than the placeholder address; "" for none (an account
    made through an identity provider that gave no email)."""
    if email is None:
        return ""
    local, _, domain = email.partition("@")
    return "+" + local if domain == PHONE_ONLY_DOMAIN and local.isdecimal() else email


def has_mailbox(email: str | None) -> bool:
    """Whether mail to ``email`` can arrive (not an account signed up by SMS, nor one without email)."""
    return email is not None and not email.lower().endswith(".invalid")
