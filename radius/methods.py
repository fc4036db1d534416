"""Authentication methods as pure functions over request values and a stored credential.

No I/O: the pipeline fetches what is stored and calls these. RFC references: CHAP RFC 1994 §4.1
and RFC 2865 §2.2 / §5.3 / §5.40; MS-CHAPv2 in :mod:`radius.mschap`.
"""

from __future__ import annotations

import enum
import hashlib
import hmac

from radius.mschap import MsChapV1Result, MsChapV2Result, strip_nt_domain, verify_mschapv1, verify_mschapv2


class Method(enum.StrEnum):
    """The authentication method authorize picked (exactly one per request)."""

    PAP = "pap"  # account password, argon2id
    TOKEN = "token"  # noqa: S105 - single-use token over PAP
    TOKEN_CHAP = "token-chap"  # noqa: S105 - single-use token over CHAP
    MAC = "mac"  # remembered device, MAC authentication
    MSCHAPV2 = "mschapv2"  # device credential
    MSCHAPV1 = "mschap"  # device credential, MS-CHAP version 1 (RFC 2433)
    VOUCHER = "voucher"  # a guest's voucher code over PAP (as user name and password)
    EAP = "eap"  # an EAP conversation (radius.eap); the record names the EAP method and inner method
    NONE = "none"  # nothing usable in the request


def chap_valid(chap_password: bytes, password: bytes, challenge: bytes) -> bool:
    """CHAP-Password = ident(1) || MD5(ident || password || challenge)."""
    if len(chap_password) != 17 or not challenge:
        return False
    expected = hashlib.md5(chap_password[:1] + password + challenge).digest()
    return hmac.compare_digest(chap_password[1:], expected)


def mschapv2(*, nt_hash: bytes, user_name: bytes, challenge: bytes, response: bytes) -> MsChapV2Result | None:
    """Check an MS-CHAP2-Response for the User-Name as sent (a ``DOMAIN\\`` prefix is stripped)."""
    return verify_mschapv2(
        nt_hash=nt_hash,
        username=strip_nt_domain(user_name),
        authenticator_challenge=challenge,
        response=response,
    )


def mschapv1(*, nt_hash: bytes, challenge: bytes, response: bytes) -> MsChapV1Result | None:
    """Check an MS-CHAP-Response (version 1; no user name enters the computation)."""
    return verify_mschapv1(nt_hash=nt_hash, challenge=challenge, response=response)
