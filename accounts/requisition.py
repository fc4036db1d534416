"""Judicial requisitions: the connection records the law makes us keep, found for the auditor/DPO.

A court or the police asks who used an IP address at a time, or what a device (a MAC) or an
identity did over a period. Décret 2021-1361 makes the operator keep, a year from the connection,
the user, the device, the IP address, the access point, the start and the end (docs/privacy.md):
those are the ``radacct`` sessions, with the ``radpostauth`` decisions that let them in (or
refused them), which say which identity proved itself on which device.

:func:`search` takes one criterion and a window:

=============  ===================================================================================
``ip``         an IPv4 address: ``framedipaddress``; an IPv6 address: ``framedipv6address``, or a
               ``framedipv6prefix``/``delegatedipv6prefix`` that contains it (devices pick their
               own address in the prefix). Decisions: those that let the sessions found in (their
               Class).
``mac``        any notation :func:`accounts.identity.canonical_mac` reads: ``device_mac``, or the
               Calling-Station-Id as the access point wrote it (any of those notations, any case);
               decisions by Calling-Station-Id or by a MAC-authentication User-Name.
``identity``   ``username@realm``: for our realm, the account's rows, rows whose User-Name is the
               user or the identity, and the rows of a deleted account of that identity (its
               pseudonym, :func:`accounts.users.pseudonym_of`); for a partner's realm, the User-Name.
``pseudonym``  ``deleted-…`` as ``sesame user pseudonym`` prints it: the User-Name.
=============  ===================================================================================

A session is in the window when it started before the window's end and ended after its start or
is still open. A decision is in it when it was made inside it (from its start, before its end), or
when it let in a session found. The window is at most ``max_window`` long; nothing older than the
retention period is shown even if the purge has not run yet (keeping it was already not allowed;
handing it over would be worse). More than ``max_records`` rows is "too many": nothing is shown,
narrow the window.

Every search is audited (``requisition.search``: the criteria, the number of rows, too many or
not), in the caller's transaction, before anything is returned; so is every export
(``requisition.export``, with the CSV's SHA-256). Only holders of
:data:`accounts.admins.SEARCH_RECORDS` (the auditor) may search; a caller whose :class:`Reach` is
one commune would see that commune's rows only.
"""

from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import ColumnElement, Select, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import audit
from accounts.admins import Reach
from accounts.errors import InvalidInput, NotFound
from accounts.identity import canonical_mac, normalize_realm, normalize_username
from accounts.models import Account, AccountingSession, AuditEntry, AuthRecord, Commune, Nas, Region, Site
from accounts.recordsexport import Bundle, Record, RecordsSigner, bundle, instant
from accounts.secretbox import SecretBox
from accounts.users import PSEUDONYM_PREFIX, pseudonym_of

SEARCH_ACTION, EXPORT_ACTION = "requisition.search", "requisition.export"
_PSEUDONYM = re.compile(re.escape(PSEUDONYM_PREFIX) + r"[0-9a-f]{24}")


class Kind(StrEnum):
    IP = "ip"
    MAC = "mac"
    IDENTITY = "identity"
    PSEUDONYM = "pseudonym"


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """How wide a search may be (``[requisition]``), and the legal retention (``[retention]``)."""

    max_window: timedelta = timedelta(days=31)
    max_records: int = 1000
    connection_days: int = 365


@dataclass(frozen=True, slots=True, kw_only=True)
class Criteria:
    """What is searched, in canonical form (an address as Python writes it, a MAC as
    ``aa:bb:cc:dd:ee:ff``, an identity in lower case)."""

    kind: Kind
    value: str
    since: datetime
    until: datetime

    def as_dict(self) -> dict[str, str]:
        return {
            "kind": self.kind.value,
            "value": self.value,
            "since": instant(self.since),
            "until": instant(self.until),
        }


