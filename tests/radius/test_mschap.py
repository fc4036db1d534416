"""MS-CHAPv2 server side (radius/mschap.py) against the published vectors.

RFC 2759 §9.2 (hash example) and §9.3 (DES key parity), RFC 3079 §3.5.3 (128-bit MPPE key
derivation, same user/password/challenges), RFC 1320 (MD4), then verify_mschapv2 end to end and
its refusal of malformed peer data.
"""

from __future__ import annotations

import dataclasses
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

from radius.mschap import (
    MsChapV2Result,
    _des_key,
    challenge_hash,
    challenge_response,
    generate_authenticator_response,
    generate_nt_response,
    get_asymmetric_start_key,
    get_master_key,
    hash_nt_password_hash,
    md4,
    mppe_keys,
    nt_password_hash,
    strip_nt_domain,
    verify_mschapv2,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text.replace(" ", ""))


# RFC 2759 §9.2, repeated as the "Initial Values" of RFC 3079 §3.5
USERNAME = b"User"
PASSWORD = "clientPass"
AUTH_CHALLENGE = h("5B 5D 7C 7D 7B 3F 2F 3E 3C 2C 60 21 32 26 26 28")
PEER_CHALLENGE = h("21 40 23 24 25 5E 26 2A 28 29 5F 2B 3A 33 7C 7E")
CHALLENGE = h("D0 2E 43 86 BC E9 12 26")
PASSWORD_HASH = h("44 EB BA 8D 53 12 B8 D6 11 47 44 11 F5 69 89 AE")
NT_RESPONSE = h("82 30 9E CD 8D 70 8B 5E A0 8F AA 39 81 CD 83 54 42 33 11 4A 3D 85 D6 DF")
PASSWORD_HASH_HASH = h("41 C0 0C 58 4B D2 D9 1C 40 17 A2 A1 2F A5 9F 3F")
AUTHENTICATOR_RESPONSE = "S=407A5589115FD0D6209F510FE9C04566932CDA56"
# RFC 3079 §3.5.3
MASTER_KEY = h("FD EC E3 71 7A 8C 83 8C B3 88 E5 27 AE 3C DD 31")
SEND_START_KEY_128 = h("8B 7C DC 14 9B 99 3A 1B A1 18 CB 15 3F 56 DC CB")
# Not printed in RFC 3079: the Magic2 key of the same derivation (the server's receive key). It is
# the first half of the EAP-MSCHAPv2 MSK (server Recv-Key | Send-Key) that other implementations
# (e.g. AOSP's EAP-MSCHAPv2 tests) derive from these RFC inputs.
RECV_START_KEY_128 = h("D5 F0 E9 52 1E 3E A9 58 96 45 E8 60 51 C8 22 26")


def mschap2_response(ident: int, peer_challenge: bytes, nt_response: bytes) -> bytes:
    """MS-CHAP2-Response value, RFC 2548 §2.3.2."""
    return bytes([ident, 0]) + peer_challenge + bytes(8) + nt_response


class TestRfc2759HashExample:
    def test_md4_rfc1320(self) -> None:
        assert md4(b"").hex() == "31d6cfe0d16ae931b73c59d7e0c089c0"
        assert md4(b"abc").hex() == "a448017aaf21d8525fc10ae87aa6729d"
        assert md4(b"message digest").hex() == "d9130a8164549fe818874806e1c7014b"

    def test_password_hash(self) -> None:
        assert PASSWORD.encode("utf-16-le") == h(
            "63 00 6C 00 69 00 65 00 6E 00 74 00 50 00 61 00 73 00 73 00"
        )
        assert nt_password_hash(PASSWORD) == PASSWORD_HASH
        assert hash_nt_password_hash(PASSWORD_HASH) == PASSWORD_HASH_HASH

    def test_challenge_hash(self) -> None:
        assert challenge_hash(PEER_CHALLENGE, AUTH_CHALLENGE, USERNAME) == CHALLENGE

    def test_nt_response(self) -> None:
        assert challenge_response(CHALLENGE, PASSWORD_HASH) == NT_RESPONSE
        assert generate_nt_response(AUTH_CHALLENGE, PEER_CHALLENGE, USERNAME, PASSWORD_HASH) == NT_RESPONSE

    def test_authenticator_response(self) -> None:
        got = generate_authenticator_response(
            PASSWORD_HASH, NT_RESPONSE, PEER_CHALLENGE, AUTH_CHALLENGE, USERNAME
        )
        assert got == AUTHENTICATOR_RESPONSE
        assert len(got) == 42

    def test_des_key_parity_rfc2759_9_3(self) -> None:
        password_hash = nt_password_hash("MyPw")
        assert password_hash == h("FC 15 6A F7 ED CD 6C 0E DD E3 33 7D 42 7F 4E AC")
        assert _des_key(password_hash[:7]) == h("FD 0B 5B 5E 7F 6E 34 D9")
        assert _des_key(password_hash[7:14]) == h("0E 6E 79 67 37 EA 08 FE")

    def test_non_ascii_password_is_utf16le(self) -> None:
        assert nt_password_hash("pässwörd€") == md4("pässwörd€".encode("utf-16-le"))


