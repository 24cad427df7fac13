"""Users: argon2id password hashes, short-lived access tokens, single-use refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.hazmat.primitives import serialization

from servicekit.identity import ROLES, Identity, Role

ACCESS_TTL = timedelta(minutes=15)
REFRESH_TTL = timedelta(days=30)
# Not the services' audience: an access token is no identity token, nor the reverse.
ACCESS_AUDIENCE = "billstream-api"
ISSUER = "billstream-gateway"
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
    """EdDSA JWTs with the gateway's identity key, for the gateway alone to read back."""

    def __init__(self, private_key_pem: str) -> None:
        self._private = serialization.load_pem_private_key(private_key_pem.encode(), None)
        self._public = self._private.public_key()

    def sign(self, user: User, now: datetime) -> str:
        claims = {
            "iss": ISSUER,
            "aud": ACCESS_AUDIENCE,
            "sub": user.principal,
            "tid": str(user.tenant_id),
            "role": user.role,
            "iat": int(now.timestamp()),
            "exp": int((now + ACCESS_TTL).timestamp()),
        }
        return jwt.encode(claims, self._private, algorithm="EdDSA")  # type: ignore[arg-type]

    def verify(self, token: str, now: datetime) -> Identity | None:
        """The identity of a valid, unexpired access token; None for anything else."""
        try:
            claims = jwt.decode(
                token,
                self._public,  # type: ignore[arg-type]
                algorithms=["EdDSA"],
                audience=ACCESS_AUDIENCE,
                issuer=ISSUER,
                # Expiry against the injected clock; PyJWT's own checks use the wall clock.
                options={
                    "require": ["exp", "sub", "tid", "role"],
                    "verify_exp": False,
                    "verify_iat": False,
                },
            )
            if now >= datetime.fromtimestamp(int(claims["exp"]), UTC):
                return None
            role = claims["role"]
            if role not in ROLES:
                return None
            return Identity(UUID(claims["tid"]), str(claims["sub"]), role)
        except (jwt.PyJWTError, KeyError, ValueError, TypeError):
            return None