def criteria(*, kind: Kind, value: str, since: datetime, until: datetime, limits: Limits) -> Criteria:
    """The search, checked: :class:`InvalidInput` saying what is wrong."""
    if since.tzinfo is None or until.tzinfo is None:
        raise InvalidInput("give the window's start and end with their time zone")
    if until <= since:
        raise InvalidInput("the window must end after it starts")
    if until - since > limits.max_window:
        raise InvalidInput(f"the window is longer than {_span(limits.max_window)}: narrow it")
    raw = value.strip()
    if kind is Kind.IP:
        canonical = str(_address(raw))
    elif kind is Kind.MAC:
        mac = canonical_mac(raw)
        if mac is None:
            raise InvalidInput("not a MAC address (aa:bb:cc:dd:ee:ff, AA-BB-CC-DD-EE-FF, aabb.ccdd.eeff …)")
        canonical = mac
    elif kind is Kind.IDENTITY:
        user, sep, realm = raw.rpartition("@")
        if not sep or not user:
            raise InvalidInput("give the full identity, username@realm")
        canonical = f"{user.lower()}@{normalize_realm(realm)}"
    else:
        canonical = raw.lower()
        if not _PSEUDONYM.fullmatch(canonical):
            raise InvalidInput(f"a pseudonym is {PSEUDONYM_PREFIX} and 24 hexadecimal digits")
    return Criteria(kind=kind, value=canonical, since=since, until=until)


def _span(span: timedelta) -> str:
    return f"{span.days} days" if span.days and not span.seconds else f"{span.total_seconds():.0f} seconds"


