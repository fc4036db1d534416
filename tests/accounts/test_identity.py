import pytest
from hypothesis import given
from hypothesis import strategies as st

from accounts.errors import InvalidInput
from accounts.identity import (
    canonical_mac,
    display_name,
    normalize_email,
    normalize_insee,
    normalize_mac,
    normalize_nas_address,
    normalize_realm,
    normalize_username,
    split_identity,
)

macs = st.binary(min_size=6, max_size=6)


@given(macs)
def test_every_common_mac_notation_gives_the_same_canonical_form(raw: bytes) -> None:
    """The notations the portal and the CLI took and those RADIUS took (one rule for both now)."""
    h = raw.hex()
    canonical = ":".join(h[i : i + 2] for i in range(0, 12, 2))
    notations = [
        canonical,
        canonical.upper(),
        canonical.replace(":", "-").upper(),  # RFC 3580 Calling-Station-Id
        canonical.replace(":", "."),
        canonical.replace(":", " "),
        f"{h[0:4]}.{h[4:8]}.{h[8:12]}",  # Cisco
        f"{h[0:4]}-{h[4:8]}-{h[8:12]}".upper(),  # Huawei, H3C
        h.upper(),
        f"  {canonical.replace(':', '-')}\n",  # surrounding whitespace
    ]
    assert {normalize_mac(n) for n in notations} == {canonical}
    assert {canonical_mac(n) for n in notations} == {canonical}


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "00:11:22:33:44",
        "00:11:22:33:44:55:66",
        "zz:11:22:33:44:55",
        "hello",
        "00:11-22:33:44:55",  # mixed separators
        "00:1122:33:44:55",  # a separator left out
        "0011.2233.44:55",
        "001.122.334.455",  # groups of three
        "0011:2233:4455",
        "0-0-1-1-2-2-3-3-4-4-5-5",
        "００:11:22:33:44:55",  # fullwidth digits
        "0x001122334455",
    ],
)
def test_a_malformed_mac_is_refused(bad: str) -> None:
    assert canonical_mac(bad) is None
    with pytest.raises(InvalidInput):
        normalize_mac(bad)


@pytest.mark.parametrize(
    "name", ["deadbeefcafe", "dead-beef-cafe", "de.ad.be.ef.ca.fe", "d-e-a-d-b-e-e-f-c-a-f-e"]
)
def test_a_username_that_could_be_read_as_a_mac_is_refused(name: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_username(name)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("Alice", "alice"), ("  jean-luc.picard ", "jean-luc.picard"), ("ＡＢＣ", "abc"), ("a_b", "a_b")],
)
def test_usernames_are_normalised(raw: str, expected: str) -> None:
    assert normalize_username(raw) == expected


@pytest.mark.parametrize(
    "bad", ["ab", "-abc", "abc-", "a b c", "élodie", "a..b", "x" * 65, "00:11:22:33:44:55", "001122334455"]
)
def test_bad_usernames_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_username(bad)


def test_identity_splits_on_the_last_at_and_defaults_to_the_home_realm() -> None:
    assert split_identity("Alice@WiFi.Sud.FR", home_realm="x.fr") == ("alice", "wifi.sud.fr")
    assert split_identity("alice", home_realm="wifi.sud.fr") == ("alice", "wifi.sud.fr")
    with pytest.raises(InvalidInput):
        split_identity("alice@localhost", home_realm="x.fr")


@pytest.mark.parametrize("bad", ["", "fr", "-a.fr", "a..fr", "a_b.fr", "x" * 64 + ".fr"])
def test_bad_realms_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_realm(bad)


def test_email_domain_is_lower_cased_but_not_the_local_part() -> None:
    assert normalize_email(" Marie.Curie@Example.FR ") == "Marie.Curie@example.fr"
    for bad in ["marie", "marie@", "@example.fr", "marie@example", "a b@example.fr"]:
        with pytest.raises(InvalidInput):
            normalize_email(bad)


@pytest.mark.parametrize(("raw", "code"), [("26362", "26362"), ("2a004", "2A004"), (" 2B033", "2B033")])
def test_insee_codes(raw: str, code: str) -> None:
    assert normalize_insee(raw) == code


@pytest.mark.parametrize("bad", ["2636", "263620", "2C004", "ABCDE", ""])
def test_bad_insee_codes_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_insee(bad)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("192.0.2.10", "192.0.2.10"),
        ("192.0.2.10/32", "192.0.2.10"),
        ("10.1.0.0/24", "10.1.0.0/24"),
        ("2001:DB8::1", "2001:db8::1"),
        ("2001:db8::/64", "2001:db8::/64"),
    ],
)
def test_nas_addresses(raw: str, stored: str) -> None:
    assert normalize_nas_address(raw) == stored


@pytest.mark.parametrize("bad", ["10.1.0.5/24", "300.1.1.1", "nas.example.fr", "", "10.0.0.0/33"])
def test_bad_nas_addresses_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        normalize_nas_address(bad)


def test_display_names_are_trimmed_and_bounded() -> None:
    assert display_name("  Médiathèque  ", what="site") == "Médiathèque"
    for bad in ["", "   ", "x" * 121, "bad\x00name"]:
        with pytest.raises(InvalidInput):
            display_name(bad, what="site")
