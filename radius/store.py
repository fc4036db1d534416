"""What the policy pipeline needs from storage, as a protocol, and the views it gets back.

:class:`radius.sqlstore.SqlStore` implements it over the ``accounts`` services; tests use an
in-memory fake. Views are plain frozen dataclasses: nothing ORM-bound crosses into the pipeline.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from accounts.authlog import Decision as RecordedDecision
from accounts.policies import Policy
from accounts.sessions import DailyUsage
from accounts.vouchercodes import VoucherState


@dataclass(frozen=True, slots=True, kw_only=True)
class AccountView:
    id: int
    username: str
    status: str  # active / disabled / locked
    email_verified: bool
    password_hash: str | None
    #: an unverified account may connect until then (to read its verification email)
    grace_until: datetime | None = None
    #: the language the person uses the portal in: their refusals' Reply-Message once they proved
    #: who they are
    locale: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DeviceView:
    mac: str
    account: AccountView
    remembered_until: datetime | None


class Store(Protocol):
    async def account(self, username: str) -> AccountView | None: ...

    async def device(self, mac: str) -> DeviceView | None: ...

    async def consume_token(
        self, *, username: str, token: str, nas_id: int | None, now: datetime
    ) -> AccountView | None:
        """Use a live single-use token of this user issued for the access point ``nas_id`` (the
        requesting client's; None, a partner's proxy, never matches): its account, or None (then
        it was no token)."""
        ...

    async def consume_token_matching(
        self, *, account_id: int, nas_id: int | None, matches: Callable[[bytes], bool], now: datetime
    ) -> bool:
        """Use the live token of the account issued for ``nas_id`` for which ``matches`` holds."""
        ...

    async def nt_hashes(self, *, account_id: int) -> list[tuple[int, bytes]]: ...

    def upgrade_password(self, *, account_id: int, old_hash: str, password: str) -> None:
        """An imported (legacy) hash was just proved right with ``password``: replace it with
        argon2id, in the background (the request does not wait for it)."""
        ...

    async def certificate_owner(self, *, issuer: bytes, serial: int, now: datetime) -> str | None:
        """The username whose device certificate this is (issuer: its DER name), if registered,
        unrevoked and unexpired; read from the database every time (revocation is immediate)."""
        ...

    async def voucher(self, code: str) -> tuple[AccountView, VoucherState] | None:
        """The voucher of a code as typed, and its account; read from the database every time (a
        revocation is immediate). None: no such voucher."""
        ...

    async def voucher_of(self, account_id: int) -> VoucherState | None:
        """The voucher whose account this is (read every time), or None."""
        ...

    async def voucher_used(self, state: VoucherState, now: datetime) -> None:
        """Its first accepted connection: its duration starts now."""
        ...

    def policy(self, *, commune_id: int | None, site_id: int | None) -> Policy: ...

    async def open_devices(self, account_id: int) -> list[str | None]:
        """The device MACs (None if unknown) of the account's open sessions."""
        ...

    async def usage_today(self, *, account_id: int, commune_id: int | None, now: datetime) -> DailyUsage:
        """What the account used today in that commune (sessions started since local midnight)."""
        ...

    def record(self, decision: RecordedDecision) -> None: ...
