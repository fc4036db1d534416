"""Vouchers for guests: batches made by staff, each voucher an account of its own kind.

A batch (:func:`create_batch`) makes N codes (:mod:`accounts.vouchercodes`) and N accounts: a
username no citizen can choose, no password, an address under ``.invalid`` (RFC 2606: nothing is
ever sent there), verified so the grace rules do not apply. The code is stored as a keyed digest
(the look-up) and sealed with the secret box for a re-print of the sheet by staff who may change
the batch (:func:`batch_codes`); it is never shown by the API otherwise.

The RADIUS policy reads :func:`state_by_digests` / :func:`state_of_account` at every request (no
cache: a revocation is immediate) and :func:`mark_used` at the first accept (the duration starts
then). The portal logs a guest in with :func:`redeem`. :func:`purge_expired` deletes the vouchers
a day after they expire, their records kept under a pseudonym as for any deleted account
(docs/privacy.md), and the batches left empty and past their window.

Services never commit; :func:`purge_expired` takes a session factory and commits each batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts.admins import Reach
from accounts.errors import DomainError, InvalidInput, NotFound
from accounts.models import (
    Account,
    AccountingSession,
    AccountStatus,
    AuthRecord,
    Commune,
    Region,
    Site,
    Tombstone,
    Voucher,
    VoucherBatch,
    VoucherPlace,
)
from accounts.secretbox import SecretBox
from accounts.users import pseudonym_of
from accounts.vouchercodes import (
    CODE_PURPOSE,
    VoucherState,
    new_code,
    normalize_code,
    printed,
    voucher_username,
)
from accounts.wiretext import is_clean

MAX_COUNT = 500
MAX_WINDOW = timedelta(days=366)
MIN_DURATION = timedelta(minutes=5)
MAX_DEVICES = 10
#: how long an expired voucher is kept (support can still read why it was refused)
PURGE_GRACE = timedelta(days=1)
EMAIL_DOMAIN = "vouchers.invalid"


class VoucherRefused(DomainError):
    """A code the portal cannot log in with: ``reason`` is ``unknown``, ``not_yet_valid`` or ``expired``."""

    def __init__(self, reason: str) -> None:
        super().__init__(f"voucher refused: {reason}")
        self.reason = reason


@dataclass(frozen=True, slots=True, kw_only=True)
class BatchSpec:
    """What a staff member asks for."""

    label: str
    count: int
    valid_from: datetime
    valid_until: datetime
    duration: timedelta
    octets_limit: int | None = None
    max_devices: int = 1
    communes: Sequence[Commune] = ()
    sites: Sequence[Site] = ()


def _check(spec: BatchSpec, *, commune: Commune | None, now: datetime) -> str:
    label = " ".join(spec.label.split())
    if not label or len(label) > 120 or not is_clean(label.encode("utf-8", "surrogatepass")):
        raise InvalidInput("a batch needs a label of 1 to 120 characters (the event or the desk)")
    if not 1 <= spec.count <= MAX_COUNT:
        raise InvalidInput(f"a batch has 1 to {MAX_COUNT} vouchers")
    if spec.valid_until <= spec.valid_from:
        raise InvalidInput("the validity window must end after it starts")
    if spec.valid_until <= now:
        raise InvalidInput("the validity window is already over")
    if spec.valid_until - spec.valid_from > MAX_WINDOW:
        raise InvalidInput("the validity window lasts at most a year")
    if spec.valid_from > now + MAX_WINDOW:
        raise InvalidInput("the validity window starts within a year")
    if not MIN_DURATION <= spec.duration <= MAX_WINDOW:
        raise InvalidInput("a voucher lasts from 5 minutes to a year from its first use")
    if spec.octets_limit is not None and not 1 <= spec.octets_limit < 2**63:
        raise InvalidInput("the data allowance must be a positive number of octets")
    if not 1 <= spec.max_devices <= MAX_DEVICES:
        raise InvalidInput(f"a voucher serves 1 to {MAX_DEVICES} devices at once")
    outside = (
        any(c.id != commune.id for c in spec.communes) or any(s.commune_id != commune.id for s in spec.sites)
        if commune is not None
        else False
    )
    if outside:
        raise InvalidInput("a commune's vouchers work in that commune only")
    return label


async def create_batch(
    session: AsyncSession,
    *,
    box: SecretBox,
    region: Region,
    commune: Commune | None,
    spec: BatchSpec,
    created_by: str,
    now: datetime,
) -> tuple[VoucherBatch, list[str]]:
    """A new batch of ``commune`` (None: the region's) and its codes, in printed form, in order."""
    label = _check(spec, commune=commune, now=now)
    batch = VoucherBatch(
        region_id=region.id,
        commune_id=commune.id if commune else None,
        label=label,
        count=spec.count,
        valid_from=spec.valid_from,
        valid_until=spec.valid_until,
        duration_seconds=int(spec.duration.total_seconds()),
        octets_limit=spec.octets_limit,
        max_devices=spec.max_devices,
        created_by=created_by[:255],
        created_at=now,
    )
    session.add(batch)
    await session.flush()
    session.add_all(
        VoucherPlace(batch_id=batch.id, commune_id=c.id) for c in {c.id: c for c in spec.communes}.values()
    )
    session.add_all(
        VoucherPlace(batch_id=batch.id, site_id=s.id) for s in {s.id: s for s in spec.sites}.values()
    )
    codes = _distinct_codes(spec.count)
    accounts = [
        Account(
            region_id=region.id,
            username=voucher_username(batch.id, number),
            email=f"{voucher_username(batch.id, number)}@{EMAIL_DOMAIN}",
            email_verified=True,
            password_hash=None,
            status=AccountStatus.ACTIVE,
            created_at=now,
        )
        for number in range(1, spec.count + 1)
    ]
    session.add_all(accounts)
    await session.flush()
    for number, (account, code) in enumerate(zip(accounts, codes, strict=True), start=1):
        raw = normalize_code(code)
        assert raw is not None
        session.add(
            Voucher(
                batch_id=batch.id,
                account_id=account.id,
                number=number,
                digest=box.digest(raw.encode(), purpose=CODE_PURPOSE),
                code_ciphertext=box.seal(raw.encode(), purpose=CODE_PURPOSE),
                expires_at=spec.valid_until,
            )
        )
    await session.flush()
    return batch, codes


def _distinct_codes(count: int) -> list[str]:
    codes: dict[str, None] = {}
    while len(codes) < count:  # a repeat among 2⁵⁹ is all but impossible; the unique digest holds anyway
        codes[new_code()] = None
    return list(codes)


def _in_reach(reach: Reach) -> ColumnElement[bool]:
    if reach.region_wide:
        return VoucherBatch.id.is_not(None)
    return VoucherBatch.commune_id == reach.commune_id


async def list_batches(
    session: AsyncSession, *, reach: Reach, limit: int, offset: int = 0
) -> tuple[Sequence[VoucherBatch], int]:
    """Batches within the reach (a commune admin: their commune's), newest first, and their number."""
    query = select(VoucherBatch).where(_in_reach(reach))
    total = int(await session.scalar(select(func.count()).select_from(query.subquery())) or 0)
    rows = await session.scalars(query.order_by(VoucherBatch.id.desc()).limit(limit).offset(offset))
    return rows.all(), total


async def get_batch(session: AsyncSession, *, reach: Reach, batch_id: int) -> VoucherBatch:
    """The batch, or :class:`NotFound` when missing or outside the reach (the same answer)."""
    batch = await session.get(VoucherBatch, batch_id)
    if batch is None or not reach.covers(batch.commune_id):
        raise NotFound(f"no voucher batch {batch_id}")
    return batch


async def places_of(session: AsyncSession, batch: VoucherBatch) -> tuple[list[int], list[int]]:
    """The communes and sites a batch names (empty: its commune, or the region)."""
    rows = (await session.execute(select(VoucherPlace.commune_id, VoucherPlace.site_id).where(
        VoucherPlace.batch_id == batch.id
    ))).all()  # fmt: skip
    return sorted(c for c, _ in rows if c is not None), sorted(s for _, s in rows if s is not None)


async def usage_of(session: AsyncSession, batch: VoucherBatch) -> tuple[int, int]:
    """How many of its vouchers were used, and how many are still here (not purged)."""
    row = (
        await session.execute(
            select(func.count(Voucher.first_used_at), func.count(Voucher.id)).where(
                Voucher.batch_id == batch.id
            )
        )
    ).one()
    return int(row[0]), int(row[1])


async def batch_codes(session: AsyncSession, *, box: SecretBox, batch: VoucherBatch) -> list[tuple[int, str]]:
    """(number, printed code) of the batch's vouchers still here, for a re-print; raises
    :class:`~accounts.errors.SecretUnreadable` if the secret key changed without a re-seal."""
    rows = (
        await session.execute(
            select(Voucher.number, Voucher.code_ciphertext)
            .where(Voucher.batch_id == batch.id)
            .order_by(Voucher.number)
        )
    ).all()
    return [(number, printed(box.open(sealed, purpose=CODE_PURPOSE).decode())) for number, sealed in rows]


async def revoke_batch(session: AsyncSession, *, batch: VoucherBatch, now: datetime) -> None:
    """No voucher of the batch works any more (idempotent): its accounts are disabled and expire now."""
    if batch.revoked_at is None:
        batch.revoked_at = now
    await session.execute(
        update(Voucher)
        .where(Voucher.batch_id == batch.id, Voucher.expires_at > now)
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
    accounts = select(Voucher.account_id).where(Voucher.batch_id == batch.id)
    await session.execute(
        update(Account)
        .where(Account.id.in_(accounts))
        .values(status=AccountStatus.DISABLED, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.flush()


# -- what the RADIUS policy and the portal read --------------------------------------------------


async def _state(session: AsyncSession, where: ColumnElement[bool]) -> VoucherState | None:
    row = (
        await session.execute(
            select(Voucher, VoucherBatch)
            .join(VoucherBatch, VoucherBatch.id == Voucher.batch_id)
            .where(where)
            .execution_options(populate_existing=True)  # fresh: mark_used and revoke update in bulk
        )
    ).first()
    if row is None:
        return None
    voucher, batch = row
    places = (
        await session.execute(select(VoucherPlace.commune_id, VoucherPlace.site_id).where(
            VoucherPlace.batch_id == batch.id
        ))
    ).all()  # fmt: skip
    used = 0
    if batch.octets_limit is not None:
        octets = AccountingSession.acctinputoctets + AccountingSession.acctoutputoctets
        total = select(func.coalesce(func.sum(octets), 0)).where(
            AccountingSession.account_id == voucher.account_id
        )
        used = int(await session.scalar(total) or 0)
    return VoucherState(
        voucher_id=voucher.id,
        account_id=voucher.account_id,
        valid_from=batch.valid_from,
        valid_until=batch.valid_until,
        expires_at=voucher.expires_at,
        duration=timedelta(seconds=batch.duration_seconds),
        first_used_at=voucher.first_used_at,
        revoked=batch.revoked_at is not None,
        octets_limit=batch.octets_limit,
        octets_used=used,
        max_devices=batch.max_devices,
        communes=frozenset(c for c, _ in places if c is not None),
        sites=frozenset(s for _, s in places if s is not None),
        batch_commune_id=batch.commune_id,
    )


async def state_by_code(
    session: AsyncSession, *, box: SecretBox, region_id: int, code: str
) -> VoucherState | None:
    """The voucher of a code as typed (under the current key's digest or, during a key rotation,
    the previous one's), in the region; None if there is none."""
    raw = normalize_code(code)
    if raw is None:
        return None
    digests = box.digests(raw.encode(), purpose=CODE_PURPOSE)
    in_region = select(VoucherBatch.id).where(VoucherBatch.region_id == region_id)
    return await _state(session, and_(Voucher.digest.in_(digests), Voucher.batch_id.in_(in_region)))


async def state_of_account(session: AsyncSession, *, account_id: int) -> VoucherState | None:
    return await _state(session, Voucher.account_id == account_id)


async def mark_used(session: AsyncSession, *, state: VoucherState, now: datetime) -> None:
    """The first accepted connection starts the voucher's duration (once: a second call changes nothing)."""
    end = min(state.expires_at, state.valid_until, now + state.duration)
    await session.execute(
        update(Voucher)
        .where(Voucher.id == state.voucher_id, Voucher.first_used_at.is_(None))
        .values(first_used_at=now, expires_at=end)
        .execution_options(synchronize_session=False)
    )


async def redeem(
    session: AsyncSession, *, box: SecretBox, region: Region, code: str, now: datetime
) -> Account:
    """The account a guest logs in to the portal as with a code; :class:`VoucherRefused` when the
    code is unknown, not valid yet, revoked or expired (where it works is for the access point's
    RADIUS request to say)."""
    state = await state_by_code(session, box=box, region_id=region.id, code=code)
    if state is None:
        raise VoucherRefused("unknown")
    if now < state.valid_from:
        raise VoucherRefused("not_yet_valid")
    if state.revoked or (state.first_used_at or now) + state.duration <= now or state.expires_at <= now:
        raise VoucherRefused("expired")
    account = await session.get(Account, state.account_id)
    if account is None:
        raise VoucherRefused("unknown")
    return account


# -- purge ---------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VoucherPurge:
    vouchers: int
    batches: int


async def purge_expired(
    sessions: async_sessionmaker[AsyncSession],
    *,
    box: SecretBox,
    now: datetime,
    batch_size: int,
    dry_run: bool = False,
) -> VoucherPurge:
    """Delete the vouchers expired more than :data:`PURGE_GRACE` ago, ``batch_size`` per committed
    transaction: their accounts go (tombstones tell the RADIUS caches), their connection and
    authentication records stay, under the keyed pseudonym of the voucher's identity, for the
    legal retention (``accounts.retention.purge`` deletes them after it). Then the batches with
    no voucher left whose window is over."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    cutoff = now - PURGE_GRACE
    expired = Voucher.expires_at < cutoff
    if dry_run:
        async with sessions() as session:
            vouchers = int(await session.scalar(select(func.count()).where(expired)) or 0)
            batches = int(
                await session.scalar(select(func.count()).where(_empty_batch(cutoff, expired))) or 0
            )
        return VoucherPurge(vouchers, batches)
    vouchers = 0
    while True:
        async with sessions() as session, session.begin():
            rows = (
                await session.execute(
                    select(Account.id, Account.username, Region.realm)
                    .join(Voucher, Voucher.account_id == Account.id)
                    .join(Region, Region.id == Account.region_id)
                    .where(expired)
                    .order_by(Voucher.expires_at)
                    .limit(batch_size)
                )
            ).all()
            for account_id, username, realm in rows:
                await _forget(
                    session, box=box, account_id=account_id, username=username, realm=realm, now=now
                )
        vouchers += len(rows)
        if not rows:
            break
    async with sessions() as session, session.begin():
        result = await session.execute(delete(VoucherBatch).where(VoucherBatch.id.in_(
            select(VoucherBatch.id).where(_empty_batch(cutoff, None))
        )))  # fmt: skip
    return VoucherPurge(vouchers, int(getattr(result, "rowcount", 0) or 0))


def _empty_batch(cutoff: datetime, expired: ColumnElement[bool] | None) -> ColumnElement[bool]:
    """A batch past its window whose vouchers are all gone (or, for a dry run, would be)."""
    remaining = select(Voucher.id).where(Voucher.batch_id == VoucherBatch.id)
    if expired is not None:
        remaining = remaining.where(~expired)
    return and_(or_(VoucherBatch.valid_until < cutoff, VoucherBatch.revoked_at < cutoff), ~remaining.exists())


async def _forget(
    session: AsyncSession, *, box: SecretBox, account_id: int, username: str, realm: str, now: datetime
) -> None:
    identity = f"{username}@{realm}"
    pseudonym = pseudonym_of(box, identity)
    names = [username, identity]
    for model in (AccountingSession, AuthRecord):
        mine: Any = or_(
            model.account_id == account_id,
            model.account_id.is_(None) & func.lower(model.username).in_(names),
        )
        await session.execute(
            update(model)
            .where(mine)
            .values(username=pseudonym, account_id=None)
            .execution_options(synchronize_session=False)
        )
    session.add(Tombstone(kind="account", key=username, deleted_at=now))
    await session.execute(delete(Account).where(Account.id == account_id))
