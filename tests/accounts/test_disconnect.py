"""Disconnect and Change-of-Authorization of a session (accounts.disconnect), on SQLite and
PostgreSQL, with the access point played by a CoaSender written here."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from accounts import network
from accounts.disconnect import (
    CoaKind,
    CoaOutcome,
    CoaResult,
    CoaTarget,
    coa_target,
    disconnect_over_limit,
    disconnect_session,
)
from accounts.errors import InvalidInput, NotFound
from accounts.models import Nas, Region, Site
from accounts.secretbox import SecretBox
from accounts.sessions import (
    apply_usage,
    get_session,
)
from sesame.db import create_sessionmaker, unit_of_work
from tests.accounts.records import NAS_IP, SECRET, START, STOP, at, rec, stored

# -- Change-of-Authorization / Disconnect ----------------------------------------------------------


async def _ap(session: AsyncSession, region: Region, box: SecretBox) -> tuple[Site, Nas]:
    commune = await network.add_commune(session, region=region, name="Valence", insee_code="26362")
    site = await network.add_site(session, commune=commune, name="Médiathèque")
    nas = await network.add_nas(
        session, box=box, site=site, name="ap-1", address=NAS_IP, secret=SECRET, coa_port=1700
    )
    return site, nas


async def test_coa_target_names_the_session_to_its_nas(
    session: AsyncSession, region: Region, box: SecretBox
) -> None:
    site, nas = await _ap(session, region, box)
    await apply_usage(
        session,
        [
            rec(
                START,
                "u1",
                nas_id=nas.id,
                site_id=site.id,
                username="alice@wifi.test.example",
                callingstationid="02-00-5E-10-00-01",
                framedipaddress="10.0.0.5",
            )
        ],
    )
    target = await coa_target(session, box, (await stored(session, "u1")).radacctid)
    assert (target.address, target.port, target.secret) == (NAS_IP, 1700, SECRET.encode())
    assert target.attributes == (
        ("Acct-Session-Id", "sess-u1"),
        ("User-Name", "alice@wifi.test.example"),
        ("Calling-Station-Id", "02-00-5E-10-00-01"),
        ("Framed-IP-Address", "10.0.0.5"),
        ("NAS-IP-Address", NAS_IP),
    )
    assert SECRET not in repr(target)


async def test_coa_target_of_a_controller_network_and_ipv6(
    session: AsyncSession, region: Region, box: SecretBox
) -> None:
    site, _ = await _ap(session, region, box)
    subnet = await network.add_nas(
        session, box=box, site=site, name="ctl", address="10.1.0.0/24", secret=SECRET
    )
    v6 = await network.add_nas(session, box=box, site=site, name="ap-6", address="2001:db8::1", secret=SECRET)
    await apply_usage(
        session,
        [
            rec(START, "behind-controller", nas_id=subnet.id, nasipaddress="10.1.0.7"),
            rec(START, "v6", nas_id=v6.id, nasipaddress="2001:db8::1"),
        ],
    )
    behind = await coa_target(session, box, (await stored(session, "behind-controller")).radacctid)
    assert (behind.address, behind.port) == ("10.1.0.7", 3799)  # the session's NAS, not the network
    assert behind.attributes == (
        ("Acct-Session-Id", "sess-behind-controller"),
        ("NAS-IP-Address", "10.1.0.7"),
    )
    on_v6 = await coa_target(session, box, (await stored(session, "v6")).radacctid)
    assert on_v6.address == "2001:db8::1"
    assert on_v6.attributes == (("Acct-Session-Id", "sess-v6"), ("NAS-IPv6-Address", "2001:db8::1"))


async def test_coa_target_refusals(session: AsyncSession, region: Region, box: SecretBox) -> None:
    _, nas = await _ap(session, region, box)
    await apply_usage(
        session,
        [
            rec(START, "ended", nas_id=nas.id),
            rec(STOP, "ended", when=at(1), acctsessiontime=60, nas_id=nas.id),
            rec(START, "open", nas_id=nas.id),
            rec(START, "no-nas", nas_id=None),
            rec(START, "gone-nas", nas_id=nas.id + 1000),
        ],
    )
    with pytest.raises(InvalidInput, match="ended"):
        await coa_target(session, box, (await stored(session, "ended")).radacctid)
    for uid in ("no-nas", "gone-nas"):
        with pytest.raises(NotFound):
            await coa_target(session, box, (await stored(session, uid)).radacctid)
    with pytest.raises(NotFound):
        await coa_target(session, box, 10**9)
    with pytest.raises(InvalidInput):  # the secret key changed: the NAS secret cannot be read
        await coa_target(
            session, SecretBox("another key entirely, long enough"), (await stored(session, "open")).radacctid
        )
    await network.remove_nas(session, name="ap-1")
    with pytest.raises(NotFound):
        await coa_target(session, box, (await stored(session, "open")).radacctid)


class FakeSender:
    """A :class:`CoaSender` that answers with a set outcome and remembers what it was asked."""

    def __init__(self, engine: AsyncEngine, outcome: CoaOutcome) -> None:
        self.engine = engine
        self.outcome = outcome
        self.calls: list[tuple[CoaTarget, CoaKind, tuple[tuple[str, str | int], ...]]] = []
        self.connections_held: list[int] = []

    async def __call__(
        self, target: CoaTarget, *, kind: CoaKind, extra: Sequence[tuple[str, str | int]] = ()
    ) -> CoaResult:
        self.calls.append((target, kind, tuple(extra)))
        self.connections_held.append(self.engine.pool.checkedout())  # type: ignore[attr-defined]
        return CoaResult(outcome=self.outcome, detail=self.outcome.value.upper())


async def _open_session_committed(engine: AsyncEngine, box: SecretBox) -> int:
    async with unit_of_work(create_sessionmaker(engine)) as session:
        region = await network.ensure_home_region(session, realm="wifi.coa.example")
        site, nas = await _ap(session, region, box)
        await apply_usage(session, [rec(START, "u1", nas_id=nas.id, site_id=site.id, username="alice")])
        return (await stored(session, "u1")).radacctid


@pytest.mark.parametrize("outcome", list(CoaOutcome))
async def test_disconnect_session_remembers_only_an_ack(
    engine: AsyncEngine, box: SecretBox, outcome: CoaOutcome
) -> None:
    radacctid = await _open_session_committed(engine, box)
    sessions = create_sessionmaker(engine)
    send = FakeSender(engine, outcome)
    result = await disconnect_session(sessions, box=box, radacctid=radacctid, send=send, now=at(90))
    assert result.outcome is outcome
    [(target, kind, extra)] = send.calls
    assert (kind, extra, target.address, target.port, target.secret) == (
        "disconnect",
        (),
        NAS_IP,
        1700,
        SECRET.encode(),
    )
    assert ("User-Name", "alice") in target.attributes
    assert send.connections_held == [0]  # no transaction is held while the NAS is asked
    async with sessions() as session:
        row = await get_session(session, radacctid)
        assert row.disconnect_requested_at == (at(90) if outcome is CoaOutcome.ACK else None)
        assert row.acctstoptime is None  # only the NAS's Stop closes it


async def test_disconnect_session_without_now_uses_the_clock(engine: AsyncEngine, box: SecretBox) -> None:
    radacctid = await _open_session_committed(engine, box)
    sessions = create_sessionmaker(engine)
    before = datetime.now(UTC)
    await disconnect_session(sessions, box=box, radacctid=radacctid, send=FakeSender(engine, CoaOutcome.ACK))
    async with sessions() as session:
        asked = (await get_session(session, radacctid)).disconnect_requested_at
    assert asked is not None and before <= asked <= datetime.now(UTC)


async def test_disconnect_session_refuses_an_ended_session_without_sending(
    engine: AsyncEngine, box: SecretBox
) -> None:
    radacctid = await _open_session_committed(engine, box)
    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as session:
        await apply_usage(session, [rec(STOP, "u1", when=at(5), acctsessiontime=300)])
    send = FakeSender(engine, CoaOutcome.ACK)
    with pytest.raises(InvalidInput):
        await disconnect_session(sessions, box=box, radacctid=radacctid, send=send)
    assert send.calls == []


def test_a_session_change_is_the_attributes_an_accept_would_carry() -> None:
    from accounts.disconnect import SessionChange

    assert SessionChange(session_timeout=600, bandwidth_down_kbps=512).attributes() == [
        ("Session-Timeout", 600),
        ("WISPr-Bandwidth-Max-Down", 512_000),
        ("ChilliSpot-Bandwidth-Max-Down", 512),
    ]
    with pytest.raises(InvalidInput, match="nothing to change"):
        SessionChange().attributes()
    with pytest.raises(InvalidInput, match="WISPr-Bandwidth-Max-Up"):
        SessionChange(bandwidth_up_kbps=5_000_000).attributes()


@pytest.mark.parametrize("outcome", list(CoaOutcome))
async def test_a_session_over_its_limit_is_claimed_by_one_host_only(
    engine: AsyncEngine, box: SecretBox, outcome: CoaOutcome
) -> None:
    """Every host's upkeep finds the session; the first to claim it asks the NAS, the others do
    not; a NAK or no answer releases it for the next round."""
    radacctid = await _open_session_committed(engine, box)
    sessions = create_sessionmaker(engine)
    send = FakeSender(engine, outcome)
    first = await disconnect_over_limit(sessions, box=box, radacctid=radacctid, send=send, now=at(90))
    assert first is not None and first.outcome is outcome
    async with sessions() as session:
        asked = (await get_session(session, radacctid)).disconnect_requested_at
    assert asked == (at(90) if outcome is CoaOutcome.ACK else None)
    again = await disconnect_over_limit(sessions, box=box, radacctid=radacctid, send=send, now=at(95))
    if outcome is CoaOutcome.ACK:
        assert again is None and len(send.calls) == 1  # claimed (and done) by the first
    else:
        assert again is not None and len(send.calls) == 2  # released: tried again


async def test_two_hosts_claiming_at_once_send_one_request(engine: AsyncEngine, box: SecretBox) -> None:
    radacctid = await _open_session_committed(engine, box)
    sessions = create_sessionmaker(engine)
    send = FakeSender(engine, CoaOutcome.ACK)
    results = await asyncio.gather(
        *(disconnect_over_limit(sessions, box=box, radacctid=radacctid, send=send) for _ in range(2))
    )
    assert sorted(r is None for r in results) == [False, True] and len(send.calls) == 1


async def test_a_claim_is_released_when_the_nas_cannot_be_asked(engine: AsyncEngine, box: SecretBox) -> None:
    radacctid = await _open_session_committed(engine, box)
    sessions = create_sessionmaker(engine)
    async with unit_of_work(sessions) as session:
        await session.execute(delete(Nas))
    with pytest.raises(NotFound):
        await disconnect_over_limit(
            sessions, box=box, radacctid=radacctid, send=FakeSender(engine, CoaOutcome.ACK)
        )
    async with sessions() as session:
        assert (await get_session(session, radacctid)).disconnect_requested_at is None
