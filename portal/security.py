"""Cookies we can trust, CSRF protection and the security headers of every page.

* **Signed cookies** (:class:`Signer`): a compact JSON payload, its issue time and an HMAC under
  a key derived from the secret key for that cookie's purpose. Tampered, expired or foreign
  cookies read as absent. The login cookie also carries a fingerprint of the password hash, so
  changing or resetting a password logs every other browser out.
* **CSRF** (double submit, signed): each browser gets a random ``sesame_csrf`` cookie; every form
  carries a token derived from it with the secret key, which another site can neither read nor
  forge. Every POST is checked before its form is looked at.
* **Headers**: a strict Content-Security-Policy (no inline script except the WiFi4EU snippet,
  allowed by a per-response nonce), no framing, no referrer, no MIME sniffing; pages that hold
  personal data are not cached.
"""

from __future__ import annotations

import base64
import hmac
import json
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from accounts.secretbox import SecretBox

SESSION_COOKIE = "sesame_session"
HANDOFF_COOKIE = "sesame_handoff"
CSRF_COOKIE = "sesame_csrf"
CSRF_FIELD = "csrf_token"


class Signer:
    """Signs small JSON payloads for cookies, one purpose per signer."""

    def __init__(self, box: SecretBox, *, purpose: str) -> None:
        # signed with the current key; during a key rotation, read with the previous one too
        self._keys = [d.encode() for d in box.digests(b"cookie-signing-key", purpose=purpose)]

    def _mac(self, body: bytes, key: bytes | None = None) -> str:
        mac = hmac.digest(key or self._keys[0], body, "sha256")[:24]
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")

    def sign(self, payload: Mapping[str, Any], *, now: float) -> str:
        body = (
            base64.urlsafe_b64encode(
                json.dumps({"p": payload, "t": int(now)}, separators=(",", ":")).encode()
            )
            .decode()
            .rstrip("=")  # no padding: a cookie value with "=" gets quoted
        )
        return f"{body}.{self._mac(body.encode())}"

    def read(self, value: str | None, *, now: float, max_age: float) -> dict[str, Any] | None:
        if not value or value.count(".") != 1 or len(value) > 4096:
            return None
        body, mac = value.split(".")
        if not any(hmac.compare_digest(mac, self._mac(body.encode(), key)) for key in self._keys):
            return None
        try:
            data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
            issued, payload = float(data["t"]), data["p"]
        except (ValueError, KeyError, TypeError):
            return None
        if not isinstance(payload, dict) or not 0 <= now - issued <= max_age:
            return None
        return payload


class Csrf:
    def __init__(self, box: SecretBox) -> None:
        self._keys = [d.encode() for d in box.digests(b"csrf-key", purpose="portal-csrf")]

    def token_for(self, cookie: str, key: bytes | None = None) -> str:
        return hmac.new(key or self._keys[0], cookie.encode(), "sha256").hexdigest()[:32]

    def valid(self, cookie: str | None, token: str | None) -> bool:
        if not cookie or not token:
            return False
        return any(hmac.compare_digest(self.token_for(cookie, key), token) for key in self._keys)

    @staticmethod
    def new_cookie() -> str:
        return secrets.token_urlsafe(24)


def content_security_policy(
    *,
    nonce: str,
    form_targets: tuple[str, ...] = (),
    wifi4eu: bool = False,
    images: tuple[str, ...] = ("https:",),
) -> str:
    """The policy of a page. ``images``: where images may come from beyond this server and
    ``data:`` — any ``https://`` for the portal's pages (a commune's logo), none for the staff
    console's but a configured map tile server (portal/maptiles.py)."""
    scripts = ["'self'", f"'nonce-{nonce}'"]
    forms = " ".join(("'self'", *form_targets))
    connect = ["'self'"]
    pictures = ["'self'", "data:", *images]
    if wifi4eu:
        scripts.append("https://collection.wifi4eu.ec.europa.eu")
        connect.append("https://collection.wifi4eu.ec.europa.eu")
    return "; ".join(
        (
            "default-src 'self'",
            f"script-src {' '.join(scripts)}",
            f"style-src 'self' 'nonce-{nonce}'",
            f"img-src {' '.join(pictures)}",
            f"connect-src {' '.join(connect)}",
            f"form-action {forms}",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "object-src 'none'",
        )
    )


SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


async def security_headers(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
    """Middleware: every response gets the security headers; pages get a CSP unless the view set
    its own (with a nonce or form targets)."""
    response = await call_next(request)
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    if "content-security-policy" not in response.headers:
        response.headers["Content-Security-Policy"] = content_security_policy(nonce=secrets.token_urlsafe(12))
    if request.url.scheme == "https":
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    return response
