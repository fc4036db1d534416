"""The EAP-TTLS inner phase (radius/eap/ttls.py): AVPs as a peer sends them, for inner PAP,
MS-CHAPv2 and EAP-MSCHAPv2, and whatever else arrives."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from radius.eap.inner import (
    INNER_METHODS,
    INNER_REASONS,
    TTLS_EAP_MSCHAPV2,
    TTLS_MSCHAPV2,
    TTLS_PAP,
    InnerFailure,
    InnerOutput,
    InnerSuccess,
)
from radius.eap.needs import NeedNtHashes, NeedPassword
from radius.eap.ttls import (
    MAX_AVPS,
    RECEIVE,
    SUPPLY,
    Avp,
    AvpMalformed,
    TtlsInner,
    TtlsState,
    encode_avps,
    parse_avps,
)
from radius.mschap import nt_password_hash
from tests.radius.eap.inner_peer import MsChapV2Peer, avp, unpack_avps
from tests.radius.eap.peer import eap, unpack_eap

REALM = "wifi.example"
PASSWORD = "correct horse"
IMPLICIT = bytes(range(100, 117))  # what keys.ttls_challenge would give: 16 + the Ident
MS = 311


def phase(*, outer: str = "anonymous@wifi.example", allowed: frozenset[str] = INNER_METHODS) -> TtlsInner:
    inner = TtlsInner(outer_identity=outer, realm=REALM, allowed=allowed, challenge=IMPLICIT)
    assert inner.start() == InnerOutput()  # the peer speaks first
    return inner


def pap(user: bytes, password: bytes) -> bytes:
    return avp(1, user) + avp(2, password + bytes(-len(password) % 16))  # NUL-padded to 16


def mschapv2(peer: MsChapV2Peer, *, challenge: bytes = IMPLICIT[:16], ident: int = IMPLICIT[16]) -> bytes:
    nt_response = peer.nt_response(IMPLICIT[:16])
    response = bytes([ident, 0]) + peer.peer_challenge + bytes(8) + nt_response
    return avp(1, peer.name) + avp(11, challenge, vendor=MS) + avp(25, response, vendor=MS)


def failure(reason: str, identity: str | None = "alice@wifi.example") -> InnerOutput:
    assert reason in INNER_REASONS  # every reason a test expects is a documented one
    return InnerOutput(result=InnerFailure(reason=reason, identity=identity))


# -- the AVP codec ---------------------------------------------------------------------------


def test_avps_round_trip_padded_with_vendor_and_flags() -> None:
    avps = [
        Avp(code=1, data=b"alice"),
        Avp(code=26, vendor=MS, data=b"\x01S=" + b"A" * 40),
        Avp(code=999, data=b"", mandatory=False),
    ]
    wire = encode_avps(avps)
    assert wire == avp(1, b"alice") + avp(26, b"\x01S=" + b"A" * 40, vendor=MS) + avp(
        999, b"", mandatory=False
    )
    assert len(wire) % 4 == 0
    assert parse_avps(wire) == avps


def test_a_last_avp_without_its_padding_is_read() -> None:
    assert parse_avps(avp(1, b"alice")[:13]) == [Avp(code=1, data=b"alice")]


def test_a_password_is_not_in_an_avps_repr() -> None:
    assert "secret" not in repr(Avp(code=2, data=b"secret"))


@pytest.mark.parametrize(
    ("wire", "reason"),
    [
        (b"\x00\x00\x00\x01\x40\x00", "short_header"),
        (b"\x00\x00\x00\x01\x40\x00\x00\x07", "bad_length"),  # shorter than its header
        (b"\x00\x00\x00\x01\xc0\x00\x00\x0a\x00\x00", "bad_length"),  # V set: 12 at least
        (b"\x00\x00\x00\x01\x40\x00\x00\x10abcd", "truncated"),
        (avp(1, b"x") * (MAX_AVPS + 1), "too_many_avps"),
    ],
)
def test_malformed_avps_say_why(wire: bytes, reason: str) -> None:
    with pytest.raises(AvpMalformed) as caught:
        parse_avps(wire)
    assert caught.value.reason == reason


@given(st.binary(max_size=400))
def test_any_bytes_parse_or_raise_avp_malformed_only(data: bytes) -> None:
    try:
        avps = parse_avps(data)
    except AvpMalformed:
        return
    assert len(avps) <= MAX_AVPS
    assert sum(len(a.data) for a in avps) <= len(data)


# -- the state table -------------------------------------------------------------------------


def test_every_state_but_done_takes_either_a_message_or_an_answer() -> None:
    assert not RECEIVE.keys() & SUPPLY.keys()
    assert RECEIVE.keys() | SUPPLY.keys() == set(TtlsState) - {TtlsState.DONE}


def test_the_implicit_challenge_is_17_octets() -> None:
    with pytest.raises(ValueError, match="17"):
        TtlsInner(outer_identity="", realm=REALM, allowed=INNER_METHODS, challenge=bytes(16))


# -- inner PAP -------------------------------------------------------------------------------


def test_pap_asks_for_the_password_without_its_nul_padding_then_succeeds() -> None:
    inner = phase()
    need = inner.receive(pap(b"Alice", b"secret"))
    assert need == NeedPassword(identity="alice@wifi.example", password="secret")
    assert "secret" not in repr(need)
    assert inner.supply(need, True) == InnerOutput(
        result=InnerSuccess(identity="alice@wifi.example", method=TTLS_PAP)
    )


def test_pap_with_a_wrong_password_fails() -> None:
    inner = phase()
    need = inner.receive(pap(b"alice@WIFI.example", b"wrong"))
    assert isinstance(need, NeedPassword)
    assert inner.supply(need, False) == failure("bad_password")


def test_pap_keeps_a_password_of_16_octets_whole() -> None:
    need = phase().receive(avp(1, b"alice") + avp(2, b"0123456789abcdef"))
    assert need == NeedPassword(identity="alice@wifi.example", password="0123456789abcdef")


def test_a_password_no_account_can_have_is_refused_unasked() -> None:
    assert phase().receive(pap(b"alice", b"x" * 513)) == failure("bad_password")


@pytest.mark.parametrize(
    ("outer", "user"),
    [
        ("anonymous@wifi.example", b"alice@other.example"),
        ("anonymous@other.example", b"alice"),
        ("anonymous@other.example", b"alice@wifi.example"),
        ("@wifi.example", b"alice@wifi.example.evil"),
    ],
)
def test_an_inner_realm_not_ours_or_not_the_outer_ones_is_refused(outer: str, user: bytes) -> None:
    output = phase(outer=outer).receive(pap(user, b"secret"))
    assert isinstance(output, InnerOutput)
    assert isinstance(output.result, InnerFailure)
    assert output.result.reason == "realm_mismatch"


@pytest.mark.parametrize("outer", ["anonymous@wifi.example", "@wifi.example", "anonymous", "alice"])
def test_the_outer_identity_may_name_our_realm_or_none(outer: str) -> None:
    assert isinstance(phase(outer=outer).receive(pap(b"alice", b"secret")), NeedPassword)


@pytest.mark.parametrize(
    "user", [b"al\x00ice", b"al\x1bice", b"\xffalice", b"", b"@wifi.example", b"a" * 254]
)
def test_a_name_no_account_can_have_is_refused_before_any_lookup(user: bytes) -> None:
    output = phase().receive(pap(user, b"secret"))
    assert isinstance(output, InnerOutput)
    assert isinstance(output.result, InnerFailure)
    assert output.result.reason == "bad_user_name"
    assert output.result.identity is None or output.result.identity.isprintable()


def test_a_method_not_enabled_is_refused() -> None:
    inner = phase(allowed=frozenset({TTLS_MSCHAPV2}))
    assert inner.receive(pap(b"alice", b"secret")) == failure("inner_method_not_allowed", None)


# -- inner MS-CHAPv2 -------------------------------------------------------------------------


def mschapv2_to_need(inner: TtlsInner, peer: MsChapV2Peer) -> NeedNtHashes:
    need = inner.receive(mschapv2(peer))
    assert need == NeedNtHashes(identity="alice@wifi.example")
    return need


def test_mschapv2_answers_the_authenticator_response_the_client_expects_and_waits_for_its_ack() -> None:
    inner, peer = phase(), MsChapV2Peer(name=b"alice@wifi.example", password=PASSWORD)
    output = inner.supply(mschapv2_to_need(inner, peer), [nt_password_hash(PASSWORD)])
    assert output.result is None
    [(vendor, code, value)] = unpack_avps(output.send)
    assert (vendor, code) == (MS, 26)
    assert value == bytes([IMPLICIT[16]]) + peer.expected.encode()  # Ident | "S=<40 hex>"
    assert inner.receive(b"") == InnerOutput(
        result=InnerSuccess(identity="alice@wifi.example", method=TTLS_MSCHAPV2)
    )


def test_mschapv2_tries_each_device_credential() -> None:
    inner, peer = phase(), MsChapV2Peer(name=b"alice@wifi.example", password=PASSWORD)
    output = inner.supply(
        mschapv2_to_need(inner, peer), [nt_password_hash("other"), nt_password_hash(PASSWORD)]
    )
    assert unpack_avps(output.send)[0][:2] == (MS, 26)


def test_mschapv2_hashes_the_user_name_without_its_domain_and_names_the_account_without_it() -> None:
    inner, peer = phase(), MsChapV2Peer(name=b"CORP\\Alice", password=PASSWORD)
    output = inner.supply(mschapv2_to_need(inner, peer), [nt_password_hash(PASSWORD)])
    assert unpack_avps(output.send)[0][2][1:] == peer.expected.encode()


@pytest.mark.parametrize(
    ("hashes", "reason"), [([nt_password_hash("other")], "bad_password"), ([], "unknown_user")]
)
def test_mschapv2_failure_sends_ms_chap_error_then_fails_on_the_ack(hashes: list[bytes], reason: str) -> None:
    inner, peer = phase(), MsChapV2Peer(name=b"alice@wifi.example", password=PASSWORD)
    output = inner.supply(mschapv2_to_need(inner, peer), hashes)
    [(vendor, code, value)] = unpack_avps(output.send)
    assert (vendor, code) == (MS, 2)
    assert value == bytes([IMPLICIT[16]]) + b"E=691 R=0 C=" + IMPLICIT[:16].hex().upper().encode() + (
        b" V=3 M=Authentication failed"
    )
    assert output.result is None
    assert inner.receive(b"") == failure(reason)


@pytest.mark.parametrize(
    "kwargs", [{"challenge": bytes(16)}, {"ident": (IMPLICIT[16] + 1) % 256}, {"challenge": IMPLICIT[:15]}]
)
def test_mschapv2_with_another_challenge_is_refused(kwargs: dict[str, object]) -> None:
    peer = MsChapV2Peer(name=b"alice", password=PASSWORD)
    message = mschapv2(peer, **kwargs)  # type: ignore[arg-type]
    assert phase().receive(message) == failure("inner_challenge_mismatch")


def test_mschapv2_needs_an_empty_ack_after_success() -> None:
    inner, peer = phase(), MsChapV2Peer(name=b"alice", password=PASSWORD)
    inner.supply(mschapv2_to_need(inner, peer), [nt_password_hash(PASSWORD)])
    assert inner.receive(avp(1, b"alice")) == failure("inner_malformed")


def test_mschapv2_response_of_the_wrong_length_is_malformed() -> None:
    message = (
        avp(1, b"alice") + avp(11, IMPLICIT[:16], vendor=MS) + avp(25, bytes([IMPLICIT[16]]) * 49, vendor=MS)
    )
    assert phase().receive(message) == failure("inner_malformed")


# -- inner EAP-MSCHAPv2 ----------------------------------------------------------------------


def eap_round(inner: TtlsInner, packet: bytes) -> tuple[int, int, int | None, bytes]:
    output = inner.receive(avp(79, packet))
    assert isinstance(output, InnerOutput)
    assert output.result is None
    [(vendor, code, value)] = unpack_avps(output.send)
    assert (vendor, code) == (0, 79)
    return unpack_eap(value)


def eap_to_need(inner: TtlsInner, peer: MsChapV2Peer) -> int:
    code, identifier, eap_type, challenge = eap_round(inner, eap(2, 0, 1, b"alice@wifi.example"))
    assert (code, eap_type) == (1, 26)
    need = inner.receive(avp(79, eap(2, identifier, 26, peer.eap_response(challenge))))
    assert need == NeedNtHashes(identity="alice@wifi.example")
    return identifier


def test_eap_mschapv2_from_identity_to_success_after_the_ack() -> None:
    inner, peer = phase(), MsChapV2Peer(name=b"alice@wifi.example", password=PASSWORD)
    identifier = eap_to_need(inner, peer)
    output = inner.supply(NeedNtHashes(identity="alice@wifi.example"), [nt_password_hash(PASSWORD)])
    [(_vendor, _code, packet)] = unpack_avps(output.send)
    code, next_identifier, eap_type, success = unpack_eap(packet)
    assert (code, eap_type, next_identifier) == (1, 26, (identifier + 1) % 256)
    assert peer.accepts(success)
    assert inner.receive(avp(79, eap(2, next_identifier, 26, b"\x03"))) == InnerOutput(
        result=InnerSuccess(identity="alice@wifi.example", method=TTLS_EAP_MSCHAPV2)
    )


@pytest.mark.parametrize(
    ("hashes", "reason"), [([nt_password_hash("other")], "bad_password"), ([], "unknown_user")]
)
def test_eap_mschapv2_failure_request_then_failure(hashes: list[bytes], reason: str) -> None:
    inner, peer = phase(), MsChapV2Peer(name=b"alice@wifi.example", password=PASSWORD)
    eap_to_need(inner, peer)
    output = inner.supply(NeedNtHashes(identity="alice@wifi.example"), hashes)
    [(_vendor, _code, packet)] = unpack_avps(output.send)
    code, identifier, eap_type, request = unpack_eap(packet)
    assert (code, eap_type, request[0]) == (1, 26, 4)
    assert b"E=691 R=0" in request
    assert inner.receive(avp(79, eap(2, identifier, 26, b"\x04"))) == failure(reason)


def test_eap_message_split_over_several_avps_is_joined() -> None:
    inner = phase()
    identity = eap(2, 0, 1, b"alice@wifi.example")
    output = inner.receive(avp(79, identity[:6]) + avp(79, identity[6:]))
    assert isinstance(output, InnerOutput)
    assert unpack_eap(unpack_avps(output.send)[0][2])[2] == 26


def test_octets_past_an_inner_eap_packets_length_are_the_tunnels_padding() -> None:
    inner, peer = phase(), MsChapV2Peer(name=b"alice", password=PASSWORD)  # RFC 3748 §4.1: ignored
    code, identifier, eap_type, challenge = eap_round(inner, eap(2, 0, 1, b"alice") + b"pad")
    assert (code, eap_type) == (1, 26)
    need = inner.receive(avp(79, eap(2, identifier, 26, peer.eap_response(challenge)) + bytes(5)))
    assert need == NeedNtHashes(identity="alice@wifi.example")


def test_a_peer_that_refuses_eap_mschapv2_has_no_method_in_common() -> None:
    inner = phase()
    _code, identifier, _type, _data = eap_round(inner, eap(2, 0, 1, b"alice"))
    assert inner.receive(avp(79, eap(2, identifier, 3, b"\x06"))) == failure("inner_no_common_method")


def test_eap_identity_in_another_realm_is_refused() -> None:
    output = phase().receive(avp(79, eap(2, 0, 1, b"alice@other.example")))
    assert output == failure("realm_mismatch", "alice@other.example")


@pytest.mark.parametrize(
    "message",
    [
        avp(79, eap(1, 0, 1, b"alice")),  # a request, not a response
        avp(79, eap(2, 0, 26, b"\x02")),  # no identity first
        avp(79, b"\x02\x00\x00\x09\x01al"),  # Length past the data
        avp(1, b"alice"),  # a User-Name and nothing to check
        avp(11, IMPLICIT[:16], vendor=MS),
        b"\x00\x00\x00\x01\x40\x00\x00\x40",  # an AVP longer than the message
    ],
)
def test_malformed_first_messages_fail(message: bytes) -> None:
    output = phase().receive(message)
    assert output == failure("inner_malformed", None)


def test_an_unknown_mandatory_avp_fails_an_unknown_optional_one_is_ignored() -> None:
    assert phase().receive(pap(b"alice", b"secret") + avp(4242, b"?")) == failure(
        "inner_unsupported_avp", None
    )
    need = phase().receive(pap(b"alice", b"secret") + avp(4242, b"?", mandatory=False))
    assert isinstance(need, NeedPassword)


@pytest.mark.parametrize(
    "message", [avp(1, b"alice") + avp(3, bytes(17)), avp(1, b"alice") + avp(1, bytes(50), vendor=MS)]
)
def test_chap_and_mschapv1_are_not_offered(message: bytes) -> None:
    assert phase().receive(message) == failure("inner_no_common_method", None)


def test_an_empty_first_message_asks_again() -> None:
    inner = phase()
    assert inner.receive(b"") == InnerOutput()
    assert isinstance(inner.receive(pap(b"alice", b"secret")), NeedPassword)


def test_after_the_end_every_message_fails() -> None:
    inner = phase()
    need = inner.receive(pap(b"alice", b"secret"))
    assert isinstance(need, NeedPassword)
    inner.supply(need, True)
    assert inner.receive(b"") == failure("inner_malformed")


def test_supplying_a_need_that_was_not_returned_is_our_bug() -> None:
    inner = phase()
    with pytest.raises(ValueError, match="not asked for"):
        inner.supply(NeedPassword(identity="alice@wifi.example", password="x"), True)
    need = inner.receive(pap(b"alice", b"secret"))
    with pytest.raises(ValueError, match="not asked for"):
        inner.supply(NeedNtHashes(identity="alice@wifi.example"), [])
    assert isinstance(need, NeedPassword)


_AVP = st.builds(
    lambda code, vendor, data, mandatory: avp(code, data, vendor=vendor, mandatory=mandatory),
    code=st.sampled_from([1, 2, 3, 79, 11, 25, 26, 999]),
    vendor=st.sampled_from([0, 0, MS]),
    data=st.binary(max_size=60),
    mandatory=st.booleans(),
)
_MESSAGE = st.one_of(st.lists(_AVP, max_size=4).map(b"".join), st.binary(max_size=80))


@given(messages=st.lists(_MESSAGE, min_size=1, max_size=5), answer=st.booleans())
def test_any_messages_end_or_advance_the_phase_and_never_raise(messages: list[bytes], answer: bool) -> None:
    inner = phase()
    for message in messages:
        step = inner.receive(message)
        if isinstance(step, NeedPassword):
            step = inner.supply(step, answer)
        elif isinstance(step, NeedNtHashes):
            step = inner.supply(step, [nt_password_hash(PASSWORD)] if answer else [])
        assert isinstance(step, InnerOutput)
        if step.result is not None:
            assert inner.state is TtlsState.DONE
            assert isinstance(step.result, InnerSuccess) or step.result.reason in INNER_REASONS
            break
