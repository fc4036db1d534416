"""OAuth 2 for the admin API: ``POST /api/v1/auth/token`` and ``POST /api/v1/auth/revoke``.

* People use the **password** grant (RFC 6749 §4.3), form-encoded; machines use **client
  credentials** (§4.4), with the client authenticated by HTTP Basic (§2.3.1) or form fields.
* Access tokens are JWTs (RFC 9068 style) signed HS256 under a key derived from the secret key
  (joserfc, authlib's JOSE library): ``iss`` the portal's URL, ``aud`` ``sesame-admin``, ``sub``
  ``admin:<id>`` or ``client:<client id>``, ``role``, ``commune``, ``scope``, ``ver`` (the
  subject's token version), ``jti``, ``iat``, ``exp`` (15 minutes).
* A token is refused when its signature, issuer, audience or expiry is wrong, its ``jti`` was
  revoked (RFC 7009), its subject is gone or disabled, or the subject's token version moved on
  (log out everywhere, role change). Refusals are 401 with ``WWW-Authenticate: Bearer`` (RFC 6750
  §3); a missing scope is 403 ``insufficient_scope``.
* Log-in failures are rate-limited per address and per email like the portal's.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import JSONResponse
from joserfc import jwt
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwk import OctKey
from joserfc.jwt import JWTClaimsRegistry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import admins
from accounts.admins import SCOPES, Reach
from accounts.models import Admin, AdminRole, ServiceClient
from portal.context import Portal, PortalDep
from portal.throttle import account_at

router = APIRouter(prefix="/auth", tags=["auth"])

AUDIENCE = "sesame-admin"
TOKEN_LIFETIME = 15 * 60


class TokenKeys:
    """Signs and reads admin access tokens."""

    def __init__(self, portal: Portal) -> None:
        # signed with the current key; during a key rotation, read with the previous one too
        digests = portal.box.digests(b"admin-jwt", purpose="admin-jwt")
        self._keys = [OctKey.import_key(d.encode()) for d in digests]
        self._key = self._keys[0]
        self.issuer = portal.config.public_url

    def issue(
        self, *, subject: str, role: AdminRole, commune_id: int | None, version: int, now: float
    ) -> str:
        claims = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": subject,
            "role": role.value,
            "commune": commune_id,
            "scope": " ".join(sorted(SCOPES[role])),
            "ver": version,
            "jti": secrets.token_urlsafe(16),
            "iat": int(now),
            "exp": int(now) + TOKEN_LIFETIME,
        }
        return jwt.encode({"alg": "HS256", "typ": "at+jwt"}, claims, self._key)

    def _decode(self, token: str) -> dict[str, Any]:
        for key in self._keys[:-1]:
            try:
                return dict(jwt.decode(token, key, algorithms=["HS256"]).claims)
            except BadSignatureError:
                continue
        return dict(jwt.decode(token, self._keys[-1], algorithms=["HS256"]).claims)

    def read(self, token: str, *, now: float) -> dict[str, Any] | None:
        try:
            claims = self._decode(token)
            JWTClaimsRegistry(
                now=int(now),
                leeway=5,
                iss={"essential": True, "value": self.issuer},
                aud={"essential": True, "value": AUDIENCE},
                exp={"essential": True},
                sub={"essential": True},
                jti={"essential": True},
            ).validate(claims)
        except (JoseError, ValueError, TypeError):
            return None
        return dict(claims)


def token_keys(portal: Portal) -> TokenKeys:
    """The portal's token keys (an HMAC derivation: cheaper to make than to cache)."""
    return TokenKeys(portal)


