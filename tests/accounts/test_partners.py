"""Partner regions, their realm patterns and home servers, on SQLite and on PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from accounts import partners
from accounts.errors import Conflict, InvalidInput, NotFound
from accounts.models import HomeServer, Partner, PartnerRealm
from accounts.partners import HomeServerSpec
from accounts.secretbox import SecretBox
from tests.conftest import TEST_REALM

UDP_SECRET = "liguria-shared-secret"


async def _liguria(session: AsyncSession, box: SecretBox, **extra: object) -> Partner:
    values: dict[str, object] = {
        "name": "liguria",
        "realms": ["Liguria.Example", "*.liguria.example"],
        "servers": [
            HomeServerSpec(host="192.0.2.10", secret=UDP_SECRET, priority=1),
            HomeServerSpec(host="proxy.liguria.example", transport="radsec"),
            HomeServerSpec(host="2001:db8::10", port=11812, secret=UDP_SECRET),
        ],
        "display_name": "Regione Liguria",
    } | extra
    return await partners.add_partner(session, box=box, home_realm=TEST_REALM, **values)  # type: ignore[arg-type]


async def test_a_partner_is_stored_normalised_with_sealed_secrets(
    session: AsyncSession, box: SecretBox
) -> None:
    partner = await _liguria(session, box)
    assert (partner.name, partner.display_name, partner.accept_requests, partner.transit) == (
        "liguria", "Regione Liguria", True, False,
    )  # fmt: skip
    assert [r.pattern for r in partner.realms] == ["*.liguria.example", "liguria.example"]
    servers = {(s.transport, s.host, s.port): s for s in partner.servers}
    assert set(servers) == {
        ("udp", "192.0.2.10", 1812),  # RFC 2865's port by default
        ("radsec", "proxy.liguria.example", 2083),  # RFC 6614's
        ("udp", "2001:db8::10", 11812),
    }
    rows = (await session.execute(text("SELECT secret_ciphertext FROM home_server"))).scalars().all()
    assert rows and not any(UDP_SECRET in row or "radsec" in row for row in rows)
    assert partners.home_server_secret(box, servers["udp", "192.0.2.10", 1812]) == UDP_SECRET.encode()
    # RFC 6614 §2.3: over TLS the shared secret is "radsec" unless agreed otherwise
    assert partners.home_server_secret(box, servers["radsec", "proxy.liguria.example", 2083]) == b"radsec"
    assert all(s.state == "unknown" and s.state_changed_at is None for s in partner.servers)
    assert UDP_SECRET not in repr(partner.servers) and "ciphertext" not in repr(partner.servers)


async def test_the_snapshot_orders_servers_and_opens_secrets(session: AsyncSession, box: SecretBox) -> None:
    partner = await _liguria(session, box, transit=True, forward_accounting=True)
    await partners.add_partner(
        session, box=box, home_realm=TEST_REALM, name="upstream", realms=["*"],
        servers=[
            HomeServerSpec(host="tld1.eduroam.example", transport="radsec", tls_name="TLD1.eduroam.example")
        ],
        accept_requests=False,
    )  # fmt: skip
    snapshot = await partners.federation_snapshot(session, box=box)
    assert [p.name for p in snapshot.partners] == ["liguria", "upstream"]
    liguria, upstream = snapshot.partners
    assert liguria.id == partner.id and liguria.realms == ("*.liguria.example", "liguria.example")
    assert (liguria.accept_requests, liguria.transit, liguria.forward_accounting) == (True, True, True)
    assert [(s.transport, s.host, s.priority, s.tls_name) for s in liguria.servers] == [
        ("radsec", "proxy.liguria.example", 0, "proxy.liguria.example"),  # the TLS name defaults to the host
        ("udp", "2001:db8::10", 0, None),
        ("udp", "192.0.2.10", 1, None),
    ]
    assert [s.secret for s in liguria.servers] == [b"radsec", UDP_SECRET.encode(), UDP_SECRET.encode()]
    assert UDP_SECRET not in repr(snapshot)
    assert upstream.realms == ("*",) and upstream.accept_requests is False
    assert upstream.servers[0].tls_name == "tld1.eduroam.example"
    assert all(s.partner_id == liguria.id for s in liguria.servers)


async def test_servers_of_equal_priority_keep_the_order_they_were_added(
    session: AsyncSession, box: SecretBox
) -> None:
    partner = await partners.add_partner(
        session, box=box, home_realm=TEST_REALM, name="corse", realms=["corse.example"],
        servers=[HomeServerSpec(host=f"192.0.2.{i}", secret=UDP_SECRET) for i in (3, 1, 2)],
    )  # fmt: skip
    snapshot = await partners.federation_snapshot(session, box=box)
    assert [s.host for s in snapshot.partners[0].servers] == ["192.0.2.3", "192.0.2.1", "192.0.2.2"]
    assert [s.id for s in snapshot.partners[0].servers] == sorted(s.id for s in partner.servers)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("Liguria.Example", "liguria.example"),
        ("liguria.example.", "liguria.example"),
        ("*.Liguria.Example", "*.liguria.example"),
        ("*", "*"),
        ("wifi.région-sud.example", "wifi.xn--rgion-sud-b4a.example"),  # IDNA: the A-label
        ("*.MÜNCHEN.example", "*.xn--mnchen-3ya.example"),
        ("wifi.xn--rgion-sud-b4a.example", "wifi.xn--rgion-sud-b4a.example"),
        ("a1-b.c2.example", "a1-b.c2.example"),
    ],
)
def test_realm_patterns_are_normalised(raw: str, stored: str) -> None:
    assert partners.normalize_realm_pattern(raw) == stored


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "liguria",  # no dot
        "*.",
        "*.*.liguria.example",
        "a*.liguria.example",
        "liguria.*",
        "**",
        "li_guria.example",
        "-liguria.example",
        "liguria-.example",
        "liguria..example",
        "user@liguria.example",
        "10.1.2.3",  # a top-level label is never all digits
        "a" * 64 + ".example",
        ".".join(["abcdefghi"] * 26) + ".example",  # 268 characters
        "liguria example",
    ],
)
def test_bad_realm_patterns_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput):
        partners.normalize_realm_pattern(raw)


@pytest.mark.parametrize(
    "pattern",
    [TEST_REALM, TEST_REALM.upper(), "*.test.example", f"*.{TEST_REALM}", f"students.{TEST_REALM}"],
)
async def test_our_own_realm_is_never_routed_to_a_partner(
    session: AsyncSession, box: SecretBox, pattern: str
) -> None:
    with pytest.raises(InvalidInput, match="our own realm"):
        await _liguria(session, box, realms=["liguria.example", pattern])
    partner = await _liguria(session, box)
    with pytest.raises(InvalidInput, match="our own realm"):
        await partners.add_realm(session, partner=partner, home_realm=TEST_REALM, pattern=pattern)


async def test_a_pattern_belongs_to_one_partner_and_the_catch_all_to_one(
    session: AsyncSession, box: SecretBox
) -> None:
    liguria = await _liguria(session, box, realms=["liguria.example", "*", "LIGURIA.example"])
    assert [r.pattern for r in liguria.realms] == ["*", "liguria.example"]  # given twice, kept once
    servers = [HomeServerSpec(host="192.0.2.20", secret=UDP_SECRET)]
    for realms in (["LIGURIA.EXAMPLE"], ["*"], ["paca.example", "liguria.example"]):
        with pytest.raises(Conflict, match="already routed to partner liguria"):
            await partners.add_partner(
                session, box=box, home_realm=TEST_REALM, name="paca", realms=realms, servers=servers
            )
    paca = await partners.add_partner(
        session, box=box, home_realm=TEST_REALM, name="paca", realms=["sub.liguria.example"], servers=servers
    )  # a more specific pattern is another pattern: routing prefers it
    with pytest.raises(Conflict, match="already routed to partner liguria"):
        await partners.add_realm(session, partner=paca, home_realm=TEST_REALM, pattern="*")
    with pytest.raises(Conflict):
        await partners.add_realm(session, partner=liguria, home_realm=TEST_REALM, pattern="liguria.example")
    assert await session.scalar(select(func.count(PartnerRealm.id))) == 3


@pytest.mark.parametrize(
    ("raw", "parsed"),
    [
        ("radius.liguria.example", ("radius.liguria.example", None)),
        ("Radius.Liguria.Example:1645", ("radius.liguria.example", 1645)),
        ("192.0.2.1", ("192.0.2.1", None)),
        ("192.0.2.1:1812", ("192.0.2.1", 1812)),
        ("[2001:DB8::1]:2083", ("2001:db8::1", 2083)),
        ("[2001:db8::1]", ("2001:db8::1", None)),
        ("2001:db8:0::1", ("2001:db8::1", None)),
        ("::1", ("::1", None)),
        ("localhost", ("localhost", None)),
        ("radius.région.example", ("radius.xn--rgion-bsa.example", None)),
    ],
)
def test_servers_are_parsed(raw: str, parsed: tuple[str, int | None]) -> None:
    assert partners.parse_server(raw) == parsed


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "host:",
        "host:0",
        "host:65536",
        "host:port",
        "[192.0.2.1]:1812",
        "[2001:db8::1",
        "[2001:db8::1]1812",
        "2001:db8::zz",
        "a b",
        "192.0.2.1.5",
        "10.1.2",
        "under_score.example",
    ],
)
def test_bad_servers_are_refused(raw: str) -> None:
    with pytest.raises(InvalidInput):
        partners.parse_server(raw)


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (HomeServerSpec(host="192.0.2.1"), "needs a shared secret"),
        (HomeServerSpec(host="192.0.2.1", secret="short"), "8 to 128 bytes"),
        (HomeServerSpec(host="192.0.2.1", secret="x" * 129), "8 to 128 bytes"),
        (HomeServerSpec(host="radsec.example", transport="radsec", secret="x" * 129), "at most 128"),
        (HomeServerSpec(host="192.0.2.1", transport="radsec"), "needs the name its certificate carries"),
        (HomeServerSpec(host="192.0.2.1", transport="tcp", secret=UDP_SECRET), "unknown transport"),
        (HomeServerSpec(host="192.0.2.1", port=0, secret=UDP_SECRET), "port"),
        (HomeServerSpec(host="192.0.2.1", priority=-1, secret=UDP_SECRET), "priority"),
        (HomeServerSpec(host="192.0.2.1", priority=1001, secret=UDP_SECRET), "priority"),
        (HomeServerSpec(host="192.0.2.1", secret=UDP_SECRET, tls_name="x.example"), "RadSec"),
        (HomeServerSpec(host="not a host", secret=UDP_SECRET), "not a host"),
    ],
)
async def test_home_server_rules(
    session: AsyncSession, box: SecretBox, spec: HomeServerSpec, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        await _liguria(session, box, servers=[spec])
    assert await session.scalar(select(func.count(Partner.id))) == 0


async def test_partner_rules(session: AsyncSession, box: SecretBox) -> None:
    for name in ("", "-x", "x" * 64, "li guria", "ligüria", "12345"):
        with pytest.raises(InvalidInput, match="partner name"):
            await _liguria(session, box, name=name)
    with pytest.raises(InvalidInput, match="at least one home server"):
        await _liguria(session, box, servers=[])
    with pytest.raises(InvalidInput, match="twice"):
        await _liguria(
            session, box,
            servers=[HomeServerSpec(host="192.0.2.1", secret=UDP_SECRET),
                     HomeServerSpec(host="192.0.2.1", port=1812, secret="another-secret")],
        )  # fmt: skip
    partner = await _liguria(session, box, name="  Liguria ")
    assert partner.name == "liguria"
    with pytest.raises(Conflict, match="partner named liguria"):
        await _liguria(session, box, name="LIGURIA", realms=["other.example"])
    alone = await _liguria(session, box, name="visitors", realms=[])  # only sends us requests
    assert alone.realms == []


async def test_find_update_and_remove(session: AsyncSession, box: SecretBox) -> None:
    partner = await _liguria(session, box)
    other = await _liguria(session, box, name="paca", realms=["paca.example"])
    assert (await partners.get_partner(session, name_or_id="LIGURIA")).id == partner.id
    assert (await partners.get_partner(session, name_or_id=str(partner.id))).id == partner.id
    assert (await partners.get_partner(session, name_or_id=other.id)).name == "paca"
    for missing in ("nowhere", "999999", 2**40):
        with pytest.raises(NotFound):
            await partners.get_partner(session, name_or_id=missing)
    assert [p.name for p in await partners.list_partners(session)] == ["liguria", "paca"]

    await partners.update_partner(session, partner=partner, transit=True, accept_requests=False)
    await partners.update_partner(session, partner=partner, display_name="")
    assert (partner.transit, partner.accept_requests, partner.display_name) == (True, False, None)
    await partners.update_partner(session, partner=partner, display_name=" Liguria ")
    assert partner.display_name == "Liguria" and partner.forward_accounting is False

    await partners.remove_partner(session, partner=partner)
    session.expunge_all()
    assert [p.name for p in await partners.list_partners(session)] == ["paca"]
    # its realms and servers went with it (ON DELETE CASCADE)
    assert await session.scalar(select(func.count(PartnerRealm.id))) == 1
    assert await session.scalar(select(func.count(HomeServer.id))) == 3


async def test_realms_and_servers_are_added_and_removed(session: AsyncSession, box: SecretBox) -> None:
    partner = await _liguria(session, box)
    await partners.add_realm(session, partner=partner, home_realm=TEST_REALM, pattern="Genova.Example")
    await partners.remove_realm(session, partner=partner, pattern="*.LIGURIA.example")
    with pytest.raises(NotFound, match="no realm"):
        await partners.remove_realm(session, partner=partner, pattern="paca.example")
    assert sorted(r.pattern for r in partner.realms) == ["genova.example", "liguria.example"]

    added = await partners.add_home_server(
        session, box=box, partner=partner,
        server=HomeServerSpec(host="radius2.liguria.example", port=1812, secret="second-secret", priority=5),
    )  # fmt: skip
    with pytest.raises(Conflict, match="already has"):
        await partners.add_home_server(
            session, box=box, partner=partner,
            server=HomeServerSpec(host="RADIUS2.liguria.example", secret="second-secret"),
        )  # fmt: skip
    # the same address over the other transport is another server
    await partners.add_home_server(
        session,
        box=box,
        partner=partner,
        server=HomeServerSpec(host="192.0.2.10", transport="radsec", tls_name="radsec.liguria.example"),
    )
    assert partners.find_home_server(partner, "radius2.liguria.example:1812").id == added.id
    with pytest.raises(InvalidInput, match="give the port"):
        partners.find_home_server(partner, "192.0.2.10")
    assert partners.find_home_server(partner, "192.0.2.10", transport="radsec").port == 2083
    with pytest.raises(NotFound):
        partners.find_home_server(partner, "192.0.2.99")

    rotated = await partners.set_home_server_secret(
        session, box=box, partner=partner, server_id=added.id, secret="rotated-secret"
    )
    assert partners.home_server_secret(box, rotated) == b"rotated-secret"
    with pytest.raises(InvalidInput):
        await partners.set_home_server_secret(
            session, box=box, partner=partner, server_id=added.id, secret="x"
        )
    await partners.remove_home_server(session, partner=partner, server_id=added.id)
    with pytest.raises(NotFound):
        await partners.remove_home_server(session, partner=partner, server_id=added.id)
    for server in list(partner.servers)[:-1]:
        await partners.remove_home_server(session, partner=partner, server_id=server.id)
    with pytest.raises(Conflict, match="only home server"):
        await partners.remove_home_server(session, partner=partner, server_id=partner.servers[0].id)
    assert await session.scalar(select(func.count(HomeServer.id))) == 1


async def test_the_version_moves_with_configuration_not_with_health(
    session: AsyncSession, box: SecretBox
) -> None:
    empty = await partners.federation_version(session)
    partner = await _liguria(session, box)
    versions = [empty, await partners.federation_version(session)]

    async def changed() -> bool:
        versions.append(await partners.federation_version(session))
        return versions[-1] != versions[-2]

    await partners.add_realm(session, partner=partner, home_realm=TEST_REALM, pattern="genova.example")
    assert await changed()
    await partners.remove_realm(session, partner=partner, pattern="genova.example")
    assert await changed()
    server = partner.servers[0]
    await partners.set_home_server_secret(
        session, box=box, partner=partner, server_id=server.id, secret="new-secret-42"
    )
    assert await changed()
    await partners.update_partner(session, partner=partner, transit=True)
    assert await changed()

    at = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
    before = (
        await session.execute(select(HomeServer.id, HomeServer.updated_at).order_by(HomeServer.id))
    ).all()
    assert await partners.record_health(session, server_id=server.id, state="alive", at=at)
    assert not await partners.record_health(session, server_id=server.id, state="alive", at=at + timedelta(1))
    assert await partners.record_health(session, server_id=server.id, state="zombie", at=at + timedelta(2))
    assert not await changed()  # health is not configuration
    after = (
        await session.execute(select(HomeServer.id, HomeServer.updated_at).order_by(HomeServer.id))
    ).all()
    assert after == before
    row = (
        await session.execute(
            select(HomeServer.state, HomeServer.state_changed_at).where(HomeServer.id == server.id)
        )
    ).one()
    assert tuple(row) == ("zombie", at + timedelta(2))
    with pytest.raises(InvalidInput, match="unknown home server state"):
        await partners.record_health(session, server_id=server.id, state="sleepy", at=at)

    await partners.remove_partner(session, partner=partner)
    assert await changed()
    assert versions[-1] == empty


async def test_a_server_whose_secret_cannot_be_opened_is_left_out(
    session: AsyncSession, box: SecretBox
) -> None:
    await _liguria(session, box)
    snapshot = await partners.federation_snapshot(session, box=SecretBox("another key entirely, long enough"))
    assert snapshot.partners[0].name == "liguria" and snapshot.partners[0].servers == ()


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=80) | st.from_regex(r"\*?\.?[a-zA-Z0-9ßéü.-]{0,30}(:[0-9]{0,6})?", fullmatch=True))
def test_any_text_is_a_pattern_and_a_server_or_refused(raw: str) -> None:
    """Whatever an admin types: a normal form that normalises to itself, or InvalidInput."""
    for normalize in (partners.normalize_realm_pattern, partners.normalize_host):
        try:
            value = normalize(raw)
        except InvalidInput:
            continue
        assert normalize(value) == value and value.isascii() and value == value.lower()
    try:
        host, port = partners.parse_server(raw)
    except InvalidInput:
        return
    assert partners.normalize_host(host) == host and (port is None or 1 <= port <= 65535)
