"""The accounting handler: Accounting-Requests built by pyrad, as a NAS would, into Usage records."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyrad import packet as pp

from accounts.sessions import StatusType, Usage
from radius.accounting import Accounting, SessionClass
from radius.clients import ClientTable
from radius.codec import Code, Codec
from radius.core import PortKind, ServerCore
from radius.events import Discard, DropReason, ReplyReady, RequestReceived
from radius.store import AccountView
from tests.radius.conftest import AccessPoint

REALM = "wifi.sud.example"
NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
CLASSES = SessionClass(b"a key of thirty-two bytes exactly")


@dataclass
class FakeUsageStore:
    records: list[Usage] = field(default_factory=list)
    accounts: dict[str, AccountView] = field(default_factory=dict)
    lookups: list[str] = field(default_factory=list)
    failing: bool = False

    async def record_usage(self, usage: Usage) -> None:
        if self.failing:
            raise ConnectionError("the database is away")
        self.records.append(usage)

    async def account(self, username: str) -> AccountView | None:
        self.lookups.append(username)
        return self.accounts.get(username)


@pytest.fixture
def store() -> FakeUsageStore:
    bob = AccountView(id=42, username="bob", status="active", email_verified=True, password_hash=None)
    return FakeUsageStore(accounts={"bob": bob})


@pytest.fixture
def acct(clients: ClientTable, radius_codec: Codec) -> ServerCore:
    return ServerCore(kind=PortKind.ACCT, clients=clients, codec_=radius_codec)


@pytest.fixture
def handler(radius_codec: Codec, store: FakeUsageStore) -> Accounting:
    return Accounting(codec_=radius_codec, realm=REALM, store=store, classes=CLASSES)


async def account(acct: ServerCore, handler: Accounting, request: pp.Packet) -> pp.Packet:
    event = acct.receive_datagram(request.RequestPacket(), ("192.0.2.10", 40000), 1813, 0.0)
    assert isinstance(event, RequestReceived), event
    decision = await handler(event.request, NOW)
    ready = acct.finish(event.request, decision, 0.0)
    assert isinstance(ready, ReplyReady), ready
    return AccessPoint(request.dict).verify(request, ready.data)


async def test_a_start_becomes_a_record_once_stored_then_answered(
    acct: ServerCore, handler: Accounting, ap: AccessPoint, store: FakeUsageStore
) -> None:
    request = ap.accounting_request(
        User_Name="bob",
        Acct_Status_Type="Start",
        Acct_Session_Id="5F3A-0001",
        NAS_IP_Address="192.0.2.10",
        NAS_Port_Type="Wireless-802.11",
        NAS_Port_Id="wlan0",
        Calling_Station_Id="AA-BB-CC-DD-EE-0F",
        Called_Station_Id="00-11-22-33-44-55:Valence-Wifi",
        Framed_IP_Address="10.1.2.3",
        Framed_IPv6_Prefix="2001:db8:1::/64",
        Acct_Authentic="RADIUS",
        Connect_Info="CONNECT 54Mbps 802.11g",
        Service_Type="Framed-User",
    )
    reply = await account(acct, handler, request)
    assert reply.code == pp.AccountingResponse
    (usage,) = store.records
    assert usage.status is StatusType.START and usage.event_time == NOW
    assert usage.acctsessionid == "5F3A-0001" and len(usage.acctuniqueid) == 32
    assert (usage.username, usage.realm, usage.account_id) == ("bob", REALM, 42)
    assert usage.nasipaddress == "192.0.2.10" and usage.nasportid == "wlan0"
    assert usage.nasporttype == "Wireless-802.11" and usage.servicetype == "Framed-User"
    assert usage.acctauthentic == "RADIUS" and usage.connectinfo == "CONNECT 54Mbps 802.11g"
    assert usage.callingstationid == "AA-BB-CC-DD-EE-0F" and usage.device_mac == "aa:bb:cc:dd:ee:0f"
    assert usage.framedipaddress == "10.1.2.3" and usage.framedipv6prefix == "2001:db8:1::/64"
    assert (usage.nas_id, usage.site_id) == (1, 7)


async def test_counters_fold_in_gigawords_and_time_goes_back_by_the_delay(
    acct: ServerCore, handler: Accounting, ap: AccessPoint, store: FakeUsageStore
) -> None:
    request = ap.accounting_request(
        User_Name="bob@WIFI.SUD.EXAMPLE",
        Acct_Status_Type="Stop",
        Acct_Session_Id="s-2",
        Acct_Session_Time=3600,
        Acct_Input_Octets=5,
        Acct_Input_Gigawords=2,
        Acct_Output_Octets=7,
        Acct_Output_Gigawords=1,
        Acct_Delay_Time=30,
        Acct_Terminate_Cause="Idle-Timeout",
    )
    await account(acct, handler, request)
    (usage,) = store.records
    assert usage.acctinputoctets == 2 * 2**32 + 5 and usage.acctoutputoctets == 2**32 + 7
    assert usage.event_time == NOW - timedelta(seconds=30)
    assert usage.acctterminatecause == "Idle-Timeout" and usage.acctsessiontime == 3600
    assert usage.realm == REALM and usage.account_id == 42


async def test_a_nas_claiming_an_absurd_delay_is_not_believed_beyond_a_week(
    acct: ServerCore, handler: Accounting, ap: AccessPoint, store: FakeUsageStore
) -> None:
    request = ap.accounting_request(
        User_Name="bob", Acct_Status_Type="Interim-Update", Acct_Session_Id="s", Acct_Delay_Time=2**31
    )
    await account(acct, handler, request)
    assert store.records[0].event_time == NOW - timedelta(days=7)


async def test_the_signed_class_names_the_account_without_a_lookup(
    acct: ServerCore, handler: Accounting, ap: AccessPoint, store: FakeUsageStore
) -> None:
    request = ap.accounting_request(
        User_Name="aa:bb:cc:dd:ee:01", Acct_Status_Type="Start", Acct_Session_Id="s-3", Class=CLASSES.make(77)
    )
    await account(acct, handler, request)
    assert store.records[0].account_id == 77 and store.lookups == []
    forged = ap.accounting_request(
        User_Name="aa:bb:cc:dd:ee:01",
        Acct_Status_Type="Start",
        Acct_Session_Id="s-4",
        Class=b"sesame:77.00.00",
    )
    await account(acct, handler, forged)
    assert store.records[1].account_id is None  # a MAC user name is not looked up as an account
    foreign = ap.accounting_request(
        User_Name="eve@elsewhere.example", Acct_Status_Type="Start", Acct_Session_Id="s"
    )
    await account(acct, handler, foreign)
    assert store.records[2].account_id is None and store.records[2].realm == "elsewhere.example"
    assert store.lookups == []


async def test_the_unique_id_names_one_session_of_one_nas(
    acct: ServerCore, handler: Accounting, ap: AccessPoint, store: FakeUsageStore
) -> None:
    def record(**kw: object) -> pp.Packet:
        values: dict[str, object] = {
            "User_Name": "bob",
            "Acct_Session_Id": "abc",
            "Acct_Status_Type": "Start",
        }
        return ap.accounting_request(**(values | kw))

    for request in [
        record(),
        record(Acct_Status_Type="Stop"),  # the same session
        record(Acct_Session_Id="abd"),
        record(User_Name="carol"),
        record(NAS_Port_Id="wlan1"),
        record(NAS_IP_Address="192.0.2.99"),
    ]:
        await account(acct, handler, request)
    ids = [r.acctuniqueid for r in store.records]
    assert ids[0] == ids[1] and len(set(ids)) == 5


async def test_accounting_on_and_off_name_the_nas(
    acct: ServerCore, handler: Accounting, ap: AccessPoint, store: FakeUsageStore
) -> None:
    for status in ("Accounting-On", "Accounting-Off"):
        await account(
            acct, handler, ap.accounting_request(Acct_Status_Type=status, NAS_IP_Address="192.0.2.10")
        )
    assert [r.status for r in store.records] == [StatusType.ACCOUNTING_ON, StatusType.ACCOUNTING_OFF]
    assert all(r.nas_id == 1 and r.nasipaddress == "192.0.2.10" for r in store.records)


async def test_incomplete_requests_are_left_unanswered(
    acct: ServerCore, handler: Accounting, ap: AccessPoint, store: FakeUsageStore
) -> None:
    for request in [
        ap.accounting_request(User_Name="bob", Acct_Session_Id="s"),  # no Acct-Status-Type
        ap.accounting_request(User_Name="bob", Acct_Status_Type="Start"),  # no Acct-Session-Id
    ]:
        event = acct.receive_datagram(request.RequestPacket(), ("192.0.2.10", 40000), 1813, 0.0)
        assert isinstance(event, RequestReceived)
        with pytest.raises(Discard) as caught:
            await handler(event.request, NOW)
        assert caught.value.reason is DropReason.BAD_ACCOUNTING
    assert store.records == []


async def test_kinds_this_server_does_not_keep_are_acknowledged(
    acct: ServerCore, handler: Accounting, ap: AccessPoint, store: FakeUsageStore
) -> None:
    reply = await account(
        acct, handler, ap.accounting_request(Acct_Status_Type="Tunnel-Start", Acct_Session_Id="t")
    )
    assert reply.code == pp.AccountingResponse and store.records == []


async def test_nothing_is_acknowledged_that_was_not_stored(
    acct: ServerCore, handler: Accounting, ap: AccessPoint, store: FakeUsageStore
) -> None:
    store.failing = True
    request = ap.accounting_request(User_Name="bob", Acct_Status_Type="Start", Acct_Session_Id="s")
    event = acct.receive_datagram(request.RequestPacket(), ("192.0.2.10", 40000), 1813, 0.0)
    assert isinstance(event, RequestReceived)
    with pytest.raises(Discard) as caught:
        await handler(event.request, NOW)
    assert caught.value.reason is DropReason.NOT_RECORDED
    assert isinstance(caught.value.__cause__, ConnectionError)


def test_a_class_that_is_not_ours_names_no_account() -> None:
    assert CLASSES.account_id(None) is None
    assert CLASSES.account_id(b"some-other-server-class") is None
    assert CLASSES.account_id(b"sesame:") is None
    assert CLASSES.account_id(CLASSES.make(5)[:-1] + b"x") is None
    assert pp.AccountingResponse == Code.ACCOUNTING_RESPONSE


ATTRIBUTE_CODES = [1, 4, 5, 6, 7, 8, 25, 30, 31, 32, 41, 42, 43, 44, 45, 46, 49, 52, 53, 61, 77, 85, 87, 95]
ATTRIBUTE_CODES += [96, 97, 123, 168]


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    status=st.sampled_from([1, 2, 3, 7, 8, 15, 0, 2**32 - 1]),
    attributes=st.lists(
        st.tuples(
            st.sampled_from(ATTRIBUTE_CODES),
            st.one_of(st.binary(max_size=20), st.binary(min_size=60, max_size=253)),
        ),
        max_size=12,
    ),
)
def test_any_attribute_values_give_a_record_that_fits_its_columns_or_a_clean_drop(
    clients: ClientTable,
    radius_codec: Codec,
    handler: Accounting,
    status: int,
    attributes: list[tuple[int, bytes]],
) -> None:
    """Whatever a NAS puts in its attributes, the record fits radacct's columns (one record that the
    database refuses would otherwise fail its whole batch) or is dropped as bad_accounting."""
    from sqlalchemy import String

    from accounts.models import AccountingSession
    from radius.codec import encode_request, tlv

    body = tlv(40, status.to_bytes(4, "big")) + b"".join(tlv(code, value) for code, value in attributes)
    body += tlv(44, b"session-1")  # a session id (unless one of the attributes above came first)
    data = encode_request(
        code=Code.ACCOUNTING_REQUEST, identifier=1, secret=b"testing123-secret", attributes=body
    )
    acct = ServerCore(
        kind=PortKind.ACCT, clients=clients, codec_=radius_codec
    )  # no duplicates between examples
    event = acct.receive_datagram(data, ("192.0.2.10", 40000), 1813, 0.0)
    if not isinstance(event, RequestReceived):
        return  # too long for one packet: dropped by the core
    try:
        usage = asyncio.run(handler.usage(event.request, NOW))
    except Discard as exc:
        reason = exc.reason
        assert reason is DropReason.BAD_ACCOUNTING
        return
    if usage is None:
        return
    from accounts.sessions import row_of

    columns = AccountingSession.__table__.c
    for name, value in row_of(usage).items():
        column = columns["class" if name == "class_" else name]
        if isinstance(value, str) and isinstance(column.type, String) and column.type.length:
            assert len(value) <= column.type.length, (name, value)
        if isinstance(value, int) and not isinstance(value, bool):
            assert 0 <= value < 2**63, (name, value)


def test_during_a_key_rotation_the_class_of_a_session_started_before_it_still_names_its_account() -> None:
    old, new = b"the class key before the rotation", b"the class key after the rotation!"
    before = SessionClass(old).make(42)
    window = SessionClass(new, old)
    assert window.account_id(before) == 42
    after = window.make(7)
    assert SessionClass(new).account_id(after) == 7 and SessionClass(old).account_id(after) is None
    assert SessionClass(new).account_id(before) is None  # once the previous key is dropped
