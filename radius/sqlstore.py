"""The pipeline's :class:`~radius.store.Store` over the ``accounts`` services and SQL: what a
request reads and writes, and what the server's timers poll. It holds no logic of its own: each
job is one part, and the store hands every call to the part that does it —

- :class:`radius.accountcache.AccountCache`: accounts by username, devices by MAC and device
  credentials' NT hashes, cached in
  memory (the working set preloaded at start), changed rows forgotten at each poll;
- :class:`radius.placepolicy.PlacePolicies`: the policy of each place, the open sessions and
  today's usage its limits count, the periodic upkeep of sessions;
- :class:`radius.tokenbatch.TokenBatches`: single-use portal tokens, never cached (single use must
  hold across worker processes), consumed in group-committed batches;
- :class:`radius.records.RecordWriter`: the records a request leaves (decisions, accounting),
  written off the request path;
- :class:`radius.nasclients.NasClients`: the access points allowed to talk to us.

:meth:`SqlStore.refresh` (every couple of seconds) polls the two parts that keep copies of rows.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from accounts import certificates, sessions, users, vouchers
from accounts.authlog import Decision as RecordedDecision
from accounts.models import Account
from accounts.network import ensure_home_region
from accounts.policies import Policy
from accounts.secretbox import SecretBox
from accounts.vouchercodes import VoucherState
from radius.accountcache import AccountCache
from radius.clients import ClientTable
from radius.nasclients import NasClients
from radius.placepolicy import PlacePolicies
from radius.records import RecordWriter
from radius.store import AccountView, DeviceView
from radius.tokenbatch import TokenBatches

log = logging.getLogger("sesame.radius.store")


class SqlStore:
    def __init__(
        self,
        *,
        sessions: async_sessionmaker[AsyncSession],
        box: SecretBox,
        realm: str,
        region_name: str,
        defaults: Policy,
        cache_size: int = 500_000,
        max_buffered_records: int = 100_000,
        accounting_batch: int = 1000,
        timezone: str = "Europe/Paris",
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        preload: bool = True,
        rehash: Callable[[str], Awaitable[str]] | None = None,
    ) -> None:
        """``rehash``: argon2id of a password, off the loop (the verifier's pool), for replacing
        imported hashes after a log-in (:meth:`upgrade_password`); None: they are kept."""
        self.sessions = sessions
        self.box = box
        self.realm = realm
        self.region_name = region_name
        self.region_id = 0  # the home region's, known once started
        self._preload = preload
        self._cache = AccountCache(
            sessions=sessions,
            region_id=lambda: self.region_id,
            cache_size=cache_size,
            clock=clock,
            monotonic=monotonic,
        )
        self._places = PlacePolicies(sessions=sessions, defaults=defaults, timezone=timezone)
        self._tokens = TokenBatches(sessions=sessions, box=box, region_id=lambda: self.region_id)
        self._writer = RecordWriter(
            sessions=sessions,
            max_buffered_records=max_buffered_records,
            accounting_batch=accounting_batch,
            monotonic=monotonic,
        )
        self._clients = NasClients(sessions=sessions, box=box)
        self._rehash = rehash
        self._upgrading: dict[int, asyncio.Task[None]] = {}

    async def start(self) -> None:
        """Make sure the home region exists, load the policies and open sessions, and (unless
        told not to) the working set of accounts and devices."""
        async with self.sessions() as session, session.begin():
            region = await ensure_home_region(session, realm=self.realm, name=self.region_name)
            self.region_id = region.id
        await self._places.refresh()
        if self._preload:
            await self._cache.preload()

    async def refresh(self) -> None:
        """Forget cached accounts and devices changed since the last poll; reload policies and
        open sessions."""
        await self._cache.refresh()
        await self._places.refresh()

    async def close(self) -> None:
        """Give the kept connections back (after the last flush)."""
        if self._upgrading:  # a few argon2id hashes: let them land
            await asyncio.wait(list(self._upgrading.values()), timeout=5)
        await self._writer.close()
        await self._tokens.close()

    # -- accounts and devices (radius.accountcache) ---------------------------------------------

    async def account(self, username: str) -> AccountView | None:
        return await self._cache.account(username)

    async def device(self, mac: str) -> DeviceView | None:
        return await self._cache.device(mac)

    # -- credentials (tokens: radius.tokenbatch) ------------------------------------------------

    async def consume_token(
        self, *, username: str, token: str, nas_id: int | None, now: datetime
    ) -> AccountView | None:
        """Group commit (see :class:`radius.tokenbatch.TokenBatches`)."""
        return await self._tokens.consume(username=username, token=token, nas_id=nas_id, now=now)

    async def consume_token_matching(
        self, *, account_id: int, nas_id: int | None, matches: Callable[[bytes], bool], now: datetime
    ) -> bool:
        return await self._tokens.consume_matching(
            account_id=account_id, nas_id=nas_id, matches=matches, now=now
        )

    def upgrade_password(self, *, account_id: int, old_hash: str, password: str) -> None:
        """One background task per account at a time; the UPDATE only replaces ``old_hash``
        (compare-and-swap), and the account's ``updated_at`` makes every cache forget it."""
        if self._rehash is None or account_id in self._upgrading:
            return
        task = asyncio.get_running_loop().create_task(self._upgrade(account_id, old_hash, password))
        self._upgrading[account_id] = task
        task.add_done_callback(lambda _: self._upgrading.pop(account_id, None))

    async def _upgrade(self, account_id: int, old_hash: str, password: str) -> None:
        assert self._rehash is not None
        try:
            new_hash = await self._rehash(password)
            async with self.sessions() as session, session.begin():
                replaced = await users.upgrade_password_hash(
                    session, account_id=account_id, old_hash=old_hash, new_hash=new_hash
                )
            if replaced:
                log.info("account %d: imported password hash replaced by argon2id", account_id)
        except Exception:  # a database away: the next log-in tries again
            log.warning("account %d: imported password hash not replaced", account_id, exc_info=True)

    async def nt_hashes(self, *, account_id: int) -> list[tuple[int, bytes]]:
        return await self._cache.nt_hashes(account_id, self.box)

    async def certificate_owner(self, *, issuer: bytes, serial: int, now: datetime) -> str | None:
        async with self.sessions() as session:
            owner = await certificates.certificate_owner(
                session, region_id=self.region_id, issuer_der=issuer, serial=serial, now=now
            )
        return None if owner is None else owner.username

    # -- guests' vouchers (accounts.vouchers; never cached: few, and a revocation is immediate) ----

    async def voucher(self, code: str) -> tuple[AccountView, VoucherState] | None:
        async with self.sessions() as session:
            state = await vouchers.state_by_code(session, box=self.box, region_id=self.region_id, code=code)
            account = None if state is None else await session.get(Account, state.account_id)
        if state is None or account is None:
            return None
        view = AccountView(
            id=account.id,
            username=account.username,
            status=str(account.status),
            email_verified=account.email_verified,
            password_hash=account.password_hash,
            grace_until=account.grace_until,
        )
        return view, state

    async def voucher_of(self, account_id: int) -> VoucherState | None:
        async with self.sessions() as session:
            return await vouchers.state_of_account(session, account_id=account_id)

    async def voucher_used(self, state: VoucherState, now: datetime) -> None:
        async with self.sessions() as session, session.begin():
            await vouchers.mark_used(session, state=state, now=now)

    # -- policies and limits (radius.placepolicy) -----------------------------------------------

    def policy(self, *, commune_id: int | None, site_id: int | None) -> Policy:
        return self._places.policy(commune_id=commune_id, site_id=site_id)

    async def open_devices(self, account_id: int) -> list[str | None]:
        """As of the last poll (see :meth:`PlacePolicies.open_devices`): no query."""
        return self._places.open_devices(account_id)

    def day_start(self, now: datetime) -> datetime:
        return self._places.day_start(now)

    async def usage_today(
        self, *, account_id: int, commune_id: int | None, now: datetime
    ) -> sessions.DailyUsage:
        return await self._places.usage_today(account_id=account_id, commune_id=commune_id, now=now)

    async def close_stale_sessions(self, *, now: datetime, silent_for: timedelta) -> int:
        return await self._places.close_stale_sessions(now=now, silent_for=silent_for)

    async def sessions_over_limits(self, *, now: datetime) -> list[int]:
        return await self._places.sessions_over_limits(now=now)

    # -- records (radius.records) ---------------------------------------------------------------

    def record(self, decision: RecordedDecision) -> None:
        self._writer.record(decision)

    async def flush_records(self) -> int:
        """Write the buffered decision records (see :meth:`RecordWriter.flush_records`)."""
        return await self._writer.flush_records()

    @property
    def records_dropped(self) -> int:
        """Decision records lost since this was last reset (the buffer was full)."""
        return self._writer.records_dropped

    @records_dropped.setter
    def records_dropped(self, value: int) -> None:
        self._writer.records_dropped = value

    async def record_usage(self, usage: sessions.Usage) -> None:
        """Return once the record is committed or refused (see :meth:`RecordWriter.record_usage`)."""
        await self._writer.record_usage(usage)

    # -- access points (radius.nasclients) ------------------------------------------------------

    async def clients_changed(self) -> bool:
        return await self._clients.changed()

    async def load_clients(self) -> ClientTable:
        return await self._clients.load()
