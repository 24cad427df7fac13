"""A tenant's invoicing settings; a tenant that never set them gets the defaults."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from invoicing.domain.pricing import TaxRounding

EPOCH = datetime.fromisoformat("1970-01-01T00:00:00+00:00")


@dataclass(frozen=True, slots=True)
class InvoiceSettings:
    tenant_id: UUID
    timezone: str = "UTC"
    tax_rounding: TaxRounding = "per_document"
    invoice_prefix: str = "INV"
    credit_note_prefix: str = "CN"
    seller_name: str | None = None
    seller_address: str | None = None
    seller_tax_id: str | None = None
    payment_instructions: str | None = None
    version: int = 0
    updated_at: datetime = EPOCH

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def seller_snapshot(self) -> dict[str, object]:
        return {
            "name": self.seller_name,
            "address": self.seller_address,
            "tax_id": self.seller_tax_id,
            "payment_instructions": self.payment_instructions,
            "timezone": self.timezone,
        }
