"""The proxy core driven in memory: a simulated access point, simulated home servers, a fixed ``now``.

Requests and replies on both sides are built and read with pyrad's own packet code, an
implementation independent of ``radius.codec`` and of the proxy.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

import pytest
from pyrad import packet as pp
from pyrad.dictionary import Dictionary

from federation.health import State, Timers
from federation.proxy import (
    Failed,
    HealthChanged,
    ProxyCore,
    Refused,
    Relayed,
    Send,
    Target,
)
from federation.relay import LocalLimits
from radius import DICTIONARY, codec
from radius.clients import Client, ClientTable
from radius.codec import Codec
from radius.core import PortKind, ServerCore
from radius.events import ReplyReady, RequestReceived

NOW = 5_000.0
NAS_SECRET = b"nas-secret-valence"
HOME_SECRET = b"liguria-secret-1"
BACKUP_SECRET = b"liguria-secret-2"
TAG = b"\x5e\x5a\x4d\x45\x00\x01\x02\x03"
TIMERS = Timers(
    response_window=10.0,
    zombie_period=40.0,
    check_interval=10.0,
    answers_to_alive=3,
    retry_interval=3.0,
    retries=2,
)
PARTNER = 7
PRIMARY = Target(id=1, partner_id=PARTNER, host="127.0.0.2", port=1812, transport="udp", secret=HOME_SECRET)
BACKUP = Target(
    id=2, partner_id=PARTNER, host="127.0.0.3", port=1812, transport="udp", secret=BACKUP_SECRET, priority=1
)


@pytest.fixture(scope="module")
def radius_codec() -> Codec:
    return Codec([DICTIONARY])


@pytest.fixture(scope="module")
def dictionary(radius_codec: Codec) -> Dictionary:
    return radius_codec.dictionary


@pytest.fixture
def auth(radius_codec: Codec) -> ServerCore:
    nas = Client(id=1, name="ap-nice", network=ipaddress.ip_network("192.0.2.0/24"), secret=NAS_SECRET)
    return ServerCore(kind=PortKind.AUTH, clients=ClientTable([nas]), codec_=radius_codec)


@pytest.fixture
def proxy() -> ProxyCore:
    core = ProxyCore(operator_name="wifi.sud.example", loop_tag=TAG, timers=TIMERS)
    core.configure([PRIMARY, BACKUP], NOW)
    return core


def nas_request(dictionary: Dictionary, **attributes: object) -> pp.AuthPacket:
    request = pp.AuthPacket(code=pp.AccessRequest, id=42, secret=NAS_SECRET, dict=dictionary)
    for name, value in attributes.items():
        name = name.replace("_", "-")
        request[name] = request.PwCrypt(value) if name == "User-Password" else value
    request.add_message_authenticator()
    return request


def received(auth: ServerCore, request: pp.AuthPacket) -> RequestReceived:
    event = auth.receive_datagram(request.RequestPacket(), ("192.0.2.10", 40000), 1812, NOW)
    assert isinstance(event, RequestReceived)
    return event


def as_home(dictionary: Dictionary, data: bytes, secret: bytes = HOME_SECRET) -> pp.AuthPacket:
    packet = pp.AuthPacket(packet=data, secret=secret, dict=dictionary)
    assert packet.verify_message_authenticator()
    return packet


def home_reply(forwarded: pp.AuthPacket, code: int = pp.AccessAccept, **attributes: object) -> bytes:
    reply = forwarded.CreateReply()
    reply.code = code
    reply.request_authenticator = forwarded.authenticator
    for name, value in attributes.items():
        reply[name.replace("_", "-")] = value
    if 33 in forwarded:
        assert reply[33] == forwarded[33]  # pyrad's CreateReply echoes Proxy-State (RFC 2865 §5.33)
    reply.add_message_authenticator()
    return bytes(reply.ReplyPacket())


def only_send(out: Sequence[object]) -> Send:
    sends = [e for e in out if isinstance(e, Send)]
    assert len(sends) == 1, out
    return sends[0]


def test_a_forwarded_request_is_a_new_signed_request_with_the_password_rehidden(
    proxy: ProxyCore, auth: ServerCore, dictionary: Dictionary
) -> None:
    nas = nas_request(
        dictionary,
        User_Name="mario@liguria.example",
        User_Password="pizza margherita",
        Calling_Station_Id="AA-BB-CC-DD-EE-FF",
        Proxy_State=b"from-the-nas",
    )
    pending, out = proxy.forward(
        received(auth, nas).request, partner_id=PARTNER, limits=LocalLimits(), now=NOW
    )
    send = only_send(out)
    assert send.server_id == PRIMARY.id
    home = as_home(dictionary, send.data)
    assert send.data[20] == codec.MESSAGE_AUTHENTICATOR  # first
    assert home.authenticator != nas.authenticator
    assert home.PwDecrypt(home["User-Password"][0]) == "pizza margherita"
    assert home["User-Name"] == ["mario@liguria.example"]
    assert home["Calling-Station-Id"] == ["AA-BB-CC-DD-EE-FF"]
    assert home["Operator-Name"] == ["1wifi.sud.example"]  # RFC 5580: namespace 1, our realm
    assert home["Chargeable-User-Identity"] == [b"\x00"]  # RFC 4372: asked for
    states = home[33]
    assert states[0] == b"from-the-nas" and states[-1].startswith(TAG)  # ours appended last
    assert pending.slot & 0xFF == home.id


def test_chap_keeps_working_when_the_authenticator_was_the_challenge(
    proxy: ProxyCore, auth: ServerCore, dictionary: Dictionary
) -> None:
    nas = nas_request(dictionary, User_Name="mario@liguria.example", CHAP_Password=b"\x01" + bytes(16))
    _pending, out = proxy.forward(
        received(auth, nas).request, partner_id=PARTNER, limits=LocalLimits(), now=NOW
    )
    home = as_home(dictionary, only_send(out).data)
    assert home["CHAP-Challenge"] == [nas.authenticator]  # RFC 2865 §5.3


def test_an_accept_is_relayed_rekeyed_with_our_stricter_limits_and_the_nas_proxy_state(
    proxy: ProxyCore, auth: ServerCore, dictionary: Dictionary
) -> None:
    nas = nas_request(
        dictionary, User_Name="mario@liguria.example", User_Password="pw", Proxy_State=b"nas-state"
    )
    request = received(auth, nas).request
    limits = LocalLimits(session_timeout=3600, idle_timeout=900, interim_interval=300, down_kbps=4000)
    pending, out = proxy.forward(request, partner_id=PARTNER, limits=limits, now=NOW)
    home = as_home(dictionary, only_send(out).data)
    reply = home_reply(
        home,
        Session_Timeout=7200,
        Reply_Message="Benvenuto",
        Class=b"liguria-class",
        Chargeable_User_Identity=b"opaque-cui",
        WISPr_Bandwidth_Max_Down=2_000_000,
        Acct_Interim_Interval=60,
        MS_MPPE_Send_Key=b"\x11" * 32,  # pyrad salt-encrypts it with the home secret (RFC 2548)
    )
    events = proxy.receive(PRIMARY.id, reply, NOW + 0.01)
    relayed = [e for e in events if isinstance(e, Relayed)]
    assert len(relayed) == 1 and relayed[0].pending is pending
    ready = auth.finish(request, relayed[0].decision, NOW + 0.01)
    assert isinstance(ready, ReplyReady)
    answer = pp.Packet(packet=ready.data, secret=NAS_SECRET, dict=dictionary)
    answer.request_authenticator = nas.authenticator
    assert nas.VerifyReply(answer, ready.data)
    assert answer.code == pp.AccessAccept
    assert ready.data[20] == codec.MESSAGE_AUTHENTICATOR
    assert answer["Session-Timeout"] == [3600]  # ours: stricter than the partner's 7200
    assert answer["Idle-Timeout"] == [900]
    assert answer["Acct-Interim-Interval"] == [300]  # accounting of visitors is ours
    assert answer["Reply-Message"] == ["Benvenuto"]
    assert answer["Class"] == [b"liguria-class"]
    assert answer["Chargeable-User-Identity"] == [b"opaque-cui"]
    assert answer["WISPr-Bandwidth-Max-Down"] == [2_000_000]  # theirs: stricter than our 4 Mbit/s
    assert answer["ChilliSpot-Bandwidth-Max-Down"] == [2000]
    assert answer[33] == [b"nas-state"]  # only the NAS's own Proxy-State comes back
    assert answer["MS-MPPE-Send-Key"] == [b"\x11" * 32]  # re-keyed: pyrad decrypts it with the NAS's secret


def test_a_reject_is_relayed_without_our_limits(
    proxy: ProxyCore, auth: ServerCore, dictionary: Dictionary
) -> None:
    nas = nas_request(dictionary, User_Name="mario@liguria.example", User_Password="wrong")
    request = received(auth, nas).request
    _pending, out = proxy.forward(
        request, partner_id=PARTNER, limits=LocalLimits(session_timeout=60), now=NOW
    )
    home = as_home(dictionary, only_send(out).data)
    events = proxy.receive(
        PRIMARY.id, home_reply(home, pp.AccessReject, Reply_Message="Credenziali errate"), NOW
    )
    (relayed,) = [e for e in events if isinstance(e, Relayed)]
    assert relayed.decision.code == pp.AccessReject
    assert relayed.decision.attributes == ()
    assert relayed.decision.raw == codec.tlv(18, b"Credenziali errate")  # Reply-Message as it came


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        ("authenticator", "bad_response_authenticator"),
        ("unsigned", "missing_message_authenticator"),
        ("mis-signed", "bad_message_authenticator"),
        ("identifier", "unmatched_reply"),
    ],
)
def test_a_reply_that_does_not_verify_is_dropped_and_the_request_keeps_waiting(
    proxy: ProxyCore, auth: ServerCore, dictionary: Dictionary, tamper: str, reason: str
) -> None:
    nas = nas_request(dictionary, User_Name="mario@liguria.example", User_Password="pw")
    _pending, out = proxy.forward(
        received(auth, nas).request, partner_id=PARTNER, limits=LocalLimits(), now=NOW
    )
    home = as_home(dictionary, only_send(out).data)
    if tamper == "unsigned":  # as a forger would send it: no Message-Authenticator (BlastRADIUS)
        reply = bytearray(
            codec.encode_reply(
                code=pp.AccessAccept,
                identifier=home.id,
                request_authenticator=home.authenticator,
                secret=HOME_SECRET,
                sign=False,
            )
        )
    elif tamper == "mis-signed":  # a valid Response Authenticator over a wrong Message-Authenticator
        reply = bytearray(
            codec.encode_reply(
                code=pp.AccessAccept,
                identifier=home.id,
                request_authenticator=home.authenticator,
                secret=HOME_SECRET,
                sign_with=bytes(16),
            )
        )
        assert codec.response_authenticator_valid(
            codec.parse(bytes(reply)), HOME_SECRET, request_authenticator=home.authenticator
        )
    else:
        reply = bytearray(home_reply(home))
    if tamper == "authenticator":
        reply[4] ^= 0xFF
    elif tamper == "identifier":
        reply[1] ^= 0xFF
    assert proxy.receive(PRIMARY.id, bytes(reply), NOW) == []
    assert proxy.drops[reason] == 1
    events = proxy.receive(PRIMARY.id, home_reply(home), NOW)  # the genuine one still gets through
    assert any(isinstance(e, Relayed) for e in events)


@pytest.mark.parametrize("code", [pp.AccessAccept, pp.AccessReject, pp.AccessChallenge])
def test_one_legacy_home_server_may_reply_unsigned_and_no_other(
    auth: ServerCore, dictionary: Dictionary, code: int
) -> None:
    """``require_message_authenticator`` off on one home server (issue 16): its unsigned Accept and
    Reject are relayed; a Challenge never (EAP needs it signed), and the other servers of the same
    partner keep refusing unsigned replies."""
    legacy = Target(
        id=3, partner_id=PARTNER, host="127.0.0.4", port=1812, transport="udp", secret=HOME_SECRET,
        require_message_authenticator=False,
    )  # fmt: skip
    proxy = ProxyCore(operator_name="wifi.sud.example", loop_tag=TAG, timers=TIMERS)
    proxy.configure([legacy, BACKUP], NOW)

    def unsigned(target: Target) -> list[object]:
        nas = nas_request(dictionary, User_Name="mario@liguria.example", User_Password="pw")
        _pending, out = proxy.forward(
            received(auth, nas).request, partner_id=PARTNER, limits=LocalLimits(), now=NOW
        )
        home = as_home(dictionary, only_send(out).data, target.secret)
        reply = codec.encode_reply(
            code=code, identifier=home.id, request_authenticator=home.authenticator, secret=target.secret,
            sign=False,
        )  # fmt: skip
        return list(proxy.receive(only_send(out).server_id, reply, NOW))

    relayed = unsigned(legacy)
    if code == pp.AccessChallenge:
        assert relayed == [] and proxy.drops["missing_message_authenticator"] == 1
    else:
        assert any(isinstance(e, Relayed) for e in relayed) and not proxy.drops
    proxy.configure([BACKUP], NOW)  # the legacy server is gone: the partner's other one is tried
    assert unsigned(BACKUP) == []
    assert proxy.drops["missing_message_authenticator"] == (2 if code == pp.AccessChallenge else 1)


def test_an_unanswered_request_is_resent_identically_then_fails_over_then_fails(
    proxy: ProxyCore, auth: ServerCore, dictionary: Dictionary
) -> None:
    nas = nas_request(dictionary, User_Name="mario@liguria.example", User_Password="pw")
    pending, out = proxy.forward(
        received(auth, nas).request, partner_id=PARTNER, limits=LocalLimits(), now=NOW
    )
    first = only_send(out)
    assert proxy.next_deadline() == NOW + 3.0
    assert proxy.handle_timer(NOW + 2.9) == []
    resent = only_send(proxy.handle_timer(NOW + 3.0))
    assert resent == first  # RFC 5080 §2.2.1: same Identifier, same authenticator
    assert only_send(proxy.handle_timer(NOW + 6.0)) == first
    out = proxy.handle_timer(NOW + 10.0)  # the response window is over
    changes = [e.transition for e in out if isinstance(e, HealthChanged)]
    assert [(c.old, c.new) for c in changes] == [(State.UNKNOWN, State.ZOMBIE)]
    sends = [e for e in out if isinstance(e, Send)]
    assert [s.server_id for s in sends if as_home_or_none(dictionary, s.data, BACKUP_SECRET)] == [BACKUP.id]
    assert proxy.state(PRIMARY.id) is State.ZOMBIE
    # the late answer of the primary is not for anyone any more
    home = as_home(dictionary, first.data)
    assert proxy.receive(PRIMARY.id, home_reply(home), NOW + 11) == []
    assert proxy.drops["unmatched_reply"] == 1
    out = proxy.handle_timer(NOW + 30.0)
    assert [e.reason for e in out if isinstance(e, Failed) and e.pending is pending] == ["no_answer"]


def as_home_or_none(dictionary: Dictionary, data: bytes, secret: bytes) -> pp.AuthPacket | None:
    packet = pp.AuthPacket(packet=data, secret=secret, dict=dictionary)
    return packet if packet.code == pp.AccessRequest and packet.verify_message_authenticator() else None


def test_a_zombie_is_probed_with_status_server_and_an_answer_revives_it(
    proxy: ProxyCore, auth: ServerCore, dictionary: Dictionary
) -> None:
    nas = nas_request(dictionary, User_Name="mario@liguria.example", User_Password="pw")
    proxy.forward(received(auth, nas).request, partner_id=PARTNER, limits=LocalLimits(), now=NOW)
    proxy.handle_timer(NOW + 3)
    proxy.handle_timer(NOW + 6)
    out = proxy.handle_timer(NOW + 10)
    probes = [s for s in out if isinstance(s, Send) and s.data[0] == pp.StatusServer]
    assert [p.server_id for p in probes] == [PRIMARY.id]
    status = as_home(dictionary, probes[0].data)
    assert status["Operator-Name"] == ["1wifi.sud.example"]
    # RFC 5997: answered with Access-Accept, on the source port (channel) the probe left from
    out = proxy.receive(PRIMARY.id, home_reply(status), NOW + 10.5, channel=probes[0].channel)
    assert [(e.transition.old, e.transition.new) for e in out if isinstance(e, HealthChanged)] == [
        (State.ZOMBIE, State.ALIVE)
    ]


def test_a_silent_zombie_dies_and_is_revived_only_after_several_probe_answers(
    proxy: ProxyCore, auth: ServerCore, dictionary: Dictionary
) -> None:
    nas = nas_request(dictionary, User_Name="mario@liguria.example", User_Password="pw")
    proxy.forward(received(auth, nas).request, partner_id=PARTNER, limits=LocalLimits(), now=NOW)
    t = NOW
    while proxy.state(PRIMARY.id) is not State.DEAD and t < NOW + 200:
        t += 1.0
        proxy.handle_timer(t)  # probes go unanswered
    assert proxy.state(PRIMARY.id) is State.DEAD
    assert NOW + 10 + 40 <= t <= NOW + 10 + 40 + 11  # zombie at +10, dead after the zombie period
    # a dead server gets no requests: the next goes to the backup at once
    nas2 = nas_request(dictionary, User_Name="luigi@liguria.example", User_Password="pw")
    _p, out = proxy.forward(received(auth, nas2).request, partner_id=PARTNER, limits=LocalLimits(), now=t)
    assert only_send(out).server_id == BACKUP.id
    answers = 0
    while proxy.state(PRIMARY.id) is State.DEAD and t < NOW + 400:
        t += 1.0
        for send in proxy.handle_timer(t):
            if isinstance(send, Send) and send.server_id == PRIMARY.id and send.data[0] == pp.StatusServer:
                reply = home_reply(as_home(dictionary, send.data))
                proxy.receive(PRIMARY.id, reply, t, channel=send.channel)
                answers += 1
    assert proxy.state(PRIMARY.id) is State.ALIVE
    assert answers == TIMERS.answers_to_alive


def test_our_own_proxy_state_coming_back_is_a_loop(
    proxy: ProxyCore, auth: ServerCore, dictionary: Dictionary
) -> None:
    nas = nas_request(
        dictionary,
        User_Name="mario@liguria.example",
        User_Password="pw",
        Proxy_State=TAG + b"\x00\x00\x00\x09",
    )
    with pytest.raises(Refused) as refused:
        proxy.forward(received(auth, nas).request, partner_id=PARTNER, limits=LocalLimits(), now=NOW)
    assert refused.value.reason == "loop"


def test_outstanding_requests_per_partner_are_bounded(auth: ServerCore, dictionary: Dictionary) -> None:
    proxy = ProxyCore(operator_name="wifi.sud.example", loop_tag=TAG, timers=TIMERS, max_outstanding=3)
    proxy.configure([PRIMARY], NOW)
    for i in range(3):
        nas = nas_request(dictionary, User_Name=f"u{i}@liguria.example", User_Password="pw")
        proxy.forward(received(auth, nas).request, partner_id=PARTNER, limits=LocalLimits(), now=NOW)
    nas = nas_request(dictionary, User_Name="one-too-many@liguria.example", User_Password="pw")
    with pytest.raises(Refused) as refused:
        proxy.forward(received(auth, nas).request, partner_id=PARTNER, limits=LocalLimits(), now=NOW)
    assert refused.value.reason == "too_many_outstanding"


def test_past_256_in_flight_a_server_gets_more_source_ports(auth: ServerCore, dictionary: Dictionary) -> None:
    proxy = ProxyCore(operator_name="wifi.sud.example", loop_tag=TAG, timers=TIMERS, max_outstanding=700)
    proxy.configure([PRIMARY, BACKUP], NOW)
    assert proxy.channels(PRIMARY) == 3  # 3 × 256 Identifiers cover 700 in flight
    used: dict[tuple[int, int], set[int]] = {}
    for i in range(700):
        nas = nas_request(dictionary, User_Name=f"u{i}@liguria.example", User_Password="pw")
        _p, out = proxy.forward(
            received_fresh(auth, nas, i), partner_id=PARTNER, limits=LocalLimits(), now=NOW
        )
        send = only_send(out)
        ids = used.setdefault((send.server_id, send.channel), set())
        assert send.data[1] not in ids  # an Identifier is unique per source port
        ids.add(send.data[1])
    assert sorted(used) == [(1, 0), (1, 1), (1, 2)]  # three source ports, none over 256
    assert sum(len(ids) for ids in used.values()) == 700


def test_a_reply_on_another_channel_does_not_match(auth: ServerCore, dictionary: Dictionary) -> None:
    proxy = ProxyCore(operator_name="wifi.sud.example", loop_tag=TAG, timers=TIMERS, max_outstanding=512)
    proxy.configure([PRIMARY], NOW)
    nas = nas_request(dictionary, User_Name="mario@liguria.example", User_Password="pw")
    _p, out = proxy.forward(received(auth, nas).request, partner_id=PARTNER, limits=LocalLimits(), now=NOW)
    send = only_send(out)
    reply = home_reply(as_home(dictionary, send.data))
    assert proxy.receive(PRIMARY.id, reply, NOW, channel=1 - send.channel) == []
    assert proxy.drops["unmatched_reply"] == 1
    assert any(isinstance(e, Relayed) for e in proxy.receive(PRIMARY.id, reply, NOW, channel=send.channel))


def test_requests_in_flight_to_a_changed_server_fail_over_at_once(
    auth: ServerCore, dictionary: Dictionary
) -> None:
    proxy = ProxyCore(operator_name="wifi.sud.example", loop_tag=TAG, timers=TIMERS)
    proxy.configure([PRIMARY, BACKUP], NOW)
    nas = nas_request(dictionary, User_Name="mario@liguria.example", User_Password="pw")
    pending, out = proxy.forward(
        received(auth, nas).request, partner_id=PARTNER, limits=LocalLimits(), now=NOW
    )
    assert only_send(out).server_id == PRIMARY.id
    rotated = Target(
        id=1, partner_id=PARTNER, host="127.0.0.2", port=1812, transport="udp", secret=b"rotated-secret"
    )
    out = proxy.configure([rotated, BACKUP], NOW + 1)  # the partner rotated the secret
    send = only_send(out)
    assert send.server_id == PRIMARY.id  # the changed server is a new one: tried again, with its new secret
    assert as_home(dictionary, send.data, b"rotated-secret")["User-Name"] == ["mario@liguria.example"]
    out = proxy.configure([BACKUP], NOW + 2)  # then removed
    assert only_send(out).server_id == BACKUP.id
    out = proxy.configure([], NOW + 3)  # nothing left: the request fails, and the count comes down
    assert [e.reason for e in out if isinstance(e, Failed) and e.pending is pending] == ["no_answer"]
    assert proxy.outstanding[PARTNER] == 0


def received_fresh(auth: ServerCore, request: pp.AuthPacket, i: int):  # type: ignore[no-untyped-def]
    event = auth.receive_datagram(request.RequestPacket(), ("192.0.2.10", 1024 + i), 1812, NOW)
    assert isinstance(event, RequestReceived)
    return event.request


def test_a_radsec_connection_lost_fails_its_requests_over_at_once(
    auth: ServerCore, dictionary: Dictionary
) -> None:
    tls = Target(id=3, partner_id=PARTNER, host="127.0.0.4", port=2083, transport="radsec", secret=b"radsec")
    proxy = ProxyCore(operator_name="wifi.sud.example", loop_tag=TAG, timers=TIMERS)
    proxy.configure([tls, BACKUP], NOW)
    nas = nas_request(dictionary, User_Name="mario@liguria.example", User_Password="pw")
    _p, out = proxy.forward(received(auth, nas).request, partner_id=PARTNER, limits=LocalLimits(), now=NOW)
    assert only_send(out).server_id == tls.id
    assert proxy.handle_timer(NOW + 5) == []  # TCP: never resent
    out = proxy.connection(tls.id, up=False, now=NOW + 6)
    assert only_send(out).server_id == BACKUP.id
    assert proxy.state(tls.id) is State.DEAD


def test_a_copy_of_accounting_goes_to_the_partners_accounting_port(
    dictionary: Dictionary, radius_codec: Codec
) -> None:
    acct = ServerCore(
        kind=PortKind.ACCT,
        clients=ClientTable(
            [Client(id=1, name="ap-nice", network=ipaddress.ip_network("192.0.2.0/24"), secret=NAS_SECRET)]
        ),
        codec_=radius_codec,
    )
    accounting_target = Target(
        id=-1,
        partner_id=PARTNER,
        host="127.0.0.2",
        port=1813,
        transport="udp",
        secret=HOME_SECRET,
        kind="acct",
    )
    proxy = ProxyCore(operator_name="wifi.sud.example", loop_tag=TAG, timers=TIMERS)
    proxy.configure([PRIMARY, accounting_target], NOW)
    nas = pp.AcctPacket(code=pp.AccountingRequest, id=9, secret=NAS_SECRET, dict=dictionary)
    nas["User-Name"] = "mario@liguria.example"
    nas["Acct-Status-Type"] = "Start"
    nas["Acct-Session-Id"] = "s-1"
    event = acct.receive_datagram(nas.RequestPacket(), ("192.0.2.10", 40000), 1813, NOW)
    assert isinstance(event, RequestReceived)
    _pending, out = proxy.forward_accounting(event.request, partner_id=PARTNER, now=NOW)
    send = only_send(out)
    assert send.server_id == accounting_target.id
    copy = pp.AcctPacket(packet=send.data, secret=HOME_SECRET, dict=dictionary)
    assert copy.VerifyAcctRequest()  # RFC 2866 §3: authenticator computed with the partner's secret
    assert copy["Acct-Session-Id"] == ["s-1"] and copy["Operator-Name"] == ["1wifi.sud.example"]
    reply = copy.CreateReply()
    reply.code = pp.AccountingResponse
    events = proxy.receive(accounting_target.id, reply.ReplyPacket(), NOW + 0.1)
    (relayed,) = [e for e in events if isinstance(e, Relayed)]
    assert relayed.decision.code == pp.AccountingResponse
    assert proxy.outstanding[PARTNER] == 0
