"""Staff sign-ins to the console, for the audit log, and the admin an identity provider names.

Every sign-in is recorded, accepted or refused, with how it was tried (``password``,
``password+totp``, ``oidc:<provider>``, ``oidc:<provider>+totp`` where the region asks TOTP
after the provider too) and, when refused, why (``password``, ``code``,
``sso-required``, ``unknown``, ``unverified``, ``inactive``): who signed in when is what a
region's security officer asks first after an incident. The actor is the email that was tried
(the admin's own when known; else as typed or asserted, its control characters escaped), never a
password, a code or a token.

An identity provider's email matches an existing, active admin only: there is no self-enrolment,
and the role and commune are Sésame's, never the provider's.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import audit
from accounts.admins import admin_email
from accounts.errors import InvalidInput
from accounts.models import Admin
from accounts.wiretext import storable

SIGNED_IN, REFUSED = "staff.sign_in", "staff.sign_in_refused"


async def admin_for_identity(session: AsyncSession, *, email: str, now: datetime) -> Admin | None:
    """The active admin whose email is ``email`` (a provider's verified one), or None."""
    try:
        email = admin_email(email)
    except InvalidInput:
        return None
    admin = await session.scalar(select(Admin).where(Admin.email == email))
    if admin is None or not admin.active:
        return None
    admin.last_login_at = now
    await session.flush()
    return admin


async def record(
    session: AsyncSession,
    *,
    email: str,
    method: str,
    admin: Admin | None = None,
    refused: str | None = None,
    at: datetime | None = None,
) -> None:
    """One audit entry for a sign-in (``refused``: why it was not let in)."""
    details: dict[str, str] = {"method": method}
    if refused is not None:
        details["reason"] = refused
    await audit.record(
        session,
        # the email tried comes from a form or a provider: made storable (NUL, controls escaped)
        actor=admin.email if admin is not None else (storable(email, 254) or "-"),
        action=REFUSED if refused is not None else SIGNED_IN,
        target=f"admin:{admin.id}" if admin is not None else "admin",
        commune_id=admin.commune_id if admin is not None else None,
        after=details,
        at=at,
    )