def _address(raw: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        raise InvalidInput("not an IP address (IPv4 or IPv6, without a prefix length)") from None
    if isinstance(address, ipaddress.IPv6Address):
        if address.scope_id:
            raise InvalidInput("an IPv6 address with a zone (%…) names no public address")
        if address.ipv4_mapped is not None:
            return address.ipv4_mapped  # ::ffff:192.0.2.1 is 192.0.2.1
    return address


@dataclass(frozen=True, slots=True, kw_only=True)
class Outcome:
    """A search's answer. ``too_many``: nothing is shown (``records`` is empty)."""

    search_id: int  # the audit entry that records the search
    asked_by: str
    asked_at: datetime
    criteria: Criteria
    kept_since: datetime  # what is older is no longer kept
    records: tuple[Record, ...]
    too_many: bool


# -- matching ---------------------------------------------------------------------------------------


def _mac_notations(mac: str) -> list[str]:
    """Every notation :func:`canonical_mac` reads, in lower case, of one MAC."""
    digits = mac.replace(":", "")
    pairs = [digits[i : i + 2] for i in range(0, 12, 2)]
    quads = [digits[i : i + 4] for i in range(0, 12, 4)]
    return [sep.join(pairs) for sep in (":", "-", ".", " ", "")] + [sep.join(quads) for sep in (".", "-")]


def _prefixes(address: ipaddress.IPv6Address) -> list[str]:
    """Every IPv6 prefix containing ``address``, as accounting stores them (``2001:db8::/64``)."""
    return [str(ipaddress.IPv6Network((address, length), strict=False)) for length in range(129)]


@dataclass(frozen=True, slots=True)
class _Match:
    sessions: ColumnElement[bool]
    decisions: ColumnElement[bool]  # direct matches only; those of the sessions come by Class


async def _match(session: AsyncSession, box: SecretBox, found: Criteria) -> _Match:
    acct, auth = AccountingSession, AuthRecord
    if found.kind is Kind.IP:
        address = ipaddress.ip_address(found.value)
        if isinstance(address, ipaddress.IPv4Address):
            return _Match(acct.framedipaddress == found.value, false())
        prefixes = _prefixes(address)
        return _Match(
            or_(
                acct.framedipv6address == found.value,
                acct.framedipv6prefix.in_(prefixes),
                acct.delegatedipv6prefix.in_(prefixes),
            ),
            false(),
        )
    if found.kind is Kind.MAC:
        forms = _mac_notations(found.value)
        return _Match(
            or_(acct.device_mac == found.value, func.lower(acct.callingstationid).in_(forms)),
            or_(func.lower(auth.callingstationid).in_(forms), func.lower(auth.username).in_(forms)),
        )
    if found.kind is Kind.PSEUDONYM:
        return _Match(acct.username == found.value, auth.username == found.value)
    user, _, realm = found.value.rpartition("@")
    names = [found.value]
    region = await session.scalar(select(Region).where(Region.realm == realm))
    if region is None:  # a partner's user: what the access point sent is all we have
        return _Match(func.lower(acct.username).in_(names), func.lower(auth.username).in_(names))
    try:
        user = normalize_username(user)
    except InvalidInput:
        raise InvalidInput(f"no username of {realm} can be {user!r}") from None
    names = [user, f"{user}@{realm}"]
    pseudonym = pseudonym_of(box, f"{user}@{realm}")
    account_id = await session.scalar(
        select(Account.id).where(Account.region_id == region.id, Account.username == user)
    )
    ours_a = [func.lower(acct.username).in_(names), acct.username == pseudonym]
    ours_p = [func.lower(auth.username).in_(names), auth.username == pseudonym]
    if account_id is not None:
        ours_a.append(acct.account_id == account_id)
        ours_p.append(auth.account_id == account_id)
    return _Match(or_(*ours_a), or_(*ours_p))


def _sessions(
    match: _Match, found: Criteria, kept_since: datetime, reach: Reach, limit: int
) -> Select[AccountingSession, str, str, str]:
    acct = AccountingSession
    ended = func.coalesce(acct.acctstoptime, acct.acctupdatetime, acct.acctstarttime)
    query = (
        select(acct, Nas.shortname, Site.name, Commune.name)
        .outerjoin(Nas, Nas.id == acct.nas_id)
        .outerjoin(Site, Site.id == acct.site_id)
        .outerjoin(Commune, Commune.id == acct.commune_id)
        .where(
            match.sessions,
            acct.acctstarttime < found.until,
            or_(acct.acctstoptime.is_(None), acct.acctstoptime > found.since),
            ended >= kept_since,
        )
    )
    if not reach.region_wide:
        query = query.where(acct.commune_id == reach.commune_id)
    return query.order_by(acct.acctstarttime, acct.radacctid).limit(limit)


def _decisions(
    match: _Match, found: Criteria, classes: list[str], kept_since: datetime, reach: Reach, limit: int
) -> Select[AuthRecord, str, str, str]:
    auth = AuthRecord
    direct = match.decisions & (auth.authdate >= found.since) & (auth.authdate < found.until)
    linked = auth.class_.in_(classes) if classes else false()
    query = (
        select(auth, Nas.shortname, Site.name, Commune.name)
        .outerjoin(Nas, Nas.id == auth.nas_id)
        .outerjoin(Site, Site.id == auth.site_id)
        .outerjoin(Commune, Commune.id == Site.commune_id)
        .where(or_(direct, linked), auth.authdate >= kept_since)
    )
    if not reach.region_wide:
        query = query.where(Site.commune_id == reach.commune_id)
    return query.order_by(auth.authdate, auth.id).limit(limit)


def _session_record(row: AccountingSession, ap: str | None, site: str | None, commune: str | None) -> Record:
    assert row.acctstarttime is not None  # the window's condition excludes sessions without a start
    return Record(
        record="session", start=row.acctstarttime, end=row.acctstoptime, last_update=row.acctupdatetime,
        username=row.username, realm=row.realm, calling_station_id=row.callingstationid,
        device_mac=row.device_mac or canonical_mac(row.callingstationid or ""),
        framed_ip=row.framedipaddress, framed_ipv6=row.framedipv6address,
        framed_ipv6_prefix=row.framedipv6prefix, delegated_ipv6_prefix=row.delegatedipv6prefix,
        nas_ip=row.nasipaddress, nas_port_id=row.nasportid, called_station_id=row.calledstationid,
        access_point=ap, site=site, commune=commune, session_id=row.acctsessionid,
        unique_id=row.acctuniqueid, session_time=row.acctsessiontime, input_octets=row.acctinputoctets,
        output_octets=row.acctoutputoctets, terminate_cause=row.acctterminatecause,
    )  # fmt: skip


def _decision_record(row: AuthRecord, ap: str | None, site: str | None, commune: str | None) -> Record:
    return Record(
        record="decision", start=row.authdate, username=row.username,
        calling_station_id=row.callingstationid,
        device_mac=canonical_mac(row.callingstationid or "") or canonical_mac(row.username),
        nas_ip=row.nasipaddress, called_station_id=row.calledstationid, access_point=ap, site=site,
        commune=commune, reply=row.reply, method=row.method, reason=row.reason,
    )  # fmt: skip


async def _find(
    session: AsyncSession, *, box: SecretBox, found: Criteria, limits: Limits, reach: Reach, now: datetime
) -> tuple[datetime, list[Record] | None]:
    """Since when records are kept, and the records (None: more than ``max_records``)."""
    kept_since = now - timedelta(days=limits.connection_days)
    match = await _match(session, box, found)
    cap = limits.max_records + 1
    sessions = (await session.execute(_sessions(match, found, kept_since, reach, cap))).all()
    if len(sessions) >= cap:
        return kept_since, None
    classes = sorted({row[0].class_ for row in sessions if row[0].class_})
    decisions = (await session.execute(_decisions(match, found, classes, kept_since, reach, cap))).all()
    if len(sessions) + len(decisions) > limits.max_records:
        return kept_since, None
    records = [_session_record(*row) for row in sessions] + [_decision_record(*row) for row in decisions]
    records.sort(key=lambda r: (r.start, r.record != "session"))  # stable: each kind keeps its order
    return kept_since, records


# -- the services -----------------------------------------------------------------------------------


async def search(
    session: AsyncSession,
    *,
    box: SecretBox,
    criteria: Criteria,
    limits: Limits,
    actor: str,
    reach: Reach,
    now: datetime,
) -> Outcome:
    """Run a search and audit it (who, when, the criteria, how many rows, too many or not)."""
    kept_since, records = await _find(session, box=box, found=criteria, limits=limits, reach=reach, now=now)
    entry = await audit.record(
        session,
        actor=actor,
        action=SEARCH_ACTION,
        target=f"{criteria.kind.value}:{criteria.value}",
        commune_id=reach.commune_id,
        after=criteria.as_dict()
        | {"count": len(records) if records is not None else None, "too_many": records is None},
        at=now,
    )
    return Outcome(
        search_id=entry.id, asked_by=actor, asked_at=now, criteria=criteria, kept_since=kept_since,
        records=tuple(records or ()), too_many=records is None,
    )  # fmt: skip


async def export(
    session: AsyncSession,
    *,
    box: SecretBox,
    search_id: int,
    limits: Limits,
    signer: RecordsSigner,
    actor: str,
    reach: Reach,
    now: datetime,
) -> Bundle:
    """The signed answer to one of ``actor``'s own searches (another's, or none: :class:`NotFound`).

    The search is run again with its criteria: the export holds what is kept at the time of the
    export (a session open then may have ended since; the purge may have removed the oldest), and
    says both instants. Audited with the number of rows and the CSV's SHA-256."""
    entry = await session.get(AuditEntry, search_id)
    if entry is None or entry.action != SEARCH_ACTION or entry.actor != actor or not entry.after:
        raise NotFound(f"no search {search_id} of yours")
    stored = json.loads(entry.after)
    if stored.get("too_many"):
        raise InvalidInput("that search found too many records: narrow the window and search again")
    found = Criteria(
        kind=Kind(stored["kind"]), value=stored["value"],
        since=datetime.fromisoformat(stored["since"]), until=datetime.fromisoformat(stored["until"]),
    )  # fmt: skip
    kept_since, records = await _find(session, box=box, found=found, limits=limits, reach=reach, now=now)
    if records is None:
        raise InvalidInput(f"more than {limits.max_records} records match now: narrow the window")
    description = {
        "search_id": search_id, "asked_by": entry.actor, "asked_at": instant(entry.at),
        "exported_by": actor, "exported_at": instant(now), "criteria": found.as_dict(),
        "kept_since": instant(kept_since),
    }  # fmt: skip
    answer = bundle(records, description=description, signer=signer)
    await audit.record(
        session, actor=actor, action=EXPORT_ACTION, target=f"search:{search_id}", commune_id=reach.commune_id,
        after={"search_id": search_id, "count": answer.count, "csv_sha256": answer.csv_sha256}, at=now,
    )  # fmt: skip
    return answer
