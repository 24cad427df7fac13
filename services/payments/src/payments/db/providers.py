"""Provider settings (the webhook secret) and the provider events already handled."""

from __future__ import annotations

import logging
from datetime import datetime
from uuid import UUID

import asyncpg

from payments.domain.providers import (
    ProviderEvent,
    RefundState,
    SecretUnreadable,
    StripeSettings,
)
from payments.domain.stripe import PAYMENT_SUCCEEDED
from servicekit import rows
from servicekit.db import Connection
from servicekit.sealing import Sealer, SealingError

log = logging.getLogger(__name__)

EVENTS = "provider_events"


_SETTINGS = "tenant_id, webhook_secret, webhook_secret_sealed, version, updated_at"


def secret_context(tenant_id: UUID) -> bytes:
    """What a sealed secret is bound to: this column of this tenant's row."""
    return f"payments.stripe_settings.webhook_secret:{tenant_id}".encode()


def _opened(found: asyncpg.Record, sealer: Sealer) -> StripeSettings:
    sealed = found["webhook_secret_sealed"]
    if sealed is None:
        secret = found["webhook_secret"]  # set before sealing; sealed at the next start
    else:
        try:
            secret = sealer.open(sealed, secret_context(found["tenant_id"]))
        except SealingError as exc:
            # The why (key ids) goes to the log only: the webhook answers anyone.
            tenant = str(found["tenant_id"])
            log.error("provider secret unreadable", extra={"tenant": tenant, "why": str(exc)})
            raise SecretUnreadable(
                "the stored secret does not open with this service's keys; an operator must "
                "list its key in PAYMENTS_SECRET_KEYS, or the tenant set the secret again"
            ) from None
    return StripeSettings(found["tenant_id"], secret, found["version"], found["updated_at"])


async def stripe_settings(conn: Connection, sealer: Sealer) -> StripeSettings | None:
    found = await conn.fetchrow(f"SELECT {_SETTINGS} FROM stripe_settings")
    return None if found is None else _opened(found, sealer)


async def put_stripe_settings(
    conn: Connection, sealer: Sealer, tenant_id: UUID, webhook_secret: str, now: datetime
) -> StripeSettings:
    found = await conn.fetchrow(
        "INSERT INTO stripe_settings AS s (tenant_id, webhook_secret_sealed, version, "
        "updated_at) VALUES ($1, $2, 1, $3) ON CONFLICT (tenant_id) DO UPDATE SET "
        "webhook_secret = NULL, webhook_secret_sealed = EXCLUDED.webhook_secret_sealed, "
        f"version = s.version + 1, updated_at = EXCLUDED.updated_at RETURNING {_SETTINGS}",
        tenant_id,
        sealer.seal(webhook_secret, secret_context(tenant_id)),
        now,
    )
    assert found is not None  # an upsert always returns its row
    return _opened(found, sealer)


async def tenants_to_reseal(conn: Connection, sealer: Sealer) -> list[UUID]:
    """Tenants whose secret is in clear or sealed by another key than the current one; read
    across tenants through the `job_scan` policy."""
    await conn.execute("SELECT set_config('billstream.job_scan', 'on', true)")
    found = await conn.fetch(
        "SELECT tenant_id FROM stripe_settings WHERE webhook_secret IS NOT NULL "
        "OR split_part(webhook_secret_sealed, '.', 2) <> $1",
        sealer.current,
    )
    return [r["tenant_id"] for r in found]


async def reseal(conn: Connection, sealer: Sealer) -> bool:
    """The tenant's secret sealed by the current key, its version kept (the secret is the
    same); False when there was nothing to do."""
    found = await conn.fetchrow(f"SELECT {_SETTINGS} FROM stripe_settings FOR UPDATE")
    if found is None:
        return False
    sealed = found["webhook_secret_sealed"]
    if sealed is not None and not sealer.needs_resealing(sealed):
        return False
    opened = _opened(found, sealer)
    await conn.execute(
        "UPDATE stripe_settings SET webhook_secret = NULL, webhook_secret_sealed = $1 "
        "WHERE tenant_id = $2",
        sealer.seal(opened.webhook_secret, secret_context(opened.tenant_id)),
        opened.tenant_id,
    )
    return True


