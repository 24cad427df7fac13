"""Webhook secrets at rest: sealed, bound to their tenant, sealed again after a key roll."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import asyncpg
import pytest

from payments.app import define
from payments.db.providers import secret_context
from payments.handlers.provider_secrets import (
    ResealIncomplete,
    reseal_all,
    reseal_until_done,
)
from payments.settings import PaymentsSettings
from servicekit.sealing import Sealer, SealingError, new_key
from servicekit.service import create_app
from servicekit.testing import eventually, serve

from .conftest import SECRET_KEY, Payments
from .test_payments_stripe_webhook import SECRET, WEBHOOK, as_provider, intent_event, signed

pytestmark = pytest.mark.integration


@asynccontextmanager
async def payments_with(payments: Payments, secret_keys: str | None) -> AsyncIterator[Payments]:
    """Another payments process on the same schema (no broker: only its HTTP side is used)."""
    settings = payments.infra.settings(
        PaymentsSettings, secret_keys=secret_keys, kafka_bootstrap_servers=None
    )
    async with serve(create_app(define(settings))) as url:
        yield dataclasses.replace(payments, url=url)


async def stored(payments: Payments, tenant_id: uuid.UUID) -> asyncpg.Record:
    conn = await asyncpg.connect(payments.infra.admin_dsn())
    try:
        row = await conn.fetchrow(
            "SELECT webhook_secret, webhook_secret_sealed FROM payments.stripe_settings "
            "WHERE tenant_id = $1",
            tenant_id,
        )
    finally:
        await conn.close()
    assert row is not None
    return row


async def admin_execute(payments: Payments, sql: str, *args: object) -> None:
    conn = await asyncpg.connect(payments.infra.admin_dsn())
    try:
        await conn.execute(sql, *args)
    finally:
        await conn.close()


async def secret_in_clear(payments: Payments) -> uuid.UUID:
    """A tenant whose secret was stored before sealing (as it was, in clear)."""
    tenant = uuid.uuid4()
    await admin_execute(
        payments,
        "INSERT INTO payments.stripe_settings (tenant_id, webhook_secret, version, updated_at) "
        "VALUES ($1, $2, 1, now())",
        tenant,
        SECRET,
    )
    return tenant


async def verifies(payments: Payments, tenant_id: uuid.UUID, secret: str = SECRET) -> int:
    """Status of a signed delivery (an event type we ignore: nothing needs an invoice)."""
    payload = intent_event(None, 100, type="payment_intent.created")
    async with as_provider(payments, tenant_id) as hook:
        r = await hook.post(WEBHOOK, content=payload, headers=signed(payload, secret))
    return r.status_code


async def test_a_secret_is_stored_sealed_and_opens_only_for_its_tenant(
    payments: Payments,
) -> None:
    a, b = uuid.uuid4(), uuid.uuid4()
    for tenant in (a, b):
        async with payments.http(tenant) as http:
            r = await http.put("/v1/providers/stripe", json={"webhook_secret": SECRET})
        assert r.status_code == 200, r.text
    row = await stored(payments, a)
    assert row["webhook_secret"] is None
    assert row["webhook_secret_sealed"].startswith("v1.t1.")
    assert "a1B2c3D4" not in row["webhook_secret_sealed"]
    assert await verifies(payments, a) == 200
    # A's sealed secret copied onto B's row does not open there.
    await admin_execute(
        payments,
        "UPDATE payments.stripe_settings SET webhook_secret_sealed = $1 WHERE tenant_id = $2",
        row["webhook_secret_sealed"],
        b,
    )
    payload = intent_event(None, 100, type="payment_intent.created")
    async with as_provider(payments, b) as hook:
        refused = await hook.post(WEBHOOK, content=payload, headers=signed(payload))
    async with payments.http(b) as http:
        shown = await http.get("/v1/providers/stripe")
    assert refused.status_code == 503, refused.text
    assert refused.json()["type"].endswith("/secret-unreadable")
    assert shown.status_code == 503
    assert SECRET not in refused.text + shown.text
    assert "'t1'" not in refused.text  # key ids stay in the log: anyone may post here


async def test_secrets_in_clear_or_under_an_old_key_are_sealed_again_at_start(
    payments: Payments,
) -> None:
    legacy, rolled = uuid.uuid4(), uuid.uuid4()
    legacy_secret = "whsec_legacy12345678"
    # As a row written before sealing existed.
    await admin_execute(
        payments,
        "INSERT INTO payments.stripe_settings (tenant_id, webhook_secret, version, updated_at) "
        "VALUES ($1, $2, 3, now())",
        legacy,
        legacy_secret,
    )
    async with payments.http(rolled) as http:
        await http.put("/v1/providers/stripe", json={"webhook_secret": SECRET})
    # Sealed by a key no setting lists any more: skipped, and the others still sealed.
    orphan = uuid.uuid4()
    lost_key = Sealer.from_setting(f"t9:{new_key()}")
    orphaned = lost_key.seal(SECRET, secret_context(orphan))
    await admin_execute(
        payments,
        "INSERT INTO payments.stripe_settings (tenant_id, webhook_secret_sealed, version, "
        "updated_at) VALUES ($1, $2, 1, now())",
        orphan,
        orphaned,
    )
    newer = new_key()

    async def resealed() -> bool:
        found = [await stored(payments, tenant) for tenant in (legacy, rolled)]
        return all(
            r["webhook_secret"] is None and r["webhook_secret_sealed"].startswith("v1.t2.")
            for r in found
        )

    async with payments_with(payments, f"t2:{newer},t1:{SECRET_KEY}") as during:
        await eventually(resealed, message="both secrets sealed by t2")
        assert (await stored(payments, orphan))["webhook_secret_sealed"] == orphaned
        assert await verifies(during, orphan) == 503
        assert await verifies(during, legacy, legacy_secret) == 200
        assert await verifies(during, rolled) == 200
        async with during.http(legacy) as http:
            kept = (await http.get("/v1/providers/stripe")).json()
        assert kept["version"] == 3  # the same secret: resealing is no new version
    async with payments_with(payments, f"t2:{newer}") as after:  # the old key dropped
        assert await verifies(after, legacy, legacy_secret) == 200
        assert await verifies(after, rolled) == 200
        assert await verifies(after, rolled, "whsec_notthisone") == 400


async def test_without_keys_settings_and_deliveries_answer_503(payments: Payments) -> None:
    tenant = uuid.uuid4()
    async with payments.http(tenant) as http:
        await http.put("/v1/providers/stripe", json={"webhook_secret": SECRET})
    async with payments_with(payments, None) as keyless:
        async with keyless.http(tenant) as http:
            put = await http.put("/v1/providers/stripe", json={"webhook_secret": SECRET})
        delivery = await verifies(keyless, tenant)
    assert put.status_code == 503
    assert put.json()["type"].endswith("/secret-keys-not-configured")
    assert delivery == 503
    assert (await stored(payments, tenant))["webhook_secret_sealed"].startswith("v1.t1.")


async def test_a_bad_keys_setting_stops_the_start(payments: Payments) -> None:
    settings = payments.infra.settings(
        PaymentsSettings, secret_keys="t1:c2hvcnQ", kafka_bootstrap_servers=None
    )
    app = create_app(define(settings))
    with pytest.raises(SealingError, match="key 't1' is 5 bytes, not 32"):
        async with app.router.lifespan_context(app):
            pass


async def test_two_replicas_resealing_at_once_both_finish_and_the_secret_opens(
    payments: Payments,
) -> None:
    tenant = await secret_in_clear(payments)
    sealer = Sealer.from_setting(f"t1:{SECRET_KEY}")
    pool = payments.runtime.require_pool()
    # The row lock and the re-check under it: the second waits, then finds the work done
    # (neither fails, and the value is not sealed over a half-written one).
    await asyncio.gather(reseal_all(pool, sealer), reseal_all(pool, sealer))
    row = await stored(payments, tenant)
    assert row["webhook_secret"] is None
    assert sealer.open(row["webhook_secret_sealed"], secret_context(tenant)) == SECRET
    assert await verifies(payments, tenant) == 200


@asynccontextmanager
async def first_write_fails(
    payments: Payments, tenant: uuid.UUID, errcode: str
) -> AsyncIterator[Callable[[], Awaitable[int]]]:
    """The first write of `tenant`'s settings row fails in the database with `errcode`;
    yields how many writes were tried (a sequence counts them: it is not rolled back)."""
    await admin_execute(
        payments,
        f"""
        CREATE SEQUENCE payments.reseal_attempts;
        CREATE FUNCTION payments.reseal_fails_once() RETURNS trigger LANGUAGE plpgsql
            SECURITY DEFINER AS $$
        BEGIN
            IF NEW.tenant_id = '{tenant}' AND nextval('payments.reseal_attempts') = 1 THEN
                RAISE EXCEPTION 'injected failure' USING ERRCODE = '{errcode}';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER reseal_fails_once BEFORE UPDATE ON payments.stripe_settings
            FOR EACH ROW EXECUTE FUNCTION payments.reseal_fails_once();
        """,
    )

    async def attempts() -> int:
        conn = await asyncpg.connect(payments.infra.admin_dsn())
        try:
            return int(await conn.fetchval("SELECT last_value FROM payments.reseal_attempts"))
        finally:
            await conn.close()

    try:
        yield attempts
    finally:
        await admin_execute(
            payments,
            "DROP TRIGGER reseal_fails_once ON payments.stripe_settings; "
            "DROP FUNCTION payments.reseal_fails_once(); DROP SEQUENCE payments.reseal_attempts",
        )


async def test_a_failed_reseal_is_tried_again_until_it_is_done(payments: Payments) -> None:
    tenant, healthy = await secret_in_clear(payments), await secret_in_clear(payments)
    sealer = Sealer.from_setting(f"t1:{SECRET_KEY}")
    pool = payments.runtime.require_pool()
    async with first_write_fails(payments, tenant, "P0001") as attempts:
        # One pass: the failing tenant does not keep the others in clear.
        with pytest.raises(ResealIncomplete):
            await reseal_all(pool, sealer)
        assert (await stored(payments, healthy))["webhook_secret"] is None
        assert (await stored(payments, tenant))["webhook_secret"] == SECRET
        await asyncio.wait_for(reseal_until_done(pool, sealer, first_delay_s=0.05), timeout=10)
        tried = await attempts()
    row = await stored(payments, tenant)
    assert tried == 2
    assert row["webhook_secret"] is None
    assert sealer.open(row["webhook_secret_sealed"], secret_context(tenant)) == SECRET


async def test_a_reseal_stops_its_pass_when_the_database_fails_and_retries_it(
    payments: Payments,
) -> None:
    tenant = await secret_in_clear(payments)
    sealer = Sealer.from_setting(f"t1:{SECRET_KEY}")
    pool = payments.runtime.require_pool()
    # 40001 (serialization failure) is one of the errors for which the whole pass is
    # retried rather than carried on tenant by tenant.
    async with first_write_fails(payments, tenant, "40001") as attempts:
        with pytest.raises(asyncpg.exceptions.SerializationError):
            await reseal_all(pool, sealer)
        await asyncio.wait_for(reseal_until_done(pool, sealer, first_delay_s=0.05), timeout=10)
        tried = await attempts()
    assert tried == 2
    assert (await stored(payments, tenant))["webhook_secret"] is None
