"""A seeded set of sessions and decisions for the dashboards' and the open data's tests, and the
numbers it implies, computed here in plain Python from the seed (never read back from the code
under test).

Valence has two sites (Médiathèque, Mairie: quiet) and sessions of no known site; Die has two
(Place, and Gare: quieter still, so that hiding it alone would not do).
People are twelve accounts, a partner's visitor whose User-Name comes in two cases, and a deleted
identity's pseudonym.
"""

from __future__ import annotations

import random
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from accounts import network
from accounts.models import AccountingSession, AuthRecord, Region
from accounts.passwords import PasswordHasher
from tests.accounts.records import add_accounts, add_places

FIRST = date(2026, 3, 1)
DAYS = [FIRST + timedelta(days=n) for n in range(3)]
NOW = datetime(2026, 3, 3, 12, 0, 30, tzinfo=UTC)  # in the third day
UNLINKED = ["visitor@liguria.example", "VISITOR@Liguria.example", "deleted-0123456789abcdef01234567"]
REASONS = ["bad_password", "unknown_user", "locked"]


@dataclass(frozen=True)
class Seeded:
    start: datetime
    commune: int | None
    site: int | None
    account: int | None
    username: str | None
    octets_in: int
    octets_out: int
    open: bool


@dataclass(frozen=True)
class Decision:
    when: datetime
    site: int | None
    accepted: bool
    reason: str


@dataclass
class World:
    valence: int
    die: int
    library: int
    town_hall: int
    square: int
    station: int
    sessions: list[Seeded] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)

    def commune_of(self, site: int | None) -> int | None:
        communes = {self.library: self.valence, self.town_hall: self.valence}
        return (communes | {self.square: self.die, self.station: self.die}).get(site or 0)

    # -- the numbers the seed implies ----------------------------------------------------------------

    def usage(self, key: str) -> dict[tuple[object, ...], tuple[int, int, int, int]]:
        """(day, place…) → (connections, people, octets in, octets out); ``key`` is region,
        commune or site."""
        groups: dict[tuple[object, ...], list[Seeded]] = defaultdict(list)
        for s in self.sessions:
            if not DAYS[0] <= s.start.date() <= DAYS[-1]:
                continue
            place: tuple[object, ...] = {
                "region": (), "commune": (s.commune,), "site": (s.commune, s.site)
            }[key]  # fmt: skip
            groups[(s.start.date(), *place)].append(s)
        return {
            k: (
                len(v),
                len(
                    {("account", s.account) if s.account else ("name", (s.username or "").lower()) for s in v}
                ),
                sum(s.octets_in for s in v),
                sum(s.octets_out for s in v),
            )
            for k, v in groups.items()
        }

    def refusals(self, key: str) -> Counter[tuple[object, ...]]:
        counted: Counter[tuple[object, ...]] = Counter()
        for d in self.decisions:
            if d.accepted or not DAYS[0] <= d.when.date() <= DAYS[-1]:
                continue
            if key != "region" and d.site is None:
                continue  # a decision of no known site has no commune
            place: tuple[object, ...] = {
                "region": (), "commune": (self.commune_of(d.site),), "site": (self.commune_of(d.site), d.site)
            }[key]  # fmt: skip
            counted[(d.when.date(), *place, d.reason)] += 1
        return counted

    def open_now(self) -> Counter[tuple[int | None, int | None]]:
        return Counter((s.commune, s.site) for s in self.sessions if s.open)

    def minutes(self) -> dict[datetime, tuple[int, int]]:
        end = NOW.replace(second=0)
        counts: dict[datetime, list[int]] = {end - timedelta(minutes=60 - n): [0, 0] for n in range(60)}
        for d in self.decisions:
            minute = d.when.replace(second=0, microsecond=0)
            if minute in counts:
                counts[minute][0 if d.accepted else 1] += 1
        return {m: (a, r) for m, (a, r) in counts.items()}


async def seed(
    session: AsyncSession, region: Region, hasher: PasswordHasher, *, sessions: int = 240
) -> World:
    """The places, the accounts, and ``sessions`` sessions (none at all with 0) and their decisions."""
    valence, library, town_hall, die, square = await add_places(session, region)
    station = await network.add_site(session, commune=die, name="Gare")
    accounts = await add_accounts(session, region, hasher, *(f"person{n}" for n in range(12)))
    world = World(
        valence=valence.id, die=die.id, library=library.id, town_hall=town_hall.id, square=square.id,
        station=station.id,
    )  # fmt: skip
    places = [
        (valence.id, library.id), (valence.id, town_hall.id), (valence.id, None), (die.id, square.id),
        (die.id, station.id),
    ]  # fmt: skip
    weights = [0.55, 0.02, 0.08, 0.34, 0.01]
    rng = random.Random(18)
    # the period's edges: the last second before it, its first and last seconds, the first after it
    edges = [
        datetime.combine(DAYS[0], datetime.min.time(), UTC) - timedelta(seconds=1),
        datetime.combine(DAYS[0], datetime.min.time(), UTC),
        datetime.combine(DAYS[-1], datetime.max.time(), UTC).replace(microsecond=0),
        datetime.combine(DAYS[-1] + timedelta(days=1), datetime.min.time(), UTC),
    ]
    starts = (edges if sessions else []) + [
        datetime.combine(rng.choice(DAYS), datetime.min.time(), UTC)
        + timedelta(seconds=rng.randrange(86_400))
        for _ in range(max(sessions - len(edges), 0))
    ]
    for n, start in enumerate(starts):
        commune, site = (
            places[n % len(places)] if n < len(edges) and sessions else rng.choices(places, weights)[0]
        )
        who = rng.randrange(len(accounts) + len(UNLINKED))
        account = accounts[who] if who < len(accounts) else None
        username = f"person{who}" if account else UNLINKED[who - len(accounts)]
        world.sessions.append(
            Seeded(
                start=start, commune=commune, site=site, account=account, username=username,
                octets_in=rng.randrange(10**9), octets_out=rng.randrange(10**10), open=rng.random() < 0.1,
            )
        )  # fmt: skip
    for n, s in enumerate(world.sessions):
        session.add(
            AccountingSession(
                acctsessionid=f"s{n}", acctuniqueid=f"{n:032x}", nasipaddress="192.0.2.1",
                username=s.username,
                acctstarttime=s.start, acctstoptime=None if s.open else s.start + timedelta(minutes=30),
                acctinputoctets=s.octets_in, acctoutputoctets=s.octets_out, account_id=s.account,
                site_id=s.site, commune_id=s.commune,
            )
        )  # fmt: skip
    last_hour = [
        NOW.replace(second=0) - timedelta(hours=1),
        NOW.replace(second=0),
        NOW - timedelta(minutes=61),
    ]
    whens = edges + last_hour + [
        NOW - timedelta(seconds=rng.randrange(3 * 86_400)) for _ in range(150)
    ]  # fmt: skip
    for when in whens:
        site = rng.choice([library.id, town_hall.id, square.id, station.id, None])
        accepted = rng.random() < 0.6
        world.decisions.append(Decision(when=when, site=site, accepted=accepted, reason=rng.choice(REASONS)))
    for d in world.decisions:
        session.add(
            AuthRecord(
                username="someone", reply="Access-Accept" if d.accepted else "Access-Reject", authdate=d.when,
                site_id=d.site, method="pap", reason="ok" if d.accepted else d.reason,
            )
        )  # fmt: skip
    world.decisions = [
        Decision(when=d.when, site=d.site, accepted=d.accepted, reason="ok" if d.accepted else d.reason)
        for d in world.decisions
    ]
    await session.flush()
    return world
