"""The staff console's single sign-on, as the composition root hands it to the portal: the OpenID
providers, the email domains whose staff must use them, and whether TOTP is still asked after
them (docs/console.md, "Single sign-on").

Apart from ``portal/console/`` so that :class:`portal.context.PortalConfig` can hold it without
importing the console (which imports the context).

Every URL here is one a staff member's browser is sent to (the provider's authorization endpoint,
found from its issuer): :func:`issuer_url` holds it to ``accounts/weburl.py``'s rule, and more
strictly still to ``https://`` — ``http://`` only to a loopback address, for tests.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from accounts.errors import InvalidInput
from accounts.weburl import web_target

SLUG = re.compile(r"[a-z0-9][a-z0-9-]{0,31}")


def issuer_url(value: str, *, what: str = "the issuer URL") -> str:
    """``value`` if the console may send a browser there and fetch from it: ``web_target``'s rule,
    ``https://``, or ``http://`` to a loopback address only (tests). No query, no fragment."""
    web_target(value, what=what)
    parts = urlsplit(value)
    if parts.query or parts.fragment:
        raise InvalidInput(f"{what} has a query or a fragment")
    if parts.scheme == "http":
        try:
            loopback = ipaddress.ip_address((parts.hostname or "").strip("[]")).is_loopback
        except ValueError:
            loopback = False
        if not loopback:
            raise InvalidInput(f"{what} must be https:// (http:// only to a loopback address, for tests)")
    return value


@dataclass(frozen=True, slots=True, kw_only=True)
class OidcProvider:
    """One OpenID provider: ``slug`` names it in URLs and in the audit log, ``name`` on the
    button."""

    slug: str
    name: str
    issuer: str
    client_id: str
    client_secret: str = field(repr=False)
    scopes: tuple[str, ...] = ("openid", "email")
    acr_values: str = ""
    #: accept an email without ``email_verified`` from this provider (one that releases only the
    #: addresses of its directory, as ProConnect does); an explicit ``false`` is refused anyway
    trust_email: bool = False

    def verified(self, claims: dict[str, object]) -> bool:
        """Whether the provider vouches for the email in ``claims``."""
        flag = claims.get("email_verified")
        return flag is True or (flag is None and self.trust_email)


@dataclass(frozen=True, slots=True, kw_only=True)
class SsoConfig:
    providers: tuple[OidcProvider, ...] = ()
    #: staff whose email is in one of these domains cannot sign in with a password
    required_domains: frozenset[str] = frozenset()
    #: ask the TOTP code (or enrolment, where the region requires it) after the provider too
    totp_after_sso: bool = False
    #: seconds for discovery, token and JWKS requests to the provider
    timeout: float = 10.0

    def provider(self, slug: str) -> OidcProvider | None:
        return next((p for p in self.providers if p.slug == slug), None)

    def sso_only(self, email: str) -> bool:
        """Whether ``email`` belongs to a domain whose staff must sign in through a provider."""
        return email.rpartition("@")[2].lower() in self.required_domains
