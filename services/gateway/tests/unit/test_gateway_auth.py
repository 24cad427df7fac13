"""API keys taken from a request, and the identity they stand for."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime

import pytest

from gateway.domain.api_keys import StoredKey, hash_of, matches, new_key, prefix_of
from gateway.domain.auth import api_key_from, dev_identity
from gateway.handlers.keys import KeyCache
from servicekit.identity import Identity
from servicekit.problems import UnauthorizedError

DEV_KEY = "bsk_test_dev_key"
TENANT_ID = uuid.UUID("0196f0a2-7c1e-7d4a-9a53-3f1c2b9e8d01")
NOW = datetime(2026, 3, 1, tzinfo=UTC)


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
    assert dev_identity(DEV_KEY, DEV_KEY, TENANT_ID) == Identity(TENANT_ID, "dev-api-key", "admin")


@pytest.mark.parametrize("key", ["bsk_wrong", DEV_KEY + "x", DEV_KEY[:-1], ""])
def test_other_keys_are_not_the_dev_key(key: str) -> None:
    assert dev_identity(key, DEV_KEY, TENANT_ID) is None


@pytest.mark.parametrize(
    ("dev_key", "tenant"), [(None, TENANT_ID), (DEV_KEY, None)], ids=["no-key", "no-tenant"]
)
def test_without_a_configured_dev_tenant_no_key_works(
    dev_key: str | None, tenant: uuid.UUID | None
) -> None:
    assert dev_identity(DEV_KEY, dev_key, tenant) is None


def test_a_new_key_is_found_by_its_prefix_and_matches_only_its_hash() -> None:
    made = new_key()

    assert made.key.startswith(f"bsk_{made.prefix}_")
    assert prefix_of(made.key) == made.prefix
    assert made.secret_hash == hash_of(made.key)
    assert made.key.encode() not in made.secret_hash
    assert matches(made.key, made.secret_hash)
    assert not matches(made.key + "x", made.secret_hash)
    assert new_key().key != made.key


@pytest.mark.parametrize(
    "key", ["", "bsk", "bsk_", "bsk_abc_secret", "xsk_0123456789ab_secret", "bsk_0123456789ab_"]
)
def test_malformed_keys_have_no_prefix(key: str) -> None:
    assert prefix_of(key) is None


def stored(prefix: str) -> StoredKey:
    return StoredKey(TENANT_ID, uuid.uuid4(), "k", prefix, "admin", NOW, None, None)


def test_a_key_read_before_it_changed_here_is_not_cached() -> None:
    cache = KeyCache()
    read_at = time.monotonic()
    cache.forget("0123456789ab")  # revoked while the read was in flight

    cache.put(stored("0123456789ab"), b"h", read_at=read_at)

    assert cache.get("0123456789ab") is None
    cache.put(stored("0123456789ab"), b"h", read_at=time.monotonic())
    assert cache.get("0123456789ab") is not None
