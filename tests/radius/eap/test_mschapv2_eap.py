"""EAP-MSCHAPv2, server side (radius/eap/mschapv2.py), driven with what a real peer sends."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from radius.eap.mschapv2 import EapMsChapV2, MethodEnded, MsChapV2State, nt_hashes
from radius.eap.needs import NeedNtHashes
from radius.mschap import nt_password_hash
from tests.radius.eap.inner_peer import MsChapV2Peer

IDENTITY = "alice@wifi.example"
PASSWORD = "correct horse"
CHALLENGE = bytes(range(16))


def method(challenge: bytes = CHALLENGE) -> EapMsChapV2:
    return EapMsChapV2(identity=IDENTITY, challenge=challenge, mschapv2_id=7)


def answered(server: EapMsChapV2, peer: MsChapV2Peer, hashes: list[bytes]) -> bytes:
    """Challenge → Response → NeedNtHashes → supply: the Success- or Failure-Request."""
    need = server.receive(peer.eap_response(server.start()))
    assert need == NeedNtHashes(identity=IDENTITY)
    return server.supply(hashes)


def test_the_challenge_carries_the_value_size_the_challenge_and_our_name() -> None:
    data = method().start()
    opcode, mschapv2_id, ms_length, value_size = struct.unpack_from("!BBHB", data)
    assert (opcode, mschapv2_id, ms_length, value_size) == (1, 7, len(data), 16)
    assert data[5:21] == CHALLENGE
    assert data[21:] == b"sesame"


def test_the_right_password_gets_the_authenticator_response_the_peer_expects_then_success() -> None:
    server, peer = method(), MsChapV2Peer(name=b"alice@wifi.example", password=PASSWORD)
    success = answered(server, peer, [nt_password_hash(PASSWORD)])
    assert peer.accepts(success)
    assert success[1] == 7  # the Response's MS-CHAPv2-ID
    assert success.endswith(b" M=OK")
    states = [server.state]
    assert server.receive(b"\x03") == MethodEnded(success=True, reason="")
    assert [*states, server.state] == [MsChapV2State.SUCCESS_SENT, MsChapV2State.ENDED]


def test_rfc_2759_vector_end_to_end() -> None:
    """RFC 2759 §9.2: user "User", password "clientPass", its challenges → S=407A…DA56."""
    challenge = bytes.fromhex("5B5D7C7D7B3F2F3E3C2C602132262628")
    peer = MsChapV2Peer(
        name=b"User", password="clientPass", peer_challenge=bytes.fromhex("21402324255E262A28295F2B3A337C7E")
    )
    response = peer.eap_response(method(challenge).start())
    assert response[5 + 24 : 5 + 48] == bytes.fromhex("82309ECD8D708B5EA08FAA3981CD83544233114A3D85D6DF")
    server = method(challenge)
    server.start()
    server.receive(response)
    success = server.supply([bytes.fromhex("44EBBA8D5312B8D611474411F56989AE")])
    assert success[4:46] == b"S=407A5589115FD0D6209F510FE9C04566932CDA56"


def test_a_wrong_password_gets_error_691_without_retry_then_bad_password() -> None:
    server, peer = method(), MsChapV2Peer(name=b"alice@wifi.example", password="wrong")
    failure = answered(server, peer, [nt_password_hash(PASSWORD)])
    opcode, mschapv2_id, ms_length = struct.unpack_from("!BBH", failure)
    assert (opcode, mschapv2_id, ms_length) == (4, 7, len(failure))
    assert failure[4:] == b"E=691 R=0 C=000102030405060708090A0B0C0D0E0F V=3 M=Authentication failed"
    assert server.receive(b"\x04") == MethodEnded(success=False, reason="bad_password")


def test_an_unknown_user_looks_the_same_to_the_peer_and_is_told_apart_in_the_reason() -> None:
    wrong, unknown = method(), method()
    peer = MsChapV2Peer(name=b"alice@wifi.example", password=PASSWORD)
    assert answered(wrong, peer, [nt_password_hash("other")]) == answered(unknown, peer, [])
    assert unknown.receive(b"\x04") == MethodEnded(success=False, reason="unknown_user")


def test_each_device_credential_is_tried_the_second_may_match() -> None:
    server, peer = method(), MsChapV2Peer(name=b"alice@wifi.example", password=PASSWORD)
    success = answered(server, peer, [nt_password_hash("first device"), nt_password_hash(PASSWORD)])
    assert peer.accepts(success)


def test_values_that_are_no_nt_hash_never_match_and_never_raise() -> None:
    server, peer = method(), MsChapV2Peer(name=b"alice@wifi.example", password=PASSWORD)
    failure = answered(server, peer, [b"", b"x" * 15, b"y" * 17])
    assert failure[0] == 4
    assert nt_hashes([b"", nt_password_hash(PASSWORD), "text"]) == [nt_password_hash(PASSWORD)]
    with pytest.raises(TypeError):
        nt_hashes(None)


def test_the_name_is_hashed_without_its_windows_domain() -> None:
    server, peer = method(), MsChapV2Peer(name=b"CORP\\alice", password=PASSWORD)
    assert peer.hashed is None  # the peer hashes "alice", as Windows does
    assert peer.accepts(answered(server, peer, [nt_password_hash(PASSWORD)]))


def test_the_name_as_sent_is_hashed_not_the_eap_identity() -> None:
    # the account comes from the EAP identity; a peer whose Name differs still hashes its Name
    server, peer = method(), MsChapV2Peer(name=b"Alice", password=PASSWORD)
    assert peer.accepts(answered(server, peer, [nt_password_hash(PASSWORD)]))


def test_a_peer_that_refuses_our_authenticator_response_fails() -> None:
    server, peer = method(), MsChapV2Peer(name=b"alice@wifi.example", password=PASSWORD)
    answered(server, peer, [nt_password_hash(PASSWORD)])
    assert server.receive(b"\x04") == MethodEnded(success=False, reason="peer_rejected")


@pytest.mark.parametrize(
    "mutate",
    [
        lambda r: r[:20],  # too short
        lambda r: b"\x03" + r[1:],  # not a Response
        lambda r: r[:4] + b"\x30" + r[5:],  # Value-Size 48
        lambda r: b"",
    ],
)
def test_a_malformed_response_ends_the_method(mutate: object) -> None:
    server = method()
    response = MsChapV2Peer(name=b"alice", password=PASSWORD).eap_response(server.start())
    assert callable(mutate)
    assert server.receive(mutate(response)) == MethodEnded(success=False, reason="inner_malformed")
    assert server.receive(response) == MethodEnded(success=False, reason="inner_malformed")  # ended


def test_anything_but_an_ack_after_success_fails() -> None:
    server, peer = method(), MsChapV2Peer(name=b"alice@wifi.example", password=PASSWORD)
    answered(server, peer, [nt_password_hash(PASSWORD)])
    assert server.receive(b"") == MethodEnded(success=False, reason="inner_malformed")


def test_supplying_what_was_not_asked_for_is_our_bug() -> None:
    server = method()
    server.start()
    with pytest.raises(ValueError, match="no NT hashes"):
        server.supply([nt_password_hash(PASSWORD)])


def test_a_challenge_must_be_16_octets() -> None:
    with pytest.raises(ValueError, match="16"):
        method(bytes(8))


@given(messages=st.lists(st.binary(max_size=120), min_size=1, max_size=4), hashes=st.booleans())
def test_any_bytes_end_or_advance_the_method_and_never_raise(messages: list[bytes], hashes: bool) -> None:
    server = method()
    server.start()
    for message in messages:
        step = server.receive(message)
        assert isinstance(step, MethodEnded | NeedNtHashes)
        if isinstance(step, NeedNtHashes):
            reply = server.supply([nt_password_hash(PASSWORD)] if hashes else [])
            assert reply[0] in (3, 4)
