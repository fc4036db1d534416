"""Citizens who sign in through an identity provider (FranceConnect, or another OpenID provider):
the account linked to a provider's pairwise subject, made at the first sign-in, or linked from
"My account" to an account that already exists (docs/franceconnect.md).

What is kept: the provider's slug and its ``sub`` — pairwise, made for this region alone —; the
email only if the caller passes one (the region asked for it and the provider verified it) and no
other account has it — an address does not let a provider's identity into another account —; the
civil identity only if the caller passes it, sealed by the :class:`SecretBox` and deleted with
the account.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import selectinload

from accounts.errors import Conflict, InvalidInput
from accounts.identity import normalize_email
from accounts.models import Account, IdentityLink, Region
from accounts.network import flush_or_conflict
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from accounts.selfservice import Consent
from accounts.users import create_account

CIVIL_PURPOSE = "identity-link-civil"
MAX_SUBJECT = 255


def check_subject(provider: str, subject: object) -> str:
    """The provider's ``sub`` as it may be stored: 1 to 255 printable ASCII characters."""
    if not isinstance(subject, str) or not 0 < len(subject) <= MAX_SUBJECT:
        raise InvalidInput(f"{provider} gave no usable subject")
    if not all("\x21" <= c <= "\x7e" for c in subject):
        raise InvalidInput(f"{provider} gave a subject with characters outside printable ASCII")
    return subject


def suggest_username() -> str:
    """A username for a person who does not choose one: nothing of their identity in it."""
    return f"wifi-{secrets.token_hex(4)}"


async def account_for(
    session: AsyncSession, *, region: Region, provider: str, subject: str
) -> Account | None:
    """The region's account linked to ``(provider, subject)``, or None."""
    query = (
        select(Account)
        .join(IdentityLink, IdentityLink.account_id == Account.id)
        .options(selectinload(Account.region))
        .where(Account.region_id == region.id, IdentityLink.provider == provider)
        .where(IdentityLink.subject == subject)
    )
    return await session.scalar(query)


async def note_use(
    session: AsyncSession, *, account: Account, provider: str, subject: str, now: datetime
) -> None:
    link = await session.scalar(
        select(IdentityLink).where(
            IdentityLink.account_id == account.id,
            IdentityLink.provider == provider,
            IdentityLink.subject == subject,
        )
    )
    if link is not None:
        link.last_used_at = now
        await session.flush()


def _seal_civil(box: SecretBox, civil: Mapping[str, object] | None) -> str | None:
    if not civil:
        return None
    kept = {k: v for k, v in civil.items() if isinstance(v, str) and len(v) <= 255}
    return box.seal(json.dumps(kept, sort_keys=True).encode(), purpose=CIVIL_PURPOSE) if kept else None


def civil_identity(box: SecretBox, link: IdentityLink) -> dict[str, str]:
    """The civil identity kept with a link (empty when none is)."""
    if link.civil_ciphertext is None:
        return {}
    found = json.loads(box.open(link.civil_ciphertext, purpose=CIVIL_PURPOSE))
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


async def sign_up(
    session: AsyncSession,
    *,
    hasher: PasswordHasher,
    box: SecretBox,
    region: Region,
    provider: str,
    subject: str,
    username: str,
    consent: Consent,
    email: str | None = None,
    civil: Mapping[str, object] | None = None,
    locale: str | None = None,
) -> Account:
    """A new account linked to ``(provider, subject)``, without password (it signs in through the
    provider) and already verified (the provider vouched for the person). ``email`` is dropped
    when another account of the region has it (:class:`Conflict` is for the username alone)."""
    subject = check_subject(provider, subject)
    if await account_for(session, region=region, provider=provider, subject=subject) is not None:
        raise InvalidInput("this identity already has an account")
    if email is not None:
        try:
            email = normalize_email(email)
        except InvalidInput:
            email = None
    if email is not None:
        used = select(Account.id).where(Account.region_id == region.id, Account.email == email)
        if await session.scalar(used) is not None:
            email = None
    account = await create_account(
        session, hasher=hasher, region=region, username=username, email=email, password=None, verified=True
    )
    account.terms_version = consent.version
    account.terms_accepted_at = consent.accepted_at
    account.locale = locale
    session.add(
        IdentityLink(
            account_id=account.id,
            provider=provider,
            subject=subject,
            civil_ciphertext=_seal_civil(box, civil),
            created_at=consent.accepted_at,
            last_used_at=consent.accepted_at,
        )
    )
    await flush_or_conflict(session, "this username is taken")
    return account


async def link(
    session: AsyncSession,
    *,
    box: SecretBox,
    account: Account,
    provider: str,
    subject: str,
    civil: Mapping[str, object] | None = None,
    now: datetime,
) -> IdentityLink:
    """Link an existing account to ``(provider, subject)``; :class:`Conflict` if the identity is
    another account's or the account already has one at this provider."""
    subject = check_subject(provider, subject)
    taken = await session.scalar(
        select(IdentityLink.account_id).where(
            IdentityLink.provider == provider, IdentityLink.subject == subject
        )
    )
    if taken is not None and taken != account.id:
        raise Conflict("this identity is linked to another account")
    existing = await session.scalar(
        select(IdentityLink).where(IdentityLink.account_id == account.id, IdentityLink.provider == provider)
    )
    if existing is not None:
        if existing.subject == subject:
            return existing
        raise Conflict("this account is already linked to another identity at this provider")
    found = IdentityLink(
        account_id=account.id,
        provider=provider,
        subject=subject,
        civil_ciphertext=_seal_civil(box, civil),
        created_at=now,
        last_used_at=now,
    )
    session.add(found)
    await flush_or_conflict(session, "this identity is linked to another account")
    return found


async def links_of(session: AsyncSession, *, account: Account) -> Sequence[IdentityLink]:
    return (
        await session.scalars(
            select(IdentityLink).where(IdentityLink.account_id == account.id).order_by(IdentityLink.provider)
        )
    ).all()


async def unlink(session: AsyncSession, *, account: Account, provider: str) -> bool:
    """Forget the account's link to ``provider``; refused when it is the only way in (no password)."""
    found = await session.scalar(
        select(IdentityLink).where(IdentityLink.account_id == account.id, IdentityLink.provider == provider)
    )
    if found is None:
        return False
    if account.password_hash is None and len(await links_of(session, account=account)) == 1:
        raise Conflict("this is the account's only way in: choose a password first")
    await session.delete(found)
    await session.flush()
    return True