class TestRfc3079Sample128:
    def test_master_key(self) -> None:
        assert get_master_key(PASSWORD_HASH_HASH, NT_RESPONSE) == MASTER_KEY

    def test_send_start_key_is_the_server_send_key(self) -> None:
        # §3.3 calls GetAsymmetricStartKey(MasterKey, MasterSendKey, 16, TRUE, TRUE): server side.
        assert get_asymmetric_start_key(MASTER_KEY, 16, is_send=True, is_server=True) == SEND_START_KEY_128
        # ... which is also the client's receive key
        assert get_asymmetric_start_key(MASTER_KEY, 16, is_send=False, is_server=False) == SEND_START_KEY_128

    def test_receive_key_is_the_mirror(self) -> None:
        recv = get_asymmetric_start_key(MASTER_KEY, 16, is_send=False, is_server=True)
        assert recv == RECV_START_KEY_128
        assert get_asymmetric_start_key(MASTER_KEY, 16, is_send=True, is_server=False) == recv

    def test_shorter_keys_are_prefixes(self) -> None:
        # §3.5.1/§3.5.2: SendStartKey40 = SendStartKey56 = 8B 7C DC 14 9B 99 3A 1B
        assert get_asymmetric_start_key(MASTER_KEY, 8, is_send=True, is_server=True) == h(
            "8B 7C DC 14 9B 99 3A 1B"
        )

    def test_mppe_keys_server_side(self) -> None:
        assert mppe_keys(PASSWORD_HASH, NT_RESPONSE) == (SEND_START_KEY_128, RECV_START_KEY_128)

    def test_bad_key_length(self) -> None:
        with pytest.raises(ValueError, match="key_length"):
            get_asymmetric_start_key(MASTER_KEY, 17, is_send=True, is_server=True)


