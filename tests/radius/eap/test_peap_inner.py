"""The PEAPv0 inner phase (radius/eap/peap.py), driven with what a peer sends inside the tunnel:
header-less EAP for the identity and EAP-MSCHAPv2, whole packets for the Result TLV."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from radius.eap.inner import (
    INNER_METHODS,
    INNER_REASONS,
    PEAP_MSCHAPV2,
    TTLS_PAP,
    InnerFailure,
    InnerOutput,
    InnerSuccess,
)
from radius.eap.needs import NeedNtHashes
from radius.eap.peap import RECEIVE, SUPPLY, PeapInner, PeapState, result_status
from radius.mschap import nt_password_hash
from tests.radius.eap.inner_peer import MsChapV2Peer
from tests.radius.eap.peer import eap, unpack_eap

REALM = "wifi.example"
PASSWORD = "correct horse"
RESULT_SUCCESS = b"\x80\x03\x00\x02\x00\x01"  # Result TLV, M bit, length 2, status 1
RESULT_FAILURE = b"\x80\x03\x00\x02\x00\x02"
ALICE = "alice@wifi.example"


def phase(*, outer: str = "anonymous@wifi.example", allowed: frozenset[str] = INNER_METHODS) -> PeapInner:
    inner = PeapInner(outer_identity=outer, realm=REALM, allowed=allowed)
    code, _identifier, eap_type, data = unpack_eap(sent(inner.start()))
    assert (code, eap_type, data) == (1, 1, b"")  # Request/Identity, a whole packet as FreeRADIUS sends it
    return inner


def sent(output: object) -> bytes:
    assert isinstance(output, InnerOutput)
    assert output.result is None
    return output.send


def result_request(output: object) -> tuple[int, bytes]:
    """The Identifier and TLVs of our EAP-Request/Extensions (a whole packet)."""
    code, identifier, eap_type, tlvs = unpack_eap(sent(output))
    assert (code, eap_type) == (1, 33)
    return identifier, tlvs


def to_need(inner: PeapInner, peer: MsChapV2Peer, identity: bytes = b"alice@wifi.example") -> NeedNtHashes:
    challenge = sent(inner.receive(b"\x01" + identity))
    assert challenge[0] == 26
    need = inner.receive(b"\x1a" + peer.eap_response(challenge[1:]))
    assert isinstance(need, NeedNtHashes)
    return need


def ended(result: InnerSuccess | InnerFailure) -> InnerOutput:
    assert isinstance(result, InnerSuccess) or result.reason in INNER_REASONS  # documented reasons only
    return InnerOutput(result=result)


def test_identity_mschapv2_then_result_tlv_success() -> None:
    inner, peer = phase(), MsChapV2Peer(name=b"alice@wifi.example", password=PASSWORD)
    need = to_need(inner, peer)
    assert need == NeedNtHashes(identity=ALICE)
    success = sent(inner.supply(need, [nt_password_hash(PASSWORD)]))
    assert success[0] == 26
    assert peer.accepts(success[1:])
    identifier, tlvs = result_request(inner.receive(b"\x1a\x03"))  # the Success-Response first
    assert tlvs == RESULT_SUCCESS
    assert inner.receive(eap(2, identifier, 33, RESULT_SUCCESS)) == ended(
        InnerSuccess(identity=ALICE, method=PEAP_MSCHAPV2)
    )


def test_an_identity_answered_with_a_whole_packet_is_read_too() -> None:
    inner = phase()
    challenge = sent(inner.receive(eap(2, 1, 1, b"Alice@wifi.example")))
    assert challenge[0] == 26
    assert inner.identity == ALICE


def test_octets_past_a_whole_packets_length_are_the_tunnels_padding() -> None:
    inner = phase()  # RFC 3748 §4.1: ignored upon reception, as hostapd ignores them
    challenge = sent(inner.receive(eap(2, 1, 1, b"alice@wifi.example") + bytes(3)))
    assert challenge[0] == 26
    assert inner.identity == ALICE


def test_the_second_device_credential_may_match() -> None:
    inner, peer = phase(), MsChapV2Peer(name=b"alice@wifi.example", password=PASSWORD)
    need = to_need(inner, peer)
    success = sent(inner.supply(need, [nt_password_hash("laptop"), nt_password_hash(PASSWORD)]))
    assert peer.accepts(success[1:])


def test_a_windows_domain_identity_names_the_account_without_it() -> None:
    inner, peer = phase(), MsChapV2Peer(name=b"CORP\\alice", password=PASSWORD)
    need = to_need(inner, peer, identity=b"CORP\\Alice")
    assert need == NeedNtHashes(identity=ALICE)
    assert peer.accepts(sent(inner.supply(need, [nt_password_hash(PASSWORD)]))[1:])


@pytest.mark.parametrize(
    ("hashes", "reason"), [([nt_password_hash("other")], "bad_password"), ([], "unknown_user")]
)
def test_a_failed_mschapv2_ends_with_a_result_tlv_of_failure(hashes: list[bytes], reason: str) -> None:
    inner, peer = phase(), MsChapV2Peer(name=b"alice@wifi.example", password=PASSWORD)
    failure = sent(inner.supply(to_need(inner, peer), hashes))
    assert failure[:2] == b"\x1a\x04"
    assert b"E=691 R=0" in failure
    identifier, tlvs = result_request(inner.receive(b"\x1a\x04"))
    assert tlvs == RESULT_FAILURE
    assert inner.receive(eap(2, identifier, 33, RESULT_FAILURE)) == ended(
        InnerFailure(reason=reason, identity=ALICE)
    )


def test_a_peer_that_refuses_our_authenticator_response_fails() -> None:
    inner, peer = phase(), MsChapV2Peer(name=b"alice@wifi.example", password=PASSWORD)
    inner.supply(to_need(inner, peer), [nt_password_hash(PASSWORD)])
    identifier, tlvs = result_request(inner.receive(b"\x1a\x04"))
    assert tlvs == RESULT_FAILURE
    assert inner.receive(eap(2, identifier, 33, RESULT_FAILURE)) == ended(
        InnerFailure(reason="peer_rejected", identity=ALICE)
    )


def test_a_peer_that_answers_our_success_with_failure_fails() -> None:
    inner, peer = phase(), MsChapV2Peer(name=b"alice@wifi.example", password=PASSWORD)
    inner.supply(to_need(inner, peer), [nt_password_hash(PASSWORD)])
    identifier, _tlvs = result_request(inner.receive(b"\x1a\x03"))
    assert inner.receive(eap(2, identifier, 33, RESULT_FAILURE)) == ended(
        InnerFailure(reason="peer_rejected", identity=ALICE)
    )


@pytest.mark.parametrize(
    ("outer", "identity", "reason", "named"),
    [
        ("anonymous@wifi.example", b"alice@other.example", "realm_mismatch", "alice@other.example"),
        ("anonymous@other.example", b"alice", "realm_mismatch", "alice@wifi.example"),
        ("anonymous@wifi.example", b"al\x00ice", "bad_user_name", "al\\x00ice"),
        ("anonymous@wifi.example", b"", "bad_user_name", None),
    ],
)
def test_an_identity_we_refuse_is_told_with_a_result_tlv_of_failure(
    outer: str, identity: bytes, reason: str, named: str | None
) -> None:
    inner = phase(outer=outer)
    identifier, tlvs = result_request(inner.receive(b"\x01" + identity))
    assert tlvs == RESULT_FAILURE
    assert inner.receive(eap(2, identifier, 33, RESULT_FAILURE)) == ended(
        InnerFailure(reason=reason, identity=named)
    )


def test_a_nak_of_mschapv2_means_no_method_in_common() -> None:
    inner = phase()
    sent(inner.receive(b"\x01alice"))
    identifier, tlvs = result_request(inner.receive(b"\x03\x06"))  # NAK, would like EAP-GTC
    assert tlvs == RESULT_FAILURE
    assert inner.receive(eap(2, identifier, 33, RESULT_FAILURE)) == ended(
        InnerFailure(reason="inner_no_common_method", identity=ALICE)
    )


def test_peap_not_enabled_fails_at_once() -> None:
    inner = PeapInner(outer_identity="anonymous@wifi.example", realm=REALM, allowed=frozenset({TTLS_PAP}))
    assert inner.start() == ended(InnerFailure(reason="inner_method_not_allowed", identity=None))
    assert inner.state is PeapState.DONE


@pytest.mark.parametrize("message", [b"", b"\x02\x00\x00\x0b\x01alice", eap(2, 1, 26, b"alice"), b"\x1a\x02"])
def test_a_message_that_is_no_identity_ends_the_phase(message: bytes) -> None:
    assert phase().receive(message) == ended(InnerFailure(reason="inner_malformed", identity=None))


@pytest.mark.parametrize("message", [b"", b"\x01alice", b"\x1a", b"\x1a\x02\x00"])
def test_a_message_that_is_no_mschapv2_response_ends_the_phase(message: bytes) -> None:
    inner = phase()
    sent(inner.receive(b"\x01alice"))
    assert inner.receive(message) == ended(InnerFailure(reason="inner_malformed", identity=ALICE))


@pytest.mark.parametrize(
    "answer",
    [
        b"\x1a\x03",  # header-less
        eap(2, 1, 26, RESULT_SUCCESS),  # not Extensions
        eap(1, 1, 33, RESULT_SUCCESS),  # a request
        eap(2, 1, 33, b""),  # no Result TLV
        eap(2, 1, 33, b"\x80\x03\x00\x01\x00"),  # a Result TLV too short
        eap(2, 1, 33, b"\x80\x03\x00\x04\x00\x01"),  # past the packet
        eap(2, 1, 33, RESULT_SUCCESS + b"\x00"),  # a TLV cut short
        eap(2, 1, 33, RESULT_SUCCESS + b"\x80\x0c\x00\x00"),  # a mandatory TLV we do not know
        eap(2, 1, 33, b"\x80\x03\x00\x02\x00\x07"),  # an unknown status
    ],
)
def test_a_result_that_does_not_hold_ends_without_success(answer: bytes) -> None:
    inner, peer = phase(), MsChapV2Peer(name=b"alice", password=PASSWORD)
    inner.supply(to_need(inner, peer, identity=b"alice"), [nt_password_hash(PASSWORD)])
    result_request(inner.receive(b"\x1a\x03"))
    output = inner.receive(answer)
    assert isinstance(output, InnerOutput)
    assert isinstance(output.result, InnerFailure)
    assert output.result.reason == "inner_malformed"


def test_result_tlvs_are_read_past_optional_ones() -> None:
    assert result_status(eap(2, 9, 33, b"\x00\x07\x00\x01?" + RESULT_SUCCESS)) == 1
    assert result_status(eap(2, 9, 33, b"\x00\x03\x00\x02\x00\x02")) == 2  # M clear still counts
    assert result_status(eap(2, 9, 33, RESULT_SUCCESS) + b"pad") == 1  # past the Length: padding


def test_every_state_but_done_takes_either_a_message_or_an_answer() -> None:
    assert not RECEIVE.keys() & SUPPLY.keys()
    assert RECEIVE.keys() | SUPPLY.keys() == set(PeapState) - {PeapState.DONE}


def test_after_the_end_every_message_fails_and_unasked_answers_are_our_bug() -> None:
    inner = phase()
    with pytest.raises(ValueError, match="not asked for"):
        inner.supply(NeedNtHashes(identity=ALICE), [])
    identifier, _tlvs = result_request(inner.receive(b"\x01alice@other.example"))
    inner.receive(eap(2, identifier, 33, RESULT_FAILURE))
    assert inner.receive(b"\x01alice") == ended(InnerFailure(reason="inner_malformed", identity=None))


_MESSAGE = st.one_of(
    st.binary(max_size=80),
    st.binary(max_size=60).map(lambda d: b"\x1a" + d),
    st.binary(max_size=30).map(lambda d: eap(2, 1, 33, d)),
)


@given(messages=st.lists(_MESSAGE, min_size=1, max_size=5), right=st.booleans())
def test_any_messages_end_or_advance_the_phase_and_never_raise(messages: list[bytes], right: bool) -> None:
    inner = phase()
    for message in [b"\x01alice", *messages]:
        step = inner.receive(message)
        if isinstance(step, NeedNtHashes):
            step = inner.supply(step, [nt_password_hash(PASSWORD)] if right else [])
        assert isinstance(step, InnerOutput)
        if step.result is not None:
            assert inner.state is PeapState.DONE
            assert isinstance(step.result, InnerFailure)  # random bytes prove no password
            assert step.result.identity == ALICE
            assert step.result.reason in INNER_REASONS
            break
