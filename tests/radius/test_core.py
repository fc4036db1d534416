"""The protocol core driven in memory by a simulated access point at a fixed ``now``."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pyrad import packet as pp

from radius import codec
from radius.clients import ClientTable
from radius.codec import MESSAGE_AUTHENTICATOR, Code
from radius.core import Decision, PortKind, ServerCore
from radius.events import DropReason, Event, PacketDropped, ReplyReady, RequestReceived
from tests.radius.conftest import SECRET, AccessPoint

NOW = 1_000_000.0
PORT = 1812


@pytest.fixture
def auth(clients: ClientTable, radius_codec: codec.Codec) -> ServerCore:
    return ServerCore(kind=PortKind.AUTH, clients=clients, codec_=radius_codec)


@pytest.fixture
def acct(clients: ClientTable, radius_codec: codec.Codec) -> ServerCore:
    return ServerCore(kind=PortKind.ACCT, clients=clients, codec_=radius_codec)


def receive(
    core: ServerCore, data: bytes, source: tuple[str, int] = ("192.0.2.10", 40000), now: float = NOW
) -> Event:
    return core.receive_datagram(data, source, PORT, now)


def test_an_access_request_is_handed_to_the_policy_and_the_reply_verifies(
    auth: ServerCore, ap: AccessPoint
) -> None:
    request = ap.access_request(User_Name="alice@wifi.test", User_Password="pw", Proxy_State=[b"one", b"two"])
    event = receive(auth, request.RequestPacket())
    assert isinstance(event, RequestReceived)
    assert event.request.client.name == "ap-valence"
    assert event.request.packet.first(codec.USER_NAME) == b"alice@wifi.test"

    decision = Decision(
        code=Code.ACCESS_ACCEPT, attributes=(("Session-Timeout", 3600), ("Reply-Message", "Bienvenue"))
    )
    ready = auth.finish(event.request, decision, NOW)
    assert isinstance(ready, ReplyReady)
    reply = ap.verify(request, ready.data)
    assert reply.code == pp.AccessAccept
    assert reply["Session-Timeout"] == [3600]
    assert reply["Reply-Message"] == ["Bienvenue"]
    assert ready.data[20] == codec.MESSAGE_AUTHENTICATOR  # first attribute: BlastRADIUS mitigation
    assert reply[33] == [b"one", b"two"]  # Proxy-State echoed in order


def test_a_reject_is_signed_too(auth: ServerCore, ap: AccessPoint) -> None:
    request = ap.access_request(User_Name="bob", User_Password="x")
    event = receive(auth, request.RequestPacket())
    assert isinstance(event, RequestReceived)
    ready = auth.finish(event.request, Decision(code=Code.ACCESS_REJECT), NOW)
    assert isinstance(ready, ReplyReady)
    assert ap.verify(request, ready.data).code == pp.AccessReject
    assert ready.data[20] == codec.MESSAGE_AUTHENTICATOR


def test_unknown_clients_are_dropped_and_counted(auth: ServerCore, ap: AccessPoint) -> None:
    event = receive(auth, ap.access_request(User_Name="x").RequestPacket(), source=("203.0.113.9", 1))
    assert isinstance(event, PacketDropped) and event.reason is DropReason.UNKNOWN_CLIENT
    assert auth.drops[DropReason.UNKNOWN_CLIENT] == 1


def test_message_authenticator_is_required_unless_the_client_is_legacy(
    auth: ServerCore, ap: AccessPoint
) -> None:
    unsigned = ap.access_request(sign=False, User_Name="alice", User_Password="pw").RequestPacket()
    event = receive(auth, unsigned)
    assert isinstance(event, PacketDropped) and event.reason is DropReason.MISSING_MESSAGE_AUTHENTICATOR
    assert isinstance(receive(auth, unsigned, source=("198.51.100.5", 1)), RequestReceived)


def test_a_wrong_secret_or_a_tampered_packet_fails_the_message_authenticator(
    auth: ServerCore, ap: AccessPoint
) -> None:
    wrong = AccessPoint(ap.dictionary, secret=b"not-the-secret")
    event = receive(auth, wrong.access_request(User_Name="alice", User_Password="pw").RequestPacket())
    assert isinstance(event, PacketDropped) and event.reason is DropReason.BAD_MESSAGE_AUTHENTICATOR
    good = bytearray(ap.access_request(User_Name="alice", User_Password="pw").RequestPacket())
    good[-1] ^= 0x01
    event = receive(auth, bytes(good))
    assert isinstance(event, PacketDropped) and event.reason is DropReason.BAD_MESSAGE_AUTHENTICATOR
    # even a legacy client's packet is checked when it carries a Message-Authenticator
    event = receive(auth, bytes(good), source=("198.51.100.5", 1))
    assert isinstance(event, PacketDropped) and event.reason is DropReason.BAD_MESSAGE_AUTHENTICATOR


@pytest.mark.parametrize(
    ("mangle", "reason"),
    [
        (lambda d: d[:19], DropReason.SHORT_PACKET),
        (lambda d: d[:2] + (19).to_bytes(2, "big") + d[4:], DropReason.BAD_LENGTH),
        (lambda d: d[:2] + (5000).to_bytes(2, "big") + d[4:], DropReason.BAD_LENGTH),
        (lambda d: d[:-3], DropReason.TRUNCATED_PACKET),
        (
            lambda d: d[:2] + (len(d) + 3).to_bytes(2, "big") + d[4:] + b"\x01\x09\x00",
            DropReason.TRUNCATED_ATTRIBUTE,
        ),
        (
            lambda d: d[:2] + (len(d) + 2).to_bytes(2, "big") + d[4:] + b"\x01\x01",
            DropReason.TRUNCATED_ATTRIBUTE,
        ),
        (
            lambda d: d[:2] + (len(d) + 18).to_bytes(2, "big") + d[4:] + b"\x50\x12" + bytes(16),
            DropReason.BAD_MESSAGE_AUTHENTICATOR_ATTRIBUTE,
        ),
        (lambda d: bytes([4]) + d[1:], DropReason.UNKNOWN_CODE),
        (lambda d: bytes([2]) + d[1:], DropReason.UNKNOWN_CODE),
    ],
)
def test_malformed_packets_are_dropped_by_reason(
    auth: ServerCore, ap: AccessPoint, mangle: Callable[[bytes], bytes], reason: DropReason
) -> None:
    data = ap.access_request(User_Name="alice", User_Password="pw").RequestPacket()
    event = receive(auth, mangle(data))
    assert isinstance(event, PacketDropped)
    assert event.reason is reason
    assert auth.drops[reason] == 1


def test_padding_after_the_length_field_is_ignored(auth: ServerCore, ap: AccessPoint) -> None:
    data = ap.access_request(User_Name="alice", User_Password="pw").RequestPacket()
    assert isinstance(receive(auth, data + b"\x00" * 7), RequestReceived)


def test_duplicates_follow_rfc5080(auth: ServerCore, ap: AccessPoint) -> None:
    request = ap.access_request(User_Name="alice", User_Password="pw")
    data = request.RequestPacket()
    first = receive(auth, data)
    assert isinstance(first, RequestReceived)
    in_progress = receive(auth, data, now=NOW + 1)
    assert isinstance(in_progress, PacketDropped) and in_progress.reason is DropReason.DUPLICATE_IN_PROGRESS
    answer = auth.finish(first.request, Decision(code=Code.ACCESS_REJECT), NOW + 2)
    assert isinstance(answer, ReplyReady)
    again = receive(auth, data, now=NOW + 3)
    assert isinstance(again, ReplyReady) and again.duplicate and again.data == answer.data
    # after the cache lifetime the same bytes are a new request
    assert isinstance(receive(auth, data, now=NOW + 2 + auth.duplicates.lifetime + 0.1), RequestReceived)


def test_a_new_authenticator_with_the_same_identifier_is_a_new_request(
    auth: ServerCore, ap: AccessPoint
) -> None:
    first = receive(auth, ap.access_request(User_Name="alice", User_Password="pw").RequestPacket())
    second = receive(auth, ap.access_request(User_Name="alice", User_Password="pw").RequestPacket())
    assert isinstance(first, RequestReceived) and isinstance(second, RequestReceived)
    late = auth.finish(first.request, Decision(code=Code.ACCESS_REJECT), NOW)
    assert isinstance(late, PacketDropped) and late.reason is DropReason.SUPERSEDED
    assert isinstance(auth.finish(second.request, Decision(code=Code.ACCESS_REJECT), NOW), ReplyReady)


def test_an_abandoned_request_is_processed_again_when_retransmitted(
    auth: ServerCore, ap: AccessPoint
) -> None:
    data = ap.access_request(User_Name="alice", User_Password="pw").RequestPacket()
    first = receive(auth, data)
    assert isinstance(first, RequestReceived)
    auth.abandon(first.request, DropReason.OVERLOAD)
    assert auth.drops[DropReason.OVERLOAD] == 1
    assert isinstance(receive(auth, data), RequestReceived)


@pytest.mark.parametrize(
    ("kind", "reply_code"), [(PortKind.AUTH, pp.AccessAccept), (PortKind.ACCT, pp.AccountingResponse)]
)
def test_status_server_is_answered_on_both_ports(
    clients: ClientTable, radius_codec: codec.Codec, ap: AccessPoint, kind: PortKind, reply_code: int
) -> None:
    core = ServerCore(kind=kind, clients=clients, codec_=radius_codec)
    request = ap.status_server()
    request["Proxy-State"] = b"ps"
    event = receive(core, request.RequestPacket())
    assert isinstance(event, ReplyReady)
    reply = ap.verify(request, event.data)
    assert reply.code == reply_code
    assert event.data[20] == MESSAGE_AUTHENTICATOR


def test_status_server_without_message_authenticator_is_dropped_even_for_legacy(
    auth: ServerCore, ap: AccessPoint
) -> None:
    data = ap.status_server(sign=False).RequestPacket()
    for source in [("192.0.2.10", 1), ("198.51.100.5", 1)]:
        event = receive(auth, data, source=source)
        assert isinstance(event, PacketDropped) and event.reason is DropReason.MISSING_MESSAGE_AUTHENTICATOR


def test_eap_without_message_authenticator_is_dropped_even_for_legacy(
    auth: ServerCore, ap: AccessPoint
) -> None:
    """RFC 3579 §3.2: an Access-Request with EAP-Message must carry a Message-Authenticator, or
    anyone who saw one round could forge the next (the legacy opt-out is for PAP gear only)."""
    identity = b"\x02\x01\x00\x0e\x01anonymous"
    unsigned = ap.access_request(sign=False, User_Name="anonymous", EAP_Message=identity).RequestPacket()
    for source in [("192.0.2.10", 1), ("198.51.100.5", 1)]:  # an access point, a legacy one
        event = receive(auth, unsigned, source=source)
        assert isinstance(event, PacketDropped) and event.reason is DropReason.MISSING_MESSAGE_AUTHENTICATOR
    signed = ap.access_request(User_Name="anonymous", EAP_Message=identity).RequestPacket()
    assert isinstance(receive(auth, signed, source=("198.51.100.5", 2)), RequestReceived)


def test_accounting_requests_need_a_valid_request_authenticator(acct: ServerCore, ap: AccessPoint) -> None:
    request = ap.accounting_request(User_Name="alice", Acct_Status_Type="Start", Acct_Session_Id="s1")
    data = request.RequestPacket()
    event = receive(acct, data)
    assert isinstance(event, RequestReceived)
    ready = acct.finish(event.request, Decision(code=Code.ACCOUNTING_RESPONSE), NOW)
    assert isinstance(ready, ReplyReady)
    assert ap.verify(request, ready.data).code == pp.AccountingResponse
    wrong = AccessPoint(ap.dictionary, secret=b"wrong").accounting_request(
        User_Name="alice", Acct_Status_Type="Stop"
    )
    event = receive(acct, wrong.RequestPacket())
    assert isinstance(event, PacketDropped) and event.reason is DropReason.BAD_REQUEST_AUTHENTICATOR
    assert isinstance(receive(acct, ap.access_request(User_Name="a").RequestPacket()), PacketDropped)


def test_finish_refuses_a_reply_code_of_the_other_port(auth: ServerCore, ap: AccessPoint) -> None:
    event = receive(auth, ap.access_request(User_Name="alice", User_Password="pw").RequestPacket())
    assert isinstance(event, RequestReceived)
    with pytest.raises(ValueError):
        auth.finish(event.request, Decision(code=Code.ACCOUNTING_RESPONSE), NOW)


def test_salt_encrypted_attributes_decrypt_at_the_nas(auth: ServerCore, ap: AccessPoint) -> None:
    request = ap.access_request(User_Name="alice", User_Password="pw")
    event = receive(auth, request.RequestPacket())
    assert isinstance(event, RequestReceived)
    keys = (("MS-MPPE-Send-Key", b"S" * 16), ("MS-MPPE-Recv-Key", b"R" * 16))
    ready = auth.finish(event.request, Decision(code=Code.ACCESS_ACCEPT, secret_attributes=keys), NOW)
    assert isinstance(ready, ReplyReady)
    reply = ap.verify(request, ready.data)
    reply.secret = SECRET
    reply.request_authenticator = request.authenticator
    assert reply["MS-MPPE-Send-Key"] == [b"S" * 16]
    assert reply["MS-MPPE-Recv-Key"] == [b"R" * 16]


def test_user_password_round_trip(ap: AccessPoint) -> None:
    request = ap.access_request(User_Name="alice", User_Password="a much longer password, over 16 octets")
    packet = codec.parse(request.RequestPacket())
    hidden = packet.first(codec.USER_PASSWORD)
    assert hidden is not None
    clear = codec.decrypt_user_password(hidden, SECRET, packet.authenticator)
    assert clear == b"a much longer password, over 16 octets"
    assert (
        codec.hide_user_password(b"a much longer password, over 16 octets", SECRET, packet.authenticator)
        == hidden
    )
    assert codec.decrypt_user_password(hidden[:-1], SECRET, packet.authenticator) is None
