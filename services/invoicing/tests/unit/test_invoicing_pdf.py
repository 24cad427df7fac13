"""Invoice and credit note PDFs: content, escaping, offline rendering, money formatting."""

from __future__ import annotations

import dataclasses
import io
from datetime import date
from decimal import Context, Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pypdf import PdfReader

from contracts.money import CURRENCY_EXPONENTS
from invoicing.views.pdf import (
    Document,
    DocumentLine,
    Party,
    PdfResourceRefused,
    TaxSummary,
    _write_pdf,
    format_money,
    render_html,
    render_pdf,
)

LINES = (
    DocumentLine(
        description="Backend development",
        quantity=Decimal("7.50"),
        unit="h",
        unit_amount_minor=15000,
        amount_minor=112500,
        discount_minor=0,
        tax_label="VAT 20%",
        tax_minor=22500,
    ),
    DocumentLine(
        description="Code review",
        quantity=Decimal("2.25"),
        unit="h",
        unit_amount_minor=12000,
        amount_minor=27000,
        discount_minor=2700,
        tax_label="VAT 20%",
        tax_minor=4860,
    ),
    DocumentLine(
        description="Hosting, March",
        quantity=Decimal("1"),
        unit="",
        unit_amount_minor=4999,
        amount_minor=4999,
        discount_minor=0,
        tax_label="Reverse charge",
        tax_minor=0,
    ),
)

INVOICE = Document(
    kind="invoice",
    number="INV-2026-0042",
    issued_on=date(2026, 3, 31),
    due_date=date(2026, 4, 30),
    period_start=date(2026, 3, 1),
    period_end=date(2026, 3, 31),
    currency="USD",
    seller=Party(
        name="Acme Consulting LLC",
        address="1 Main St\nSpringfield, IL 62701\nUSA",
        tax_id="US-12-3456789",
        emails=("billing@acme.test",),
    ),
    client=Party(
        name="Globex Corporation",
        address="Hauptstr. 5\n<script>alert('pwned')</script>\n10115 Berlin",
        tax_id="DE123456789",
        emails=("ap@globex.test",),
    ),
    lines=LINES,
    subtotal_minor=144499,
    discount_minor=2700,
    tax_minor=27360,
    total_minor=169159,
    taxes=(TaxSummary("VAT 20%", 136800, 27360), TaxSummary("Reverse charge", 4999, 0)),
    amount_paid_minor=50000,
    balance_minor=119159,
    notes="Thank you for your business.",
    payment_instructions="IBAN DE00 1234 5678 9012 3456 78\nReference INV-2026-0042",
)

CREDIT_NOTE = dataclasses.replace(
    INVOICE,
    kind="credit_note",
    number="CN-2026-0007",
    due_date=None,
    lines=LINES[2:],
    subtotal_minor=4999,
    discount_minor=0,
    tax_minor=0,
    total_minor=4999,
    taxes=(TaxSummary("Reverse charge", 4999, 0),),
    amount_paid_minor=0,
    balance_minor=None,
    original_number="INV-2026-0042",
    payment_instructions=None,
)


def pdf_text(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


@pytest.fixture(scope="module")
def invoice_pdf() -> bytes:
    return render_pdf(INVOICE)


def test_invoice_pdf_is_a_pdf(invoice_pdf: bytes) -> None:
    assert invoice_pdf.startswith(b"%PDF-")
    assert len(PdfReader(io.BytesIO(invoice_pdf)).pages) == 1


def test_invoice_pdf_shows_number_client_due_date_and_every_amount(invoice_pdf: bytes) -> None:
    text = pdf_text(invoice_pdf)
    expected = [
        "Invoice INV-2026-0042",
        "Globex Corporation",
        "2026-04-30",
        "7.50 h",
        "VAT 20%",
        "Reverse charge",
        "1,691.59 USD",
        "1,191.59 USD",
    ]
    for line in LINES:
        expected += [
            format_money(line.unit_amount_minor, "USD"),
            format_money(line.amount_minor, "USD"),
            format_money(line.tax_minor, "USD"),
        ]
    expected.append(format_money(-2700, "USD"))
    for snippet in expected:
        assert snippet in text, snippet


def test_html_escapes_party_text() -> None:
    html = render_html(INVOICE)
    assert "<script>" not in html
    assert "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in html


def test_credit_note_names_the_invoice_it_credits() -> None:
    text = pdf_text(render_pdf(CREDIT_NOTE))
    assert "Credit note CN-2026-0007" in text
    assert "Credits invoice INV-2026-0042" in text
    assert "Balance due" not in text


def test_voided_document_carries_a_banner(invoice_pdf: bytes) -> None:
    assert "VOID" not in pdf_text(invoice_pdf)
    voided = dataclasses.replace(INVOICE, status_label="VOID")
    assert "VOID" in pdf_text(render_pdf(voided))


@pytest.mark.parametrize(
    "html",
    [
        '<img src="http://127.0.0.1:9/logo.png">',
        '<link rel="stylesheet" href="https://example.invalid/a.css">',
        '<img src="file:///etc/hostname">',
        '<div style="background: url(data:image/png;base64,iVBORw0KGgo=)">x</div>',
    ],
)
def test_rendering_refuses_every_external_resource(html: str) -> None:
    with pytest.raises(PdfResourceRefused, match="Error fetching"):
        _write_pdf(html)


@pytest.mark.parametrize(
    ("amount_minor", "currency", "printed"),
    [
        (1235, "JPY", "1,235 JPY"),
        (0, "JPY", "0 JPY"),
        (123450, "USD", "1,234.50 USD"),
        (5, "USD", "0.05 USD"),
        (1235, "KWD", "1.235 KWD"),
        (-1200, "USD", "-12.00 USD"),
        (-5, "USD", "-0.05 USD"),
        (12345, "CLF", "1.2345 CLF"),
        (
            123456789012345678901234567890,
            "USD",
            "1,234,567,890,123,456,789,012,345,678.90 USD",
        ),
    ],
)
def test_format_money(amount_minor: int, currency: str, printed: str) -> None:
    assert format_money(amount_minor, currency) == printed


@given(
    amount_minor=st.integers(min_value=-(10**30), max_value=10**30),
    currency=st.sampled_from(sorted(CURRENCY_EXPONENTS)),
)
def test_format_money_round_trips(amount_minor: int, currency: str) -> None:
    number, code = format_money(amount_minor, currency).split(" ")
    assert code == currency
    exponent = CURRENCY_EXPONENTS[currency]
    assert len(number.partition(".")[2]) == exponent
    exact = Context(prec=100)
    assert int(Decimal(number.replace(",", "")).scaleb(exponent, context=exact)) == amount_minor
