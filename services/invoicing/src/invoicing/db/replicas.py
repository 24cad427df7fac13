"""Client and project replicas; the version guard makes replays and reordering harmless."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from uuid import UUID

from contracts.events.clients import ClientState
from contracts.events.projects import ProjectState
from servicekit.db import Connection

UPSERT_CLIENT = """
INSERT INTO client_replicas AS c (tenant_id, client_id, version, name, currency,
    payment_terms_days, contact_emails, billing_address, tax_id, default_tax_rate_id, archived,
    deleted)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)
ON CONFLICT (tenant_id, client_id) DO UPDATE SET
    version = EXCLUDED.version, name = EXCLUDED.name, currency = EXCLUDED.currency,
    payment_terms_days = EXCLUDED.payment_terms_days, contact_emails = EXCLUDED.contact_emails,
    billing_address = EXCLUDED.billing_address, tax_id = EXCLUDED.tax_id,
    default_tax_rate_id = EXCLUDED.default_tax_rate_id, archived = EXCLUDED.archived,
    deleted = EXCLUDED.deleted
WHERE c.version < EXCLUDED.version
"""

UPSERT_PROJECT = """
INSERT INTO project_replicas AS p (tenant_id, project_id, version, client_id, name, code,
    rounding_increment_minutes, rounding_mode, archived, deleted)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
ON CONFLICT (tenant_id, project_id) DO UPDATE SET
    version = EXCLUDED.version, client_id = EXCLUDED.client_id, name = EXCLUDED.name,
    code = EXCLUDED.code, rounding_increment_minutes = EXCLUDED.rounding_increment_minutes,
    rounding_mode = EXCLUDED.rounding_mode, archived = EXCLUDED.archived,
    deleted = EXCLUDED.deleted
WHERE p.version < EXCLUDED.version
"""


@dataclass(frozen=True, slots=True)
class ClientReplica:
    client_id: UUID
    version: int
    name: str
    currency: str
    payment_terms_days: int
    contact_emails: tuple[str, ...]
    billing_address: str | None
    tax_id: str | None
    default_tax_rate_id: UUID | None
    archived: bool
    deleted: bool

    def snapshot(self) -> dict[str, object]:
        """The client block as printed on an invoice, frozen at issue."""
        return {
            "name": self.name,
            "billing_address": self.billing_address,
            "tax_id": self.tax_id,
            "contact_emails": list(self.contact_emails),
        }


async def record_client(conn: Connection, tenant_id: UUID, s: ClientState) -> None:
    await conn.execute(
        UPSERT_CLIENT,
        tenant_id,
        s.client_id,
        s.version,
        s.name,
        s.currency,
        s.payment_terms_days,
        s.contact_emails,
        s.billing_address,
        s.tax_id,
        s.default_tax_rate_id,
        s.archived,
        s.deleted,
    )


async def record_project(conn: Connection, tenant_id: UUID, s: ProjectState) -> None:
    await conn.execute(
        UPSERT_PROJECT,
        tenant_id,
        s.project_id,
        s.version,
        s.client_id,
        s.name,
        s.code,
        s.rounding_increment_minutes,
        s.rounding_mode,
        s.archived,
        s.deleted,
    )


async def client(conn: Connection, client_id: UUID) -> ClientReplica | None:
    return (await clients(conn, [client_id])).get(client_id)


async def clients(conn: Connection, client_ids: Sequence[UUID]) -> dict[UUID, ClientReplica]:
    """The replicas of these clients that are not deleted, in one statement."""
    found = await conn.fetch(
        "SELECT client_id, version, name, currency, payment_terms_days, contact_emails, "
        "billing_address, tax_id, default_tax_rate_id, archived, deleted "
        "FROM client_replicas WHERE client_id = ANY($1::uuid[]) AND NOT deleted",
        list(client_ids),
    )
    return {
        r["client_id"]: ClientReplica(**{**dict(r), "contact_emails": tuple(r["contact_emails"])})
        for r in found
    }
