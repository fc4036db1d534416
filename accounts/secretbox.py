"""Encryption at rest for secrets the server must read back (NAS shared secrets, later NT hashes).

A :class:`SecretBox` derives a 256-bit AES-GCM key from ``SESAME_SECRET_KEY`` with HKDF-SHA256,
so the configured key is never used directly. Each ciphertext is bound to a *purpose* (used as
associated data): a NAS secret copied into another column does not decrypt there. The stored
form is ``v1.<base64url(nonce || ciphertext+tag)>``; the version prefix leaves room for key
rotation.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from accounts.errors import SecretUnreadable

_VERSION = "v1"
_NONCE = 12


def derive_key(secret_key: str, *, info: bytes) -> bytes:
    """A 32-byte key for one use, derived from the application secret key."""
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=b"sesame", info=info).derive(
        secret_key.encode("utf-8")
    )


class SecretBox:
    """Seals and opens small secrets with a key derived from the application secret key."""

    __slots__ = ("_aead", "_digest_key")

    def __init__(self, secret_key: str) -> None:
        self._aead = AESGCM(derive_key(secret_key, info=b"sesame secretbox v1"))
        self._digest_key = derive_key(secret_key, info=b"sesame digest v1")

    def __repr__(self) -> str:
        return "SecretBox(<key hidden>)"

    def seal(self, plaintext: bytes, *, purpose: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._aead.encrypt(nonce, plaintext, purpose.encode())
        return f"{_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def digest(self, value: bytes, *, purpose: str) -> str:
        """A keyed HMAC-SHA256 of a value: a lookup key that reveals nothing without the secret key."""
        return hmac.new(self._digest_key, purpose.encode() + b"\0" + value, hashlib.sha256).hexdigest()

    def open(self, token: str, *, purpose: str) -> bytes:
        version, _, body = token.partition(".")
        if version != _VERSION:
            raise SecretUnreadable(f"unknown secret format {version!r}")
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
            return self._aead.decrypt(raw[:_NONCE], raw[_NONCE:], purpose.encode())
        except (InvalidTag, ValueError):
            raise SecretUnreadable(
                "a stored secret cannot be decrypted: "
                "SESAME_SECRET_KEY differs from the one it was sealed with"
            ) from None
