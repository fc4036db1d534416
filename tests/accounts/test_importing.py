"""The import's plan and its application, on SQLite and PostgreSQL: accounts created between the
plan and the write are skipped or refused, not a failed batch; batches commit one by one."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.importing import Existing, Line, Report, SourceRow, Verdict, apply, existing_accounts, plan
from accounts.models import Account
from accounts.network import ensure_home_region
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox
from accounts.users import create_account
from sesame.db import create_sessionmaker, unit_of_work
from tests.conftest import TEST_REALM

EMPTY = Existing(emails_by_username={}, emails=frozenset())


def _rows(*names: str) -> list[SourceRow]:
    return [
        SourceRow(where=f"line {i}", username=name, email=f"{name}@example.org")
        for i, name in enumerate(names)
    ]


async def test_accounts_created_after_the_plan_are_skipped_or_refused(
    engine: AsyncEngine, hasher: PasswordHasher, box: SecretBox
) -> None:
    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as session:
        region = await ensure_home_region(session, realm=TEST_REALM, name="R")
        region_id = region.id
    lines = plan(_rows("anna", "bruno", "carla", "dario"), realm=TEST_REALM, existing=EMPTY)
    assert [line.verdict for line in lines] == [Verdict.CREATE] * 4
    async with unit_of_work(sessions) as session:  # meanwhile, two sign-ups
        region = await ensure_home_region(session, realm=TEST_REALM, name="R")
        await create_account(
            session, hasher=hasher, region=region, username="anna", email="anna@example.org", password=None
        )
        await create_account(
            session,
            hasher=hasher,
            region=region,
            username="someone",
            email="carla@example.org",
            password=None,
        )
    report = Report(lines=lines)
    await apply(
        sessions, lines=lines, region_id=region_id, hasher=hasher, box=box, report=report, batch_size=2
    )
    verdicts = {line.username: (line.verdict, line.reason) for line in lines}
    assert verdicts["anna"] == (Verdict.SKIP, "exists")
    assert verdicts["carla"] == (Verdict.REFUSE, "email_taken")
    assert verdicts["bruno"] == verdicts["dario"] == (Verdict.CREATE, "")
    assert report.created == 2 and report.applied
    async with sessions() as session:
        assert await session.scalar(select(func.count()).select_from(Account)) == 4
        existing = await existing_accounts(session, region_id=region_id)
    again = plan(_rows("anna", "bruno", "carla", "dario"), realm=TEST_REALM, existing=existing)
    assert [line.verdict for line in again] == [Verdict.SKIP, Verdict.SKIP, Verdict.REFUSE, Verdict.SKIP]


async def test_a_batch_the_database_refuses_is_written_row_by_row(
    engine: AsyncEngine, hasher: PasswordHasher, box: SecretBox
) -> None:
    """What slipped past the checks (here two lines of one name, which plan() would have refused)
    costs that row, not the batch: the others are created, the culprit refused as a conflict."""
    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as session:
        region_id = (await ensure_home_region(session, realm=TEST_REALM, name="R")).id
    lines = [
        Line(where="a", username="emma", verdict=Verdict.CREATE, email="emma@example.org"),
        Line(where="b", username="emma", verdict=Verdict.CREATE, email="emma2@example.org"),
        Line(where="c", username="fabio", verdict=Verdict.CREATE, email="fabio@example.org"),
    ]
    report = Report(lines=lines)
    await apply(sessions, lines=lines, region_id=region_id, hasher=hasher, box=box, report=report)
    assert [(line.verdict, line.reason) for line in lines] == [
        (Verdict.CREATE, ""),
        (Verdict.REFUSE, "conflict"),
        (Verdict.CREATE, ""),
    ]
    assert report.created == 2
    async with sessions() as session:
        names = (await session.scalars(select(Account.username).order_by(Account.username))).all()
    assert names == ["emma", "fabio"]
