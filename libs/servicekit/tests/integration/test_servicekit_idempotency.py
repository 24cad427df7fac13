"""`Idempotency-Key` answers when the database fails between the work and the key's lookup."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from servicekit import db
from servicekit.idempotency import Stored, respond, stored_json
from servicekit.problems import ConflictError
from servicekit.testing import Infra

pytestmark = pytest.mark.integration


class InvoicePaid(ConflictError):
    slug = "invoice-paid"


@pytest.fixture
async def keys_unreadable(infra: Infra, tc_pool: db.Pool) -> AsyncIterator[None]:
    """Timecapture's role may not read its idempotency keys until the test ends."""
    admin = await asyncpg.connect(infra.admin_dsn())
    try:
        await admin.execute("REVOKE SELECT ON timecapture.idempotency_keys FROM timecapture")
        try:
            yield
        finally:
            await admin.execute("GRANT SELECT ON timecapture.idempotency_keys TO timecapture")
    finally:
        await admin.close()


async def test_a_refusal_is_the_answer_when_looking_its_key_up_fails(
    tc_pool: db.Pool, tenant_id: uuid.UUID, keys_unreadable: None
) -> None:
    """A refused keyed request looks its key up (a retry refused only because its first
    attempt's write is in place replays that attempt's answer). When the lookup itself fails,
    the client gets the refusal, not the lookup's error as a 500."""
    refusal = InvoicePaid("the invoice is paid")

    async def work(conn: db.Connection) -> None:
        raise refusal

    def render(_: None) -> Stored:
        return stored_json(201, {})

    with pytest.raises(InvoicePaid) as raised:
        await respond(
            tc_pool,
            tenant_id,
            key=f"key-{uuid.uuid4()}",
            request_fingerprint="POST /v1/payments 0",
            work=work,
            render=render,
        )
    assert raised.value is refusal
    # The lookup ran and failed: its error is what the refusal was raised over.
    assert isinstance(raised.value.__context__, asyncpg.InsufficientPrivilegeError)
