"""Sponsored access (accounts.sponsorship) on SQLite and PostgreSQL, the clock given by the test: the
commune's sponsors, a request to one of them only, the one-time token (digest only, single use,
expiry), the pending cap, the day's voucher an approval makes (Europe/Paris midnight, both around
a change of time), and the purge a day after."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from accounts import sponsorship, vouchers
from accounts.errors import InvalidInput
from accounts.models import Region, Site, SponsorRequest, Voucher, VoucherBatch
from accounts.network import add_commune, add_site, ensure_home_region
from accounts.secretbox import SecretBox
from accounts.vouchercodes import judge
from sesame.db import create_sessionmaker
from tests.conftest import TEST_REALM

NOW = datetime(2026, 12, 8, 9, tzinfo=UTC)


def test_sponsors_are_parsed_and_masked() -> None:
    found = sponsorship.parse_sponsors(
        "Anne Martin <anne@Mairie.example>\n\n  bruno@mairie.example \nAnne bis <anne@mairie.example>"
    )
    assert [(s.name, s.email) for s in found] == [
        ("Anne Martin", "anne@mairie.example"),
        ("", "bruno@mairie.example"),
    ]
    assert found[0].masked == "a•••@mairie.example"
    for bad in ("not an address", "Anne <anne@[127.0.0.1]>", "Eve\x1b <eve@mairie.example>", "a@b\x00.fr"):
        with pytest.raises(InvalidInput):
            sponsorship.parse_sponsors(bad)
    with pytest.raises(InvalidInput):
        sponsorship.parse_sponsors("\n".join(f"s{n}@mairie.example" for n in range(51)))


def test_the_day_ends_at_midnight_in_paris() -> None:
    assert sponsorship.end_of_day(NOW) == datetime(2026, 12, 8, 23, tzinfo=UTC)  # CET
    summer = datetime(2026, 7, 1, 21, 30, tzinfo=UTC)  # already 23:30 in Paris (CEST)
    assert sponsorship.end_of_day(summer) == datetime(2026, 7, 1, 22, tzinfo=UTC)
    late = datetime(2026, 7, 1, 22, 30, tzinfo=UTC)  # 00:30 the next day in Paris
    assert sponsorship.end_of_day(late) == datetime(2026, 7, 2, 22, tzinfo=UTC)


async def _commune(session: AsyncSession, region: Region, *, enabled: bool = True) -> int:
    commune = await add_commune(session, region=region, name="Nice", insee_code="06088")
    await add_site(session, commune=commune, name="Port")
    await sponsorship.configure(
        session, commune=commune, enabled=enabled,
        sponsors=sponsorship.parse_sponsors("Anne <anne@nice.example>\nbruno@nice.example"), now=NOW,
    )  # fmt: skip
    return commune.id


async def test_a_request_goes_to_a_listed_sponsor_with_a_digested_token(
    session: AsyncSession, region: Region, box: SecretBox
) -> None:
    commune_id = await _commune(session, region)
    request, sponsor, token = await sponsorship.ask(
        session, box=box, commune_id=commune_id, sponsor_index=1, note="  Jeanne \t D. ", now=NOW
    )
    assert sponsor.email == "bruno@nice.example" == request.sponsor_email
    assert request.note == "Jeanne D." and request.status == "pending"
    assert token not in request.token_digest and len(token) >= 40
    assert request.expires_at == NOW + timedelta(minutes=30)
    assert await sponsorship.by_token(session, box=box, token=token) is request
    assert (
        await sponsorship.by_token(session, box=box, token=token[:-1] + ("B" if token.endswith("A") else "A"))
        is None
    )
    assert await sponsorship.by_token(session, box=box, token="x\x00" * 20) is None
    for index in (2, -1):
        with pytest.raises(InvalidInput):
            await sponsorship.ask(
                session, box=box, commune_id=commune_id, sponsor_index=index, note="", now=NOW
            )
    for note in ("x" * 201, "Jeanne\x00", "\x07"):
        with pytest.raises(InvalidInput):
            await sponsorship.ask(
                session, box=box, commune_id=commune_id, sponsor_index=0, note=note, now=NOW
            )


async def test_off_means_no_request(session: AsyncSession, region: Region, box: SecretBox) -> None:
    commune_id = await _commune(session, region, enabled=False)
    with pytest.raises(sponsorship.SponsorshipOff):
        await sponsorship.ask(session, box=box, commune_id=commune_id, sponsor_index=0, note="", now=NOW)
    commune = await add_commune(session, region=region, name="Menton", insee_code="06083")
    with pytest.raises(InvalidInput):  # on needs a sponsor
        await sponsorship.configure(session, commune=commune, enabled=True, sponsors=[], now=NOW)


async def test_pending_requests_are_capped_per_sponsor(
    session: AsyncSession, region: Region, box: SecretBox
) -> None:
    commune_id = await _commune(session, region)
    for _ in range(sponsorship.MAX_PENDING):
        await sponsorship.ask(session, box=box, commune_id=commune_id, sponsor_index=0, note="", now=NOW)
    with pytest.raises(sponsorship.TooManyPending):
        await sponsorship.ask(session, box=box, commune_id=commune_id, sponsor_index=0, note="", now=NOW)
    await sponsorship.ask(session, box=box, commune_id=commune_id, sponsor_index=1, note="", now=NOW)
    later = NOW + timedelta(minutes=31)  # the others expired: no longer pending
    await sponsorship.ask(session, box=box, commune_id=commune_id, sponsor_index=0, note="", now=later)


async def test_an_approval_makes_the_days_voucher_once(
    session: AsyncSession, region: Region, box: SecretBox
) -> None:
    commune_id = await _commune(session, region)
    request, _sponsor, _token = await sponsorship.ask(
        session, box=box, commune_id=commune_id, sponsor_index=0, note="", now=NOW
    )
    assert await sponsorship.account_of(session, request=request, now=NOW) is None  # pending
    await sponsorship.decide(session, box=box, region=region, request=request, approve=True, now=NOW)
    assert request.status == "approved" and request.decided_at == NOW and request.voucher_id is not None
    voucher = await session.get_one(Voucher, request.voucher_id)
    batch = await session.get_one(VoucherBatch, voucher.batch_id)
    assert (batch.commune_id, batch.count, batch.max_devices) == (commune_id, 1, 1)
    assert (
        batch.valid_until == datetime(2026, 12, 8, 23, tzinfo=UTC) and batch.created_by == "anne@nice.example"
    )
    account = await sponsorship.account_of(session, request=request, now=NOW)
    assert account is not None and account.id == voucher.account_id
    # what the RADIUS policy reads: at the commune's site until midnight, one device, nowhere else
    state = await vouchers.state_of_account(session, account_id=voucher.account_id)
    assert state is not None
    site = (await session.scalars(select(Site).where(Site.commune_id == commune_id))).one()
    here = judge(state, now=NOW, commune_id=commune_id, site_id=site.id)
    assert here.refusal is None and here.seconds_left == 14 * 3600
    assert judge(state, now=NOW, commune_id=commune_id + 1, site_id=None).refusal == "voucher_wrong_place"
    assert (
        judge(state, now=NOW, commune_id=commune_id, site_id=site.id, devices_in_use=1).refusal
        == "voucher_devices"
    )
    assert await sponsorship.account_of(session, request=request, now=NOW + timedelta(hours=14)) is None
    with pytest.raises(sponsorship.RequestClosed) as closed:
        await sponsorship.decide(session, box=box, region=region, request=request, approve=False, now=NOW)
    assert closed.value.status == "approved"


async def test_refused_and_expired_requests_make_nothing(
    session: AsyncSession, region: Region, box: SecretBox
) -> None:
    commune_id = await _commune(session, region)
    refused, _s, _t = await sponsorship.ask(
        session, box=box, commune_id=commune_id, sponsor_index=0, note="", now=NOW
    )
    await sponsorship.decide(session, box=box, region=region, request=refused, approve=False, now=NOW)
    assert refused.status == "refused" and refused.voucher_id is None
    assert await sponsorship.account_of(session, request=refused, now=NOW) is None
    late, _s, _t = await sponsorship.ask(
        session, box=box, commune_id=commune_id, sponsor_index=1, note="", now=NOW
    )
    with pytest.raises(sponsorship.RequestClosed) as closed:
        await sponsorship.decide(
            session, box=box, region=region, request=late, approve=True, now=NOW + timedelta(minutes=30)
        )
    assert closed.value.status == "expired"
    assert await session.scalar(select(func.count()).select_from(VoucherBatch)) == 0


async def test_old_requests_are_purged_a_day_after(engine: AsyncEngine, box: SecretBox) -> None:
    sessions = create_sessionmaker(engine)
    async with sessions() as session, session.begin():
        region = await ensure_home_region(session, realm=TEST_REALM, name="Région")
        commune_id = await _commune(session, region)
        decided, _s, _t = await sponsorship.ask(
            session, box=box, commune_id=commune_id, sponsor_index=0, note="", now=NOW
        )
        await sponsorship.decide(session, box=box, region=region, request=decided, approve=False, now=NOW)
        await sponsorship.ask(session, box=box, commune_id=commune_id, sponsor_index=1, note="", now=NOW)
    day = timedelta(days=1)
    assert await sponsorship.purge(sessions, now=NOW + day) == 0
    assert await sponsorship.purge(sessions, now=NOW + day + timedelta(minutes=1), dry_run=True) == 1
    assert await sponsorship.purge(sessions, now=NOW + day + timedelta(minutes=31)) == 2
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(SponsorRequest)) == 0
