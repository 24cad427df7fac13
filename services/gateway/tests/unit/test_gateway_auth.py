"""API keys taken from a request, and the identity they stand for."""

from __future__ import annotations

import uuid

import pytest

from gateway.domain.auth import api_key_from, authenticate
from gateway.settings import GatewaySettings
from servicekit.identity import Identity, generate_keypair
from servicekit.problems import UnauthorizedError

DEV_KEY = "bsk_test_dev_key"
TENANT_ID = uuid.UUID("0196f0a2-7c1e-7d4a-9a53-3f1c2b9e8d01")
PRIVATE_KEY = generate_keypair()[0]


def settings(**overrides: object) -> GatewaySettings:
    values: dict[str, object] = {
        "identity_private_key": PRIVATE_KEY,
        "dev_api_key": DEV_KEY,
        "dev_tenant_id": TENANT_ID,
    }
    values.update(overrides)
    return GatewaySettings(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {DEV_KEY}", f"bearer {DEV_KEY}", f"BEARER {DEV_KEY}", f"Bearer {DEV_KEY}  "],
)
def test_bearer_token_is_the_key(authorization: str) -> None:
    assert api_key_from(authorization, None) == DEV_KEY


def test_x_api_key_is_the_key() -> None:
    assert api_key_from(None, DEV_KEY) == DEV_KEY


def test_x_api_key_wins_over_authorization() -> None:
    assert api_key_from("Bearer other", DEV_KEY) == DEV_KEY


@pytest.mark.parametrize(
    ("authorization", "x_api_key"),
    [
        (None, None),
        ("", ""),
        ("Bearer", None),
        ("Bearer ", None),
        (f"Basic {DEV_KEY}", None),
        (DEV_KEY, None),
    ],
    ids=["missing", "empty", "scheme-only", "scheme-and-space", "basic", "no-scheme"],
)
def test_missing_key_is_unauthorized(authorization: str | None, x_api_key: str | None) -> None:
    with pytest.raises(UnauthorizedError) as caught:
        api_key_from(authorization, x_api_key)
    assert caught.value.status == 401


def test_dev_key_acts_as_admin_of_the_dev_tenant() -> None:
    assert authenticate(DEV_KEY, settings()) == Identity(TENANT_ID, "dev-api-key", "admin")


@pytest.mark.parametrize("key", ["bsk_wrong", DEV_KEY + "x", DEV_KEY[:-1], ""])
def test_other_keys_are_unauthorized(key: str) -> None:
    with pytest.raises(UnauthorizedError, match="unknown or revoked"):
        authenticate(key, settings())


@pytest.mark.parametrize(
    "overrides", [{"dev_api_key": None}, {"dev_tenant_id": None}], ids=["no-key", "no-tenant"]
)
def test_without_a_configured_dev_tenant_no_key_works(overrides: dict[str, object]) -> None:
    with pytest.raises(UnauthorizedError):
        authenticate(DEV_KEY, settings(**overrides))
