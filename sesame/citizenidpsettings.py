"""The ``[citizenidp]`` section of the settings (``SESAME_CITIZENIDP_*``): the OpenID providers
citizens may sign in with on the portal — FranceConnect, or another (docs/franceconnect.md,
docs/configuration.md).

``SESAME_CITIZENIDP_PROVIDERS`` is a JSON list, one object per provider::

    [{"slug": "franceconnect", "name": "FranceConnect", "franceconnect": true,
      "issuer": "https://oidc.franceconnect.gouv.fr/api/v2", "client_id": "…", "client_secret": "…",
      "scopes": "openid", "acr_values": "eidas1"}]

Each issuer is checked at start-up as every address a browser is sent to is
(:func:`portal.ssoconfig.issuer_url`): ``https://``, ``http://`` only to a loopback address.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from accounts.errors import InvalidInput
from portal.citizenidpconfig import CitizenIdp, CitizenIdpConfig
from portal.ssoconfig import SLUG, OidcProvider, issuer_url

__all__ = ["CitizenIdpSettings", "CitizenProviderSettings", "citizen_idp_config"]


class CitizenProviderSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    slug: str
    name: str = Field(min_length=1, max_length=60)
    issuer: str
    client_id: str = Field(min_length=1, max_length=255)
    client_secret: SecretStr
    scopes: str = "openid"
    acr_values: str = Field(default="", max_length=255, pattern=r"^[\x21-\x7e ]*$")
    #: FranceConnect's button and wording
    franceconnect: bool = False
    #: take the email the provider verified (the "email" scope must be asked for)
    use_email: bool = False
    #: keep the civil identity (given_name, family_name, birthdate…): only where the law allows
    keep_civil_identity: bool = False

    @field_validator("slug")
    @classmethod
    def _slug(cls, value: str) -> str:
        if not SLUG.fullmatch(value) or value in {"callback", "welcome", "logout", "link", "unlink"}:
            raise ValueError("a slug is 1 to 32 of a-z, 0-9 and '-', and not one of the pages' names")
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
        if "openid" not in scopes or any(not s.isprintable() or len(s) > 64 for s in scopes):
            raise ValueError("the scopes must include openid")
        return " ".join(scopes)

    @model_validator(mode="after")
    def _email_scope(self) -> CitizenProviderSettings:
        if self.use_email and "email" not in self.scopes.split():
            raise ValueError("use_email needs the scope email")
        return self


class CitizenIdpSettings(BaseModel):
    """Citizens' sign-in through an identity provider (issue 19)."""

    model_config = ConfigDict(extra="forbid")

    providers: list[CitizenProviderSettings] = []
    #: seconds for each request to a provider (discovery, token, keys, UserInfo)
    timeout: float = Field(default=10.0, gt=0.0, le=60.0)

    @model_validator(mode="after")
    def _unique(self) -> CitizenIdpSettings:
        slugs = [p.slug for p in self.providers]
        if len(slugs) != len(set(slugs)):
            raise ValueError("two providers have the same slug")
        return self


def citizen_idp_config(settings: CitizenIdpSettings) -> CitizenIdpConfig:
    return CitizenIdpConfig(
        providers=tuple(
            CitizenIdp(
                provider=OidcProvider(
                    slug=p.slug,
                    name=p.name,
                    issuer=p.issuer,
                    client_id=p.client_id,
                    client_secret=p.client_secret.get_secret_value(),
                    scopes=tuple(p.scopes.split()),
                    acr_values=p.acr_values,
                ),
                franceconnect=p.franceconnect,
                use_email=p.use_email,
                keep_civil_identity=p.keep_civil_identity,
            )
            for p in settings.providers
        ),
        timeout=settings.timeout,
    )
