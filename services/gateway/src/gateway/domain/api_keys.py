"""API keys: `bsk_<prefix>_<secret>`. The prefix is public (listed, logged); the key is
stored only as its SHA-256, which suffices for 190 random bits (no password to stretch)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from servicekit.identity import Role

SCHEME = "bsk"
_PREFIX_BYTES, _SECRET_BYTES = 6, 24


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key as it is shown once, and what is stored of it."""

    key: str
    prefix: str
    secret_hash: bytes


@dataclass(frozen=True, slots=True)
class StoredKey:
    tenant_id: UUID
    id: UUID
    name: str
    prefix: str
    role: Role
    created_at: datetime
    revoked_at: datetime | None
    replaced_by: UUID | None


def new_key() -> NewKey:
    prefix = secrets.token_hex(_PREFIX_BYTES)
    key = f"{SCHEME}_{prefix}_{secrets.token_urlsafe(_SECRET_BYTES)}"
    return NewKey(key, prefix, hash_of(key))


def hash_of(key: str) -> bytes:
    return hashlib.sha256(key.encode()).digest()


def prefix_of(key: str) -> str | None:
    """The lookup prefix of a well-formed key, else None (never a database lookup)."""
    scheme, _, rest = key.partition("_")
    prefix, _, secret = rest.partition("_")
    if scheme != SCHEME or len(prefix) != 2 * _PREFIX_BYTES or not secret:
        return None
    return prefix


def matches(key: str, secret_hash: bytes) -> bool:
    return hmac.compare_digest(hash_of(key), secret_hash)
