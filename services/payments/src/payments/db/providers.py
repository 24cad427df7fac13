"""Provider settings (the webhook secret) and the provider events already handled."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from payments.domain.providers import ProviderEvent, StripeSettings
from servicekit import rows
from servicekit.db import Connection

EVENTS = "provider_events"


async def stripe_settings(conn: Connection) -> StripeSettings | None:
    found = await conn.fetchrow(
        "SELECT tenant_id, webhook_secret, version, updated_at FROM stripe_settings"
    )
    return None if found is None else rows.from_row(StripeSettings, found)


async def put_stripe_settings(
    conn: Connection, tenant_id: UUID, webhook_secret: str, now: datetime
) -> StripeSettings:
    found = await conn.fetchrow(
        "INSERT INTO stripe_settings AS s (tenant_id, webhook_secret, version, updated_at) "
        "VALUES ($1, $2, 1, $3) ON CONFLICT (tenant_id) DO UPDATE SET "
        "webhook_secret = EXCLUDED.webhook_secret, version = s.version + 1, "
        "updated_at = EXCLUDED.updated_at "
        "RETURNING tenant_id, webhook_secret, version, updated_at",
        tenant_id,
        webhook_secret,
        now,
    )
    assert found is not None  # an upsert always returns its row
    return rows.from_row(StripeSettings, found)


async def delete_stripe_settings(conn: Connection) -> bool:
    return (await conn.execute("DELETE FROM stripe_settings")) != "DELETE 0"


async def claim_event(conn: Connection, event: ProviderEvent) -> bool:
    """False when the event was handled before: a redelivery or a replay."""
    return await rows.insert(conn, EVENTS, event)


async def event(conn: Connection, provider: str, event_id: str) -> ProviderEvent | None:
    found = await conn.fetchrow(
        f"SELECT {', '.join(rows.columns(ProviderEvent))} FROM provider_events "
        "WHERE provider = $1 AND event_id = $2",
        provider,
        event_id,
    )
    return None if found is None else rows.from_row(ProviderEvent, found)
