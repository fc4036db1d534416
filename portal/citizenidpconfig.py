"""The citizens' identity providers, as the composition root hands them to the portal:
FranceConnect, or any OpenID provider (SPID/CIE's OpenID gateway for our Ligurian neighbours),
each with what the region keeps of the person (docs/franceconnect.md).

By default nothing but the provider's pairwise ``sub`` is kept (the link to the account); the
email only where the region asks for it and the provider says it verified it; the civil identity
(given names, family name, birth date) only where the region turns it on.
"""

from __future__ import annotations

from dataclasses import dataclass

from portal.ssoconfig import OidcProvider

#: the civil identity's claims, as FranceConnect names them (OpenID Connect Core §5.1)
CIVIL_CLAIMS = ("given_name", "family_name", "birthdate", "gender", "birthplace", "birthcountry")


@dataclass(frozen=True, slots=True, kw_only=True)
class CitizenIdp:
    """One provider citizens may sign in with; ``provider.name`` is shown on the button."""

    provider: OidcProvider
    #: FranceConnect's own button (its design rules), or a plain one with the provider's name
    franceconnect: bool = False
    #: take the email from the provider (only if it says it verified it)
    use_email: bool = False
    #: keep the civil identity the provider releases (off by default: the law must allow it)
    keep_civil_identity: bool = False

    @property
    def slug(self) -> str:
        return self.provider.slug

    def userinfo_claims(self) -> tuple[str, ...]:
        """The claims to ask UserInfo for, beyond ``sub``: only what is kept."""
        wanted: tuple[str, ...] = ("email", "email_verified") if self.use_email else ()
        return wanted + (CIVIL_CLAIMS if self.keep_civil_identity else ())


@dataclass(frozen=True, slots=True, kw_only=True)
class CitizenIdpConfig:
    providers: tuple[CitizenIdp, ...] = ()
    #: seconds for each request to a provider (discovery, token, keys, UserInfo)
    timeout: float = 10.0

    def provider(self, slug: str) -> CitizenIdp | None:
        return next((p for p in self.providers if p.slug == slug), None)
