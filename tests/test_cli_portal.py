"""``sesame nas handoff``, ``sesame site wifi4eu``, ``sesame brand set`` and ``sesame admin``, through
typer's runner and through ``main`` (which owns error reporting), on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from accounts.models import Admin, AdminRole, AuditEntry, Branding, Commune, Nas, ServiceClient, Site
from accounts.network import UAM_SECRET_PURPOSE
from accounts.secretbox import SecretBox
from sesame.cli import app
from sesame.db import create_engine, create_sessionmaker
from tests.cli import fails, ok, runner
from tests.conftest import TEST_SECRET_KEY

T = TypeVar("T")
UAM_SECRET = "chilli-uam-s3cret"


@pytest.fixture
def inventory(cli_env: str) -> str:
    """Valence (26362) with a Médiathèque and its access point ap-1."""
    ok("commune", "add", "Valence", "--insee", "26362")
    ok("site", "add", "Médiathèque", "--commune", "26362")
    ok("nas", "add", "ap-1", "--ip", "10.1.0.0/24", "--secret", "testing123", "--site", "Médiathèque")
    return cli_env


def read(url: str, query: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """What ``query`` reads from the database the commands wrote to."""

    async def go() -> T:
        engine = create_engine(url)
        try:
            async with create_sessionmaker(engine)() as session:
                return await query(session)
        finally:
            await engine.dispose()

    return asyncio.run(go())


def nas_row(url: str) -> Nas:
    async def query(session: AsyncSession) -> Nas:
        return await session.scalar(select(Nas).where(Nas.shortname == "ap-1")) or pytest.fail("no ap-1")

    return read(url, query)


def uam_secret_of(nas: Nas) -> bytes | None:
    sealed = nas.uam_secret_ciphertext
    return SecretBox(TEST_SECRET_KEY).open(sealed, purpose=UAM_SECRET_PURPOSE) if sealed else None


def test_nas_handoff_seals_the_uam_secret_and_stores_the_options(inventory: str) -> None:
    assert nas_row(inventory).handoff == "none"
    out = ok("nas", "handoff", "ap-1", "--handoff", "coovachilli", "--uam-secret", UAM_SECRET,
             "--option", "auth=chap", "--option", "uamserver = https://portal.example.fr/hotspot",
    )  # fmt: skip
    assert "access point ap-1: hand-off coovachilli" in out and UAM_SECRET not in out
    nas = nas_row(inventory)
    assert nas.handoff == "coovachilli"
    assert nas.uam_secret_ciphertext and UAM_SECRET not in nas.uam_secret_ciphertext  # sealed, not in clear
    assert uam_secret_of(nas) == UAM_SECRET.encode()
    assert json.loads(nas.handoff_options or "") == {
        "auth": "chap",
        "uamserver": "https://portal.example.fr/hotspot",
    }

    # without --uam-secret the secret stays; without --option the options stay
    ok("nas", "handoff", "ap-1", "--handoff", "coovachilli")
    nas = nas_row(inventory)
    assert (
        uam_secret_of(nas) == UAM_SECRET.encode() and json.loads(nas.handoff_options or "")["auth"] == "chap"
    )

    # '-' reads the secret from standard input, so it stays out of the shell history
    ok("nas", "handoff", "ap-1", "--handoff", "coovachilli", "--uam-secret", "-", input="from-stdin\n")
    assert uam_secret_of(nas_row(inventory)) == b"from-stdin"

    # '' removes the secret
    ok("nas", "handoff", "ap-1", "--handoff", "form_post", "--uam-secret", "",
       "--option", "login_url=https://192.0.2.1:8003/index.php?zone=sud")  # fmt: skip
    nas = nas_row(inventory)
    assert nas.handoff == "form_post" and nas.uam_secret_ciphertext is None
    assert json.loads(nas.handoff_options or "") == {"login_url": "https://192.0.2.1:8003/index.php?zone=sud"}


def test_nas_handoff_refusals_are_one_line(inventory: str, capsys: pytest.CaptureFixture[str]) -> None:
    ok("nas", "handoff", "ap-1", "--handoff", "coovachilli", "--uam-secret", UAM_SECRET)
    before = nas_row(inventory)
    err = fails(capsys, "nas", "handoff", "ap-1", "--handoff", "meraki-magic", "--uam-secret", "other")
    assert "unknown hand-off 'meraki-magic'" in err and "coovachilli" in err and "other" not in err
    assert "write KEY=VALUE" in fails(
        capsys, "nas", "handoff", "ap-1", "--handoff", "coovachilli", "--option", "auth"
    )
    assert "lower-case name" in fails(
        capsys, "nas", "handoff", "ap-1", "--handoff", "coovachilli", "--option", "Auth=chap"
    )
    assert "1 to 128 bytes" in fails(
        capsys, "nas", "handoff", "ap-1", "--handoff", "coovachilli", "--uam-secret", "x" * 129
    )
    assert "no access point named 'ap-9'" in fails(capsys, "nas", "handoff", "ap-9", "--handoff", "none")
    assert "Missing option '--handoff'" in fails(capsys, "nas", "handoff", "ap-1", code=2)
    after = nas_row(inventory)  # nothing was changed by a refused command
    assert (after.handoff, after.handoff_options, after.uam_secret_ciphertext) == (
        before.handoff,
        before.handoff_options,
        before.uam_secret_ciphertext,
    )


def site_network_id(url: str) -> str | None:
    async def query(session: AsyncSession) -> str | None:
        return await session.scalar(select(Site.wifi4eu_network_id).where(Site.name == "Médiathèque"))

    return read(url, query)


def test_site_wifi4eu(inventory: str, capsys: pytest.CaptureFixture[str]) -> None:
    out = ok("site", "wifi4eu", "médiathèque", "--network-id", "5c7b2f0e-aaaa-4bbb")
    assert "site Médiathèque: WiFi4EU network 5c7b2f0e-aaaa-4bbb" in out
    assert site_network_id(inventory) == "5c7b2f0e-aaaa-4bbb"
    assert "1 to 64 letters" in fails(capsys, "site", "wifi4eu", "Médiathèque", "--network-id", "not an id!")
    assert site_network_id(inventory) == "5c7b2f0e-aaaa-4bbb"
    assert "no site named 'Gare'" in fails(capsys, "site", "wifi4eu", "Gare", "--network-id", "abc")
    assert "no commune" in fails(
        capsys, "site", "wifi4eu", "Médiathèque", "--commune", "Nowhere", "--network-id", "abc"
    )
    assert "WiFi4EU network none" in ok("site", "wifi4eu", "Médiathèque", "--commune", "Valence")
    assert site_network_id(inventory) is None


def brandings(url: str) -> dict[str, dict[str, str | None]]:
    """Each branding row by what it brands (``commune`` or ``site``), with its set fields."""

    async def query(session: AsyncSession) -> dict[str, dict[str, str | None]]:
        rows = (await session.scalars(select(Branding))).all()
        fields = ("title", "logo_url", "color", "welcome_text", "terms_text", "terms_version")
        return {
            ("commune" if row.commune_id is not None else "site"): {
                name: getattr(row, name) for name in fields if getattr(row, name) is not None
            }
            for row in rows
        }

    return read(url, query)


def test_brand_set_for_a_commune_and_a_site(inventory: str, tmp_path: Path) -> None:
    out = ok("brand", "set", "--commune", "Valence", "--color", "#1A5276", "--welcome", "Bienvenue à Valence")
    assert "commune Valence: branding set (color, welcome_text)" in out
    assert brandings(inventory) == {"commune": {"color": "#1a5276", "welcome_text": "Bienvenue à Valence"}}

    terms = tmp_path / "terms.txt"
    terms.write_text("Conditions d'utilisation de la Médiathèque.\n", encoding="utf-8")
    out = ok("brand", "set", "--site", "Médiathèque", "--title", "Médiathèque de Valence",
             "--logo-url", "https://cdn.valence.example/logo.svg", "--terms-file", str(terms),
             "--terms-version", "mediatheque-1")  # fmt: skip
    assert "site Médiathèque: branding set (title, logo_url, terms_version, terms_text)" in out
    assert brandings(inventory)["site"] == {
        "title": "Médiathèque de Valence",
        "logo_url": "https://cdn.valence.example/logo.svg",
        "terms_text": "Conditions d'utilisation de la Médiathèque.",
        "terms_version": "mediatheque-1",
    }

    # '' clears one field and leaves the others
    ok("brand", "set", "--commune", "26362", "--welcome", "")
    assert brandings(inventory)["commune"] == {"color": "#1a5276"}


def test_brand_set_refusals_are_one_line(inventory: str, capsys: pytest.CaptureFixture[str]) -> None:
    ok("brand", "set", "--commune", "Valence", "--color", "#123456")
    for color in ("red", "#12345", "#1234567", "123456", "#12345g"):
        assert "a colour is written #rrggbb" in fails(
            capsys, "brand", "set", "--commune", "Valence", "--color", color
        )
    assert "logo is an https://" in fails(
        capsys, "brand", "set", "--commune", "Valence", "--logo-url", "http://cdn.example/logo.png"
    )
    assert "give --commune or --site" in fails(capsys, "brand", "set", "--color", "#654321")
    assert "no commune" in fails(capsys, "brand", "set", "--commune", "Nowhere", "--color", "#654321")
    assert "no site" in fails(capsys, "brand", "set", "--site", "Gare", "--color", "#654321")
    assert brandings(inventory) == {"commune": {"color": "#123456"}}


def test_brand_set_with_an_unreadable_terms_file_is_one_line(
    inventory: str, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    missing = tmp_path / "missing.txt"
    assert "missing.txt" in fails(
        capsys, "brand", "set", "--commune", "Valence", "--terms-file", str(missing), code=2
    )
    latin1 = tmp_path / "latin1.txt"
    latin1.write_bytes("Conditions générales".encode("latin-1"))
    assert "UTF-8" in fails(capsys, "brand", "set", "--commune", "Valence", "--terms-file", str(latin1))
    assert brandings(inventory) == {}


def test_the_portal_commands_have_help() -> None:
    for args in (["nas", "handoff"], ["site", "wifi4eu"], ["brand"], ["brand", "set"]):
        result = runner.invoke(app, [*args, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output, args


def test_commune_is_used_by_the_site_lookup(inventory: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Two communes with a Médiathèque: naming the commune picks the right one."""
    ok("commune", "add", "Romans", "--insee", "26281")
    ok("site", "add", "Médiathèque", "--commune", "Romans")
    assert "name the commune too" in fails(capsys, "site", "wifi4eu", "Médiathèque", "--network-id", "abc")
    ok("site", "wifi4eu", "Médiathèque", "--commune", "Romans", "--network-id", "romans-1")
    ok("brand", "set", "--site", "Médiathèque", "--commune", "26281", "--color", "#abcdef")

    async def query(session: AsyncSession) -> list[tuple[str, str | None, str | None]]:
        rows = await session.execute(
            select(Commune.name, Site.wifi4eu_network_id, Branding.color)
            .join(Site, Site.commune_id == Commune.id)
            .outerjoin(Branding, Branding.site_id == Site.id)
            .order_by(Commune.name)
        )
        return [tuple(row) for row in rows.all()]  # type: ignore[misc]

    assert read(inventory, query) == [("Romans", "romans-1", "#abcdef"), ("Valence", None, None)]


