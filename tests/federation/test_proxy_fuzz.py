"""Property tests: whatever a home server sends back, the proxy core never raises and relays nothing
whose authenticators do not verify, and a genuine reply that carries arbitrary attributes is relayed
as an answer the access point can verify."""

from __future__ import annotations

import ipaddress

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pyrad import packet as pp

from federation.health import Timers
from federation.proxy import ProxyCore, Relayed, Send, Target
from federation.relay import LocalLimits
from radius import DICTIONARY, codec
from radius.clients import Client, ClientTable
from radius.codec import Code, Codec
from radius.core import PortKind, ServerCore
from radius.events import ReplyReady, RequestReceived

NAS_SECRET, HOME_SECRET = b"nas-secret-fuzz", b"home-secret-fuzz"
CODEC = Codec([DICTIONARY])
HOME = Target(id=1, partner_id=1, host="127.0.0.2", port=1812, transport="udp", secret=HOME_SECRET)
LIMITS = LocalLimits(
    session_timeout=3600, idle_timeout=600, interim_interval=300, up_kbps=1000, down_kbps=2000
)


def setup() -> tuple[ServerCore, ProxyCore, RequestReceived, bytes]:
    nas = Client(id=1, name="ap", network=ipaddress.ip_network("192.0.2.0/24"), secret=NAS_SECRET)
    auth = ServerCore(kind=PortKind.AUTH, clients=ClientTable([nas]), codec_=CODEC)
    proxy = ProxyCore(operator_name="wifi.sud.example", loop_tag=b"tagtagta", timers=Timers())
    proxy.configure([HOME], 0.0)
    request = pp.AuthPacket(code=pp.AccessRequest, id=1, secret=NAS_SECRET, dict=CODEC.dictionary)
    request["User-Name"] = "mario@liguria.example"
    request["User-Password"] = request.PwCrypt("pw")
    request.add_message_authenticator()
    event = auth.receive_datagram(request.RequestPacket(), ("192.0.2.10", 1), 1812, 0.0)
    assert isinstance(event, RequestReceived)
    _pending, out = proxy.forward(event.request, partner_id=1, limits=LIMITS, now=0.0)
    (send,) = [o for o in out if isinstance(o, Send)]
    return auth, proxy, event, send.data


def verifies(data: bytes, request_authenticator: bytes) -> bool:
    """Both authenticators of a reply check out with the home server's secret."""
    try:
        reply = codec.parse(data)
    except codec.Malformed:
        return False
    return codec.response_authenticator_valid(
        reply, HOME_SECRET, request_authenticator=request_authenticator
    ) and codec.message_authenticator_valid(reply, HOME_SECRET, request_authenticator=request_authenticator)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(data=st.binary(max_size=300), position=st.integers(0, 400), value=st.integers(0, 255))
@example(data=b"", position=0, value=Code.ACCESS_ACCEPT)  # the unchanged reply, always tried
def test_garbage_and_mutated_replies_are_never_relayed(data: bytes, position: int, value: int) -> None:
    """Whatever comes back, nothing reaches the access point unless both authenticators verify:
    random bytes and a genuine reply with one octet changed are dropped; the genuine reply
    itself (a mutation that writes the octet already there) is relayed."""
    _auth, proxy, _event, forwarded = setup()
    request_authenticator = forwarded[4:20]
    out = proxy.receive(1, data, 0.1)
    assert not verifies(data, request_authenticator)
    assert not [o for o in out if isinstance(o, Relayed)]
    original = codec.encode_reply(
        code=Code.ACCESS_ACCEPT,
        identifier=forwarded[1],
        request_authenticator=request_authenticator,
        secret=HOME_SECRET,
        attributes=codec.tlv(27, (7200).to_bytes(4, "big")),
        proxy_states=codec.parse(forwarded).all(codec.PROXY_STATE),
    )
    mutated = bytearray(original)
    mutated[position % len(mutated)] = value
    relayed = [o for o in proxy.receive(1, bytes(mutated), 0.1) if isinstance(o, Relayed)]
    if bytes(mutated) == original:
        assert len(relayed) == 1  # the control: the genuine reply does get through
    else:
        assert not verifies(bytes(mutated), request_authenticator)
        assert relayed == []


vendor_attribute = st.tuples(
    st.sampled_from([311, 14122, 14559, 9]), st.integers(0, 30), st.binary(max_size=40)
).map(lambda v: codec.vsa(v[0], v[1], v[2]))
plain_attribute = (
    st.tuples(st.integers(1, 255), st.binary(max_size=60))
    .filter(lambda a: a[0] not in (codec.MESSAGE_AUTHENTICATOR,))
    .map(lambda a: codec.tlv(a[0], a[1]))
)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow], deadline=None)
@given(
    attributes=st.lists(st.one_of(vendor_attribute, plain_attribute), max_size=15),
    code=st.sampled_from([Code.ACCESS_ACCEPT, Code.ACCESS_REJECT, Code.ACCESS_CHALLENGE]),
)
def test_a_genuine_reply_with_any_attributes_is_relayed_verifiably(
    attributes: list[bytes], code: Code
) -> None:
    auth, proxy, event, forwarded = setup()
    reply = codec.encode_reply(
        code=code,
        identifier=forwarded[1],
        request_authenticator=forwarded[4:20],
        secret=HOME_SECRET,
        attributes=b"".join(attributes),
        proxy_states=codec.parse(forwarded).all(codec.PROXY_STATE),
    )
    (relayed,) = [o for o in proxy.receive(1, reply, 0.1) if isinstance(o, Relayed)]
    ready = auth.finish(event.request, relayed.decision, 0.2)
    assert isinstance(ready, ReplyReady)
    answer = codec.parse(ready.data)
    assert answer.code == code
    assert codec.response_authenticator_valid(
        answer, NAS_SECRET, request_authenticator=event.request.packet.authenticator
    )
    assert codec.message_authenticator_valid(
        answer, NAS_SECRET, request_authenticator=event.request.packet.authenticator
    )
    assert answer.all(codec.PROXY_STATE) == []  # the NAS sent none; the home server's are ours
