"""Users: argon2id password hashes, short-lived access tokens, single-use refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from servicekit.clock import Clock
from servicekit.identity import Identity, IdentitySigner, IdentityVerifier, Role, public_key_of
from servicekit.problems import UnauthorizedError

ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(days=30)
# Not the services' audience: an access token is no identity token, nor the reverse.
ACCESS_AUDIENCE = "billstream-api"
_hasher = PasswordHasher()
# Verified against when the email is unknown, so both answers take as long.
_NOBODY = _hasher.hash(secrets.token_urlsafe(16))


@dataclass(frozen=True, slots=True)
class User:
    tenant_id: UUID
    id: UUID
    email: str
    name: str
    role: Role
    created_at: datetime
    disabled_at: datetime | None
    version: int = 1

    @property
    def principal(self) -> str:
        return f"user:{self.id}"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def password_matches(password: str, password_hash: str | None) -> bool:
    try:
        return _hasher.verify(password_hash or _NOBODY, password) and password_hash is not None
    except (VerificationError, InvalidHashError):
        return False


def new_refresh_token() -> tuple[str, bytes]:
    token = f"bsr_{secrets.token_urlsafe(32)}"
    return token, refresh_hash(token)


def refresh_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


class AccessTokens:
    """The kit's identity tokens under another audience: for the gateway alone to read back."""

    def __init__(self, private_key_pem: str, clock: Clock) -> None:
        # Never reused: each login and refresh answers with a token that lives ACCESS_TTL.
        self._signer = IdentitySigner(
            private_key_pem,
            ttl=ACCESS_TTL,
            clock=clock,
            audience=ACCESS_AUDIENCE,
            reuse_for=timedelta(0),
        )
        self._verifier = IdentityVerifier(
            public_key_of(private_key_pem), leeway_s=0, clock=clock, audience=ACCESS_AUDIENCE
        )

    def sign(self, user: User) -> str:
        return self._signer.sign(Identity(user.tenant_id, user.principal, user.role))

    def verify(self, token: str) -> Identity | None:
        """The identity of a valid, unexpired access token; None for anything else."""
        try:
            return self._verifier.verify(token)
        except UnauthorizedError:
            return None
