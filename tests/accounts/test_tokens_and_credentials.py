"""Single-use tokens and device credentials, on SQLite and PostgreSQL."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from accounts import credentials, network, tokens, users
from accounts.models import Account, Nas, Region
from accounts.passwords import PasswordHasher
from accounts.secretbox import SecretBox

NOW = datetime(2026, 11, 22, 12, tzinfo=UTC)


async def _account(
    session: AsyncSession, region: Region, hasher: PasswordHasher, name: str = "alice"
) -> Account:
    return await users.create_account(
        session, hasher=hasher, region=region, username=name, email=f"{name}@example.fr", password=None
    )


async def _access_points(session: AsyncSession, region: Region, box: SecretBox) -> tuple[Nas, Nas]:
    """Two access points in two communes: a token handed to one must not open the other."""
    found = []
    for name, insee, address in (("Valence", "26362", "192.0.2.1"), ("Crest", "26108", "198.51.100.1")):
        commune = await network.add_commune(session, region=region, name=name, insee_code=insee)
        site = await network.add_site(session, commune=commune, name=f"Mairie de {name}")
        found.append(
            await network.add_nas(
                session, box=box, site=site, name=f"ap-{insee}", address=address, secret="s" * 16
            )
        )
    return found[0], found[1]


async def test_a_token_is_used_once_by_its_account_in_time(
    session: AsyncSession, region: Region, hasher: PasswordHasher, box: SecretBox
) -> None:
    ap, elsewhere = await _access_points(session, region, box)
    alice, bob = await _account(session, region, hasher), await _account(session, region, hasher, "bob")
    token = await tokens.issue_token(session, box=box, account=alice, nas_id=ap.id, now=NOW)
    assert tokens.looks_like_token(token)
    assert not await tokens.consume_token(
        session, box=box, account_id=bob.id, token=token, nas_id=ap.id, now=NOW
    )
    assert not await tokens.consume_token(
        session, box=box, account_id=alice.id, token=token, nas_id=elsewhere.id, now=NOW
    )
    assert not await tokens.consume_token(
        session, box=box, account_id=alice.id, token=token, nas_id=None, now=NOW
    )
    assert await tokens.consume_token(
        session, box=box, account_id=alice.id, token=token, nas_id=ap.id, now=NOW
    )
    assert not await tokens.consume_token(
        session, box=box, account_id=alice.id, token=token, nas_id=ap.id, now=NOW
    )
    late = await tokens.issue_token(
        session, box=box, account=alice, nas_id=ap.id, now=NOW, lifetime=timedelta(seconds=30)
    )
    assert not await tokens.consume_token(
        session, box=box, account_id=alice.id, token=late, nas_id=ap.id, now=NOW + timedelta(seconds=31)
    )


async def test_a_token_issued_for_no_access_point_is_used_nowhere(
    session: AsyncSession, region: Region, hasher: PasswordHasher, box: SecretBox
) -> None:
    ap, _ = await _access_points(session, region, box)
    alice = await _account(session, region, hasher)
    token = await tokens.issue_token(session, box=box, account=alice, nas_id=None, now=NOW)
    assert not await tokens.consume_token(
        session, box=box, account_id=alice.id, token=token, nas_id=ap.id, now=NOW
    )
    assert (
        await tokens.consume_tokens_of_users(
            session, box=box, region_id=region.id, attempts=[("alice", token, ap.id)], now=NOW
        )
        == {}
    )


async def test_many_tokens_in_one_statement(
    session: AsyncSession, region: Region, hasher: PasswordHasher, box: SecretBox
) -> None:
    ap, elsewhere = await _access_points(session, region, box)
    alice, bob = await _account(session, region, hasher), await _account(session, region, hasher, "bob")
    a1 = await tokens.issue_token(session, box=box, account=alice, nas_id=ap.id, now=NOW)
    a2 = await tokens.issue_token(session, box=box, account=alice, nas_id=ap.id, now=NOW)
    b1 = await tokens.issue_token(session, box=box, account=bob, nas_id=ap.id, now=NOW)
    attempts = [(alice.id, a1), (alice.id, a2), (alice.id, b1), (bob.id, b1), (bob.id, "x" * 24)]
    assert (
        await tokens.consume_tokens(session, box=box, attempts=attempts, nas_id=elsewhere.id, now=NOW)
        == set()
    )
    won = await tokens.consume_tokens(session, box=box, attempts=attempts, nas_id=ap.id, now=NOW)
    assert won == {(alice.id, a1), (alice.id, a2), (bob.id, b1)}
    assert await tokens.consume_tokens(session, box=box, attempts=attempts, nas_id=ap.id, now=NOW) == set()


async def test_a_token_over_chap_is_used_once_at_its_access_point(
    session: AsyncSession, region: Region, hasher: PasswordHasher, box: SecretBox
) -> None:
    ap, elsewhere = await _access_points(session, region, box)
    alice = await _account(session, region, hasher)
    token = await tokens.issue_token(session, box=box, account=alice, nas_id=ap.id, now=NOW)
    challenge = b"c" * 16
    response = hashlib.md5(b"\x01" + token.encode() + challenge).digest()

    def matches(candidate: bytes) -> bool:
        return hashlib.md5(b"\x01" + candidate + challenge).digest() == response

    for nas_id in (elsewhere.id, None):
        assert not await tokens.consume_token_matching(
            session, box=box, account_id=alice.id, nas_id=nas_id, matches=matches, now=NOW
        )
    assert await tokens.consume_token_matching(
        session, box=box, account_id=alice.id, nas_id=ap.id, matches=matches, now=NOW
    )
    assert not await tokens.consume_token_matching(
        session, box=box, account_id=alice.id, nas_id=ap.id, matches=matches, now=NOW
    )


async def test_device_credentials_store_only_a_sealed_nt_hash(
    session: AsyncSession, region: Region, hasher: PasswordHasher, box: SecretBox
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


async def test_tokens_used_with_usernames_bring_their_owner(
    session: AsyncSession, region: Region, hasher: PasswordHasher, box: SecretBox
) -> None:
    ap, elsewhere = await _access_points(session, region, box)
    alice, bob = await _account(session, region, hasher), await _account(session, region, hasher, "bob")
    a1 = await tokens.issue_token(session, box=box, account=alice, nas_id=ap.id, now=NOW)
    a2 = await tokens.issue_token(session, box=box, account=alice, nas_id=ap.id, now=NOW)
    b1 = await tokens.issue_token(session, box=box, account=bob, nas_id=ap.id, now=NOW)
    a3 = await tokens.issue_token(session, box=box, account=alice, nas_id=elsewhere.id, now=NOW)
    from accounts.network import ensure_home_region

    other = await ensure_home_region(session, realm="wifi.other.example")
    alice_elsewhere = await _account(session, other, hasher, "alice")
    x1 = await tokens.issue_token(session, box=box, account=alice_elsewhere, nas_id=ap.id, now=NOW)
    n = ap.id
    attempts: list[tokens.Attempt] = [
        ("alice", a1, n), ("alice", a2, n), ("alice", b1, n), ("bob", b1, n), ("alice", x1, n),
        ("carol", a1, n), ("alice", a3, n), ("alice", a3, None),
    ]  # fmt: skip
    won = await tokens.consume_tokens_of_users(
        session, box=box, region_id=region.id, attempts=attempts, now=NOW
    )
    assert set(won) == {("alice", a1, n), ("alice", a2, n), ("bob", b1, n)}
    assert won[("alice", a1, n)].account_id == won[("alice", a2, n)].account_id == alice.id
    assert won[("bob", b1, n)].account_id == bob.id and won[("bob", b1, n)].status == "active"
    again = await tokens.consume_tokens_of_users(
        session, box=box, region_id=region.id, attempts=attempts, now=NOW
    )
    assert again == {}
