"""OpenID Connect, the relying party's half of the authorization code flow (OpenID Connect Core
1.0 §3.1), shared by the console's sign-in (:mod:`portal.console.sso`) and the citizens' sign-in
with FranceConnect or another provider (:mod:`portal.citizenidp`): authlib for the OAuth 2.0
client and joserfc for the ID token. No I/O but to the configured provider, with timeouts; no
logging of a token or a secret.

* **Discovery** (OpenID Connect Discovery 1.0): ``<issuer>/.well-known/openid-configuration`` is
  fetched at each sign-in (they are rare; a provider that rotates its keys or moves an endpoint is
  followed at once). The document's ``issuer`` must be the configured one exactly (§4.3: else a
  document could speak for another issuer), and every endpoint in it must pass
  :func:`portal.ssoconfig.issuer_url` — the authorization endpoint is where a browser is sent.
* **The request** carries ``state`` and ``nonce`` (random, 256 bits) and a PKCE S256 challenge
  (RFC 7636); all three stay in the browser's signed flow cookie (kept by the caller).
* **The answer**: the code is exchanged at the token endpoint with the client's secret and the
  PKCE verifier; the ID token's signature is verified against the provider's JWKS (asymmetric
  algorithms only: never ``none``, never a MAC under a key the JWKS would name), then ``iss``,
  ``aud`` (and ``azp`` when several audiences), ``exp``, ``iat`` and ``nonce`` are checked, and
  ``acr`` is one of the ``acr_values`` asked for, when some were.
* **The email** and the other claims asked for (``userinfo=``): where the ID token does not carry
  them (a provider that conforms ID tokens to the request, as ProConnect, FranceConnect and
  oidc-provider do), they come from the UserInfo endpoint with the access token — JSON, or a JWT
  signed with the same JWKS — whose ``sub`` must be the ID token's (Core §5.3.4: else the answer
  could be another person's).
* **Logging out** (RP-Initiated Logout 1.0): :func:`end_session_url`, where the provider has an
  ``end_session_endpoint`` (FranceConnect requires it at the citizen's log-out).
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.common.security import generate_token
from authlib.deprecate import AuthlibDeprecationWarning
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

from accounts.errors import InvalidInput
from portal.ssoconfig import OidcProvider, issuer_url

# authlib 1.9 warns, on importing its httpx client, that the client will move to the `httpx2`
# package. Nothing an operator can act on, and it would be the first line `sesame serve` prints
# (before the preflight's list): silenced for that one message until authlib's move is settled.
warnings.filterwarnings(
    "ignore", message="The httpx module is deprecated", category=AuthlibDeprecationWarning
)
from authlib.integrations.httpx_client import AsyncOAuth2Client, OAuthError  # noqa: E402

#: the ID token's algorithms we accept: asymmetric ones, as the JWKS publishes public keys
ALGORITHMS = ("RS256", "PS256", "ES256", "ES384", "EdDSA")
MAX_DOCUMENT = 256 * 1024  # bytes of a discovery document or a JWKS
LEEWAY = 60  # seconds of clock difference with the provider


class OidcError(Exception):
    """The provider did not answer as it must; the message is for the log (no secret in it)."""


@dataclass(frozen=True, slots=True)
class Endpoints:
    authorization: str
    token: str
    jwks: str
    userinfo: str | None = None
    end_session: str | None = None


@dataclass(frozen=True, slots=True)
class Flow:
    """What the browser keeps between the request and the answer."""

    state: str
    nonce: str
    verifier: str


async def _get_json(url: str, *, seconds: float) -> dict[str, Any]:
    try:
        async with httpx.AsyncClient(timeout=seconds, trust_env=False, follow_redirects=False) as client:
            answer = await client.get(url, headers={"Accept": "application/json"})
    except httpx.HTTPError as exc:
        raise OidcError(f"cannot fetch {url}: {type(exc).__name__}") from None
    if answer.status_code != 200 or len(answer.content) > MAX_DOCUMENT:
        raise OidcError(f"{url} answered {answer.status_code} ({len(answer.content)} bytes)")
    try:
        document = answer.json()
    except ValueError:
        raise OidcError(f"{url} is not JSON") from None
    if not isinstance(document, dict):
        raise OidcError(f"{url} is not a JSON object")
    return document


async def discover(provider: OidcProvider, *, seconds: float) -> Endpoints:
    """The provider's endpoints from its discovery document, each checked."""
    url = provider.issuer.rstrip("/") + "/.well-known/openid-configuration"
    document = await _get_json(url, seconds=seconds)
    if document.get("issuer") != provider.issuer:
        raise OidcError("the discovery document names another issuer")
    found = []
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        value = document.get(key)
        try:
            found.append(issuer_url(value if isinstance(value, str) else "", what=key))
        except InvalidInput as exc:
            raise OidcError(f"discovery: {exc}") from None
    if "S256" not in document.get("code_challenge_methods_supported", ["S256"]):
        raise OidcError("the provider does not support PKCE S256")
    optional: dict[str, str | None] = {}
    for key in ("userinfo_endpoint", "end_session_endpoint"):
        value = document.get(key)
        if value is not None:
            try:
                value = issuer_url(value if isinstance(value, str) else "", what=key)
            except InvalidInput as exc:
                raise OidcError(f"discovery: {exc}") from None
        optional[key] = value
    return Endpoints(
        found[0],
        found[1],
        found[2],
        userinfo=optional["userinfo_endpoint"],
        end_session=optional["end_session_endpoint"],
    )


