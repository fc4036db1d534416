"""Vouchers (accounts.vouchers, accounts.vouchercodes) on SQLite and PostgreSQL, the clock given by
the test: codes, the window, the duration from first use, devices, data allowance, places,
revocation, the reach, and the purge of expired vouchers."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from unittest.mock import patch

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from accounts import users, vouchers
from accounts.admins import Reach
from accounts.errors import InvalidInput, NotFound
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
)
from accounts.network import add_commune, add_site, ensure_home_region
from accounts.secretbox import SecretBox
from accounts.vouchercodes import (
    ALPHABET,
    VoucherState,
    is_voucher_username,
    judge,
    new_code,
    normalize_code,
)
from sesame.db import create_sessionmaker
from tests.conftest import TEST_REALM

NOW = datetime(2026, 12, 8, 9, tzinfo=UTC)
HOUR, DAY = timedelta(hours=1), timedelta(days=1)


def _spec(**overrides: object) -> vouchers.BatchSpec:
    values: dict[str, object] = {
        "label": "Conseil municipal",
        "count": 3,
        "valid_from": NOW,
        "valid_until": NOW + 2 * DAY,
        "duration": 2 * HOUR,
        "octets_limit": 1_000_000,
        "max_devices": 2,
    }
    values.update(overrides)
    return vouchers.BatchSpec(**values)  # type: ignore[arg-type]


async def _places(session: AsyncSession, region: Region) -> tuple[Commune, Site, Commune, Site]:
    nice = await add_commune(session, region=region, name="Nice", insee_code="06088")
    port = await add_site(session, commune=nice, name="Port")
    menton = await add_commune(session, region=region, name="Menton", insee_code="06083")
    plage = await add_site(session, commune=menton, name="Plage")
    return nice, port, menton, plage


def test_codes_are_typeable_and_normalised() -> None:
    code = new_code()
    assert len(code) == 14 and code[4] == code[9] == "-"
    assert all(ch in ALPHABET for ch in code.replace("-", ""))
    assert not set("01OILU") & set(ALPHABET)
    assert normalize_code(code.lower().replace("-", " ")) == code.replace("-", "")
    for bad in ("", "ABCD-EFGH-JKM", "ABCD-EFGH-JKMO", "ABCD\x00EFGH-JKMN", "A" * 1000, "ÄBCD-EFGH-JKMN"):
        assert normalize_code(bad) is None
    assert len({new_code() for _ in range(200)}) == 200
    # never a MAC address in disguise (hexadecimal digits only): the RADIUS policy would take it for one
    with patch("accounts.vouchercodes.secrets.choice", side_effect=list("ABCDEF234567" + "X" * 12)):
        assert new_code() == "XXXX-XXXX-XXXX"


async def test_a_batch_makes_accounts_with_digested_codes(
    session: AsyncSession, region: Region, box: SecretBox
) -> None:
    nice, port, _menton, _plage = await _places(session, region)
    batch, codes = await vouchers.create_batch(
        session, box=box, region=region, commune=nice, spec=_spec(sites=[port]), created_by="admin:1", now=NOW
    )
    assert len(codes) == 3 == len(set(codes))
    rows = (await session.scalars(select(Voucher).where(Voucher.batch_id == batch.id))).all()
    for row in rows:  # the code is nowhere in clear
        assert all(code.replace("-", "") not in (row.digest, row.code_ciphertext) for code in codes)
    accounts = (
        await session.scalars(select(Account).where(Account.id.in_([r.account_id for r in rows])))
    ).all()
    assert all(
        is_voucher_username(a.username) and a.password_hash is None and a.email_verified for a in accounts
    )
    assert all((a.email or "").endswith("@vouchers.invalid") for a in accounts)
    assert [code for _n, code in await vouchers.batch_codes(session, box=box, batch=batch)] == codes
    assert await vouchers.places_of(session, batch) == ([], [port.id])
    state = await vouchers.state_by_code(session, box=box, region_id=region.id, code=codes[1].lower())
    assert state is not None and state.sites == {port.id} and state.first_used_at is None
    assert await vouchers.state_by_code(session, box=box, region_id=region.id, code=new_code()) is None


async def test_what_a_batch_may_be(session: AsyncSession, region: Region, box: SecretBox) -> None:
    nice, _port, menton, plage = await _places(session, region)
    bad = [
        _spec(count=0),
        _spec(count=501),
        _spec(label=" "),
        _spec(label="x\x00y"),
        _spec(valid_until=NOW),
        _spec(valid_from=NOW - 3 * DAY, valid_until=NOW - DAY),
        _spec(valid_until=NOW + 400 * DAY),
        _spec(valid_from=NOW + 400 * DAY, valid_until=NOW + 401 * DAY),
        _spec(duration=timedelta(seconds=30)),
        _spec(max_devices=0),
        _spec(octets_limit=0),
        _spec(sites=[plage]),  # a Menton site for a Nice batch
        _spec(communes=[menton]),
    ]
    for spec in bad:
        with pytest.raises(InvalidInput):
            await vouchers.create_batch(
                session, box=box, region=region, commune=nice, spec=spec, created_by="a", now=NOW
            )


async def test_the_reach_ends_at_the_commune(session: AsyncSession, region: Region, box: SecretBox) -> None:
    nice, _port, menton, _plage = await _places(session, region)
    ours, _ = await vouchers.create_batch(
        session, box=box, region=region, commune=nice, spec=_spec(), created_by="a", now=NOW
    )
    theirs, _ = await vouchers.create_batch(
        session, box=box, region=region, commune=menton, spec=_spec(), created_by="a", now=NOW
    )
    regional, _ = await vouchers.create_batch(
        session, box=box, region=region, commune=None, spec=_spec(), created_by="a", now=NOW
    )
    reach = Reach(commune_id=nice.id)
    listed, total = await vouchers.list_batches(session, reach=reach, limit=10)
    assert [b.id for b in listed] == [ours.id] and total == 1
    assert (await vouchers.get_batch(session, reach=reach, batch_id=ours.id)).id == ours.id
    for hidden in (theirs.id, regional.id, 10_000):
        with pytest.raises(NotFound):
            await vouchers.get_batch(session, reach=reach, batch_id=hidden)
    everything, total = await vouchers.list_batches(session, reach=Reach(), limit=10)
    assert total == 3 and [b.id for b in everything] == [regional.id, theirs.id, ours.id]


def _state(**overrides: object) -> VoucherState:
    values: dict[str, object] = {
        "voucher_id": 1,
        "account_id": 1,
        "valid_from": NOW,
        "valid_until": NOW + 2 * DAY,
        "expires_at": NOW + 2 * DAY,
        "duration": 2 * HOUR,
        "first_used_at": None,
        "revoked": False,
        "octets_limit": 1000,
        "octets_used": 0,
        "max_devices": 2,
        "communes": frozenset(),
        "sites": frozenset(),
        "batch_commune_id": 7,
    }
    values.update(overrides)
    return VoucherState(**values)  # type: ignore[arg-type]


def test_the_rules() -> None:
    here = {"commune_id": 7, "site_id": 70}
    fresh = judge(_state(), now=NOW + HOUR, **here)
    assert fresh.refusal is None and fresh.seconds_left == 7200 and fresh.octets_left == 1000
    assert judge(_state(), now=NOW - timedelta(seconds=1), **here).refusal == "voucher_not_yet_valid"
    assert judge(_state(), now=NOW + 2 * DAY, **here).refusal == "voucher_expired"
    # the duration runs from the first use, never past the window
    used = _state(first_used_at=NOW + HOUR)
    assert judge(used, now=NOW + 2 * HOUR, **here).seconds_left == 3600
    assert judge(used, now=NOW + 3 * HOUR, **here).refusal == "voucher_expired"
    late = judge(_state(), now=NOW + 2 * DAY - 60 * timedelta(seconds=1), **here)
    assert late.refusal is None and late.seconds_left == 60
    assert judge(_state(revoked=True), now=NOW + HOUR, **here).refusal == "voucher_revoked"
    # places: the batch's commune by default; named sites or communes otherwise; never a proxy
    assert judge(_state(), now=NOW, commune_id=8, site_id=80).refusal == "voucher_wrong_place"
    assert judge(_state(), now=NOW, commune_id=None, site_id=None).refusal == "voucher_wrong_place"
    assert judge(_state(batch_commune_id=None), now=NOW, commune_id=8, site_id=80).refusal is None
    sites = _state(sites=frozenset({70}))
    assert judge(sites, now=NOW, commune_id=7, site_id=71).refusal == "voucher_wrong_place"
    assert judge(sites, now=NOW, **here).refusal is None
    assert judge(_state(communes=frozenset({8})), now=NOW, commune_id=8, site_id=80).refusal is None
    # devices at once, data allowance
    assert judge(_state(), now=NOW, devices_in_use=1, **here).refusal is None
    assert judge(_state(), now=NOW, devices_in_use=2, **here).refusal == "voucher_devices"
    assert judge(_state(octets_used=999), now=NOW, **here).octets_left == 1
    assert judge(_state(octets_used=1000), now=NOW, **here).refusal == "voucher_volume"
    assert judge(_state(octets_limit=None, octets_used=10**12), now=NOW, **here).octets_left is None


async def test_first_use_starts_the_duration_and_volume_counts(
    session: AsyncSession, region: Region, box: SecretBox
) -> None:
    nice, port, _menton, _plage = await _places(session, region)
    _batch, codes = await vouchers.create_batch(
        session, box=box, region=region, commune=nice, spec=_spec(), created_by="a", now=NOW
    )
    state = await vouchers.state_by_code(session, box=box, region_id=region.id, code=codes[0])
    assert state is not None
    await vouchers.mark_used(session, state=state, now=NOW + HOUR)
    await vouchers.mark_used(session, state=state, now=NOW + 5 * HOUR)  # once only
    session.add(
        AccountingSession(
            acctsessionid="s1",
            acctuniqueid="s1",
            username="x",
            nasipaddress="192.0.2.1",
            acctstarttime=NOW + HOUR,
            account_id=state.account_id,
            acctinputoctets=600_000,
            acctoutputoctets=500_000,
        )
    )
    await session.flush()
    here = {"commune_id": nice.id, "site_id": port.id}
    after = await vouchers.state_of_account(session, account_id=state.account_id)
    assert after is not None and after.first_used_at == NOW + HOUR and after.expires_at == NOW + 3 * HOUR
    assert after.octets_used == 1_100_000
    assert judge(after, now=NOW + 2 * HOUR, **here).refusal == "voucher_volume"
    account = await vouchers.redeem(session, box=box, region=region, code=codes[1], now=NOW + HOUR)
    assert account.id != state.account_id
    for code, when, reason in (
        (codes[0], NOW + 4 * HOUR, "expired"),
        (codes[1], NOW - HOUR, "not_yet_valid"),
        (new_code(), NOW + HOUR, "unknown"),
        ("not a code", NOW + HOUR, "unknown"),
    ):
        with pytest.raises(vouchers.VoucherRefused) as refused:
            await vouchers.redeem(session, box=box, region=region, code=code, now=when)
        assert refused.value.reason == reason


async def test_revoking_a_batch(session: AsyncSession, region: Region, box: SecretBox) -> None:
    nice, _port, _menton, _plage = await _places(session, region)
    batch, codes = await vouchers.create_batch(
        session, box=box, region=region, commune=nice, spec=_spec(), created_by="a", now=NOW
    )
    await vouchers.revoke_batch(session, batch=batch, now=NOW + HOUR)
    await vouchers.revoke_batch(session, batch=batch, now=NOW + 2 * HOUR)  # idempotent
    batch_id = batch.id
    assert (await session.get_one(VoucherBatch, batch_id, populate_existing=True)).revoked_at == NOW + HOUR
    state = await vouchers.state_by_code(session, box=box, region_id=region.id, code=codes[0])
    assert state is not None and state.revoked
    statuses = await session.scalars(
        select(Account.status).where(
            Account.id.in_(select(Voucher.account_id).where(Voucher.batch_id == batch_id))
        )
    )
    assert set(statuses) == {AccountStatus.DISABLED}
    with pytest.raises(vouchers.VoucherRefused):
        await vouchers.redeem(
            session, box=box, region=region, code=codes[0], now=NOW + 90 * timedelta(minutes=1)
        )


async def test_purge_deletes_expired_vouchers_and_keeps_their_records(
    engine: AsyncEngine, box: SecretBox
) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        region = await ensure_home_region(session, realm=TEST_REALM, name="Test")
        nice = await add_commune(session, region=region, name="Nice", insee_code="06088")
        spec = _spec(count=2, valid_until=NOW + DAY)
        old, old_codes = await vouchers.create_batch(
            session, box=box, region=region, commune=nice, spec=spec, created_by="a", now=NOW
        )
        new, _ = await vouchers.create_batch(
            session, box=box, region=region, commune=nice, spec=_spec(valid_until=NOW + 5 * DAY),
            created_by="a", now=NOW,
        )  # fmt: skip
        state = await vouchers.state_by_code(session, box=box, region_id=region.id, code=old_codes[0])
        assert state is not None
        await vouchers.mark_used(session, state=state, now=NOW)
        session.add(AuthRecord(
            username="x", reply="Access-Accept", authdate=NOW, method="voucher", reason="accepted",
            nasipaddress="192.0.2.1", account_id=state.account_id,
        ))  # fmt: skip
        old_id, new_id, used_account = old.id, new.id, state.account_id
    later = NOW + 2 * DAY + HOUR  # the old batch ended a day and an hour ago
    assert await vouchers.purge_expired(sessions, box=box, now=later, batch_size=1, dry_run=True) == (
        vouchers.VoucherPurge(2, 1)
    )
    assert await vouchers.purge_expired(sessions, box=box, now=later, batch_size=1) == vouchers.VoucherPurge(
        2, 1
    )
    async with sessions() as session:
        assert await session.get(VoucherBatch, old_id) is None
        assert await session.get(VoucherBatch, new_id) is not None
        assert await session.scalar(select(func.count()).select_from(Voucher)) == 3
        assert await session.get(Account, used_account) is None
        record = (await session.scalars(select(AuthRecord))).one()
        assert record.account_id is None and record.username.startswith("deleted-")
        assert await session.scalar(select(func.count()).select_from(Tombstone)) == 2
    assert await vouchers.purge_expired(sessions, box=box, now=later, batch_size=10) == vouchers.VoucherPurge(
        0, 0
    )


async def test_a_voucher_account_is_deleted_like_any(
    session: AsyncSession, region: Region, box: SecretBox
) -> None:
    _batch, codes = await vouchers.create_batch(
        session, box=box, region=region, commune=None, spec=_spec(count=1), created_by="a", now=NOW
    )
    state = await vouchers.state_by_code(session, box=box, region_id=region.id, code=codes[0])
    assert state is not None
    account = await session.get_one(Account, state.account_id)
    identity = f"{account.username}@{TEST_REALM}"
    pseudonym = await users.delete_account(session, box=box, account=account, now=NOW)
    assert pseudonym == users.pseudonym_of(box, identity.upper())
