"""Citizens' self-service: codes, sign-up, log-in, reset — services over a rolled-back session."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import codes, selfservice
from accounts.errors import Conflict, InvalidInput
from accounts.models import Account, CodePurpose, Region
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CONSENT = selfservice.Consent(version="2026-11", accepted_at=NOW)


async def new(session: AsyncSession, hasher: PasswordHasher, region: Region, name: str = "alice"):  # type: ignore[no-untyped-def]
    return await selfservice.sign_up(
        session, hasher=hasher, region=region, username=name, email=f"{name}@example.fr",
        password="correct horse battery", consent=CONSENT, grace=timedelta(minutes=15), locale="fr",
    )  # fmt: skip


async def test_a_code_works_once_and_is_spent_by_too_many_wrong_guesses(
    session: AsyncSession, hasher: PasswordHasher, region: Region, box: SecretBox
) -> None:
    alice = await new(session, hasher, region)
    code = await codes.issue_code(
        session, box=box, account=alice, purpose=CodePurpose.RESET_PASSWORD, now=NOW
    )
    assert len(code) == 6 and code.isdigit()
    use = {"box": box, "account": alice, "purpose": CodePurpose.RESET_PASSWORD, "now": NOW}
    assert not await codes.use_code(session, code=code, **use | {"purpose": CodePurpose.VERIFY_EMAIL})
    assert await codes.use_code(session, code=f"{code[:3]} {code[3:]}", **use)  # typed with a space
    assert not await codes.use_code(session, code=code, **use)  # once
    code = await codes.issue_code(
        session, box=box, account=alice, purpose=CodePurpose.RESET_PASSWORD, now=NOW
    )
    wrong = f"{(int(code) + 1) % 10**6:06d}"
    for _ in range(codes.MAX_ATTEMPTS):
        assert not await codes.use_code(session, code=wrong, **use)
    assert not await codes.use_code(session, code=code, **use)  # spent by the guesses
    code = await codes.issue_code(
        session, box=box, account=alice, purpose=CodePurpose.RESET_PASSWORD, now=NOW
    )
    late = NOW + codes.LIFETIMES[CodePurpose.RESET_PASSWORD]
    assert not await codes.use_code(session, code=code, **use | {"now": late})  # expired


async def test_a_new_code_replaces_the_previous_one(
    session: AsyncSession, hasher: PasswordHasher, region: Region, box: SecretBox
) -> None:
    alice = await new(session, hasher, region)
    first = await codes.issue_code(session, box=box, account=alice, purpose=CodePurpose.VERIFY_EMAIL, now=NOW)
    second = await codes.issue_code(
        session, box=box, account=alice, purpose=CodePurpose.VERIFY_EMAIL, now=NOW
    )
    if first != second:
        assert not await selfservice.verify_email(session, box=box, account=alice, code=first, now=NOW)
    assert await selfservice.verify_email(session, box=box, account=alice, code=second, now=NOW)
    assert alice.email_verified and alice.grace_until is None


async def test_sign_up_rules(session: AsyncSession, hasher: PasswordHasher, region: Region) -> None:
    alice = await new(session, hasher, region)
    assert alice.grace_until == NOW + timedelta(minutes=15) and alice.terms_version == "2026-11"
    with pytest.raises(selfservice.EmailInUse):
        await selfservice.sign_up(
            session, hasher=hasher, region=region, username="bob", email="ALICE@EXAMPLE.FR".lower(),
            password="correct horse battery", consent=CONSENT, grace=timedelta(0),
        )  # fmt: skip
    with pytest.raises(Conflict):
        await new(session, hasher, region, "alice")
    with pytest.raises(InvalidInput):
        await selfservice.sign_up(
            session, hasher=hasher, region=region, username="carol@elsewhere.example", email="c@example.fr",
            password="correct horse battery", consent=CONSENT, grace=timedelta(0),
        )  # fmt: skip


async def test_log_in_by_username_identity_or_email(
    session: AsyncSession, hasher: PasswordHasher, region: Region
) -> None:
    alice = await new(session, hasher, region)
    for identity in ("alice", f"alice@{region.realm}", "alice@example.fr", " Alice "):
        found = await selfservice.log_in(
            session, hasher=hasher, region=region, identity=identity, password="correct horse battery"
        )
        assert found is not None and found.id == alice.id, identity
    for identity, password in (("alice", "wrong"), ("nobody", "correct horse battery"), ("a b", "x")):
        assert await selfservice.log_in(
            session, hasher=hasher, region=region, identity=identity, password=password
        ) is None  # fmt: skip


async def test_a_log_in_counts_as_use_without_touching_what_radius_polls(
    session: AsyncSession, hasher: PasswordHasher, region: Region
) -> None:
    alice = await new(session, hasher, region)
    await session.flush()
    polled = (await session.execute(select(Account.updated_at).where(Account.id == alice.id))).scalar_one()
    assert alice.last_seen_at is None
    found = await selfservice.log_in(
        session, hasher=hasher, region=region, identity="alice", password="correct horse battery"
    )
    assert found is not None and found.last_seen_at is not None  # accounts/lifecycle.py: not unused
    row = (await session.execute(select(Account.last_seen_at, Account.updated_at))).one()
    assert row.last_seen_at is not None and row.updated_at == polled
    assert (
        await selfservice.log_in(session, hasher=hasher, region=region, identity="alice", password="no")
        is None
    )


async def test_export_holds_the_data_but_no_secret(
    session: AsyncSession, hasher: PasswordHasher, region: Region
) -> None:
    alice = await new(session, hasher, region)
    await selfservice.remember_this_device(
        session, account=alice, mac="AA-BB-CC-00-11-22", now=NOW, period=timedelta(days=90)
    )
    data = await selfservice.export_data(session, account=alice)
    assert data["account"]["email"] == "alice@example.fr" and data["account"]["terms_version"] == "2026-11"
    assert data["devices"][0]["mac"] == "aa:bb:cc:00:11:22"
    assert data["devices"][0]["remembered_until"] == (NOW + timedelta(days=90)).isoformat()
    assert "argon2" not in repr(data)


async def test_recent_connections_say_where(
    session: AsyncSession, hasher: PasswordHasher, region: Region, box: SecretBox
) -> None:
    from accounts.models import AccountingSession
    from accounts.network import add_commune, add_site

    alice = await new(session, hasher, region)
    commune = await add_commune(session, region=region, name="Valence", insee_code="26362")
    site = await add_site(session, commune=commune, name="Médiathèque")
    session.add_all(
        [
            AccountingSession(
                acctsessionid="a", acctuniqueid="a" * 32, nasipaddress="192.0.2.1", account_id=alice.id,
                site_id=site.id, commune_id=commune.id, acctstarttime=NOW - timedelta(hours=2),
                acctstoptime=NOW - timedelta(hours=1), acctsessiontime=3600, callingstationid="AA-BB",
            ),
            AccountingSession(
                acctsessionid="b", acctuniqueid="b" * 32, nasipaddress="192.0.2.1", account_id=alice.id,
                acctstarttime=NOW,
            ),
        ]
    )  # fmt: skip
    await session.flush()
    latest, earlier = await selfservice.recent_sessions(session, account=alice)
    assert latest.start == NOW and latest.place is None and latest.stop is None
    assert earlier.place == "Valence · Médiathèque" and earlier.seconds == 3600 and earlier.device == "AA-BB"
