"""The ``[sso]`` section of the settings (``SESAME_SSO_*``): the staff console's OpenID providers
(docs/console.md, "Single sign-on"; docs/configuration.md).

``SESAME_SSO_PROVIDERS`` is a JSON list, one object per provider::

    [{"slug": "proconnect", "name": "ProConnect", "issuer": "https://auth.agentconnect.gouv.fr/api/v2",
      "client_id": "…", "client_secret": "…", "scopes": "openid email", "acr_values": "eidas1"}]

Each issuer is checked at start-up as every address a browser is sent to is
(:func:`portal.ssoconfig.issuer_url`): ``https://``, ``http://`` only to a loopback address.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from accounts.errors import InvalidInput
from portal.ssoconfig import SLUG, OidcProvider, SsoConfig, issuer_url

__all__ = ["OidcProviderSettings", "SsoSettings", "sso_config"]


class OidcProviderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str
    name: str = Field(min_length=1, max_length=60)
    issuer: str
    client_id: str = Field(min_length=1, max_length=255)
    client_secret: SecretStr
    scopes: str = "openid email"
    acr_values: str = Field(default="", max_length=255, pattern=r"^[\x21-\x7e ]*$")
    #: accept an email without email_verified (a provider whose addresses come from a directory)
    trust_email: bool = False

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.fullmatch(value):
            raise ValueError("a slug is 1 to 32 of a-z, 0-9 and '-', starting with a letter or digit")
        if value == "callback":
            raise ValueError("the slug 'callback' is the redirect URI's own path")
        return value

    @field_validator("issuer")
    @classmethod
    def _issuer(cls, value: str) -> str:
        try:
            return issuer_url(value)
        except InvalidInput as exc:
            raise ValueError(str(exc)) from None

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: str) -> str:
        scopes = value.split()
        if "openid" not in scopes or "email" not in scopes or any(not s.isprintable() for s in scopes):
            raise ValueError("the scopes must include openid and email")
        return " ".join(scopes)


class SsoSettings(BaseModel):
    """Single sign-on for the staff console (issue 18)."""

    model_config = ConfigDict(extra="forbid")

    providers: list[OidcProviderSettings] = []
    #: email domains (comma-separated) whose staff must sign in through a provider, never a password
    required_domains: str = ""
    #: ask for the TOTP code after a provider too (by default the provider's own MFA stands for it)
    totp_after_sso: bool = False
    #: seconds for each request to a provider (discovery, token, keys)
    timeout: float = Field(default=10.0, gt=0.0, le=60.0)

    @model_validator(mode="after")
    def _unique(self) -> SsoSettings:
        slugs = [p.slug for p in self.providers]
        if len(slugs) != len(set(slugs)):
            raise ValueError("two providers have the same slug")
        return self


def sso_config(settings: SsoSettings) -> SsoConfig:
    return SsoConfig(
        providers=tuple(
            OidcProvider(
                slug=p.slug,
                name=p.name,
                issuer=p.issuer,
                client_id=p.client_id,
                client_secret=p.client_secret.get_secret_value(),
                scopes=tuple(p.scopes.split()),
                acr_values=p.acr_values,
                trust_email=p.trust_email,
            )
            for p in settings.providers
        ),
        required_domains=frozenset(
            d.strip().lower() for d in settings.required_domains.split(",") if d.strip()
        ),
        totp_after_sso=settings.totp_after_sso,
        timeout=settings.timeout,
    )
