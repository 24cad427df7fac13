"""Payloads of the invoice stream: issued, voided, paid, overdue, written off."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Self
from uuid import UUID

from pydantic import AwareDatetime, Field, model_validator

from contracts.events.base import ContractModel, JsonDecimal
from contracts.money import CurrencyCode

__all__ = [
    "InvoiceIssued",
    "InvoiceLine",
    "InvoiceOverdue",
    "InvoicePaid",
    "InvoiceVoided",
    "InvoiceWrittenOff",
    "check_totals",
]


class InvoiceLine(ContractModel):
    """One line of an issued invoice; amounts in minor units of the invoice currency."""

    line_id: UUID = Field(description="The line.")
    description: str = Field(description="Text printed on the invoice.")
    project_id: UUID | None = Field(description="Project the line bills, if any.")
    quantity: JsonDecimal = Field(description="Quantity (hours, units), as a decimal string.")
    unit_amount_minor: int = Field(description="Price of one unit in minor units.")
    amount_minor: int = Field(
        description="quantity x unit price, rounded once half away from zero, before discount."
    )
    discount_minor: int = Field(description="Discount on this line, subtracted from amount.")
    tax_rate_id: UUID | None = Field(description="Tax rate applied, if any.")
    tax_rate_percent: JsonDecimal | None = Field(
        description='Tax rate in percent at issue time (e.g. "20"), as a decimal string.'
    )
    tax_minor: int = Field(description="Tax on this line in minor units.")
    time_entry_ids: list[UUID] = Field(
        default=[], description="Time entries billed on this line; each also in the invoice's."
    )


def check_totals(
    lines: Sequence[InvoiceLine], subtotal: int, discount: int, tax: int, total: int
) -> None:
    """The document's totals are the sums of its lines, and total = subtotal - discount + tax."""
    for name, value, expected in (
        ("subtotal_minor", subtotal, sum(line.amount_minor for line in lines)),
        ("discount_minor", discount, sum(line.discount_minor for line in lines)),
        ("tax_minor", tax, sum(line.tax_minor for line in lines)),
    ):
        if value != expected:
            raise ValueError(f"{name} is {value}, lines sum to {expected}")
    if total != subtotal - discount + tax:
        raise ValueError(f"total_minor is {total}, expected {subtotal - discount + tax}")


class InvoiceIssued(ContractModel):
    """An invoice as issued; totals are the sums of its lines."""

    invoice_id: UUID = Field(description="The invoice; message key on `invoice-issued`.")
    number: str = Field(min_length=1, description="Invoice number from the tenant's series.")
    client_id: UUID = Field(description="Client billed.")
    currency: CurrencyCode = Field(description="ISO 4217 code of every amount on the invoice.")
    issued_at: AwareDatetime = Field(description="When the invoice was issued.")
    due_date: date = Field(description="Date payment is due.")
    period_start: date | None = Field(description="First day of the billed period, if any.")
    period_end: date | None = Field(description="Last day of the billed period, if any.")
    lines: list[InvoiceLine] = Field(description="Invoice lines, in print order.")
    subtotal_minor: int = Field(description="Sum of the lines' `amount_minor`.")
    discount_minor: int = Field(description="Sum of the lines' `discount_minor`.")
    tax_minor: int = Field(description="Sum of the lines' `tax_minor`.")
    total_minor: int = Field(description="subtotal - discount + tax: the amount owed.")
    time_entry_ids: list[UUID] = Field(
        description="Every time entry billed by this invoice, each once; they become locked."
    )

    @model_validator(mode="after")
    def _totals_add_up(self) -> Self:
        check_totals(
            self.lines, self.subtotal_minor, self.discount_minor, self.tax_minor, self.total_minor
        )
        return self

    @model_validator(mode="after")
    def _each_entry_billed_once(self) -> Self:
        # A time entry listed twice, or on a line but not locked via the invoice list, would be
        # billed twice.
        if len(set(self.time_entry_ids)) != len(self.time_entry_ids):
            raise ValueError("time_entry_ids contains duplicates")
        on_lines = [entry for line in self.lines for entry in line.time_entry_ids]
        if len(set(on_lines)) != len(on_lines):
            raise ValueError("a time entry appears on more than one line")
        if not set(on_lines) <= set(self.time_entry_ids):
            raise ValueError("every line's time entries must be in the invoice's time_entry_ids")
        return self

    @model_validator(mode="after")
    def _period_in_order(self) -> Self:
        if self.period_start and self.period_end and self.period_end < self.period_start:
            raise ValueError("period_end is before period_start")
        return self


class InvoiceVoided(ContractModel):
    """An issued invoice was voided: it keeps its number, and its time entries are unlocked."""

    invoice_id: UUID = Field(description="The invoice; message key on `invoice-voided`.")
    number: str = Field(min_length=1, description="The number it was issued with, kept.")
    client_id: UUID = Field(description="Client that was billed.")
    voided_at: AwareDatetime = Field(description="When the invoice was voided.")
    reason: str | None = Field(default=None, description="Why it was voided, free text.")
    time_entry_ids: list[UUID] = Field(
        description="Time entries the invoice billed; they may be edited and billed again."
    )


class InvoicePaid(ContractModel):
    """Payments (net of refunds) plus credit notes reached the invoice total."""

    invoice_id: UUID = Field(description="The invoice; message key on `invoice-paid`.")
    number: str = Field(min_length=1, description="Invoice number.")
    client_id: UUID = Field(description="Client billed.")
    currency: CurrencyCode = Field(description="ISO 4217 code of the amounts.")
    total_minor: int = Field(description="Invoice total in minor units.")
    amount_paid_minor: int = Field(description="Payments net of refunds, in minor units.")
    amount_credited_minor: int = Field(description="Credit notes against it, in minor units.")
    paid_at: AwareDatetime = Field(description="When the last payment made it paid.")


class InvoiceOverdue(ContractModel):
    """An issued invoice passed its due date with a balance; published once per invoice."""

    invoice_id: UUID = Field(description="The invoice; message key on `invoice-overdue`.")
    number: str = Field(min_length=1, description="Invoice number.")
    client_id: UUID = Field(description="Client billed.")
    currency: CurrencyCode = Field(description="ISO 4217 code of the amounts.")
    due_date: date = Field(description="The date payment was due.")
    balance_minor: int = Field(gt=0, description="What is still owed, in minor units.")
    overdue_at: AwareDatetime = Field(description="When the overdue job marked it.")


class InvoiceWrittenOff(ContractModel):
    """The rest of an issued invoice's balance was written off as uncollectible."""

    invoice_id: UUID = Field(description="The invoice; message key on `invoice-written-off`.")
    number: str = Field(min_length=1, description="Invoice number.")
    client_id: UUID = Field(description="Client billed.")
    currency: CurrencyCode = Field(description="ISO 4217 code of the amounts.")
    amount_minor: int = Field(gt=0, description="Balance written off, in minor units.")
    written_off_at: AwareDatetime = Field(description="When it was written off.")
    reason: str | None = Field(default=None, description="Why, free text.")
