"""``sesame admin reset-2fa``: an admin who lost their phone and their recovery codes gets back in
(they enrol again at their next sign-in); their sessions and tokens end; it is audited."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from accounts import admins, twofactor
from accounts.models import AuditEntry, utcnow
from accounts.secretbox import SecretBox
from sesame.db import create_engine, create_sessionmaker
from tests.cli import fails, ok
from tests.conftest import TEST_SECRET_KEY

EMAIL = "it@valence.example"


async def _enrol(url: str) -> None:
    engine = create_engine(url)
    box = SecretBox(TEST_SECRET_KEY)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            admin = await admins.find_admin(session, EMAIL)
            secret = await twofactor.start_enrolment(session, box=box, admin=admin)
            now = utcnow()
            assert await twofactor.confirm_enrolment(
                session, box=box, admin=admin, code=twofactor.code_at(secret, now), now=now
            )
    finally:
        await engine.dispose()


async def _state(url: str) -> tuple[bool, int, int, list[str]]:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            admin = await admins.find_admin(session, EMAIL)
            actions = (await session.scalars(select(AuditEntry.action).order_by(AuditEntry.id))).all()
            return (
                await twofactor.has_two_factor(session, admin=admin),
                await twofactor.recovery_codes_left(session, admin=admin),
                admin.token_version,
                list(actions),
            )
    finally:
        await engine.dispose()


def test_reset_2fa_removes_the_factor_and_the_codes_and_signs_out_everywhere(
    cli_env: str, capsys: pytest.CaptureFixture[str]
) -> None:
    ok("admin", "create", EMAIL, "--role", "support", "--password", "-", input="a long walk in Valence\n")
    asyncio.run(_enrol(cli_env))
    assert asyncio.run(_state(cli_env))[:3] == (True, 10, 0)
    assert "no second factor now" in ok("admin", "reset-2fa", EMAIL.upper())
    enrolled, left, version, actions = asyncio.run(_state(cli_env))
    assert (enrolled, left, version) == (False, 0, 1)
    assert actions[-1] == "admin.reset_two_factor"
    assert "no admin" in fails(capsys, "admin", "reset-2fa", "nobody@valence.example")
