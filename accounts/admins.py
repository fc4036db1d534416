"""Network admins and service clients of the admin API: who they are, what their role lets them do.

:data:`RIGHTS` is the rights table, the one place that says what each role may do: role → the
scopes (OAuth 2 scope strings, carried in access tokens) it holds. The API's ``require(scope)``
checks them, ``docs/admin-api.md`` carries :func:`rights_table` (a test compares them), and
tests/portal/test_admin_api_rights.py walks every endpoint with every role against it.

* ``region_admin``: everything in the region, including the federation's partner regions, but
  judicial requisitions;
* ``commune_admin``: the network (sites, access points, hand-off, policies), sessions and
  statistics of **one** commune; no accounts, no audit log;
* ``support``: find an account, unlock it, resend its verification, forget (revoke) one of its
  enrolled devices, disconnect a session; read the network and sessions; never disable or delete
  an account, never a secret;
* ``auditor``: read everything, including the audit log, admins and partners; change nothing;
  and, alone, search the connection records the law keeps for a judicial requisition
  (:mod:`accounts.requisition`). Region admins run the network; the auditor (the DPO) answers the
  courts: a region admin does not get that scope, so that who may look up a person's connections
  is one role, whose every search is audited.

A commune admin's reach is also limited by place: every service that reads or changes a commune's
things takes the caller's :class:`Reach` and treats what is outside it as not found.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.errors import Conflict, InvalidInput, NotFound
from accounts.identity import normalize_email
from accounts.models import Admin, AdminRole, Commune, RevokedToken, ServiceClient
from accounts.network import flush_or_conflict
from accounts.passwords import PasswordHasher, check_password_rules
from accounts.secretbox import SecretBox

CLIENT_SECRET_PURPOSE = "service-client-secret"  # noqa: S105 - a label, not a secret

READ_NETWORK, WRITE_NETWORK = "network:read", "network:write"
READ_ACCOUNTS, HELP_ACCOUNTS, WRITE_ACCOUNTS = "accounts:read", "accounts:help", "accounts:write"
EXPORT_ACCOUNTS = "accounts:export"
READ_SESSIONS, WRITE_SESSIONS = "sessions:read", "sessions:write"
READ_STATS, READ_AUDIT = "stats:read", "audit:read"
READ_ADMINS, WRITE_ADMINS = "admins:read", "admins:write"
READ_PARTNERS, WRITE_PARTNERS = "partners:read", "partners:write"
SEARCH_RECORDS = "records:search"

#: what each scope lets its holder do (the documentation's words)
MEANINGS: dict[str, str] = {
    READ_NETWORK: "read communes, sites, access points (never a secret) and policies",
    WRITE_NETWORK: "add, change, remove sites and access points; set hand-offs and policies",
    READ_ACCOUNTS: "find and read citizens' accounts and their devices",
    HELP_ACCOUNTS: "unlock an account, resend its verification code, revoke one of its enrolled devices",
    WRITE_ACCOUNTS: "disable, enable, delete an account (deletion pseudonymises irreversibly)",
    EXPORT_ACCOUNTS: "export every account of the region as CSV (no secret; audited)",
    READ_SESSIONS: "read connections, open and past",
    WRITE_SESSIONS: "disconnect a connection (RFC 5176)",
    READ_STATS: "read daily statistics",
    READ_AUDIT: "read the audit log",
    READ_ADMINS: "list admins and service clients",
    WRITE_ADMINS: "create and change admins and service clients",
    READ_PARTNERS: "read the federation's partner regions",
    WRITE_PARTNERS: "add, change, remove partner regions, their realms and home servers",
    SEARCH_RECORDS: "search the connection records kept by law (judicial requisition) and export them signed",
}

#: The rights table: role → scopes. Change a right here and nowhere else (then regenerate the
#: documentation's table: ``python -m accounts.admins``).
RIGHTS: dict[AdminRole, frozenset[str]] = {
    AdminRole.REGION_ADMIN: frozenset(MEANINGS) - {SEARCH_RECORDS},
    AdminRole.COMMUNE_ADMIN: frozenset(
        {READ_NETWORK, WRITE_NETWORK, READ_SESSIONS, WRITE_SESSIONS, READ_STATS}
    ),
    AdminRole.SUPPORT: frozenset({READ_NETWORK, READ_ACCOUNTS, HELP_ACCOUNTS, READ_SESSIONS, WRITE_SESSIONS}),
    AdminRole.AUDITOR: frozenset({READ_NETWORK, READ_ACCOUNTS, READ_SESSIONS, READ_STATS, READ_AUDIT})
    | {READ_ADMINS, READ_PARTNERS, SEARCH_RECORDS},
}
SCOPES = RIGHTS  # the scopes an access token carries are the role's rights


def rights_table() -> str:
    """The rights table in Markdown, as ``docs/admin-api.md`` carries it."""
    roles = list(AdminRole)
    lines = [
        "| scope | lets its holder | " + " | ".join(f"`{r.value}`" for r in roles) + " |",
        "|---|---|" + "---|" * len(roles),
    ]
    for scope, meaning in MEANINGS.items():
        marks = " | ".join("yes" if scope in RIGHTS[r] else "—" for r in roles)
        lines.append(f"| `{scope}` | {meaning} | {marks} |")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class Reach:
    """Where a caller may look: the whole region, or one commune."""

    commune_id: int | None = None

    @property
    def region_wide(self) -> bool:
        return self.commune_id is None

    def covers(self, commune_id: int | None) -> bool:
        return self.commune_id is None or self.commune_id == commune_id


def parse_role(raw: str) -> AdminRole:
    try:
        return AdminRole(raw.strip().lower().replace("-", "_"))
    except ValueError:
        raise InvalidInput(
            f"unknown role {raw!r}; choose one of {', '.join(r.value for r in AdminRole)}"
        ) from None


def admin_email(raw: str) -> str:
    """Admins log in by email, in any case (unlike citizens' addresses, whose local part we keep)."""
    return normalize_email(raw).lower()


def _check_commune(role: AdminRole, commune: Commune | None) -> None:
    if (role == AdminRole.COMMUNE_ADMIN) != (commune is not None):
        raise InvalidInput("a commune admin needs a commune, and only a commune admin has one")


async def create_admin(
    session: AsyncSession,
    *,
    hasher: PasswordHasher,
    email: str,
    role: AdminRole,
    commune: Commune | None = None,
    password: str | None = None,
) -> Admin:
    """A new admin; without a password, one must be set before they can log in."""
    email = admin_email(email)
    _check_commune(role, commune)
    if password is not None:
        check_password_rules(password, related=(email.partition("@")[0],))
    if await session.scalar(select(Admin.id).where(Admin.email == email)) is not None:
        raise Conflict(f"an admin {email} already exists")
    admin = Admin(
        email=email,
        role=role,
        commune_id=commune.id if commune else None,
        password_hash=await hasher.hash_off_loop(password) if password is not None else None,
        active=True,
    )
    session.add(admin)
    await flush_or_conflict(session, f"an admin {email} already exists")
    return admin


async def authenticate_admin(
    session: AsyncSession, *, hasher: PasswordHasher, email: str, password: str, now: datetime
) -> Admin | None:
    """The active admin with this email and password; unknown emails cost the same dummy hash."""
    try:
        email = admin_email(email)
    except InvalidInput:
        email = ""
    admin = await session.scalar(select(Admin).where(Admin.email == email)) if email else None
    password_hash = admin.password_hash if admin is not None else None
    if not await hasher.verify_off_loop(password, password_hash) or admin is None or not admin.active:
        return None
    admin.last_login_at = now
    await session.flush()
    return admin


async def find_admin(session: AsyncSession, email: str) -> Admin:
    admin = await session.scalar(select(Admin).where(Admin.email == admin_email(email)))
    if admin is None:
        raise NotFound(f"no admin {email}")
    return admin


async def set_password(hasher: PasswordHasher, admin: Admin, password: str) -> str:
    """A new password hash for an admin (the caller stores it and revokes their tokens)."""
    check_password_rules(password, related=(admin.email.partition("@")[0],))
    return await hasher.hash_off_loop(password)


async def revoke_all(session: AsyncSession, *, admin: Admin | ServiceClient) -> None:
    """Every token issued so far stops working (log out everywhere, disable, role change)."""
    admin.token_version += 1
    await session.flush()


# -- service clients ------------------------------------------------------------------------------


def _client_digest(box: SecretBox, secret: str) -> str:
    return box.digest(secret.encode(), purpose=CLIENT_SECRET_PURPOSE)


async def create_client(
    session: AsyncSession, *, box: SecretBox, name: str, role: AdminRole, commune: Commune | None = None
) -> tuple[ServiceClient, str]:
    """A new service client and its secret (shown once, never stored in clear)."""
    _check_commune(role, commune)
    secret = secrets.token_urlsafe(32)
    client = ServiceClient(
        client_id="sesame-" + secrets.token_hex(8),
        secret_digest=_client_digest(box, secret),
        name=name.strip()[:120] or "client",
        role=role,
        commune_id=commune.id if commune else None,
        active=True,
    )
    session.add(client)
    await flush_or_conflict(session, "client id clash: try again")
    return client, secret


async def authenticate_client(
    session: AsyncSession, *, box: SecretBox, client_id: str, secret: str
) -> ServiceClient | None:
    client = await session.scalar(select(ServiceClient).where(ServiceClient.client_id == client_id[:64]))
    expected = client.secret_digest if client is not None else "0" * 64
    digests = box.digests(secret.encode(), purpose=CLIENT_SECRET_PURPOSE)
    matched = [hmac.compare_digest(expected, digest) for digest in digests]
    if not any(matched) or client is None or not client.active:
        return None
    if not matched[0]:  # a digest under a previous key (a key rotation): now under the current one
        client.secret_digest = digests[0]
        await session.flush()
    return client


# -- revoked tokens (RFC 7009) ---------------------------------------------------------------------


async def revoke_token(session: AsyncSession, *, jti: str, expires_at: datetime) -> None:
    if await session.get(RevokedToken, jti) is None:
        session.add(RevokedToken(jti=jti, expires_at=expires_at))
        await session.flush()


async def is_revoked(session: AsyncSession, jti: str) -> bool:
    return await session.get(RevokedToken, jti) is not None


if __name__ == "__main__":  # pragma: no cover - prints the documentation's table
    print(rights_table(), end="")
