"""Property tests: whatever bytes arrive, the core never raises, and valid traffic still works."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from radius import codec
from radius.clients import ClientTable
from radius.codec import Code
from radius.core import Decision, PortKind, ServerCore
from radius.events import DropReason, PacketDropped, ReplyReady, RequestReceived
from tests.radius.conftest import SECRET, AccessPoint

SOURCE = ("192.0.2.10", 40000)


def _core(clients: ClientTable, codec_: codec.Codec, kind: PortKind) -> ServerCore:
    return ServerCore(kind=kind, clients=clients, codec_=codec_)


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(data=st.binary(min_size=0, max_size=600))
def test_random_bytes_never_raise(clients: ClientTable, radius_codec: codec.Codec, data: bytes) -> None:
    for kind in PortKind:
        event = _core(clients, radius_codec, kind).receive_datagram(data, SOURCE, 1812, 0.0)
        assert isinstance(event, (PacketDropped, ReplyReady, RequestReceived))


@settings(max_examples=400, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    position=st.integers(min_value=0, max_value=10_000),
    value=st.integers(min_value=0, max_value=255),
    cut=st.integers(min_value=0, max_value=10_000),
)
def test_mutated_valid_packets_are_dropped_or_handled_and_the_core_keeps_working(
    clients: ClientTable, radius_codec: codec.Codec, ap: AccessPoint, position: int, value: int, cut: int
) -> None:
    core = _core(clients, radius_codec, PortKind.AUTH)
    data = bytearray(
        ap.access_request(User_Name="alice@wifi.test", User_Password="pw", Proxy_State=b"p").RequestPacket()
    )
    data[position % len(data)] = value
    mutated = bytes(data[: max(0, len(data) - cut % 40)])
    event = core.receive_datagram(mutated, SOURCE, 1812, 0.0)
    if isinstance(event, RequestReceived):  # the mutation left a valid, authentic packet (e.g. same byte)
        assert isinstance(core.finish(event.request, Decision(code=Code.ACCESS_REJECT), 0.0), ReplyReady)
    else:
        assert isinstance(event, PacketDropped)
    # the same core still answers a fresh, valid request
    fresh = ap.access_request(User_Name="bob", User_Password="pw", identifier=200)
    assert isinstance(
        core.receive_datagram(fresh.RequestPacket(), ("192.0.2.11", 1), 1812, 0.0), RequestReceived
    )


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(attributes=st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=60)), max_size=12))
def test_well_framed_packets_with_arbitrary_attributes_parse_or_drop(
    clients: ClientTable, radius_codec: codec.Codec, attributes: list[tuple[int, bytes]]
) -> None:
    body = b"".join(bytes((t, len(v) + 2)) + v for t, v in attributes)
    data = codec.encode_request(
        code=Code.ACCESS_REQUEST, identifier=1, secret=b"testing123-secret", attributes=body
    )
    event = _core(clients, radius_codec, PortKind.AUTH).receive_datagram(data, SOURCE, 1812, 0.0)
    assert isinstance(event, (PacketDropped, RequestReceived))


# -- oversized replies (issue 14, point 3) --------------------------------------------------------

REPLIES = [
    Decision(code=Code.ACCESS_REJECT, attributes=(("Reply-Message", "Unknown user or wrong password"),)),
    Decision(
        code=Code.ACCESS_ACCEPT,
        attributes=(("Session-Timeout", 3600), ("Idle-Timeout", 600), ("Acct-Interim-Interval", 300)),
        class_=b"sesame:42.0123456789ab.0123456789abcdef",
    ),
    Decision(code=Code.ACCESS_ACCEPT, raw=codec.tlv(18, b"m" * 253) * 4),  # a partner's relayed reply
]


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)
@given(
    states=st.lists(st.binary(min_size=0, max_size=253), max_size=40),
    reply=st.sampled_from(REPLIES),
    legacy=st.booleans(),
)
def test_any_proxy_state_gets_a_reply_within_4096_octets_or_a_counted_drop(
    clients: ClientTable, radius_codec: codec.Codec, states: list[bytes], reply: Decision, legacy: bool
) -> None:
    """RFC 2865 §5.33: every Proxy-State is echoed; when they make the reply too big it is dropped,
    counted, never raised — and the core answers the next request."""
    secret = SECRET
    header = codec.MIN_LENGTH + 18 + len(codec.tlv(codec.USER_NAME, b"alice"))
    while header + sum(len(s) + 2 for s in states) > codec.MAX_LENGTH:  # the request itself fits
        states.pop()
    attributes = codec.tlv(codec.USER_NAME, b"alice") + b"".join(
        codec.tlv(codec.PROXY_STATE, s) for s in states
    )
    source = ("198.51.100.5", 40000) if legacy else SOURCE
    data = codec.encode_request(
        code=Code.ACCESS_REQUEST, identifier=1, secret=secret, attributes=attributes, sign=not legacy
    )
    core = _core(clients, radius_codec, PortKind.AUTH)
    event = core.receive_datagram(data, source, 1812, 0.0)
    assert isinstance(event, RequestReceived)
    done = core.finish(event.request, reply, 0.0)
    if isinstance(done, ReplyReady):
        assert len(done.data) <= codec.MAX_LENGTH
        assert codec.parse(done.data).all(codec.PROXY_STATE) == codec.parse(data).all(codec.PROXY_STATE)
    else:
        assert isinstance(done, PacketDropped) and done.reason is DropReason.REPLY_TOO_BIG
        assert core.drops[DropReason.REPLY_TOO_BIG] == 1
    fresh = codec.encode_request(
        code=Code.ACCESS_REQUEST, identifier=2, secret=secret, attributes=codec.tlv(codec.USER_NAME, b"bob")
    )
    again = core.receive_datagram(fresh, SOURCE, 1812, 0.0)
    assert isinstance(again, RequestReceived)
    assert isinstance(core.finish(again.request, REPLIES[0], 0.0), ReplyReady)
