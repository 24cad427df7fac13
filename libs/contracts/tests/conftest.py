from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from uuid import UUID

import pytest
from pydantic import BaseModel

from contracts.events import (
    BudgetThresholdCrossed,
    ClientState,
    CreditNoteIssued,
    CreditPaidOut,
    InvoiceIssued,
    InvoiceLine,
    InvoiceOverdue,
    InvoicePaid,
    InvoiceVoided,
    InvoiceWrittenOff,
    PaymentMethod,
    PaymentReceived,
    PaymentRefunded,
    ProjectState,
    TimeEntryState,
)
from contracts.registry import EVENTS

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def uid(n: int) -> UUID:
    return UUID(int=n)


def _payloads() -> dict[type[BaseModel], BaseModel]:
    entry = TimeEntryState(
        entry_id=uid(1),
        version=1,
        member_id=uid(2),
        project_id=uid(3),
        task="Design",
        description="Wireframes",
        started_at=T0,
        ended_at=T0 + timedelta(hours=1, minutes=30),
        duration_seconds=5400,
        billable=True,
        tags=["ux"],
    )
    line = InvoiceLine(
        line_id=uid(10),
        description="Design, 1.5 h",
        project_id=uid(3),
        quantity=Decimal("1.5"),
        unit_amount_minor=12000,
        amount_minor=18000,
        discount_minor=1000,
        tax_rate_id=uid(11),
        tax_rate_percent=Decimal("20"),
        tax_minor=3400,
        time_entry_ids=[uid(1)],
    )
    invoice = InvoiceIssued(
        invoice_id=uid(20),
        number="INV-2026-0001",
        client_id=uid(4),
        currency="EUR",
        issued_at=T0,
        due_date=date(2026, 4, 1),
        period_start=date(2026, 3, 1),
        period_end=date(2026, 3, 31),
        lines=[line],
        subtotal_minor=18000,
        discount_minor=1000,
        tax_minor=3400,
        total_minor=20400,
        time_entry_ids=[uid(1)],
    )
    return {
        TimeEntryState: entry,
        InvoiceIssued: invoice,
        ClientState: ClientState(
            client_id=uid(4), version=3, name="Acme", currency="EUR", payment_terms_days=30
        ),
        ProjectState: ProjectState(
            project_id=uid(3),
            version=1,
            client_id=uid(4),
            name="Website",
            code="WEB",
            rounding_increment_minutes=15,
            budget_hours=Decimal("120.5"),
        ),
        InvoiceVoided: InvoiceVoided(
            invoice_id=uid(20),
            number="INV-2026-0001",
            client_id=uid(4),
            voided_at=T0 + timedelta(days=2),
            reason="Wrong client",
            time_entry_ids=[uid(1)],
        ),
        BudgetThresholdCrossed: BudgetThresholdCrossed(
            project_id=uid(3),
            client_id=uid(4),
            budget_kind="hours",
            threshold_percent=80,
            budget=120 * 3600,
            consumed=97 * 3600,
            crossed_at=T0,
            time_entry_id=uid(1),
        ),
        PaymentReceived: PaymentReceived(
            payment_id=uid(30),
            invoice_id=uid(20),
            client_id=uid(4),
            amount_minor=20400,
            currency="EUR",
            method=PaymentMethod.BANK_TRANSFER,
            received_at=T0 + timedelta(days=10),
            reference="SEPA-123",
        ),
        PaymentRefunded: PaymentRefunded(
            refund_id=uid(31),
            payment_id=uid(30),
            invoice_id=uid(20),
            client_id=uid(4),
            amount_minor=400,
            currency="EUR",
            refunded_at=T0 + timedelta(days=12),
            reason="Goodwill",
        ),
        CreditPaidOut: CreditPaidOut(
            payout_id=uid(32),
            client_id=uid(4),
            amount_minor=250,
            currency="EUR",
            paid_out_at=T0 + timedelta(days=14),
            reason="Account closed",
        ),
        InvoicePaid: InvoicePaid(
            invoice_id=uid(20),
            number="INV-2026-0001",
            client_id=uid(4),
            currency="EUR",
            total_minor=20400,
            amount_paid_minor=20400,
            amount_credited_minor=0,
            paid_at=T0 + timedelta(days=10),
        ),
        InvoiceOverdue: InvoiceOverdue(
            invoice_id=uid(20),
            number="INV-2026-0001",
            client_id=uid(4),
            currency="EUR",
            due_date=date(2026, 4, 1),
            balance_minor=20400,
            overdue_at=datetime(2026, 4, 2, 0, 5, tzinfo=UTC),
        ),
        InvoiceWrittenOff: InvoiceWrittenOff(
            invoice_id=uid(20),
            number="INV-2026-0001",
            client_id=uid(4),
            currency="EUR",
            amount_minor=20400,
            written_off_at=datetime(2026, 9, 1, tzinfo=UTC),
            reason="Client insolvent",
        ),
        CreditNoteIssued: CreditNoteIssued(
            credit_note_id=uid(40),
            number="CN-2026-0001",
            invoice_id=uid(20),
            invoice_number="INV-2026-0001",
            client_id=uid(4),
            currency="EUR",
            issued_at=T0 + timedelta(days=3),
            reason="Hours billed twice",
            lines=[line],
            subtotal_minor=18000,
            discount_minor=1000,
            tax_minor=3400,
            total_minor=20400,
        ),
    }


@pytest.fixture
def payloads() -> dict[type[BaseModel], BaseModel]:
    """One valid payload per registered model."""
    samples = _payloads()
    assert {spec.payload_model for spec in EVENTS.values()} <= samples.keys()
    return samples


@pytest.fixture
def invoice_data(payloads: dict[type[BaseModel], BaseModel]) -> dict[str, Any]:
    return payloads[InvoiceIssued].model_dump()


@pytest.fixture
def ids() -> Callable[[int], UUID]:
    return uid
