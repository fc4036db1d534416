"""Encryption at rest for secrets the server must read back (NAS shared secrets, later NT hashes).

A :class:`SecretBox` derives a 256-bit AES-GCM key from ``SESAME_SECRET_KEY`` with HKDF-SHA256,
so the configured key is never used directly. Each ciphertext is bound to a *purpose* (used as
associated data): a NAS secret copied into another column does not decrypt there. The stored
form is ``v1.<base64url(nonce || ciphertext+tag)>``.

Key rotation (docs/operations.md, "Rotating the secret key"): a box holds the current key and
any previous ones. It seals and digests with the current key only; it opens what any of them
sealed, and :meth:`SecretBox.digests` gives a value's digest under each, so a lookup finds what
was stored before the rotation. :meth:`SecretBox.resealed` re-seals under the current key what an
older key sealed (``sesame secrets rotate``).
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
    """Seals and opens small secrets with keys derived from the application secret key(s):
    ``SecretBox(current, *previous)``."""

    __slots__ = ("_aeads", "_digest_keys")

    def __init__(self, secret_key: str, *previous: str) -> None:
        keys = [secret_key, *(key for key in previous if key and key != secret_key)]
        self._aeads = [AESGCM(derive_key(key, info=b"sesame secretbox v1")) for key in keys]
        self._digest_keys = [derive_key(key, info=b"sesame digest v1") for key in keys]

    def __repr__(self) -> str:
        return f"SecretBox(<{len(self._aeads)} key(s) hidden>)"

    @property
    def rotating(self) -> bool:
        """Whether previous keys are still accepted."""
        return len(self._aeads) > 1

    def seal(self, plaintext: bytes, *, purpose: str) -> str:
        nonce = os.urandom(_NONCE)
        sealed = self._aeads[0].encrypt(nonce, plaintext, purpose.encode())
        return f"{_VERSION}.{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def digest(self, value: bytes, *, purpose: str) -> str:
        """A keyed HMAC-SHA256 of a value: a lookup key that reveals nothing without the secret key."""
        return self._digest(self._digest_keys[0], value, purpose)

    def digests(self, value: bytes, *, purpose: str) -> list[str]:
        """The value's digest under each key, the current key's first: what a lookup of a stored
        digest must try while previous keys are accepted."""
        return [self._digest(key, value, purpose) for key in self._digest_keys]

    @staticmethod
    def _digest(key: bytes, value: bytes, purpose: str) -> str:
        return hmac.new(key, purpose.encode() + b"\0" + value, hashlib.sha256).hexdigest()

    def open(self, token: str, *, purpose: str) -> bytes:
        return self._open(token, purpose=purpose)[0]

    def resealed(self, token: str, *, purpose: str) -> str | None:
        """The secret sealed under the current key if a previous key sealed it; None if the current
        key already did. SecretUnreadable if no key opens it."""
        plaintext, index = self._open(token, purpose=purpose)
        return self.seal(plaintext, purpose=purpose) if index else None

    def _open(self, token: str, *, purpose: str) -> tuple[bytes, int]:
        """The plaintext and the index of the key that opened it."""
        version, _, body = token.partition(".")
        if version != _VERSION:
            raise SecretUnreadable(f"unknown secret format {version!r}")
        try:
            raw = base64.urlsafe_b64decode(body.encode("ascii"))
        except ValueError:
            raw = b""
        for index, aead in enumerate(self._aeads):
            try:
                return aead.decrypt(raw[:_NONCE], raw[_NONCE:], purpose.encode()), index
            except (InvalidTag, ValueError):
                continue
        raise SecretUnreadable(
            "a stored secret cannot be decrypted: SESAME_SECRET_KEY "
            + ("(and SESAME_SECRET_KEY_PREVIOUS) " if self.rotating else "")
            + "differs from the key it was sealed with"
        )
