"""Sponsored access (issue 19): a visitor asks one of a commune's named sponsors, who approves by a
one-time link; the visitor is let in until the end of the day.

A commune turns it on and names its sponsors (:func:`configure`): the addresses are the commune's
choice, and the visitor only ever picks one of them by its place in the list
(:func:`ask`) — the portal never mails an address a visitor typed. :func:`ask` makes a request with
a fresh token (only its keyed digest is stored; the token travels in the sponsor's mail), valid
:data:`LINK_LIFETIME`, at most :data:`MAX_PENDING` pending per sponsor. :func:`decide` spends the
token once: approved, it makes a one-voucher batch of the commune (:mod:`accounts.vouchers`) valid
until the end of the day in the region's time zone, at the commune's sites, one device, made by the
sponsor; the visitor's browser then logs in as that voucher (:func:`account_of`).
:func:`purge` deletes requests a day after their decision or expiry.

Services never commit; :func:`purge` takes a session factory and commits.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts import vouchers
from accounts.errors import DomainError, InvalidInput
from accounts.identity import normalize_email
from accounts.models import Account, Commune, Region, Site, SponsorRequest, Sponsorship, Voucher
from accounts.secretbox import SecretBox
from accounts.vouchercodes import end_of
from accounts.wiretext import is_clean

MAX_SPONSORS = 50
MAX_NOTE = 200
MAX_NAME = 80
#: how long the sponsor's link works
LINK_LIFETIME = timedelta(minutes=30)
#: pending requests one sponsor may have at once (more: the visitor is told to wait)
MAX_PENDING = 5
#: how long a decided or expired request is kept
PURGE_GRACE = timedelta(days=1)
LINK_PURPOSE = "sponsor-link"
DEFAULT_TIMEZONE = "Europe/Paris"

PENDING, APPROVED, REFUSED, EXPIRED = "pending", "approved", "refused", "expired"


class SponsorshipOff(DomainError):
    """The commune does not offer sponsored access."""


class TooManyPending(DomainError):
    """The sponsor already has :data:`MAX_PENDING` requests waiting."""


class RequestClosed(DomainError):
    """The link was used already, or expired: ``status`` says which."""

    def __init__(self, status: str) -> None:
        super().__init__(f"this request is {status}")
        self.status = status


@dataclass(frozen=True, slots=True)
class Sponsor:
    email: str
    name: str

    @property
    def masked(self) -> str:
        """``j•••@mairie.example``: enough for a visitor to recognise, not an address to harvest."""
        local, _, domain = self.email.rpartition("@")
        return f"{local[:1]}•••@{domain}"


def _clean_text(value: str, limit: int, what: str) -> str:
    text = " ".join(value.split())
    if len(text) > limit or not is_clean(text.encode("utf-8", "surrogatepass")):
        raise InvalidInput(f"{what} has at most {limit} printable characters")
    return text


def parse_sponsors(lines: str) -> list[Sponsor]:
    """Sponsors from text, one a line: ``Name <email>`` or ``email``; :class:`InvalidInput` names
    the first bad line."""
    found: dict[str, Sponsor] = {}
    for raw in lines.splitlines():
        line = raw.strip()
        if not line:
            continue
        name, _, rest = line.rpartition("<")
        address = rest.rstrip(">").strip() if rest.endswith(">") and name else line
        if not name or not rest.endswith(">"):
            name = ""
        email = normalize_email(address)
        found.setdefault(email.lower(), Sponsor(email=email, name=_clean_text(name, MAX_NAME, "a name")))
    if len(found) > MAX_SPONSORS:
        raise InvalidInput(f"a commune names at most {MAX_SPONSORS} sponsors")
    return list(found.values())


def sponsors_of(setting: Sponsorship | None) -> list[Sponsor]:
    if setting is None:
        return []
    return [
        Sponsor(email=str(row.get("email", "")), name=str(row.get("name", "")))
        for row in setting.sponsors
        if isinstance(row, dict)
    ]


async def setting_of(session: AsyncSession, *, commune_id: int) -> Sponsorship | None:
    return await session.scalar(select(Sponsorship).where(Sponsorship.commune_id == commune_id))


def summary(setting: Sponsorship | None) -> dict[str, object]:
    """What the audit log and the API show of a setting."""
    return {
        "enabled": bool(setting and setting.enabled),
        "sponsors": [{"email": s.email, "name": s.name} for s in sponsors_of(setting)],
    }


async def configure(
    session: AsyncSession, *, commune: Commune, enabled: bool, sponsors: list[Sponsor], now: datetime
) -> Sponsorship:
    """Turn sponsored access on or off for ``commune`` and name its sponsors (on needs one)."""
    if enabled and not sponsors:
        raise InvalidInput("name at least one sponsor to turn sponsored access on")
    if len(sponsors) > MAX_SPONSORS:
        raise InvalidInput(f"a commune names at most {MAX_SPONSORS} sponsors")
    setting = await setting_of(session, commune_id=commune.id)
    if setting is None:
        setting = Sponsorship(commune_id=commune.id)
        session.add(setting)
    setting.enabled = enabled
    setting.sponsors = [{"email": s.email, "name": s.name} for s in sponsors]
    setting.updated_at = now
    await session.flush()
    return setting


async def offered(session: AsyncSession, *, commune_id: int) -> list[Sponsor]:
    """The sponsors a visitor may choose from; empty when the commune does not offer it."""
    setting = await setting_of(session, commune_id=commune_id)
    return sponsors_of(setting) if setting is not None and setting.enabled else []


async def ask(
    session: AsyncSession,
    *,
    box: SecretBox,
    commune_id: int,
    sponsor_index: int,
    note: str,
    now: datetime,
) -> tuple[SponsorRequest, Sponsor, str]:
    """A visitor's request to the commune's sponsor number ``sponsor_index``: the request, the
    sponsor, and the token of the approval link (shown once: only its digest is kept)."""
    sponsors = await offered(session, commune_id=commune_id)
    if not sponsors:
        raise SponsorshipOff("this commune does not offer sponsored access")
    if not 0 <= sponsor_index < len(sponsors):
        raise InvalidInput("choose one of the commune's sponsors")
    sponsor = sponsors[sponsor_index]
    text = _clean_text(note, MAX_NOTE, "a note")
    waiting = await session.scalar(
        select(func.count()).where(
            SponsorRequest.commune_id == commune_id,
            SponsorRequest.sponsor_email == sponsor.email,
            SponsorRequest.status == PENDING,
            SponsorRequest.expires_at > now,
        )
    )
    if int(waiting or 0) >= MAX_PENDING:
        raise TooManyPending("this sponsor already has requests waiting")
    token = secrets.token_urlsafe(32)
    request = SponsorRequest(
        commune_id=commune_id,
        sponsor_email=sponsor.email,
        note=text,
        token_digest=box.digest(token.encode(), purpose=LINK_PURPOSE),
        status=PENDING,
        created_at=now,
        expires_at=now + LINK_LIFETIME,
    )
    session.add(request)
    await session.flush()
    return request, sponsor, token


def _status(request: SponsorRequest, now: datetime) -> str:
    return EXPIRED if request.status == PENDING and request.expires_at <= now else request.status


async def by_token(session: AsyncSession, *, box: SecretBox, token: str) -> SponsorRequest | None:
    """The request of a link's token (under the current key or the previous one), or None."""
    if not 20 <= len(token) <= 100 or not token.isascii():
        return None
    digests = box.digests(token.encode(), purpose=LINK_PURPOSE)
    return await session.scalar(select(SponsorRequest).where(SponsorRequest.token_digest.in_(digests)))


