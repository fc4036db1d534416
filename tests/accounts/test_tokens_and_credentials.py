"""Single-use tokens and device credentials, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from accounts import credentials, tokens, users
from accounts.models import Region
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


async def _account(session: AsyncSession, region: Region, hasher: PasswordHasher, name: str = "alice"):
    return await users.create_account(
        session, hasher=hasher, region=region, username=name, email=f"{name}@example.fr", password=None
    )


async def test_a_token_is_used_once_by_its_account_in_time(session, region, hasher, box: SecretBox) -> None:
    alice, bob = await _account(session, region, hasher), await _account(session, region, hasher, "bob")
    token = await tokens.issue_token(session, box=box, account=alice, now=NOW)
    assert tokens.looks_like_token(token)
    assert not await tokens.consume_token(session, box=box, account_id=bob.id, token=token, now=NOW)
    assert await tokens.consume_token(session, box=box, account_id=alice.id, token=token, now=NOW)
    assert not await tokens.consume_token(session, box=box, account_id=alice.id, token=token, now=NOW)
    late = await tokens.issue_token(session, box=box, account=alice, now=NOW, lifetime=timedelta(seconds=30))
    assert not await tokens.consume_token(
        session, box=box, account_id=alice.id, token=late, now=NOW + timedelta(seconds=31)
    )


async def test_many_tokens_in_one_statement(session, region, hasher, box: SecretBox) -> None:
    alice, bob = await _account(session, region, hasher), await _account(session, region, hasher, "bob")
    a1 = await tokens.issue_token(session, box=box, account=alice, now=NOW)
    a2 = await tokens.issue_token(session, box=box, account=alice, now=NOW)
    b1 = await tokens.issue_token(session, box=box, account=bob, now=NOW)
    attempts = [(alice.id, a1), (alice.id, a2), (alice.id, b1), (bob.id, b1), (bob.id, "x" * 24)]
    won = await tokens.consume_tokens(session, box=box, attempts=attempts, now=NOW)
    assert won == {(alice.id, a1), (alice.id, a2), (bob.id, b1)}
    assert await tokens.consume_tokens(session, box=box, attempts=attempts, now=NOW) == set()


async def test_a_token_over_chap_is_used_once(session, region, hasher, box: SecretBox) -> None:
    alice = await _account(session, region, hasher)
    token = await tokens.issue_token(session, box=box, account=alice, now=NOW)
    challenge = b"c" * 16
    response = hashlib.md5(b"\x01" + token.encode() + challenge).digest()

    def matches(candidate: bytes) -> bool:
        return hashlib.md5(b"\x01" + candidate + challenge).digest() == response

    assert await tokens.consume_token_matching(
        session, box=box, account_id=alice.id, matches=matches, now=NOW
    )
    assert not await tokens.consume_token_matching(
        session, box=box, account_id=alice.id, matches=matches, now=NOW
    )


async def test_device_credentials_store_only_a_sealed_nt_hash(
    session, region, hasher, box: SecretBox
) -> None:
    alice = await _account(session, region, hasher)
    credential, password = await credentials.create_device_credential(
        session, box=box, account=alice, label="pc"
    )
    assert len(password) == 20
    assert password.encode() not in credential.nt_hash_ciphertext.encode()
    assert await credentials.active_nt_hashes(session, box=box, account_id=alice.id) == [
        (credential.id, credentials.nt_hash(password))
    ]
    await credentials.revoke_device_credential(session, account=alice, credential_id=credential.id, now=NOW)
    assert await credentials.active_nt_hashes(session, box=box, account_id=alice.id) == []


async def test_tokens_used_with_usernames_bring_their_owner(session, region, hasher, box: SecretBox) -> None:
    alice, bob = await _account(session, region, hasher), await _account(session, region, hasher, "bob")
    a1 = await tokens.issue_token(session, box=box, account=alice, now=NOW)
    a2 = await tokens.issue_token(session, box=box, account=alice, now=NOW)
    b1 = await tokens.issue_token(session, box=box, account=bob, now=NOW)
    from accounts.network import ensure_home_region

    other = await ensure_home_region(session, realm="wifi.other.example")
    alice_elsewhere = await _account(session, other, hasher, "alice")
    x1 = await tokens.issue_token(session, box=box, account=alice_elsewhere, now=NOW)
    attempts = [("alice", a1), ("alice", a2), ("alice", b1), ("bob", b1), ("alice", x1), ("carol", a1)]
    won = await tokens.consume_tokens_of_users(
        session, box=box, region_id=region.id, attempts=attempts, now=NOW
    )
    assert set(won) == {("alice", a1), ("alice", a2), ("bob", b1)}
    assert won[("alice", a1)].account_id == won[("alice", a2)].account_id == alice.id
    assert won[("bob", b1)].account_id == bob.id and won[("bob", b1)].status == "active"
    again = await tokens.consume_tokens_of_users(
        session, box=box, region_id=region.id, attempts=attempts, now=NOW
    )
    assert again == {}
