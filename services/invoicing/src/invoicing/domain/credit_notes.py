"""Credit notes: what may still be credited on each invoice line, and the credit's tax.

A line can be credited up to its taxable amount (amount - discount) and its tax, less what
earlier credit notes took. A partial credit takes tax in proportion, rounded half-up, never
more than the tax left; crediting the rest of a line takes exactly the rest of its tax. So
however an invoice is credited, in one note or many, the credits never pass its total, and a
full credit after partial ones lands on it exactly.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from uuid import UUID

from invoicing.domain.errors import FieldInvalid, NothingToBill
from invoicing.domain.invoices import InvoiceLine


@dataclass(frozen=True, slots=True)
class CreditNote:
    tenant_id: UUID
    id: UUID
    invoice_id: UUID
    invoice_number: str
    client_id: UUID
    currency: str
    number: str
    reason: str | None
    subtotal_minor: int
    tax_minor: int
    total_minor: int
    client_snapshot: dict[str, Any]
    seller_snapshot: dict[str, Any]
    version: int
    created_at: datetime
    issued_at: datetime


@dataclass(frozen=True, slots=True)
class CreditNoteLine:
    tenant_id: UUID
    credit_note_id: UUID
    id: UUID
    position: int
    invoice_line_id: UUID
    description: str
    project_id: UUID | None
    amount_minor: int
    tax_rate_id: UUID | None
    tax_name: str | None
    tax_percent: Decimal | None
    tax_treatment: str | None
    tax_minor: int


@dataclass(frozen=True, slots=True)
class Credited:
    """What earlier credit notes took from one invoice line."""

    amount_minor: int = 0
    tax_minor: int = 0


@dataclass(frozen=True, slots=True)
class LineCredit:
    line: InvoiceLine
    amount_minor: int
    tax_minor: int


def _left(line: InvoiceLine, done: Credited) -> tuple[int, int]:
    taxable = line.amount_minor - line.discount_minor
    return taxable - done.amount_minor, line.tax_minor - done.tax_minor


def credits_for(
    lines: Sequence[InvoiceLine],
    credited: Mapping[UUID, Credited],
    requested: Sequence[tuple[UUID, int]] | None,
) -> list[LineCredit]:
    """The credit per line: `requested` (line id, net amount) pairs, or None for everything
    left on every line."""
    by_id = {line.id: line for line in lines}
    if requested is None:
        full = []
        for each in lines:
            amount_left, tax_left = _left(each, credited.get(each.id, Credited()))
            if amount_left != 0 or tax_left != 0:
                full.append(LineCredit(each, amount_left, tax_left))
        if sum(c.amount_minor + c.tax_minor for c in full) <= 0:
            raise NothingToBill("everything on this invoice is already credited")
        return full
    seen: set[UUID] = set()
    result = []
    for i, (line_id, amount) in enumerate(requested):
        line = by_id.get(line_id)
        if line is None:
            raise FieldInvalid(f"lines/{i}/invoice_line_id", f"no line {line_id} on this invoice")
        if line_id in seen:
            raise FieldInvalid(f"lines/{i}/invoice_line_id", "each line once per credit note")
        seen.add(line_id)
        amount_left, tax_left = _left(line, credited.get(line_id, Credited()))
        if amount <= 0 or amount > amount_left:
            raise FieldInvalid(
                f"lines/{i}/amount_minor", f"must be between 1 and {max(amount_left, 0)}"
            )
        result.append(LineCredit(line, amount, _tax(line, amount, amount_left, tax_left)))
    return result


def check_within_total(
    credits: Sequence[LineCredit], credited_total: int, invoice_total: int
) -> None:
    """Credits so far plus these never pass the invoice's total."""
    total = sum(c.amount_minor + c.tax_minor for c in credits)
    if credited_total + total > invoice_total:
        raise FieldInvalid(
            "lines",
            f"credits would reach {credited_total + total}, more than the invoice total "
            f"{invoice_total}",
        )


def _tax(line: InvoiceLine, amount: int, amount_left: int, tax_left: int) -> int:
    if amount == amount_left:
        return tax_left
    taxable = line.amount_minor - line.discount_minor
    if taxable <= 0 or line.tax_minor <= 0:
        return 0
    share = (Decimal(amount) * line.tax_minor / taxable).to_integral_value(rounding=ROUND_HALF_UP)
    return min(int(share), tax_left)
