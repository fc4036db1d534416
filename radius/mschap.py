"""Server side of MS-CHAPv2 carried in RADIUS, with the MPPE keys it yields.

Theory of operation:

* The NAS sends the peer a 16-octet authenticator challenge and forwards it to us as
  MS-CHAP-Challenge; the peer's answer arrives as MS-CHAP2-Response (RFC 2548 §2.3.2):
  Ident(1) Flags(1) Peer-Challenge(16) Reserved(8) NT-Response(24).
* RFC 2759 §8: ChallengeHash = SHA1(PeerChallenge | AuthenticatorChallenge | UserName)[:8];
  NT-Response = ChallengeResponse(ChallengeHash, NtPasswordHash), three DES encryptions of the
  8-octet challenge under 7-octet slices of the zero-padded 16-octet NT hash (MD4 of UTF-16LE).
  Only the NT hash is needed, so that is what the server stores and what every function takes.
* On a match, the server proves it knows the hash too: the AuthenticatorResponse
  "S=<40 upper-case hex>" of RFC 2759 §8.7, returned in MS-CHAP2-Success as Ident | "S=..."
  (RFC 2548 §2.3.3).
* RFC 3079 §3.3/§3.4 derive MPPE keys from MD4(NT hash) and the NT-Response. Seen from the
  server (the NAS side), the send key uses Magic3 ("... on the server side, it is the send key")
  and the receive key Magic2. MS-MPPE-Send-Key encrypts NAS → peer traffic, MS-MPPE-Recv-Key
  peer → NAS (RFC 2548 §2.4.2/§2.4.3), so Send-Key = server send key, as FreeRADIUS
  (rlm_mschap mppe_chap2_gen_keys128) and hostapd (eap_server_mschapv2) do. The RFC 2548 salt
  encryption of those attributes is the codec's job, not ours.

Everything here is pure computation. Functions taking peer data never raise on it:
``verify_mschapv2`` answers None for any malformed or wrong response; ValueError is reserved for
programming errors such as an NT hash that is not 16 octets.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
from dataclasses import dataclass, field
from typing import cast

from cryptography.hazmat.primitives.ciphers import Cipher, modes
from passlib.crypto.digest import lookup_hash

try:  # cryptography >= 43 keeps DES under "decrepit"
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.algorithms import (  # type: ignore[no-redef,attr-defined,unused-ignore]
        TripleDES,
    )

__all__ = [
    "MsChapV2Result",
    "challenge_hash",
    "challenge_response",
    "generate_authenticator_response",
    "generate_nt_response",
    "get_asymmetric_start_key",
    "get_master_key",
    "hash_nt_password_hash",
    "md4",
    "mppe_keys",
    "nt_password_hash",
    "strip_nt_domain",
    "verify_mschapv2",
]

CHALLENGE_LENGTH = 16  # MS-CHAP-Challenge for MS-CHAPv2
RESPONSE_LENGTH = 50  # MS-CHAP2-Response value
NT_HASH_LENGTH = 16
NT_RESPONSE_LENGTH = 24
MPPE_KEY_LENGTH = 16  # 128-bit keys

# RFC 2759 §8.7
_AUTH_MAGIC1 = b"Magic server to client signing constant"
_AUTH_MAGIC2 = b"Pad to make it do more than one iteration"
# RFC 3079 §3.4
_MPPE_MAGIC1 = b"This is the MPPE Master Key"
_MPPE_MAGIC2 = b"On the client side, this is the send key; on the server side, it is the receive key."
_MPPE_MAGIC3 = b"On the client side, this is the receive key; on the server side, it is the send key."
_SHS_PAD1 = b"\x00" * 40
_SHS_PAD2 = b"\xf2" * 40

# hashlib's MD4 is gone under OpenSSL 3 without the legacy provider; passlib falls back to its own.
_MD4 = lookup_hash("md4").const


def _require(name: str, value: bytes, length: int) -> None:
    if len(value) != length:
        raise ValueError(f"{name} must be {length} octets, got {len(value)}")


def _sha1(*parts: bytes) -> bytes:
    # SHA-1 is what the protocol specifies; it is not our choice to make.
    digest = hashlib.sha1()  # noqa: S324
    for part in parts:
        digest.update(part)
    return digest.digest()


def md4(data: bytes) -> bytes:
    """MD4 (RFC 1320) digest of ``data``."""
    return cast(bytes, _MD4(data).digest())


def nt_password_hash(password: str) -> bytes:
    """RFC 2759 §8.3 NtPasswordHash: MD4 of the UTF-16LE password (the "NT hash")."""
    return md4(password.encode("utf-16-le"))


@functools.lru_cache(maxsize=4096)
def hash_nt_password_hash(password_hash: bytes) -> bytes:
    """RFC 2759 §8.4 HashNtPasswordHash: MD4 of the NT hash. Kept for the devices authenticating
    now: MD4 is pure Python here (OpenSSL 3 has it only in its legacy provider), ~60 µs a time,
    twice per MS-CHAPv2 success."""
    _require("password_hash", password_hash, NT_HASH_LENGTH)
    return md4(password_hash)


def strip_nt_domain(user_name: bytes) -> bytes:
    r"""The user name to hash in ChallengeHash: ``User-Name`` without a leading ``DOMAIN\``.

    RFC 2759 §8.2 hashes the name "excluding any prepended domain name", and Windows peers send
    ``DOMAIN\user`` but hash ``user``. FreeRADIUS's rlm_mschap does the same with
    ``with_ntdomain_hack`` (default yes): it skips past the first backslash of User-Name (or of
    MS-CHAP-User-Name, set by EAP-MSCHAPv2) and hashes the rest. A ``user@realm`` name is hashed
    whole, realm included, since that is what the peer was configured with.
    """
    _, sep, rest = user_name.partition(b"\\")
    return rest if sep else user_name


def challenge_hash(peer_challenge: bytes, authenticator_challenge: bytes, username: bytes) -> bytes:
    """RFC 2759 §8.2 ChallengeHash: the 8-octet challenge the NT-Response answers.

    ``username`` is the name as the peer hashed it; see :func:`strip_nt_domain`.
    """
    _require("peer_challenge", peer_challenge, 16)
    _require("authenticator_challenge", authenticator_challenge, CHALLENGE_LENGTH)
    return _sha1(peer_challenge, authenticator_challenge, username)[:8]


def _des_key(key7: bytes) -> bytes:
    """Spread 56 key bits over 8 octets, 7 bits each, and set the low bit for odd parity."""
    bits = int.from_bytes(key7, "big")
    out = bytearray()
    for i in range(8):
        octet = ((bits >> (49 - 7 * i)) & 0x7F) << 1
        out.append(octet | (bin(octet).count("1") + 1) % 2)
    return bytes(out)


def _des_encrypt(block8: bytes, key7: bytes) -> bytes:
    # Single DES is 3DES with K1 = K2 = K3; one 8-octet block, so ECB is the right mode.
    cipher = Cipher(TripleDES(_des_key(key7) * 3), modes.ECB())  # noqa: S305
    encryptor = cipher.encryptor()
    return encryptor.update(block8) + encryptor.finalize()


def challenge_response(challenge: bytes, password_hash: bytes) -> bytes:
    """RFC 2759 §8.5 ChallengeResponse: 24 octets from an 8-octet challenge and the NT hash."""
    _require("challenge", challenge, 8)
    _require("password_hash", password_hash, NT_HASH_LENGTH)
    key = password_hash + b"\x00" * 5
    return b"".join(_des_encrypt(challenge, key[i : i + 7]) for i in (0, 7, 14))


def generate_nt_response(
    authenticator_challenge: bytes, peer_challenge: bytes, username: bytes, password_hash: bytes
) -> bytes:
    """RFC 2759 §8.1 GenerateNTResponse, from the NT hash instead of the clear password."""
    return challenge_response(
        challenge_hash(peer_challenge, authenticator_challenge, username), password_hash
    )


def generate_authenticator_response(
    password_hash: bytes,
    nt_response: bytes,
    peer_challenge: bytes,
    authenticator_challenge: bytes,
    username: bytes,
) -> str:
    """RFC 2759 §8.7 GenerateAuthenticatorResponse: the 42-character ``S=<40 hex>`` string."""
    _require("nt_response", nt_response, NT_RESPONSE_LENGTH)
    digest = _sha1(hash_nt_password_hash(password_hash), nt_response, _AUTH_MAGIC1)
    challenge = challenge_hash(peer_challenge, authenticator_challenge, username)
    return "S=" + _sha1(digest, challenge, _AUTH_MAGIC2).hex().upper()


def get_master_key(password_hash_hash: bytes, nt_response: bytes) -> bytes:
    """RFC 3079 §3.4 GetMasterKey: 16 octets from MD4(NT hash) and the NT-Response."""
    _require("password_hash_hash", password_hash_hash, NT_HASH_LENGTH)
    _require("nt_response", nt_response, NT_RESPONSE_LENGTH)
    return _sha1(password_hash_hash, nt_response, _MPPE_MAGIC1)[:16]


def get_asymmetric_start_key(master_key: bytes, key_length: int, is_send: bool, is_server: bool) -> bytes:
    """RFC 3079 §3.4 GetAsymetricStartKey: an 8-to-16-octet master session key.

    The client's send key is the server's receive key (Magic2) and vice versa (Magic3).
    """
    _require("master_key", master_key, 16)
    if not 8 <= key_length <= 16:
        raise ValueError(f"key_length must be 8 to 16 octets, got {key_length}")
    magic = _MPPE_MAGIC3 if is_send == is_server else _MPPE_MAGIC2
    return _sha1(master_key, _SHS_PAD1, magic, _SHS_PAD2)[:key_length]


def mppe_keys(nt_hash: bytes, nt_response: bytes) -> tuple[bytes, bytes]:
    """The server's 128-bit ``(send_key, recv_key)``: MS-MPPE-Send-Key and MS-MPPE-Recv-Key.

    These are the RFC 3079 §3.3 master session keys, before RFC 2548 §2.4.2 salt encryption.
    """
    master = get_master_key(hash_nt_password_hash(nt_hash), nt_response)
    return (
        get_asymmetric_start_key(master, MPPE_KEY_LENGTH, is_send=True, is_server=True),
        get_asymmetric_start_key(master, MPPE_KEY_LENGTH, is_send=False, is_server=True),
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class MsChapV2Result:
    """A verified MS-CHAPv2 response and what goes into the Access-Accept."""

    ident: int
    authenticator_response: str  # "S=<40 hex>"
    success: bytes  # MS-CHAP2-Success value: Ident | "S=..." (43 octets)
    mppe_send_key: bytes = field(repr=False)  # NAS -> peer, before salt encryption
    mppe_recv_key: bytes = field(repr=False)  # peer -> NAS, before salt encryption


def verify_mschapv2(
    *, nt_hash: bytes, username: bytes, authenticator_challenge: bytes, response: bytes
) -> MsChapV2Result | None:
    r"""Check an MS-CHAP2-Response against the user's NT hash.

    ``authenticator_challenge`` and ``response`` are the MS-CHAP-Challenge and MS-CHAP2-Response
    attribute values as received. ``username`` is the User-Name as sent, stripped of a leading
    ``DOMAIN\`` as Windows does (:func:`strip_nt_domain`). Returns None when the lengths are
    wrong or the NT-Response does not match. The Flags and Reserved fields "MUST be zero" but
    are ignored, as FreeRADIUS does.
    """
    _require("nt_hash", nt_hash, NT_HASH_LENGTH)
    if len(authenticator_challenge) != CHALLENGE_LENGTH or len(response) != RESPONSE_LENGTH:
        return None
    ident = response[0]
    peer_challenge = response[2:18]
    nt_response = response[26:50]
    expected = generate_nt_response(authenticator_challenge, peer_challenge, username, nt_hash)
    if not hmac.compare_digest(expected, nt_response):
        return None
    authenticator_response = generate_authenticator_response(
        nt_hash, nt_response, peer_challenge, authenticator_challenge, username
    )
    send_key, recv_key = mppe_keys(nt_hash, nt_response)
    return MsChapV2Result(
        ident=ident,
        authenticator_response=authenticator_response,
        success=bytes([ident]) + authenticator_response.encode("ascii"),
        mppe_send_key=send_key,
        mppe_recv_key=recv_key,
    )


# -- MS-CHAP version 1 (RFC 2433), which FreeRADIUS's radtest -t mschap speaks ------------------

MSCHAPV1_CHALLENGE_LENGTH = 8
MSCHAPV1_RESPONSE_LENGTH = 50  # RFC 2548 §2.1.3: Ident, Flags, LM-Response(24), NT-Response(24)


@dataclass(frozen=True, slots=True, kw_only=True)
class MsChapV1Result:
    ident: int
    #: RFC 2548 §2.4.1 MS-CHAP-MPPE-Keys before encryption: LM-Key(8, zero: we keep no LM hash)
    #: || NT-Key (first 16 octets of MD4(NT hash)) || 8 octets of padding
    mppe_keys: bytes = field(repr=False)


def verify_mschapv1(*, nt_hash: bytes, challenge: bytes, response: bytes) -> MsChapV1Result | None:
    """Check an MS-CHAP-Response (RFC 2433 §A.5) against the NT hash; None if it does not match.

    Only the NT-Response is accepted (Flags bit 0 set); LM responses are refused, as the LM hash
    is never stored.
    """
    _require("nt_hash", nt_hash, 16)
    if len(challenge) != MSCHAPV1_CHALLENGE_LENGTH or len(response) != MSCHAPV1_RESPONSE_LENGTH:
        return None
    if not response[1] & 0x01:
        return None
    expected = challenge_response(challenge, nt_hash)
    if not hmac.compare_digest(expected, response[26:50]):
        return None
    keys = bytes(8) + hash_nt_password_hash(nt_hash)[:16] + bytes(8)
    return MsChapV1Result(ident=response[0], mppe_keys=keys)