def status_of(request: SponsorRequest, now: datetime) -> str:
    """``pending``, ``approved``, ``refused`` or ``expired`` (a pending request past its link's life)."""
    return _status(request, now)


def end_of_day(now: datetime, timezone: str = DEFAULT_TIMEZONE) -> datetime:
    """Midnight after ``now`` in the region's time zone (the visitor's day)."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    midnight = datetime(local.year, local.month, local.day, tzinfo=zone) + timedelta(days=1)
    return midnight.astimezone(now.tzinfo)


async def decide(
    session: AsyncSession,
    *,
    box: SecretBox,
    region: Region,
    request: SponsorRequest,
    approve: bool,
    now: datetime,
    timezone: str = DEFAULT_TIMEZONE,
) -> SponsorRequest:
    """The sponsor's answer, once: approved, the visitor's voucher for the day is made.
    :class:`RequestClosed` if the link was used already or expired."""
    status = _status(request, now)
    if status != PENDING:
        raise RequestClosed(status)
    # the one answer even if two tabs post at once: only the update that finds it pending wins
    won = await session.execute(
        update(SponsorRequest)
        .where(SponsorRequest.id == request.id, SponsorRequest.status == PENDING)
        .values(status=APPROVED if approve else REFUSED, decided_at=now)
        .execution_options(synchronize_session=False)
    )
    if not getattr(won, "rowcount", 0):
        raise RequestClosed(APPROVED)
    await session.refresh(request)
    if not approve:
        return request
    commune = await session.get_one(Commune, request.commune_id)
    sites = (await session.scalars(select(Site).where(Site.commune_id == commune.id))).all()
    until = max(end_of_day(now, timezone), now + vouchers.MIN_DURATION)
    batch, _codes = await vouchers.create_batch(
        session,
        box=box,
        region=region,
        commune=commune,
        spec=vouchers.BatchSpec(
            label=f"Sponsored access {request.id}",
            count=1,
            valid_from=now,
            valid_until=until,
            duration=until - now,
            max_devices=1,
            sites=sites,
        ),
        created_by=request.sponsor_email,
        now=now,
    )
    request.voucher_id = await session.scalar(select(Voucher.id).where(Voucher.batch_id == batch.id))
    await session.flush()
    return request


async def account_of(session: AsyncSession, *, request: SponsorRequest, now: datetime) -> Account | None:
    """The account an approved request's visitor logs in as, while its voucher still works."""
    if request.status != APPROVED or request.voucher_id is None:
        return None
    voucher = await session.get(Voucher, request.voucher_id)
    if voucher is None:
        return None
    state = await vouchers.state_of_account(session, account_id=voucher.account_id)
    if state is None or state.revoked or end_of(state, now) <= now:
        return None
    return await session.get(Account, voucher.account_id)


async def purge(sessions: async_sessionmaker[AsyncSession], *, now: datetime, dry_run: bool = False) -> int:
    """Delete the requests decided, or expired, more than :data:`PURGE_GRACE` ago (their vouchers
    follow the vouchers' own purge)."""
    cutoff = now - PURGE_GRACE
    old = or_(SponsorRequest.decided_at < cutoff, SponsorRequest.expires_at < cutoff)
    async with sessions() as session, session.begin():
        if dry_run:
            return int(await session.scalar(select(func.count()).where(old)) or 0)
        result = await session.execute(delete(SponsorRequest).where(old))
    return int(getattr(result, "rowcount", 0) or 0)
