"""Key rotation (issue 16): with the new key first and the old one accepted, everything stored
before still works; after :func:`accounts.rekey.reseal`, every stored secret opens under the new
key alone and none under the old one. On SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from accounts import admins, codes, credentials, network, tokens, twofactor
from accounts.errors import SecretUnreadable
from accounts.models import Account, AdminTotp, ClosedAccount, CodePurpose, HomeServer, RadiusToken, utcnow
from accounts.models.base import Base
from accounts.partners import home_server_secret
from accounts.passwords import PasswordHasher
from accounts.rekey import SEALED, reseal, unreadable_samples
from accounts.secretbox import SecretBox
from accounts.users import CLOSED_EMAIL_PURPOSE
from sesame.db import create_sessionmaker
from tests.conftest import TEST_REALM
from tests.support.sealedfill import HOME_SERVER_SECRET, NAS_SECRET, UAM_SECRET, Filled, fill

OLD = "the-old-secret-key-that-leaked-0123456789abcdef"
NEW = "the-new-secret-key-from-the-vault-9876543210zyx"


def test_every_sealed_column_of_the_schema_is_re_sealed() -> None:
    """A new ``*_ciphertext`` column must join :data:`accounts.rekey.SEALED`, or a rotation would
    leave it under a key about to be dropped."""
    in_schema = {
        (table.name, column.name)
        for table in Base.metadata.sorted_tables
        for column in table.columns
        if column.name.endswith("_ciphertext")
    }
    assert {(s.table.name, s.column) for s in SEALED} == in_schema


async def _filled(engine: AsyncEngine, hasher: PasswordHasher) -> Filled:
    async with create_sessionmaker(engine)() as session, session.begin():
        return await fill(session, box=SecretBox(OLD), hasher=hasher, realm=TEST_REALM)


async def _secrets(session: AsyncSession, box: SecretBox, filled: Filled) -> dict[str, Any]:
    """Every stored secret, opened with ``box``."""
    nas = await network.find_nas(session, filled.nas_name)
    server = await session.scalar(select(HomeServer))
    closed = await session.scalar(select(ClosedAccount))
    totp = await session.scalar(select(AdminTotp))
    assert server is not None and closed is not None and totp is not None
    return {
        "nas": network.nas_secret(box, nas),
        "uam": network.uam_secret(box, nas),
        "home server": home_server_secret(box, server),
        "nt hashes": await credentials.active_nt_hashes(session, box=box, account_id=await _alice(session)),
        "closed email": box.open(closed.email_ciphertext, purpose=CLOSED_EMAIL_PURPOSE),
        "totp": box.open(totp.secret_ciphertext, purpose=twofactor.TOTP_PURPOSE),
    }


async def _alice(session: AsyncSession) -> int:
    account_id = await session.scalar(select(Account.id).where(Account.username == "alice"))
    assert account_id is not None
    return account_id


def _expected(filled: Filled) -> dict[str, Any]:
    return {
        "nas": NAS_SECRET.encode(),
        "uam": UAM_SECRET.encode(),
        "home server": HOME_SERVER_SECRET.encode(),
        "nt hashes": [(filled.device_credential_id, credentials.nt_hash(filled.device_password))],
        "closed email": filled.closed_email.encode(),
        "totp": filled.totp_secret.encode(),
    }


async def _none_open(session: AsyncSession, box: SecretBox, filled: Filled) -> None:
    nas = await network.find_nas(session, filled.nas_name)
    with pytest.raises(SecretUnreadable):
        network.nas_secret(box, nas)
    with pytest.raises(SecretUnreadable):
        network.uam_secret(box, nas)
    with pytest.raises(SecretUnreadable):
        await credentials.active_nt_hashes(session, box=box, account_id=await _alice(session))
    for token in (await session.scalars(select(RadiusToken.token_ciphertext))).all():
        with pytest.raises(SecretUnreadable):
            box.open(token, purpose=tokens.TOKEN_PURPOSE)


async def test_during_the_window_both_keys_work_and_after_the_rotation_only_the_new_one(
    engine: AsyncEngine, hasher: PasswordHasher
) -> None:
    filled = await _filled(engine, hasher)
    sessions = create_sessionmaker(engine)
    window, new_only = SecretBox(NEW, OLD), SecretBox(NEW)

    async with sessions() as session:  # the window: the new key first, the old one accepted
        assert await _secrets(session, window, filled) == _expected(filled)
        assert await unreadable_samples(session, box=window) == []
        assert await unreadable_samples(session, box=new_only) == [s.label for s in SEALED]
        await session.rollback()

    report = await reseal(sessions, box=window, batch_size=2)  # batches smaller than the tables
    counts = {c.label: (c.current, c.resealed, c.unreadable) for c in report.columns}
    assert counts == {
        "access point secrets": (0, 1, []),
        "hand-off (UAM) secrets": (0, 1, []),
        "home server secrets": (0, 1, []),
        "device credentials (NT hashes)": (0, 1, []),
        "closed accounts' emails": (0, 1, []),
        "portal tokens": (0, 1, []),
        "staff TOTP secrets": (0, 1, []),
        "civil identities kept from an identity provider": (0, 1, []),
        "guests' voucher codes": (0, 1, []),
    }
    assert report.done

    async with sessions() as session:
        assert await _secrets(session, new_only, filled) == _expected(filled)
        assert await unreadable_samples(session, box=new_only) == []
        await _none_open(session, SecretBox(OLD), filled)
        # the PAP token's lookup digest was recomputed: found under the new key alone
        assert await tokens.consume_token(
            session, box=new_only, account_id=await _alice(session), token=filled.token,
            nas_id=filled.nas_id, now=utcnow(),
        )  # fmt: skip
        await session.rollback()

    again = await reseal(sessions, box=window)
    assert [(c.current, c.resealed) for c in again.columns] == [(1, 0)] * len(SEALED)


async def test_what_cannot_be_re_sealed_is_verified_under_both_keys_during_the_window(
    engine: AsyncEngine, hasher: PasswordHasher
) -> None:
    """Email codes and service clients' secrets are keyed digests of values not kept: the window
    accepts both; a service client's digest moves to the new key at its next use."""
    filled = await _filled(engine, hasher)
    sessions = create_sessionmaker(engine)
    window, new_only = SecretBox(NEW, OLD), SecretBox(NEW)
    async with sessions() as session, session.begin():
        assert await admins.authenticate_client(
            session, box=new_only, client_id=filled.client_id, secret=filled.client_secret
        ) is None  # fmt: skip
        assert await admins.authenticate_client(
            session, box=window, client_id=filled.client_id, secret=filled.client_secret
        ) is not None  # fmt: skip
    async with sessions() as session:
        assert await admins.authenticate_client(
            session, box=new_only, client_id=filled.client_id, secret=filled.client_secret
        ) is not None  # fmt: skip
        alice = await session.get(Account, await _alice(session))
        assert alice is not None
        assert await codes.use_code(
            session,
            box=window,
            account=alice,
            purpose=CodePurpose.RESET_PASSWORD,
            code=filled.code,
            now=utcnow(),
        )
        await session.rollback()
    async with sessions() as session:  # the same code, checked under the new key alone: refused
        alice = await session.get(Account, await _alice(session))
        assert alice is not None
        assert not await codes.use_code(
            session,
            box=new_only,
            account=alice,
            purpose=CodePurpose.RESET_PASSWORD,
            code=filled.code,
            now=utcnow(),
        )
        await session.rollback()


