"""During a key rotation (``SESAME_SECRET_KEY_PREVIOUS``) what the portal signed with the old key —
login and hand-off cookies, CSRF tokens — is still accepted, what it signs now uses the new key,
and once the old key is dropped its signatures are refused. Admin API tokens alike."""

from __future__ import annotations

import dataclasses
import time

from accounts.models import AdminRole
from accounts.secretbox import SecretBox
from portal.api.auth import TokenKeys, token_keys
from portal.context import Portal
from portal.security import Csrf, Signer

OLD = SecretBox("the-old-secret-key-being-retired-0123456789abc")
NEW = SecretBox("the-new-secret-key-from-the-vault-9876543210zy")
WINDOW = SecretBox(
    "the-new-secret-key-from-the-vault-9876543210zy", "the-old-secret-key-being-retired-0123456789abc"
)


def test_cookies_signed_before_the_rotation_are_read_during_the_window_only() -> None:
    before = Signer(OLD, purpose="login").sign({"a": 1}, now=1000.0)
    assert Signer(WINDOW, purpose="login").read(before, now=1001.0, max_age=60) == {"a": 1}
    assert Signer(NEW, purpose="login").read(before, now=1001.0, max_age=60) is None
    during = Signer(WINDOW, purpose="login").sign({"a": 2}, now=1000.0)
    assert Signer(NEW, purpose="login").read(during, now=1001.0, max_age=60) == {"a": 2}
    assert Signer(OLD, purpose="login").read(during, now=1001.0, max_age=60) is None
    assert Signer(WINDOW, purpose="handoff").read(before, now=1001.0, max_age=60) is None  # purposes apart


def test_csrf_tokens_made_before_the_rotation_are_valid_during_the_window_only() -> None:
    cookie = Csrf.new_cookie()
    before = Csrf(OLD).token_for(cookie)
    assert Csrf(WINDOW).valid(cookie, before)
    assert not Csrf(NEW).valid(cookie, before)
    assert Csrf(WINDOW).token_for(cookie) == Csrf(NEW).token_for(cookie)
    assert not Csrf(WINDOW).valid(cookie, "0" * 32)


def test_admin_api_tokens_issued_before_the_rotation_are_read_during_the_window_only(portal: Portal) -> None:
    def keys(box: SecretBox) -> TokenKeys:
        return token_keys(dataclasses.replace(portal, box=box))

    now = time.time()
    before = keys(OLD).issue(
        subject="admin:1", role=AdminRole.REGION_ADMIN, commune_id=None, version=0, now=now
    )
    claims = keys(WINDOW).read(before, now=now)
    assert claims is not None and claims["sub"] == "admin:1"
    assert keys(NEW).read(before, now=now) is None
    during = keys(WINDOW).issue(
        subject="admin:2", role=AdminRole.SUPPORT, commune_id=None, version=0, now=now
    )
    assert keys(NEW).read(during, now=now) is not None
    assert keys(OLD).read(during, now=now) is None