def oauth_error(status: int, error: str, description: str) -> JSONResponse:
    headers = {"Cache-Control": "no-store"}
    if status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="sesame-admin"'
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def _basic_client(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        client_id, sep, secret = base64.b64decode(header[6:], validate=True).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    return (client_id, secret) if sep else None


def _form(fields: dict[str, str], *, required: list[str]) -> dict[str, Any]:
    """An ``application/x-www-form-urlencoded`` body for the OpenAPI schema (these endpoints read
    the form themselves, as RFC 6749 and 7009 define it, so FastAPI cannot describe it)."""
    properties = {name: {"type": "string", "description": text} for name, text in fields.items()}
    schema = {"type": "object", "properties": properties, "required": required}
    return {"requestBody": {"required": True, "content": {FORM: {"schema": schema}}}}


FORM = "application/x-www-form-urlencoded"
TOKEN_FORM = _form(
    {
        "grant_type": "password (a person) or client_credentials (a machine)",
        "username": "password grant: the admin's email",
        "password": "password grant: the admin's password",
        "client_id": "client_credentials without HTTP Basic: the client's id",
        "client_secret": "client_credentials without HTTP Basic: the client's secret",
    },
    required=["grant_type"],
)
REVOKE_FORM = _form({"token": "the access token to revoke"}, required=["token"])


@router.post(
    "/token",
    summary="Obtain an access token (OAuth 2 password or client-credentials grant)",
    openapi_extra=TOKEN_FORM,
    responses={
        400: {"description": "invalid_grant, unsupported_grant_type"},
        401: {"description": "invalid_client"},
    },
)
async def token(request: Request, portal: PortalDep) -> JSONResponse:
    """Form-encoded as RFC 6749 §4.3 and §4.4 specify: ``grant_type=password&username=&password=``
    or ``grant_type=client_credentials`` with the client in HTTP Basic or ``client_id``/``client_secret``."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    grant = form.get("grant_type", "")
    address = request.client.host if request.client else "unknown"
    now = time.time()
    async with portal.transaction() as session:
        if grant == "password":
            email = form.get("username", "").strip().lower()[:254]
            keys = {"admin_ip": address, "admin_account_ip": account_at(email, address)}
            wait = await portal.throttle.wait(keys)
            if wait > 0:
                response = oauth_error(429, "slow_down", f"too many failed attempts: wait {int(wait) + 1} s")
                response.headers["Retry-After"] = str(int(wait) + 1)
                return response
            admin = await admins.authenticate_admin(
                session,
                hasher=portal.hasher,
                email=email,
                password=form.get("password", ""),
                now=portal.now(),
            )
            if admin is None:
                await portal.throttle.failed(keys)
                return oauth_error(400, "invalid_grant", "wrong email or password, or the admin is disabled")
            await portal.throttle.succeeded(keys)
            subject, role, commune, version = (
                f"admin:{admin.id}",
                admin.role,
                admin.commune_id,
                admin.token_version,
            )
        elif grant == "client_credentials":
            basic = _basic_client(request)
            client_id, secret = basic or (form.get("client_id", ""), form.get("client_secret", ""))
            keys = {"admin_ip": address}
            if await portal.throttle.wait(keys) > 0:
                return oauth_error(429, "slow_down", "too many failed attempts")
            client = await admins.authenticate_client(
                session, box=portal.box, client_id=client_id, secret=secret
            )
            if client is None:
                await portal.throttle.failed(keys)
                return oauth_error(401, "invalid_client", "unknown client or wrong secret")
            subject, role = f"client:{client.client_id}", client.role
            commune, version = client.commune_id, client.token_version
        else:
            return oauth_error(400, "unsupported_grant_type", "use password or client_credentials")
    role = AdminRole(role)
    access_token = token_keys(portal).issue(
        subject=subject, role=role, commune_id=commune, version=version, now=now
    )
    return JSONResponse(
        {
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": TOKEN_LIFETIME,
            "scope": " ".join(sorted(SCOPES[role])),
        },
        headers={"Cache-Control": "no-store", "Pragma": "no-cache"},
    )


@router.post("/revoke", summary="Revoke an access token (RFC 7009)", openapi_extra=REVOKE_FORM)
async def revoke(request: Request, portal: PortalDep) -> JSONResponse:
    """The token stops working at once; an unknown or already invalid token is answered the same."""
    form = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
    claims = token_keys(portal).read(form.get("token", ""), now=time.time())
    if claims is not None:
        async with portal.transaction() as session:
            await admins.revoke_token(
                session, jti=str(claims["jti"]), expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC)
            )
    return JSONResponse({}, headers={"Cache-Control": "no-store"})


# -- the caller of every other endpoint ----------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Principal:
    """Who calls: an admin or a service client, with their role, reach and scopes."""

    actor: str  # an admin's email or a client's id, as the audit log shows it
    role: AdminRole
    reach: Reach
    scopes: frozenset[str]


def _unauthorized(description: str) -> HTTPException:
    return HTTPException(
        401,
        detail=description,
        headers={
            "WWW-Authenticate": (
                f'Bearer realm="sesame-admin", error="invalid_token", error_description="{description}"'
            )
        },
    )


async def _subject(session: AsyncSession, subject: str) -> Admin | ServiceClient | None:
    kind, _, key = subject.partition(":")
    if kind == "admin" and key.isdigit():
        return await session.get(Admin, int(key))
    if kind == "client":
        return await session.scalar(select(ServiceClient).where(ServiceClient.client_id == key))
    return None


async def principal(request: Request, portal: PortalDep) -> Principal:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        raise HTTPException(
            401,
            detail="an access token is required",
            headers={"WWW-Authenticate": 'Bearer realm="sesame-admin"'},
        )
    claims = token_keys(portal).read(header[7:].strip(), now=time.time())
    if claims is None:
        raise _unauthorized("the access token is invalid or expired")
    async with portal.transaction() as session:
        if await admins.is_revoked(session, str(claims["jti"])):
            raise _unauthorized("the access token was revoked")
        who = await _subject(session, str(claims["sub"]))
        if (
            who is None
            or not who.active
            or who.token_version != claims.get("ver")
            or who.role != claims.get("role")
        ):
            raise _unauthorized("the access token no longer matches its holder")
        actor = who.email if isinstance(who, Admin) else who.client_id
        role = AdminRole(who.role)
        return Principal(actor=actor, role=role, reach=Reach(commune_id=who.commune_id), scopes=SCOPES[role])


PrincipalDep = Annotated[Principal, Depends(principal)]


def require(*scopes: str, region_wide: bool = False) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency: the caller has one of ``scopes`` (else 403), and, with ``region_wide``,
    reaches the whole region (creating a commune, for instance)."""
    wanted = " or ".join(scopes)

    async def check(who: PrincipalDep) -> Principal:
        if who.scopes.isdisjoint(scopes) or (region_wide and not who.reach.region_wide):
            raise HTTPException(
                403,
                detail=f"this needs the {wanted} scope" + (" over the whole region" if region_wide else ""),
                headers={
                    "WWW-Authenticate": (
                        f'Bearer realm="sesame-admin", error="insufficient_scope", scope="{" ".join(scopes)}"'
                    )
                },
            )
        return who

    return check