async def delete_stripe_settings(conn: Connection) -> bool:
    return (await conn.execute("DELETE FROM stripe_settings")) != "DELETE 0"


async def claim_event(conn: Connection, event: ProviderEvent) -> bool:
    """False when the event was handled before: a redelivery or a replay."""
    return await rows.insert(conn, EVENTS, event)


async def event_by_id(conn: Connection, event_uuid: UUID, *, lock: bool) -> ProviderEvent | None:
    found = await conn.fetchrow(
        f"SELECT {', '.join(rows.columns(ProviderEvent))} FROM provider_events "
        f"WHERE id = $1{' FOR UPDATE' if lock else ''}",
        event_uuid,
    )
    return None if found is None else rows.from_row(ProviderEvent, found)


async def rejected_intent(conn: Connection, payment_id: UUID) -> ProviderEvent | None:
    """The first rejected `payment_intent.succeeded` naming this payment, unresolved ones
    first, if any."""
    found = await conn.fetchrow(
        f"SELECT {', '.join(rows.columns(ProviderEvent))} FROM provider_events "
        "WHERE payment_id = $1 AND outcome = 'rejected' AND type = $2 "
        "ORDER BY resolved_at IS NOT NULL, created_at, id LIMIT 1",
        payment_id,
        PAYMENT_SUCCEEDED,
    )
    return None if found is None else rows.from_row(ProviderEvent, found)


async def resolve_event(conn: Connection, resolved: ProviderEvent) -> None:
    await conn.execute(
        "UPDATE provider_events SET resolved_at = $2, resolved_by = $3, resolution_note = $4 "
        "WHERE id = $1",
        resolved.id,
        resolved.resolved_at,
        resolved.resolved_by,
        resolved.resolution_note,
    )


async def event(conn: Connection, provider: str, event_id: str) -> ProviderEvent | None:
    found = await conn.fetchrow(
        f"SELECT {', '.join(rows.columns(ProviderEvent))} FROM provider_events "
        "WHERE provider = $1 AND event_id = $2",
        provider,
        event_id,
    )
    return None if found is None else rows.from_row(ProviderEvent, found)


async def refund_state(
    conn: Connection, tenant_id: UUID, provider: str, refund_ref: str, now: datetime
) -> tuple[RefundState, int | None]:
    """(what the provider's refund became so far, the amount recorded), its row locked until
    the transaction ends; 'seen' for one not met before."""
    found = await conn.fetchrow(
        "INSERT INTO provider_refunds AS r (tenant_id, provider, refund_ref, state, updated_at) "
        "VALUES ($1, $2, $3, 'seen', $4) ON CONFLICT (tenant_id, provider, refund_ref) "
        "DO UPDATE SET refund_ref = r.refund_ref RETURNING state, amount_minor",
        tenant_id,
        provider,
        refund_ref,
        now,
    )
    assert found is not None  # an upsert always returns its row
    return found["state"], found["amount_minor"]


async def rejected_event_payment_id(conn: Connection, refund_id: UUID) -> UUID | None:
    """The payment a rejected event about this refund named (the PaymentIntent's)."""
    found: UUID | None = await conn.fetchval(
        "SELECT payment_id FROM provider_events WHERE refund_id = $1 AND outcome = 'rejected' "
        "AND payment_id IS NOT NULL ORDER BY created_at LIMIT 1",
        refund_id,
    )
    return found


async def set_refund_state(  # noqa: PLR0917
    conn: Connection,
    tenant_id: UUID,
    provider: str,
    refund_ref: str,
    state: RefundState,
    now: datetime,
    refund_id: UUID | None = None,
    amount_minor: int | None = None,
) -> None:
    await conn.execute(
        "UPDATE provider_refunds SET state = $3, updated_at = $4, "
        "refund_id = coalesce($5, refund_id), amount_minor = coalesce($6, amount_minor) "
        "WHERE tenant_id = $7 AND provider = $1 AND refund_ref = $2",
        provider,
        refund_ref,
        state,
        now,
        refund_id,
        amount_minor,
        tenant_id,
    )
