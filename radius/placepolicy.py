"""The access policy of each place (a commune, a site) and what counts against its limits: the
account's open sessions (simultaneous use) and what it used today (daily limits).

Policies are a small table: every row is kept in memory, and each (commune, site) is resolved once
(:func:`accounts.policies.resolve`: the site's value, else the commune's, else the region's default)
until the next :meth:`PlacePolicies.refresh` reloads them. The open sessions are re-read by the same
poll, so an accept asks the database only for today's usage, and only where a daily limit applies.
"Today" begins at midnight where the region is (``timezone``). The periodic upkeep of sessions —
closing the silent ones, finding those past a daily limit — reads the same policies.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts import policies, sessions
from accounts.models import AccessPolicy
from accounts.policies import Policy

_Place = tuple[int | None, int | None]  # (commune id, site id)


class PlacePolicies:
    """The policy and limits part of :class:`radius.sqlstore.SqlStore`. Until the first
    :meth:`refresh`, every place has the region's defaults and no account has an open session."""

    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        defaults: Policy,
        timezone: str = "Europe/Paris",
    ) -> None:
        self.sessions = sessions
        self.defaults = defaults
        self.timezone = ZoneInfo(timezone)
        self._by_commune: dict[int, AccessPolicy] = {}
        self._by_site: dict[int, AccessPolicy] = {}
        self._resolved: dict[_Place, Policy] = {}
        self._open_sessions: dict[int, list[str | None]] = {}

    async def refresh(self) -> None:
        """Reload every policy and every open session's account and device."""
        async with self.sessions() as session:
            by_commune, by_site = await policies.load_policies(session)
            open_sessions = await sessions.open_devices(session)
        self._by_commune, self._by_site = by_commune, by_site
        self._resolved = {}
        self._open_sessions = open_sessions

    def policy(self, *, commune_id: int | None, site_id: int | None) -> Policy:
        """The site's policy, resolved once per (commune, site) until policies are reloaded."""
        key = (commune_id, site_id)
        policy = self._resolved.get(key)
        if policy is None:
            policy = self._resolved[key] = policies.resolve(
                self.defaults,
                commune_id=commune_id,
                site_id=site_id,
                by_commune=self._by_commune,
                by_site=self._by_site,
            )
        return policy

    def open_devices(self, account_id: int) -> list[str | None]:
        """The device MACs of the account's open sessions, as of the last poll.

        Read from memory: every open session is re-read by :meth:`refresh` (every couple of
        seconds), so an accept costs no query. The few seconds of lag are in the protocol anyway:
        a session exists only once the NAS's Accounting Start arrived, seconds after its accept.
        """
        return self._open_sessions.get(account_id, [])

    def day_start(self, now: datetime) -> datetime:
        """Midnight of ``now``'s day where the region is (daily limits count from it)."""
        local = now.astimezone(self.timezone)
        return local.replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)

    async def usage_today(
        self, *, account_id: int, commune_id: int | None, now: datetime
    ) -> sessions.DailyUsage:
        async with self.sessions() as session:
            return await sessions.usage_since(
                session, account_id=account_id, commune_id=commune_id, since=self.day_start(now)
            )

    async def close_stale_sessions(self, *, now: datetime, silent_for: timedelta) -> int:
        """Close the open sessions with no record for ``silent_for`` (their NAS's Stop was lost)."""
        async with self.sessions() as session, session.begin():
            return await sessions.close_stale_sessions(session, silent_since=now - silent_for)

    async def sessions_over_limits(self, *, now: datetime) -> list[int]:
        """Open sessions past the daily limit of their site's policy, not yet asked to end."""
        async with self.sessions() as session:
            limits: dict[_Place, tuple[int | None, int | None]] = {}
            for commune_id, site_id in await sessions.open_places(session):
                policy = self.policy(commune_id=commune_id, site_id=site_id)
                if policy.daily_time_limit or policy.daily_octets_limit:
                    limits[(commune_id, site_id)] = (policy.daily_time_limit, policy.daily_octets_limit)
            if not limits:
                return []
            return await sessions.sessions_over_limits(session, since=self.day_start(now), limits=limits)