# -- sesame admin ----------------------------------------------------------------------------------

ADMIN_PASSWORD = "admin passphrase 2026"


async def _rows(url: str) -> tuple[list[Admin], list[ServiceClient], list[AuditEntry]]:
    engine = create_engine(url)
    try:
        async with create_sessionmaker(engine)() as session:
            return (
                list((await session.scalars(select(Admin).order_by(Admin.id))).all()),
                list((await session.scalars(select(ServiceClient))).all()),
                list((await session.scalars(select(AuditEntry).order_by(AuditEntry.id))).all()),
            )
    finally:
        await engine.dispose()


def test_admins_and_clients_are_created_and_audited(
    inventory: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert "created" in ok(
        "admin", "create", "Alice@Region.example", "--role", "region_admin", "--password", ADMIN_PASSWORD
    )
    ok(
        "admin",
        "create",
        "bob@valence.example",
        "--role",
        "commune-admin",
        "--commune",
        "Valence",
        "--password",
        ADMIN_PASSWORD,
    )
    output = ok(
        "admin", "client", "Valence IT", "--role", "commune_admin", "--commune", "Valence"
    ).splitlines()
    assert output[0].startswith("client_id: sesame-") and len(output[1]) >= 40
    assert "revoked" in ok("admin", "revoke", "bob@valence.example")
    admins, clients, entries = asyncio.run(_rows(inventory))
    assert [(a.email, a.role) for a in admins] == [
        ("alice@region.example", AdminRole.REGION_ADMIN),
        ("bob@valence.example", AdminRole.COMMUNE_ADMIN),
    ]
    assert admins[1].commune_id is not None and admins[1].token_version == 1
    assert clients[0].secret_digest != output[1] and output[1] not in repr(clients[0].__dict__)
    entries = [e for e in entries if e.action.startswith(("admin.", "client."))]
    assert [e.action for e in entries] == ["admin.create", "admin.create", "client.create", "admin.revoke"]
    assert all(e.actor.startswith("cli:") for e in entries)
    assert ADMIN_PASSWORD not in "".join(e.after or "" for e in entries) and output[1] not in "".join(
        e.after or "" for e in entries
    )


def test_bad_admin_commands_fail_with_one_line(inventory: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert "unknown role" in fails(
        capsys, "admin", "create", "x@test.example", "--role", "king", "--password", ADMIN_PASSWORD
    )
    assert "needs a commune" in fails(
        capsys, "admin", "create", "x@test.example", "--role", "commune_admin", "--password", ADMIN_PASSWORD
    )
    assert "needs a commune" in fails(
        capsys,
        "admin",
        "create",
        "x@test.example",
        "--role",
        "auditor",
        "--commune",
        "Valence",
        "--password",
        ADMIN_PASSWORD,
    )
    ok("admin", "create", "x@test.example", "--role", "auditor", "--password", ADMIN_PASSWORD)
    assert "already exists" in fails(
        capsys, "admin", "create", "X@test.example", "--role", "support", "--password", ADMIN_PASSWORD
    )
    assert "too common" in fails(
        capsys, "admin", "create", "y@test.example", "--role", "support", "--password", "password123"
    )
    assert "no admin" in fails(capsys, "admin", "revoke", "nobody@test.example")


def test_every_cli_change_is_audited_with_secrets_masked(inventory: str) -> None:
    ok("nas", "handoff", "ap-1", "--handoff", "coovachilli", "--uam-secret", UAM_SECRET)
    ok("user", "add", "alice", "--email", "alice@example.fr", "--password", "correct horse battery")
    token = ok("token", "issue", "alice", "--nas", "ap-1").splitlines()[-1]
    ok("user", "disable", "alice")
    ok("policy", "set", "--commune", "Valence", "--session-timeout", "7200")
    ok("commune", "list")  # a read: not audited
    _, _, entries = asyncio.run(_rows(inventory))
    actions = [e.action for e in entries]
    assert actions == [
        "commune.add", "site.add", "nas.add", "nas.handoff",
        "user.add", "token.issue", "user.disable", "policy.set",
    ]  # fmt: skip
    everything = " ".join((e.after or "") + e.target for e in entries)
    for secret in ("testing123", UAM_SECRET, "correct horse battery", token):
        assert secret not in everything
    nas_add = json.loads(entries[2].after or "{}")
    assert (
        nas_add["secret"] == "***"
        and nas_add["ip"] == "10.1.0.0/24"
        and entries[2].target == "sesame nas add"
    )
    assert all(e.actor.startswith("cli:") for e in entries)
