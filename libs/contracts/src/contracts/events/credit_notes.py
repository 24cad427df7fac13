"""Payload of `credit_note.issued` (topic `credit-note-issued`)."""

from __future__ import annotations

from typing import Self
from uuid import UUID

from pydantic import AwareDatetime, Field, model_validator

from contracts.events.base import ContractModel
from contracts.events.invoices import InvoiceLine, check_totals
from contracts.money import CurrencyCode

__all__ = ["CreditNoteIssued"]


class CreditNoteIssued(ContractModel):
    """A credit note against an issued invoice; its total reduces that invoice's balance."""

    credit_note_id: UUID = Field(description="The credit note.")
    number: str = Field(min_length=1, description="Number from the tenant's credit-note series.")
    invoice_id: UUID = Field(description="Invoice credited; message key on `credit-note-issued`.")
    invoice_number: str = Field(min_length=1, description="Number of the invoice credited.")
    client_id: UUID = Field(description="Client credited.")
    currency: CurrencyCode = Field(description="ISO 4217 code; the invoice's currency.")
    issued_at: AwareDatetime = Field(description="When the credit note was issued.")
    reason: str | None = Field(default=None, description="Why, free text.")
    lines: list[InvoiceLine] = Field(description="Credited lines, amounts positive.")
    subtotal_minor: int = Field(description="Sum of the lines' `amount_minor`.")
    discount_minor: int = Field(description="Sum of the lines' `discount_minor`.")
    tax_minor: int = Field(description="Sum of the lines' `tax_minor`.")
    total_minor: int = Field(gt=0, description="subtotal - discount + tax: the amount credited.")

    @model_validator(mode="after")
    def _totals_add_up(self) -> Self:
        check_totals(
            self.lines, self.subtotal_minor, self.discount_minor, self.tax_minor, self.total_minor
        )
        return self
