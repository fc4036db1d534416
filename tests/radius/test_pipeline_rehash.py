"""An imported (legacy) hash proved right over PAP is handed to the store to become argon2id; an
argon2id hash or a wrong password is not. The SQL side: tests/radius/test_sqlstore_rehash.py."""

from __future__ import annotations

import pyrad.packet as pp

from accounts.legacyhash import read_password
from accounts.passwords import PasswordHasher
from radius.core import ServerCore
from radius.pipeline import Pipeline
from tests.radius.conftest import AccessPoint, decide
from tests.radius.pipelines import CLASSES, CUI_KEY, REALM, FakeStore, account


def _pipeline(store: FakeStore, hasher: PasswordHasher) -> Pipeline:
    async def verify(
        password: str, password_hash: str | None, *, source: str = "", serial: str | None = None
    ) -> bool:
        return hasher.verify(password, password_hash)

    return Pipeline(realm=REALM, store=store, verify_password=verify, classes=CLASSES, cui_key=CUI_KEY)


async def test_a_legacy_hash_proved_right_is_upgraded_once(
    core: ServerCore, ap: AccessPoint, hasher: PasswordHasher
) -> None:
    legacy = read_password("Crypt-Password", "$1$saltsalt$qjXMvbEw8oaL.CzflDtaK/").legacy_hash
    assert legacy is not None
    store = FakeStore(accounts={"alice": account(password_hash=legacy)})
    pipeline = _pipeline(store, hasher)
    _, reply = await decide(core, pipeline, ap.access_request(User_Name="alice", User_Password="not it"))
    assert reply.code == pp.AccessReject and store.upgrades == []
    _, reply = await decide(core, pipeline, ap.access_request(User_Name="alice", User_Password="password"))
    assert reply.code == pp.AccessAccept
    assert store.upgrades == [(1, legacy, "password")]


async def test_an_argon2id_hash_is_left_alone(
    core: ServerCore, ap: AccessPoint, hasher: PasswordHasher
) -> None:
    store = FakeStore(accounts={"alice": account(password_hash=hasher.hash("correct horse"))})
    _, reply = await decide(
        core, _pipeline(store, hasher), ap.access_request(User_Name="alice", User_Password="correct horse")
    )
    assert reply.code == pp.AccessAccept and store.upgrades == []
