from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from uuid import uuid4

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from fastapi import FastAPI, Request

from servicekit.identity import (
    AUDIENCE,
    IDENTITY_HEADER,
    ISSUER,
    Identity,
    IdentitySigner,
    IdentityVerifier,
    generate_keypair,
    require_identity,
    require_provider,
)
from servicekit.problems import ForbiddenError, UnauthorizedError

PRIVATE, PUBLIC = generate_keypair()


def identity() -> Identity:
    return Identity(tenant_id=uuid4(), principal="user:ada", role="manager")


def raw_token(**overrides: object) -> str:
    """A token signed with the gateway's key, with chosen claims."""
    now = datetime.now(UTC)
    claims: dict[str, object] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user:ada",
        "tid": str(uuid4()),
        "role": "member",
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=60)).timestamp()),
    }
    claims.update(overrides)
    key = serialization.load_pem_private_key(PRIVATE.encode(), password=None)
    return jwt.encode(claims, key, algorithm="EdDSA")  # type: ignore[arg-type]


def test_signed_identity_verifies_to_the_same_identity() -> None:
    who = identity()
    token = IdentitySigner(PRIVATE).sign(who)

    assert IdentityVerifier(PUBLIC).verify(token) == who


def test_expired_token_is_unauthorized() -> None:
    issued = datetime.now(UTC) - timedelta(minutes=5)
    token = IdentitySigner(PRIVATE, ttl=timedelta(seconds=60), clock=lambda: issued).sign(
        identity()
    )

    with pytest.raises(UnauthorizedError, match=r"(?i)expired"):
        IdentityVerifier(PUBLIC).verify(token)


def test_token_within_its_lifetime_verifies_with_an_injected_clock() -> None:
    issued = datetime.now(UTC) - timedelta(seconds=30)
    who = identity()
    token = IdentitySigner(PRIVATE, ttl=timedelta(seconds=60), clock=lambda: issued).sign(who)

    assert IdentityVerifier(PUBLIC).verify(token) == who


def test_token_signed_with_another_key_is_unauthorized() -> None:
    other_private, _ = generate_keypair()
    token = IdentitySigner(other_private).sign(identity())

    with pytest.raises(UnauthorizedError, match=r"(?i)signature"):
        IdentityVerifier(PUBLIC).verify(token)


def test_token_for_another_audience_is_unauthorized() -> None:
    IdentityVerifier(PUBLIC).verify(raw_token())  # the same token with our audience passes

    with pytest.raises(UnauthorizedError, match=r"(?i)audience"):
        IdentityVerifier(PUBLIC).verify(raw_token(aud="billstream-admin-console"))


def test_token_from_another_issuer_is_unauthorized() -> None:
    with pytest.raises(UnauthorizedError, match=r"(?i)issuer"):
        IdentityVerifier(PUBLIC).verify(raw_token(iss="somebody-else"))


def test_unknown_role_is_unauthorized() -> None:
    with pytest.raises(UnauthorizedError, match="unknown role 'root'"):
        IdentityVerifier(PUBLIC).verify(raw_token(role="root"))


@pytest.mark.parametrize("claim", ["tid", "role"])
def test_token_without_tenant_or_role_is_unauthorized(claim: str) -> None:
    token = raw_token()
    claims = jwt.decode(token, options={"verify_signature": False})
    del claims[claim]
    key = serialization.load_pem_private_key(PRIVATE.encode(), password=None)
    stripped = jwt.encode(claims, key, algorithm="EdDSA")  # type: ignore[arg-type]

    with pytest.raises(UnauthorizedError):
        IdentityVerifier(PUBLIC).verify(stripped)


def test_garbage_token_is_unauthorized() -> None:
    with pytest.raises(UnauthorizedError, match="invalid identity token"):
        IdentityVerifier(PUBLIC).verify("not-a-jwt")


def test_unauthorized_error_maps_to_401() -> None:
    assert UnauthorizedError.status == 401


def test_a_verified_token_seen_again_is_refused_once_it_expires() -> None:
    issued = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    now = [issued]
    who = identity()
    token = IdentitySigner(PRIVATE, ttl=timedelta(seconds=60), clock=lambda: issued).sign(who)
    verifier = IdentityVerifier(PUBLIC, leeway_s=5, clock=lambda: now[0])

    assert verifier.verify(token) == who
    now[0] = issued + timedelta(seconds=65)  # exp + leeway: still good, from the cache
    assert verifier.verify(token) == who
    now[0] = issued + timedelta(seconds=66)
    with pytest.raises(UnauthorizedError, match=r"(?i)expired"):
        verifier.verify(token)
    with pytest.raises(UnauthorizedError, match=r"(?i)expired"):
        verifier.verify(token)  # and stays refused once dropped from the cache


def test_signer_reuses_a_token_for_half_its_life_then_signs_anew() -> None:
    start = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    now = [start]
    signer = IdentitySigner(PRIVATE, ttl=timedelta(seconds=60), clock=lambda: now[0])
    who = identity()

    first = signer.sign(who)
    now[0] = start + timedelta(seconds=29)
    assert signer.sign(who) == first
    assert signer.sign(Identity(who.tenant_id, who.principal, "viewer")) != first
    now[0] = start + timedelta(seconds=30)
    renewed = signer.sign(who)
    assert renewed != first
    verifier = IdentityVerifier(PUBLIC, clock=lambda: now[0])
    assert verifier.verify(renewed) == who


def test_times_are_judged_by_the_injected_clock_even_ahead_of_the_wall_clock() -> None:
    ahead = datetime.now(UTC) + timedelta(hours=1)
    who = identity()
    token = IdentitySigner(PRIVATE, clock=lambda: ahead).sign(who)

    assert IdentityVerifier(PUBLIC, clock=lambda: ahead).verify(token) == who


def test_a_token_for_another_audience_is_refused_and_a_zero_reuse_signs_anew() -> None:
    now = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    signer = IdentitySigner(
        PRIVATE, clock=lambda: now, audience="billstream-api", reuse_for=timedelta(0)
    )
    token = signer.sign(identity())

    assert IdentityVerifier(PUBLIC, clock=lambda: now, audience="billstream-api").verify(token)
    with pytest.raises(UnauthorizedError):
        IdentityVerifier(PUBLIC, clock=lambda: now).verify(token)
    assert signer._issued == {}


def _request(token: str) -> Request:
    app = FastAPI()
    app.state.runtime = SimpleNamespace(verifier=IdentityVerifier(PUBLIC))
    return Request(
        {"type": "http", "app": app, "headers": [(IDENTITY_HEADER.encode(), token.encode())]}
    )


async def test_a_provider_identity_reaches_webhook_routes_only() -> None:
    signer = IdentitySigner(PRIVATE)
    provider = Identity(tenant_id=uuid4(), principal="provider:stripe", role="provider")
    user = identity()
    # Every route but the webhooks is mounted with `require_identity` (and role checks on it).
    with pytest.raises(ForbiddenError):
        await require_identity(_request(signer.sign(provider)))
    assert await require_identity(_request(signer.sign(user))) == user
    assert await require_provider(_request(signer.sign(provider))) == provider
    with pytest.raises(ForbiddenError):
        await require_provider(_request(signer.sign(user)))
