"""The rules every new password meets: length, not a common password, not the username or email."""

from collections.abc import Iterable
from importlib import resources

import pytest

from accounts.errors import InvalidInput
from accounts.passwords import (
    COMMON_MESSAGE,
    COMMON_PASSWORDS_RESOURCE,
    PERSONAL_MESSAGE,
    RULE_COMMON,
    RULE_PERSONAL,
    RULE_TOO_LONG,
    RULE_TOO_SHORT,
    check_password_rules,
    common_passwords,
    is_common_password,
    password_rule,
)


def refusal(password: str, *, related: Iterable[str] = ()) -> InvalidInput:
    with pytest.raises(InvalidInput) as caught:
        check_password_rules(password, related=related)
    return caught.value


def list_lines() -> list[str]:
    resource = resources.files("accounts")
    for part in COMMON_PASSWORDS_RESOURCE:
        resource = resource.joinpath(part)
    return resource.read_text(encoding="utf-8").splitlines()


# --- length ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("password", "code"), [("short", RULE_TOO_SHORT), ("", RULE_TOO_SHORT)])
def test_a_password_under_8_characters_is_refused(password: str, code: str) -> None:
    error = refusal(password)
    assert error.code == code  # type: ignore[attr-defined]
    assert "at least 8 characters" in str(error)


def test_a_password_over_128_characters_is_refused() -> None:
    error = refusal("Zq7;" * 32 + "x")
    assert password_rule(error) == RULE_TOO_LONG
    assert "at most 128 characters" in str(error)


def test_the_length_bounds_are_inclusive() -> None:
    check_password_rules("Zq7;vK2!")
    check_password_rules("Zq7;" * 32)


def test_the_length_is_checked_before_the_list() -> None:
    assert password_rule(refusal("azerty")) == RULE_TOO_SHORT


# --- common passwords -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "password",
    [
        "password",
        "PASSWORD",
        "Azertyuiop",
        "motdepasse",
        "MotDePasse",
        "iloveyou1",
        "azerty123",
        "12345678",
        "wifigratuit",
        "passwordwifi",
        "password123",
        "benvenuto",
        "marseille",
    ],
)
def test_a_common_password_is_refused_whatever_its_case(password: str) -> None:
    error = refusal(password)
    assert password_rule(error) == RULE_COMMON
    assert str(error) == COMMON_MESSAGE == "this password is too common: choose another"


@pytest.mark.parametrize(
    "password", ["Password1!", "motdepasse2024", "Benvenuto!!", "azertyuiop 42?", "sunshine_7"]
)
def test_a_common_password_with_trailing_digits_or_symbols_is_refused(password: str) -> None:
    assert password_rule(refusal(password)) == RULE_COMMON


def test_a_stem_under_8_characters_is_not_looked_up() -> None:
    # "azerty" is common but has 6 characters: only exact list entries refuse such passwords
    assert "azerty" not in common_passwords()
    assert "azerty2024" not in common_passwords()
    check_password_rules("azerty2024")
    assert is_common_password("azerty123")


def test_only_trailing_characters_are_stripped() -> None:
    assert not is_common_password("1password")
    assert not is_common_password("pass word")
    check_password_rules("!!password")


@pytest.mark.parametrize(
    "password",
    [
        "eight ch",
        "correct horse battery staple",
        "Tr0mbone-Lyon-Soleil",
        "ma chèvre aime le wifi",
        "k9#Vd2!pQz",
    ],
)
def test_an_uncommon_password_is_accepted(password: str) -> None:
    check_password_rules(password)


# --- related values: username, email -------------------------------------------------------


@pytest.mark.parametrize(
    ("password", "related"),
    [
        ("jdupont2024!", ("jdupont", "jean.dupont")),
        ("Jean.Dupont-wifi", ("jdupont", "jean.dupont")),
        ("JDUPONT!", ("xx", "jdupont")),
        ("mon-jean.dupont!", ("jean.dupont@example.fr",)),
        ("xXmarioXx99", ("Mario",)),
    ],
)
def test_a_password_holding_the_username_or_email_is_refused(password: str, related: tuple[str, ...]) -> None:
    error = refusal(password, related=related)
    assert password_rule(error) == RULE_PERSONAL
    assert str(error) == PERSONAL_MESSAGE == "a password cannot contain your username or email"


def test_related_values_under_4_characters_are_ignored() -> None:
    check_password_rules("bob-likes-trains", related=("bob", "bo@example.fr", "   ", ""))


def test_an_email_is_cut_to_its_local_part() -> None:
    # "example.fr" is not personal: only what precedes the "@" is looked for
    check_password_rules("visit example.fr today", related=("marie@example.fr",))
    assert password_rule(refusal("marie:8h30:lyon", related=("marie@example.fr",))) == RULE_PERSONAL


def test_a_password_unrelated_to_the_account_is_accepted() -> None:
    check_password_rules("Tr0mbone-Lyon-Soleil", related=("jdupont", "jean.dupont"))


def test_related_accepts_any_iterable_and_defaults_to_none() -> None:
    check_password_rules("dupont-wifi-2024")
    assert password_rule(refusal("dupont-wifi-2024", related=iter(["Dupont"]))) == RULE_PERSONAL
    assert password_rule(refusal("dupont-wifi-2024", related=["dupont"])) == RULE_PERSONAL


def test_a_common_password_is_reported_as_common_before_personal() -> None:
    assert password_rule(refusal("password1", related=("password",))) == RULE_COMMON


# --- codes ------------------------------------------------------------------------------------


def test_the_codes_are_stable_strings() -> None:
    assert {RULE_TOO_SHORT, RULE_TOO_LONG, RULE_COMMON, RULE_PERSONAL} == {
        "password_too_short",
        "password_too_long",
        "password_common",
        "password_personal",
    }


def test_password_rule_is_none_for_other_errors() -> None:
    assert password_rule(InvalidInput("a malformed INSEE code")) is None
    assert password_rule(ValueError("x")) is None


# --- the data file --------------------------------------------------------------------------


def test_the_list_loads_through_importlib_resources_once() -> None:
    lines = list_lines()
    assert len(lines) > 3000
    assert common_passwords() == frozenset(lines)
    assert common_passwords() is common_passwords()


def test_the_list_is_sorted_lowercase_unique_and_8_to_128_characters() -> None:
    lines = list_lines()
    assert lines == sorted(lines)
    assert len(set(lines)) == len(lines)
    assert all(line == line.lower() for line in lines)
    assert all(8 <= len(line) <= 128 for line in lines)
    assert all(line == line.strip() for line in lines)


def test_the_list_file_ends_with_a_newline_and_stays_small() -> None:
    resource = resources.files("accounts")
    for part in COMMON_PASSWORDS_RESOURCE:
        resource = resource.joinpath(part)
    data = resource.read_bytes()
    assert data.endswith(b"\n")
    assert b"\r" not in data
    assert len(data) < 150_000
