"""Clients: who is billed, in which currency, on which terms."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True, slots=True)
class Client:
    tenant_id: UUID
    id: UUID
    name: str
    contact_emails: tuple[str, ...]
    billing_address: str | None
    currency: str
    payment_terms_days: int
    tax_id: str | None
    default_tax_rate_id: UUID | None
    notes: str
    archived: bool
    version: int
    created_at: datetime
    updated_at: datetime
