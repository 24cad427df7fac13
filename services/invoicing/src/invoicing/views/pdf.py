"""Invoices and credit notes as PDF: a Jinja2 template rendered by WeasyPrint.

Rendering is offline: the template carries its own CSS, uses only installed fonts, and the
URL fetcher refuses every URL (http, file, data), so no document can make the service reach
the network or read a local file.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from functools import partial
from typing import Final, Literal

from jinja2 import Environment, PackageLoader, StrictUndefined

from contracts.money import Money

# Without libharfbuzz-subset WeasyPrint warns at import (it subsets fonts with fontTools
# instead); deploy/local/install-deps.sh installs the library, this keeps the warning from
# failing a process that turns warnings into errors where it is missing.
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "HarfBuzz-Subset", DeprecationWarning)
    from weasyprint import HTML  # type: ignore[import-untyped]
    from weasyprint.urls import (  # type: ignore[import-untyped]
        FatalURLFetchingError,
        URLFetcher,
    )

__all__ = [
    "Document",
    "DocumentLine",
    "Party",
    "PdfResourceRefused",
    "TaxSummary",
    "format_money",
    "render_html",
    "render_pdf",
]


@dataclass(frozen=True, slots=True)
class Party:
    """The seller or the client as printed on a document."""

    name: str
    address: str | None = None
    tax_id: str | None = None
    emails: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class DocumentLine:
    """One billed line; amounts are minor units of the document's currency."""

    description: str
    quantity: Decimal
    unit: str
    unit_amount_minor: int
    amount_minor: int
    discount_minor: int
    tax_label: str | None
    tax_minor: int


@dataclass(frozen=True, slots=True)
class TaxSummary:
    """Tax owed under one label, and the amount it is levied on."""

    label: str
    taxable_minor: int
    tax_minor: int


@dataclass(frozen=True, slots=True)
class Document:
    """Everything printed on an invoice or a credit note, already computed."""

    kind: Literal["invoice", "credit_note"]
    number: str
    issued_on: date
    due_date: date | None
    period_start: date | None
    period_end: date | None
    currency: str
    seller: Party
    client: Party
    lines: tuple[DocumentLine, ...]
    subtotal_minor: int
    discount_minor: int
    tax_minor: int
    total_minor: int
    taxes: tuple[TaxSummary, ...] = ()
    amount_paid_minor: int = 0
    balance_minor: int | None = None
    original_number: str | None = None
    notes: str | None = None
    payment_instructions: str | None = None
    status_label: str | None = None


class PdfResourceRefused(RuntimeError):
    """The rendered HTML referred to an external resource, which rendering never fetches."""


_TITLES: Final = {"invoice": "Invoice", "credit_note": "Credit note"}

_templates: Final = Environment(
    loader=PackageLoader("invoicing.views", "templates"),
    autoescape=True,
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def format_money(amount_minor: int, currency: str) -> str:
    """`1,234.50 USD`: grouped thousands and exactly the currency's decimals (JPY 0, KWD 3)."""
    money = Money(amount_minor, currency)
    return f"{money.to_decimal():,.{money.exponent}f} {currency}"


def _format_quantity(quantity: Decimal, unit: str) -> str:
    # Format "f" so that Decimal("1E+1") prints as 10, keeping the given decimals (7.50 h).
    number = f"{quantity:f}"
    return f"{number} {unit}" if unit else number


def render_html(doc: Document) -> str:
    """The document as a self-contained HTML page, every value escaped."""
    return _templates.get_template("document.html").render(
        doc=doc,
        title=f"{_TITLES[doc.kind]} {doc.number}",
        money=partial(format_money, currency=doc.currency),
        quantity=_format_quantity,
    )


def _write_pdf(html: str) -> bytes:
    # An empty protocol set makes WeasyPrint's own fetcher refuse every URL before opening
    # it; failing on errors turns a refused resource into an error instead of a gap.
    fetcher = URLFetcher(allowed_protocols=frozenset(), fail_on_errors=True)
    try:
        pdf: bytes = HTML(string=html, url_fetcher=fetcher).write_pdf()
    except FatalURLFetchingError as exc:
        raise PdfResourceRefused(str(exc)) from exc
    return pdf


def render_pdf(doc: Document) -> bytes:
    """The document as an A4 PDF."""
    return _write_pdf(render_html(doc))
