"""Stored invoices as printable documents: the figures are the stored ones, never recomputed."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from invoicing.domain.credit_notes import CreditNote, CreditNoteLine
from invoicing.domain.invoices import Invoice, InvoiceLine
from invoicing.domain.periods import local_date
from invoicing.views.pdf import Document, DocumentLine, Party, TaxSummary

_TREATMENT_LABELS = {
    "zero_rated": "zero-rated",
    "reverse_charge": "reverse charge",
    "exempt": "exempt",
}


def tax_label(line: InvoiceLine | CreditNoteLine) -> str | None:
    if line.tax_name is None:
        return None
    marked = _TREATMENT_LABELS.get(line.tax_treatment or "")
    return f"{line.tax_name} ({marked})" if marked else line.tax_name


def _party(block: dict[str, Any] | None, fallback: str) -> Party:
    block = block or {}
    return Party(
        name=block.get("name") or fallback,
        address=block.get("billing_address") or block.get("address"),
        tax_id=block.get("tax_id"),
        emails=tuple(block.get("contact_emails") or ()),
    )


def _issued_on(issued_at: datetime | None, seller: dict[str, Any] | None) -> date:
    assert issued_at is not None
    zone = (seller or {}).get("timezone") or "UTC"
    return local_date(issued_at, ZoneInfo(zone))


def invoice_document(invoice: Invoice, lines: Sequence[InvoiceLine]) -> Document:
    """An issued or void invoice, as printed."""
    assert invoice.number is not None
    taxes: dict[str, list[int]] = {}
    for line in lines:
        label = tax_label(line)
        if label is not None:
            sums = taxes.setdefault(label, [0, 0])
            sums[0] += line.amount_minor - line.discount_minor
            sums[1] += line.tax_minor
    seller = invoice.seller_snapshot or {}
    return Document(
        kind="invoice",
        number=invoice.number,
        issued_on=_issued_on(invoice.issued_at, invoice.seller_snapshot),
        due_date=invoice.due_date,
        period_start=invoice.period_start,
        period_end=invoice.period_end,
        currency=invoice.currency,
        seller=_party(seller, "Seller"),
        client=_party(invoice.client_snapshot, "Client"),
        lines=tuple(
            DocumentLine(
                description=line.description,
                quantity=line.quantity,
                unit=line.unit,
                unit_amount_minor=line.unit_amount_minor,
                amount_minor=line.amount_minor,
                discount_minor=line.discount_minor,
                tax_label=tax_label(line),
                tax_minor=line.tax_minor,
            )
            for line in lines
        ),
        subtotal_minor=invoice.subtotal_minor,
        discount_minor=invoice.discount_minor,
        tax_minor=invoice.tax_minor,
        total_minor=invoice.total_minor,
        taxes=tuple(TaxSummary(label, base, tax) for label, (base, tax) in taxes.items()),
        amount_paid_minor=invoice.amount_paid_minor + invoice.amount_credited_minor,
        balance_minor=invoice.balance_minor,
        notes=invoice.notes,
        payment_instructions=seller.get("payment_instructions"),
        status_label="VOID" if invoice.status == "void" else None,
    )


def credit_note_document(note: CreditNote, lines: Sequence[CreditNoteLine]) -> Document:
    taxes: dict[str, list[int]] = {}
    for line in lines:
        label = tax_label(line)
        if label is not None:
            sums = taxes.setdefault(label, [0, 0])
            sums[0] += line.amount_minor
            sums[1] += line.tax_minor
    return Document(
        kind="credit_note",
        number=note.number,
        issued_on=_issued_on(note.issued_at, note.seller_snapshot),
        due_date=None,
        period_start=None,
        period_end=None,
        currency=note.currency,
        seller=_party(note.seller_snapshot, "Seller"),
        client=_party(note.client_snapshot, "Client"),
        lines=tuple(
            DocumentLine(
                description=line.description,
                quantity=Decimal(1),
                unit="",
                unit_amount_minor=line.amount_minor,
                amount_minor=line.amount_minor,
                discount_minor=0,
                tax_label=tax_label(line),
                tax_minor=line.tax_minor,
            )
            for line in lines
        ),
        subtotal_minor=note.subtotal_minor,
        discount_minor=0,
        tax_minor=note.tax_minor,
        total_minor=note.total_minor,
        taxes=tuple(TaxSummary(label, base, tax) for label, (base, tax) in taxes.items()),
        original_number=note.invoice_number,
        notes=note.reason,
    )
