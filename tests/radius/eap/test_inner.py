"""The inner identity rule (radius/eap/inner.py), shared by PEAP and EAP-TTLS."""

from __future__ import annotations

import pytest

from radius.eap.inner import InnerFailure, inner_identity

REALM = "wifi.example"


@pytest.mark.parametrize(
    ("raw", "outer", "strip", "expected"),
    [
        (b"alice", "anonymous@wifi.example", False, "alice@wifi.example"),
        (b" Alice@WIFI.Example ", "anonymous@Wifi.Example", False, "alice@wifi.example"),  # as the pipeline
        (b"alice@wifi.example", "@wifi.example", False, "alice@wifi.example"),
        (b"alice@wifi.example", "anonymous", False, "alice@wifi.example"),  # no outer realm: ours
        (b"CORP\\alice", "anonymous@wifi.example", True, "alice@wifi.example"),
        (b"CORP\\alice@wifi.example", "anonymous@wifi.example", True, "alice@wifi.example"),
        (b"CORP\\alice", "anonymous@wifi.example", False, "corp\\alice@wifi.example"),  # PAP keeps it
        ("zoé@wifi.example".encode(), "anonymous@wifi.example", False, "zoé@wifi.example"),
        (b"a@b@wifi.example", "anonymous@wifi.example", False, "a@b@wifi.example"),  # the last @ splits
    ],
)
def test_the_account_name_is_user_at_our_realm_lower_case(
    raw: bytes, outer: str, strip: bool, expected: str
) -> None:
    assert inner_identity(raw, outer_identity=outer, realm=REALM, strip_domain=strip) == expected


@pytest.mark.parametrize(
    ("raw", "outer", "failure"),
    [
        (
            b"alice@other.example",
            "anonymous@wifi.example",
            InnerFailure(reason="realm_mismatch", identity="alice@other.example"),
        ),
        (
            b"alice",
            "anonymous@other.example",
            InnerFailure(reason="realm_mismatch", identity="alice@wifi.example"),
        ),
        (
            b"alice@other.example",
            "anonymous@other.example",
            InnerFailure(reason="realm_mismatch", identity="alice@other.example"),
        ),
        (b"al\x00ice", "anonymous@wifi.example", InnerFailure(reason="bad_user_name", identity="al\\x00ice")),
        (b"\xc3(", "anonymous@wifi.example", InnerFailure(reason="bad_user_name", identity="\\xc3(")),
        (b"alice\n", "anonymous@wifi.example", InnerFailure(reason="bad_user_name", identity="alice\\x0a")),
        (b"", "anonymous@wifi.example", InnerFailure(reason="bad_user_name", identity=None)),
        (
            b"@wifi.example",
            "anonymous@wifi.example",
            InnerFailure(reason="bad_user_name", identity="@wifi.example"),
        ),
        (b"x" * 254, "anonymous@wifi.example", InnerFailure(reason="bad_user_name", identity="x" * 253)),
    ],
)
def test_names_no_account_can_have_and_other_realms_are_refused(
    raw: bytes, outer: str, failure: InnerFailure
) -> None:
    assert inner_identity(raw, outer_identity=outer, realm=REALM) == failure
