"""Secrets a service must use again in clear (a webhook's HMAC key), sealed at rest.

AES-256-GCM with a key from the service's settings, never from the database: a copy of the
database (a backup, a read replica, a leaked dump) holds ciphertext only. Each sealed value
names its key, so keys roll: the first key of the setting seals, every listed key opens, and
a value sealed by a key no longer listed fails loudly instead of opening to garbage. The
caller binds each value to where it lives (the tenant and the column) as associated data,
so a sealed value copied onto another tenant's row does not open there.

Format: `v1.<key id>.<base64url(nonce || ciphertext and tag)>`, text so it reads in psql.
"""

from __future__ import annotations

import base64
import os
import re
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_VERSION = "v1"
_NONCE_BYTES = 12  # GCM's standard nonce; random per value (2^-32 collision at 2^32 values)
_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,32}")
# Checked before decoding: the decoder drops characters outside its alphabet without a word,
# so a mistyped key (a stray space, a `!`) would pass for a valid one.
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")


class SealingError(ValueError):
    """A keys setting that cannot be used, or a sealed value that does not open."""


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_key() -> str:
    """A fresh key as the setting takes it (base64url of 32 random bytes)."""
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


@dataclass(frozen=True)
class Sealer:
    current: str
    keys: dict[str, AESGCM]

    @classmethod
    def from_setting(cls, setting: str) -> Sealer:
        """`<id>:<base64url 32 bytes>[,<id>:<key>...]`; the first one seals."""
        keys: dict[str, AESGCM] = {}
        for n, item in enumerate(filter(None, (i.strip() for i in setting.split(",")))):
            key_id, _, encoded = item.partition(":")
            if not _KEY_ID.fullmatch(key_id):
                raise SealingError(f"key {n + 1}: its id must be 1-32 of A-Z a-z 0-9 _ -")
            if key_id in keys:
                raise SealingError(f"key id {key_id!r} is listed twice")
            try:
                if not _BASE64URL.fullmatch(encoded):
                    raise ValueError(encoded)
                raw = _b64decode(encoded.rstrip("="))
            except ValueError:
                raise SealingError(f"key {key_id!r} is not base64url") from None
            if len(raw) != 32:
                raise SealingError(f"key {key_id!r} is {len(raw)} bytes, not 32")
            keys[key_id] = AESGCM(raw)
        if not keys:
            raise SealingError("no key is listed")
        return cls(next(iter(keys)), keys)

    def seal(self, plaintext: str, context: bytes) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self.keys[self.current].encrypt(nonce, plaintext.encode(), context)
        payload = base64.urlsafe_b64encode(nonce + sealed).decode().rstrip("=")
        return f"{_VERSION}.{self.current}.{payload}"

    def open(self, sealed: str, context: bytes) -> str:
        parts = sealed.split(".")
        if len(parts) != 3 or parts[0] != _VERSION or not _BASE64URL.fullmatch(parts[2]):
            raise SealingError("not a sealed value")
        _, key_id, payload = parts
        key = self.keys.get(key_id)
        if key is None:
            raise SealingError(f"sealed with key {key_id!r}, which the settings do not list")
        try:
            raw = _b64decode(payload)
            return key.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], context).decode()
        except (ValueError, InvalidTag):
            raise SealingError(f"does not open with key {key_id!r} here") from None

    def needs_resealing(self, sealed: str) -> bool:
        """Sealed by another key than the current one (to seal again after a roll)."""
        return sealed.split(".")[1:2] != [self.current]
