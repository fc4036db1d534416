"""Rounds of a conversation reach the worker that holds it: the State that names it, the core's
verdict, and the sealed messages between workers (radius.workerroute, radius.workerlink)."""

from __future__ import annotations

import asyncio
import os

import pytest
import uvloop
from hypothesis import given
from hypothesis import strategies as st

from radius import codec
from radius.clients import ClientTable
from radius.core import PortKind, ServerCore
from radius.events import PacketDropped, RequestMisdirected, RequestReceived
from radius.workerlink import WorkerLink
from radius.workerroute import Forwarded, make_state, seal, state_owner, unseal
from tests.radius.conftest import AccessPoint

NOW = 1_000_000.0
KEY = b"k" * 32


def core(clients: ClientTable, radius_codec: codec.Codec, *, worker: int, workers: int) -> ServerCore:
    return ServerCore(
        kind=PortKind.AUTH, clients=clients, codec_=radius_codec, worker=worker, workers=workers
    )


def test_a_state_names_its_worker_and_nothing_else_names_one() -> None:
    state = make_state(3, os.urandom(16))
    assert state_owner(state) == 3
    assert state_owner(None) is None
    assert state_owner(b"") is None
    assert state_owner(state[:-1]) is None  # another server's State: nobody's
    assert state_owner(b"X" + state[1:]) is None
    with pytest.raises(ValueError):
        make_state(256, os.urandom(16))


def test_a_request_for_another_workers_conversation_is_handed_on_unanswered(
    clients: ClientTable, radius_codec: codec.Codec, ap: AccessPoint
) -> None:
    first, second = (core(clients, radius_codec, worker=i, workers=2) for i in (0, 1))
    request = ap.access_request(
        User_Name="alice", State=make_state(1, os.urandom(16)), EAP_Message=b"\x02\x01\x00\x06\x03\x15"
    )
    data = request.RequestPacket()
    event = first.receive_datagram(data, ("192.0.2.10", 40000), 1812, NOW)
    assert event == RequestMisdirected(worker=1, data=data, source=("192.0.2.10", 40000), local_port=1812)
    # the owner takes it, and its duplicate cache (not the first worker's) sees it
    assert isinstance(second.receive_datagram(data, ("192.0.2.10", 40000), 1812, NOW), RequestReceived)
    assert len(first.duplicates) == 0


def test_a_state_naming_no_live_worker_or_one_process_is_answered_here(
    clients: ClientTable, radius_codec: codec.Codec, ap: AccessPoint
) -> None:
    lone = core(clients, radius_codec, worker=0, workers=1)
    of_two = core(clients, radius_codec, worker=0, workers=2)
    for state in (make_state(1, os.urandom(16)), make_state(7, os.urandom(16))):
        data = ap.access_request(
            User_Name="alice", State=state, EAP_Message=b"\x02\x01\x00\x05\x01"
        ).RequestPacket()
        assert isinstance(lone.receive_datagram(data, ("192.0.2.10", 40001), 1812, NOW), RequestReceived)
    data = ap.access_request(
        User_Name="a", State=make_state(7, os.urandom(16)), EAP_Message=b"\x02\x01\x00\x05\x01"
    ).RequestPacket()
    assert isinstance(of_two.receive_datagram(data, ("192.0.2.10", 40002), 1812, NOW), RequestReceived)


def test_a_forged_request_is_checked_before_it_is_handed_on(
    clients: ClientTable, radius_codec: codec.Codec, ap: AccessPoint
) -> None:
    first = core(clients, radius_codec, worker=0, workers=2)
    data = bytearray(
        ap.access_request(
            User_Name="a", State=make_state(1, os.urandom(16)), EAP_Message=b"\x02\x01\x00\x05\x01"
        ).RequestPacket()
    )
    data[-1] ^= 1  # the Message-Authenticator no longer verifies
    assert isinstance(first.receive_datagram(bytes(data), ("192.0.2.10", 40000), 1812, NOW), PacketDropped)


@given(
    listener=st.integers(0, 255),
    port=st.integers(0, 65535),
    address=st.sampled_from(["192.0.2.1", "2001:db8::1", "127.0.0.1"]),
    data=st.binary(max_size=4096),
)
def test_sealed_messages_open_with_the_key_only(listener: int, port: int, address: str, data: bytes) -> None:
    message = seal(KEY, listener=listener, source=(address, port), data=data)
    assert unseal(KEY, message) == Forwarded(listener=listener, source=(address, port), data=data)
    assert unseal(b"x" * 32, message) is None
    assert unseal(KEY, message[:-1] if data else message[:20]) is None


@given(st.binary(max_size=200))
def test_anything_else_on_the_link_is_refused(message: bytes) -> None:
    assert unseal(KEY, message) is None


async def _hand_over() -> Forwarded:
    name = f"test-{os.getpid()}-{os.urandom(4).hex()}"
    got: asyncio.Queue[Forwarded] = asyncio.Queue()
    first = WorkerLink(name=name, index=0, key=KEY)
    second = WorkerLink(name=name, index=1, key=KEY)
    await first.open(lambda _: None)
    await second.open(got.put_nowait)
    try:
        first.forward(5, listener=0, source=("192.0.2.1", 1), data=b"to nobody")  # counted, not raised
        first.forward(1, listener=2, source=("2001:db8::7", 1645), data=b"datagram")
        return await asyncio.wait_for(got.get(), 5)
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_workers_hand_requests_over_their_link(loop: str) -> None:
    """On uvloop too (what the workers run): its transports take no abstract socket address."""
    factory = uvloop.new_event_loop if loop == "uvloop" else asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        forwarded = runner.run(_hand_over())
    assert forwarded == Forwarded(listener=2, source=("2001:db8::7", 1645), data=b"datagram")