def end_session_url(endpoints: Endpoints, *, id_token: str, after: str, state: str) -> str | None:
    """Where to send the browser so that the provider ends its session too (RP-Initiated Logout
    1.0 §2), or ``None`` if it has no end-session endpoint."""
    if endpoints.end_session is None:
        return None
    query = urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": after, "state": state})
    return f"{endpoints.end_session}?{query}"


def _client(provider: OidcProvider, *, redirect_uri: str, seconds: float) -> AsyncOAuth2Client:
    return AsyncOAuth2Client(
        client_id=provider.client_id,
        client_secret=provider.client_secret,
        token_endpoint_auth_method="client_secret_basic",  # noqa: S106 - a method's name
        scope=" ".join(provider.scopes),
        redirect_uri=redirect_uri,
        code_challenge_method="S256",
        timeout=seconds,
        trust_env=False,
    )


def authorization_url(provider: OidcProvider, endpoints: Endpoints, *, redirect_uri: str) -> tuple[str, Flow]:
    """Where to send the browser, and what it must keep for the answer."""
    flow = Flow(state=generate_token(43), nonce=generate_token(43), verifier=generate_token(64))
    extra = {"acr_values": provider.acr_values} if provider.acr_values else {}
    client = _client(provider, redirect_uri=redirect_uri, seconds=1.0)
    url, _ = client.create_authorization_url(
        endpoints.authorization, state=flow.state, code_verifier=flow.verifier, nonce=flow.nonce, **extra
    )
    return url, flow


async def id_token_claims(
    provider: OidcProvider,
    endpoints: Endpoints,
    *,
    code: str,
    flow: Flow,
    redirect_uri: str,
    seconds: float,
    userinfo: tuple[str, ...] = ("email", "email_verified"),
) -> dict[str, Any]:
    """Exchange the code and return the verified ID token's claims, completed from UserInfo with
    those of ``userinfo`` it lacks (:class:`OidcError` if any check fails: a refused, reused or
    expired code, a bad signature, another issuer, audience, nonce or UserInfo subject). The raw
    ID token is under ``"_id_token"`` (the hint of a later log-out)."""
    try:
        async with _client(provider, redirect_uri=redirect_uri, seconds=seconds) as client:
            token = await client.fetch_token(
                endpoints.token, grant_type="authorization_code", code=code, code_verifier=flow.verifier
            )
    except OAuthError as exc:
        raise OidcError(f"token endpoint refused the code: {exc.error}") from None
    except httpx.HTTPError as exc:
        raise OidcError(f"token endpoint: {type(exc).__name__}") from None
    id_token, access_token = token.get("id_token"), token.get("access_token")
    if not isinstance(id_token, str):
        raise OidcError("the token endpoint gave no ID token")
    keys = await _get_json(endpoints.jwks, seconds=seconds)
    try:
        key_set = KeySet.import_key_set(keys)  # type: ignore[arg-type]
        decoded = jwt.decode(id_token, key_set, algorithms=list(ALGORITHMS))
        claims = dict(decoded.claims)
        JWTClaimsRegistry(
            now=int(time.time()),
            leeway=LEEWAY,
            iss={"essential": True, "value": provider.issuer},
            sub={"essential": True},
            exp={"essential": True},
            iat={"essential": True},
            nonce={"essential": True, "value": flow.nonce},
        ).validate(claims)
    except (JoseError, ValueError, TypeError) as exc:
        raise OidcError(f"ID token refused: {type(exc).__name__}") from None
    audience = claims.get("aud")
    audiences = [audience] if isinstance(audience, str) else audience
    if not isinstance(audiences, list) or provider.client_id not in audiences:
        raise OidcError("ID token refused: another audience")
    if len(audiences) > 1 and claims.get("azp") != provider.client_id:
        raise OidcError("ID token refused: another authorized party")
    if provider.acr_values and claims.get("acr") not in provider.acr_values.split():
        raise OidcError("ID token refused: not the level of assurance asked for (acr)")
    if any(k not in claims for k in userinfo) and endpoints.userinfo and isinstance(access_token, str):
        extra = await _userinfo(endpoints.userinfo, access_token, key_set, seconds=seconds)
        if extra.get("sub") != claims["sub"]:
            raise OidcError("UserInfo refused: another subject")
        claims.update({k: extra[k] for k in userinfo if k in extra and k not in claims})
    claims["_id_token"] = id_token
    return claims


async def _userinfo(url: str, access_token: str, key_set: KeySet, *, seconds: float) -> dict[str, Any]:
    """The UserInfo answer: JSON, or a JWT verified with the provider's keys."""
    try:
        async with httpx.AsyncClient(timeout=seconds, trust_env=False, follow_redirects=False) as client:
            answer = await client.get(url, headers={"Authorization": f"Bearer {access_token}"})
    except httpx.HTTPError as exc:
        raise OidcError(f"UserInfo: {type(exc).__name__}") from None
    if answer.status_code != 200 or len(answer.content) > MAX_DOCUMENT:
        raise OidcError(f"UserInfo answered {answer.status_code}")
    try:
        if answer.headers.get("content-type", "").split(";")[0].strip() == "application/jwt":
            found = dict(jwt.decode(answer.text, key_set, algorithms=list(ALGORITHMS)).claims)
        else:
            found = answer.json()
    except (JoseError, ValueError) as exc:
        raise OidcError(f"UserInfo refused: {type(exc).__name__}") from None
    if not isinstance(found, dict):
        raise OidcError("UserInfo is not a JSON object")
    return found
