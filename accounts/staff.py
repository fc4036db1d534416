"""The region's staff as their managers see them, and the changes that must not lock the region out.

* :func:`staff_list`: every admin with their commune's name, whether they set up a second factor
  and when they last signed in (never a password hash or a TOTP secret);
* :func:`change_admin`: a role, commune or state change, under the rule that the region always
  keeps an active region admin, and that nobody disables or demotes themselves (both the admin
  API and the console call it, so neither can lock the region out);
* :func:`reset_two_factor`: a lost phone: the factor and recovery codes go, and every session and
  token of the admin ends (they set a new factor up at their next sign-in).

The callers audit the change (``admin.update``, ``admin.revoke``, ``admin.reset_two_factor``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import admins, twofactor
from accounts.errors import Conflict, InvalidInput
from accounts.models import Admin, AdminRole, AdminTotp, Commune


@dataclass(frozen=True, slots=True, kw_only=True)
class StaffMember:
    """An admin as the staff page lists them."""

    id: int
    email: str
    role: AdminRole
    commune_id: int | None
    commune_name: str | None
    two_factor: bool
    last_login_at: datetime | None
    active: bool


async def staff_list(session: AsyncSession) -> Sequence[StaffMember]:
    """Every admin, by email, with their commune and whether their second factor is confirmed."""
    enrolled = select(AdminTotp.admin_id).where(AdminTotp.confirmed_at.is_not(None)).subquery()
    query = (
        select(Admin, Commune.name, enrolled.c.admin_id)
        .outerjoin(Commune, Commune.id == Admin.commune_id)
        .outerjoin(enrolled, enrolled.c.admin_id == Admin.id)
        .order_by(Admin.email)
    )
    rows = (await session.execute(query)).all()
    return [_member(admin, name, totp is not None) for admin, name, totp in rows]


def _member(admin: Admin, commune_name: str | None, two_factor: bool) -> StaffMember:
    return StaffMember(
        id=admin.id, email=admin.email, role=AdminRole(admin.role), commune_id=admin.commune_id,
        commune_name=commune_name, two_factor=two_factor, last_login_at=admin.last_login_at,
        active=admin.active,
    )  # fmt: skip


async def active_region_admins(session: AsyncSession) -> int:
    """How many active region admins there are, their rows locked until the transaction ends
    (PostgreSQL: of two concurrent demotions of the last two, the second counts after the first
    commits; SQLite writes one transaction at a time)."""
    query = select(Admin.id).where(Admin.role == AdminRole.REGION_ADMIN, Admin.active).with_for_update()
    return len((await session.scalars(query)).all())


async def change_admin(
    session: AsyncSession,
    *,
    admin: Admin,
    role: AdminRole,
    commune: Commune | None,
    active: bool,
    by: int | None = None,
) -> None:
    """Set an admin's role, commune and state, then revoke every token and session they hold.

    Refused (:class:`InvalidInput`): a commune for a role other than commune admin, or none for a
    commune admin. Refused (:class:`Conflict`): ``by`` (the admin making the change, when an
    admin makes it) disabling or demoting themselves, and any change that would leave the region
    without an active region admin — nobody could then manage staff from the console or the API.
    """
    if (role == AdminRole.COMMUNE_ADMIN) != (commune is not None):
        raise InvalidInput("a commune admin needs a commune, and only a commune admin has one")
    was_manager = admin.role == AdminRole.REGION_ADMIN and admin.active
    stays_manager = role == AdminRole.REGION_ADMIN and active
    if was_manager and not stays_manager:
        if by is not None and by == admin.id:
            raise Conflict("you cannot disable yourself or give up your own region admin role")
        if await active_region_admins(session) <= 1:
            raise Conflict("the region needs at least one active region admin")
    admin.role, admin.commune_id, admin.active = role, commune.id if commune else None, active
    await admins.revoke_all(session, admin=admin)  # whatever changed, old tokens and sessions stop


async def reset_two_factor(session: AsyncSession, *, admin: Admin) -> bool:
    """Remove the admin's second factor and recovery codes, and sign them out everywhere; whether
    they had a confirmed factor."""
    had = await twofactor.has_two_factor(session, admin=admin)
    await twofactor.remove(session, admin=admin)
    await admins.revoke_all(session, admin=admin)
    return had
