"""Property tests through to the database: whatever text an access point sends (NUL, control
characters, invalid UTF-8, 253 octets), every decision and accounting record is stored, on SQLite
and PostgreSQL, and the records after it too (issue 14, point 4)."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from accounts.models import AccountingSession, AuthRecord
from accounts.secretbox import SecretBox
from radius import codec
from radius.accounting import Accounting, SessionClass
from radius.clients import ClientTable
from radius.codec import Code
from radius.core import PortKind, ServerCore
from radius.events import RequestReceived
from radius.pipeline import Pipeline
from sesame.db import create_engine, create_sessionmaker
from tests.radius.conftest import HOME_REALM, SECRET, open_store

SOURCE = ("192.0.2.10", 40000)
CLASSES = SessionClass(b"k" * 32)

#: octets an access point may put in a text attribute: NUL, controls, invalid UTF-8, any length
wire_text = st.one_of(
    st.binary(min_size=1, max_size=253),
    st.text(max_size=80).map(lambda t: t.encode("utf-8", "surrogatepass")[:253]).filter(bool),
    st.sampled_from([b"\x00", b"a\x00b", b"\xff\xfe", b"\xc3", b"\x1b[31m", b"x" * 253, b"\x00" * 253]),
)
#: who the request claims to be: local, foreign, or anything at all
user_names = st.one_of(
    wire_text,
    wire_text.map(lambda t: t[:200] + b"@" + HOME_REALM.encode()),
    wire_text.map(lambda t: t[:200] + b"@elsewhere.example"),
)

_sessions = itertools.count()
USER_PASSWORD, NAS_IDENTIFIER, ACCT_SESSION_ID, NAS_PORT_ID, CONNECT_INFO = 2, 32, 44, 87, 77


async def _count(engine: AsyncEngine, table: type[AuthRecord] | type[AccountingSession]) -> int:
    async with create_sessionmaker(engine)() as session:
        return int((await session.scalar(select(func.count()).select_from(table))) or 0)


def _received(core: ServerCore, code: Code, identifier: int, attributes: bytes) -> RequestReceived:
    data = codec.encode_request(code=code, identifier=identifier, secret=SECRET, attributes=attributes)
    event = core.receive_datagram(data, SOURCE, 1812, 0.0)
    assert isinstance(event, RequestReceived), event
    return event


async def _no_password(
    password: str, password_hash: str | None, *, source: str = "", serial: str | None = None
) -> bool:
    return False


@settings(
    max_examples=60,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    deadline=None,
)
@given(
    batch=st.lists(
        st.tuples(user_names, wire_text, wire_text, wire_text, wire_text, wire_text), min_size=1, max_size=8
    )
)
def test_any_text_from_the_wire_reaches_the_database(
    database_url: str,
    box: SecretBox,
    clients: ClientTable,
    radius_codec: codec.Codec,
    batch: list[tuple[bytes, bytes, bytes, bytes, bytes, bytes]],
) -> None:
    async def run() -> None:
        engine = create_engine(database_url)  # one per example: each runs in an event loop of its own
        store = await open_store(create_sessionmaker(engine), box)
        try:
            pipeline = Pipeline(
                realm=HOME_REALM,
                store=store,
                verify_password=_no_password,
                classes=CLASSES,
                cui_key=b"c" * 32,
            )
            accounting = Accounting(
                codec_=radius_codec, realm=HOME_REALM, store=store, classes=SessionClass(b"k" * 32)
            )
            auth = ServerCore(kind=PortKind.AUTH, clients=clients, codec_=radius_codec)
            acct = ServerCore(kind=PortKind.ACCT, clients=clients, codec_=radius_codec)
            decisions, sessions = await _count(engine, AuthRecord), await _count(engine, AccountingSession)
            now = datetime.now(UTC)
            answers = []
            for i, (name, calling, called, nas_id, session_id, other) in enumerate(batch):
                hidden = codec.hide_user_password(b"guess", SECRET, bytes(16))
                attributes = b"".join(
                    codec.tlv(code, value)
                    for code, value in (
                        (codec.USER_NAME, name),
                        (codec.CALLING_STATION_ID, calling),
                        (codec.CALLED_STATION_ID, called),
                        (NAS_IDENTIFIER, nas_id),
                    )
                )
                # what a Passpoint access point or a roaming hub adds: recorded too (radius/passpoint.py)
                passpoint = (
                    codec.tlv(codec.OPERATOR_NAME, other)
                    + codec.tlv(codec.WLAN_VENUE_NAME, called)
                    + codec.vsa(codec.WIFI_ALLIANCE, codec.HS20_AP_VERSION, nas_id[:2])
                    + codec.vsa(codec.WIFI_ALLIANCE, codec.HS20_ROAMING_CONSORTIUM, other[:16])
                    + codec.vsa(codec.WISPR, codec.WISPR_LOCATION_NAME, calling[:240])
                )
                request = _received(
                    auth, Code.ACCESS_REQUEST, i, attributes + passpoint + codec.tlv(USER_PASSWORD, hidden)
                )
                reply = await pipeline.decide(request.request, now)
                assert reply.code == Code.ACCESS_REJECT  # answered: never an exception
                start = attributes + b"".join(
                    codec.tlv(code, value)
                    for code, value in (
                        (codec.ACCT_STATUS_TYPE, (1).to_bytes(4, "big")),
                        (ACCT_SESSION_ID, session_id[:40] + b"%d" % next(_sessions)),
                        (NAS_PORT_ID, other),
                        (CONNECT_INFO, other),
                        (codec.CLASS, other),
                    )
                )
                answers.append(accounting(_received(acct, Code.ACCOUNTING_REQUEST, i, start).request, now))
            # the accounting records of the batch go to the database together (group commit)
            assert all(a.code == Code.ACCOUNTING_RESPONSE for a in await asyncio.gather(*answers))
            assert await store.flush_records() == len(batch)
            assert await _count(engine, AuthRecord) == decisions + len(batch)
            assert await _count(engine, AccountingSession) == sessions + len(batch)
        finally:
            await store.close()
            await engine.dispose()

    asyncio.run(run())


@pytest.mark.parametrize("value", [b"a\x00b", b"\xff\xfe\x00", b"\x1b" * 253, "é".encode() * 126 + b"\x00"])
async def test_wire_text_is_stored_escaped_and_within_its_column(
    engine: AsyncEngine, box: SecretBox, clients: ClientTable, radius_codec: codec.Codec, value: bytes
) -> None:
    store = await open_store(create_sessionmaker(engine), box)
    try:
        pipeline = Pipeline(
            realm=HOME_REALM, store=store, verify_password=_no_password, classes=CLASSES, cui_key=b"c" * 32
        )
        core = ServerCore(kind=PortKind.AUTH, clients=clients, codec_=radius_codec)
        request = _received(
            core,
            Code.ACCESS_REQUEST,
            1,
            codec.tlv(codec.USER_NAME, value)
            + codec.tlv(codec.CALLING_STATION_ID, value)
            + codec.tlv(codec.OPERATOR_NAME, value)
            + codec.vsa(codec.WISPR, codec.WISPR_LOCATION_NAME, value[:240]),
        )
        assert (await pipeline.decide(request.request)).code == Code.ACCESS_REJECT
        assert await store.flush_records() == 1
        async with create_sessionmaker(engine)() as session:
            row = (await session.scalars(select(AuthRecord))).one()
    finally:
        await store.close()
    assert row.reason == "bad_user_name"  # no account can have such a name: no lookup was made
    assert "\x00" not in row.username and len(row.username) <= 253
    assert row.callingstationid is not None and len(row.callingstationid) <= 64
    for text in (row.operator_name, row.venue):  # the venue from WISPr-Location-Name
        assert text is not None and "\x00" not in text and len(text) <= 253
    if value.startswith(b"a\x00"):
        assert row.username == row.operator_name == row.venue == "a\\x00b"
    if value.startswith(b"\xff"):
        assert row.username == "\\xff\\xfe\\x00"
