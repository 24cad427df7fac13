"""Tax rates a tenant defines; lines copy the rate at drafting so issued figures never move."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from uuid import UUID

from invoicing.domain.pricing import Tax, Treatment


@dataclass(frozen=True, slots=True)
class TaxRate:
    tenant_id: UUID
    id: UUID
    name: str
    percent: Decimal
    treatment: Treatment
    archived: bool
    version: int
    created_at: datetime
    updated_at: datetime

    def as_tax(self) -> Tax:
        return Tax(rate_id=self.id, name=self.name, percent=self.percent, treatment=self.treatment)
