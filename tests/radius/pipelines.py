"""In-memory stand-ins for what the policy pipeline is given: a store of accounts, devices and tokens
(:class:`FakeStore`, checked by mypy against ``radius.store.Store``) and a counting stand-in for
argon2id (:class:`Verifier`). The fixtures that build a pipeline over them, and ``decide()``, which
drives one request through the core and the pipeline, are in ``conftest.py``."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from accounts.authlog import Decision as Recorded
from accounts.policies import Policy
from accounts.sessions import DailyUsage
from accounts.vouchercodes import VoucherState
from radius.accounting import SessionClass
from radius.store import AccountView, DeviceView

REALM = "wifi.sud.example"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
TOKEN = "A" * 12 + "b" * 12
CLASSES = SessionClass(b"class-key" * 4)
CUI_KEY = b"cui-key" * 5


@dataclass
class FakeStore:
    accounts: dict[str, AccountView] = field(default_factory=dict)
    devices: dict[str, DeviceView] = field(default_factory=dict)
    #: (account id, old hash, password) of each imported hash the pipeline asked to replace
    upgrades: list[tuple[int, str, str]] = field(default_factory=list)
    tokens: dict[str, tuple[int, bool]] = field(default_factory=dict)  # token -> (account id, used)
    #: token -> the access point it was issued for (1, ap-valence, when not given)
    token_nas: dict[str, int | None] = field(default_factory=dict)
    lookups: int = 0
    hashes: dict[int, list[tuple[int, bytes]]] = field(default_factory=dict)
    certificates: dict[tuple[bytes, int], str] = field(default_factory=dict)  # (issuer, serial) -> username
    records: list[Recorded] = field(default_factory=list)
    policy_value: Policy = field(default_factory=Policy)
    open_macs: dict[int, list[str | None]] = field(default_factory=dict)
    used_today: dict[int, DailyUsage] = field(default_factory=dict)
    #: normalised code -> (its account's username, its state); first uses recorded
    vouchers: dict[str, tuple[str, VoucherState]] = field(default_factory=dict)
    voucher_uses: list[tuple[int, datetime]] = field(default_factory=list)

    async def account(self, username: str) -> AccountView | None:
        self.lookups += 1
        return self.accounts.get(username)

    async def device(self, mac: str) -> DeviceView | None:
        return self.devices.get(mac)

    async def open_devices(self, account_id: int) -> list[str | None]:
        return self.open_macs.get(account_id, [])

    async def usage_today(self, *, account_id: int, commune_id: int | None, now: datetime) -> DailyUsage:
        return self.used_today.get(account_id, DailyUsage(0, 0))

    async def consume_token(
        self, *, username: str, token: str, nas_id: int | None, now: datetime
    ) -> AccountView | None:
        account = self.accounts.get(username)
        owner = self.tokens.get(token)
        if account is None or owner is None or owner[0] != account.id or owner[1]:
            return None
        if nas_id is None or self.token_nas.get(token, 1) != nas_id:
            return None
        self.tokens[token] = (account.id, True)
        return account

    async def consume_token_matching(
        self, *, account_id: int, nas_id: int | None, matches: Callable[[bytes], bool], now: datetime
    ) -> bool:
        for token, (owner, used) in self.tokens.items():
            if nas_id is None or self.token_nas.get(token, 1) != nas_id:
                continue
            if owner == account_id and not used and matches(token.encode()):
                self.tokens[token] = (owner, True)
                return True
        return False

    def upgrade_password(self, *, account_id: int, old_hash: str, password: str) -> None:
        self.upgrades.append((account_id, old_hash, password))

    async def nt_hashes(self, *, account_id: int) -> list[tuple[int, bytes]]:
        return self.hashes.get(account_id, [])

    async def certificate_owner(self, *, issuer: bytes, serial: int, now: datetime) -> str | None:
        return self.certificates.get((issuer, serial))

    async def voucher(self, code: str) -> tuple[AccountView, VoucherState] | None:
        found = self.vouchers.get(code.upper().replace("-", ""))
        if found is None:
            return None
        return self.accounts[found[0]], found[1]

    async def voucher_of(self, account_id: int) -> VoucherState | None:
        return next((state for _, state in self.vouchers.values() if state.account_id == account_id), None)

    async def voucher_used(self, state: VoucherState, now: datetime) -> None:
        self.voucher_uses.append((state.voucher_id, now))

    def policy(self, *, commune_id: int | None, site_id: int | None) -> Policy:
        return self.policy_value

    def record(self, decision: Recorded) -> None:
        self.records.append(decision)


class Verifier:
    """Stands in for argon2id: ``hash:<password>``; counts calls to show the cache works."""

    def __init__(self) -> None:
        self.calls = 0
        self.serials: list[str | None] = []

    async def __call__(
        self, password: str, password_hash: str | None, *, source: str = "", serial: str | None = None
    ) -> bool:
        self.calls += 1
        self.serials.append(serial)
        return password_hash == f"hash:{password}"


def account(id: int = 1, username: str = "alice", **kw: object) -> AccountView:
    values = {"status": "active", "email_verified": True, "password_hash": "hash:correct horse"} | kw
    return AccountView(id=id, username=username, **values)  # type: ignore[arg-type]