class TestVerify:
    def test_rfc_example_round_trip(self) -> None:
        response = mschap2_response(0x2A, PEER_CHALLENGE, NT_RESPONSE)
        assert len(response) == 50
        result = verify_mschapv2(
            nt_hash=PASSWORD_HASH,
            username=USERNAME,
            authenticator_challenge=AUTH_CHALLENGE,
            response=response,
        )
        assert result == MsChapV2Result(
            ident=0x2A,
            authenticator_response=AUTHENTICATOR_RESPONSE,
            success=b"\x2a" + AUTHENTICATOR_RESPONSE.encode("ascii"),
            mppe_send_key=SEND_START_KEY_128,
            mppe_recv_key=RECV_START_KEY_128,
        )
        assert len(result.success) == 43  # Vendor-Length 45 in RFC 2548 §2.3.3
        assert "mppe" not in repr(result)
        with pytest.raises(dataclasses.FrozenInstanceError):
            result.ident = 1  # type: ignore[misc]

    def test_random_round_trip(self) -> None:
        nt_hash = nt_password_hash("correct horse battery staple")
        auth, peer = os.urandom(16), os.urandom(16)
        username = strip_nt_domain(b"WIFI\\alice@example.org")
        nt_response = generate_nt_response(auth, peer, username, nt_hash)
        result = verify_mschapv2(
            nt_hash=nt_hash,
            username=username,
            authenticator_challenge=auth,
            response=mschap2_response(7, peer, nt_response),
        )
        assert result is not None
        assert result.ident == 7
        assert result.authenticator_response == generate_authenticator_response(
            nt_hash, nt_response, peer, auth, b"alice@example.org"
        )
        assert (result.mppe_send_key, result.mppe_recv_key) == mppe_keys(nt_hash, nt_response)

    def test_wrong_password(self) -> None:
        response = mschap2_response(1, PEER_CHALLENGE, NT_RESPONSE)
        assert (
            verify_mschapv2(
                nt_hash=nt_password_hash("clientpass"),
                username=USERNAME,
                authenticator_challenge=AUTH_CHALLENGE,
                response=response,
            )
            is None
        )

    @pytest.mark.parametrize(
        ("username", "challenge"),
        [(b"user", AUTH_CHALLENGE), (b"DOMAIN\\User", AUTH_CHALLENGE), (USERNAME, bytes(16))],
    )
    def test_wrong_username_or_challenge(self, username: bytes, challenge: bytes) -> None:
        response = mschap2_response(1, PEER_CHALLENGE, NT_RESPONSE)
        assert (
            verify_mschapv2(
                nt_hash=PASSWORD_HASH, username=username, authenticator_challenge=challenge, response=response
            )
            is None
        )

    def test_tampered_nt_response(self) -> None:
        response = bytearray(mschap2_response(1, PEER_CHALLENGE, NT_RESPONSE))
        response[-1] ^= 0x01
        assert (
            verify_mschapv2(
                nt_hash=PASSWORD_HASH,
                username=USERNAME,
                authenticator_challenge=AUTH_CHALLENGE,
                response=bytes(response),
            )
            is None
        )

    @pytest.mark.parametrize(
        ("challenge_len", "response_len"), [(16, 0), (16, 49), (16, 51), (16, 52), (0, 50), (8, 50), (17, 50)]
    )
    def test_malformed_lengths(self, challenge_len: int, response_len: int) -> None:
        good = mschap2_response(1, PEER_CHALLENGE, NT_RESPONSE) + bytes(2)
        assert (
            verify_mschapv2(
                nt_hash=PASSWORD_HASH,
                username=USERNAME,
                authenticator_challenge=(AUTH_CHALLENGE + bytes(1))[:challenge_len],
                response=good[:response_len],
            )
            is None
        )

    @pytest.mark.parametrize("length", [0, 15, 17, 32])
    def test_bad_nt_hash_is_a_programming_error(self, length: int) -> None:
        response = mschap2_response(1, PEER_CHALLENGE, NT_RESPONSE)
        with pytest.raises(ValueError, match="nt_hash"):
            verify_mschapv2(
                nt_hash=bytes(length),
                username=USERNAME,
                authenticator_challenge=AUTH_CHALLENGE,
                response=response,
            )

    @given(
        challenge=st.binary(max_size=64),
        response=st.binary(max_size=128),
        username=st.binary(max_size=300),
    )
    def test_peer_bytes_never_raise(self, challenge: bytes, response: bytes, username: bytes) -> None:
        result = verify_mschapv2(
            nt_hash=PASSWORD_HASH, username=username, authenticator_challenge=challenge, response=response
        )
        assert result is None

    @given(
        ident=st.integers(0, 255),
        flags_reserved=st.binary(min_size=9, max_size=9),
        peer=st.binary(min_size=16, max_size=16),
    )
    def test_right_lengths_wrong_response(self, ident: int, flags_reserved: bytes, peer: bytes) -> None:
        response = bytes([ident]) + flags_reserved[:1] + peer + flags_reserved[1:] + NT_RESPONSE
        result = verify_mschapv2(
            nt_hash=PASSWORD_HASH,
            username=USERNAME,
            authenticator_challenge=AUTH_CHALLENGE,
            response=response,
        )
        # Flags/Reserved are ignored; only the peer challenge feeds the check.
        assert (result is not None) == (peer == PEER_CHALLENGE)


@pytest.mark.parametrize(
    ("user_name", "hashed"),
    [
        (b"alice", b"alice"),
        (b"alice@example.org", b"alice@example.org"),
        (b"CORP\\alice", b"alice"),
        (b"CORP\\sub\\alice", b"sub\\alice"),
        (b"\\alice", b"alice"),
        (b"", b""),
    ],
)
def test_strip_nt_domain(user_name: bytes, hashed: bytes) -> None:
    assert strip_nt_domain(user_name) == hashed