async def test_a_token_issued_before_the_rotation_is_used_during_the_window(
    engine: AsyncEngine, hasher: PasswordHasher
) -> None:
    filled = await _filled(engine, hasher)
    async with create_sessionmaker(engine)() as session:
        region_id = await session.scalar(select(Account.region_id).where(Account.username == "alice"))
        assert region_id is not None
        won = await tokens.consume_tokens_of_users(
            session, box=SecretBox(NEW, OLD), region_id=region_id,
            attempts=[(filled.username, filled.token, filled.nas_id)], now=utcnow(),
        )  # fmt: skip
        assert list(won) == [(filled.username, filled.token, filled.nas_id)]
        await session.rollback()


async def test_secrets_under_neither_key_are_reported_not_rewritten(
    engine: AsyncEngine, hasher: PasswordHasher
) -> None:
    await _filled(engine, hasher)
    sessions = create_sessionmaker(engine)
    stranger = SecretBox("a-key-nothing-was-ever-sealed-with-0123456789")
    report = await reseal(sessions, box=stranger)
    assert not report.done
    assert [(c.resealed, len(c.unreadable)) for c in report.columns] == [(0, 1)] * len(SEALED)
    async with sessions() as session:  # nothing was rewritten: the old key still opens it all
        assert await unreadable_samples(session, box=SecretBox(OLD)) == []
