"""Event payload models, one module per stream."""

from contracts.events.budgets import BudgetThresholdCrossed
from contracts.events.clients import ClientState
from contracts.events.credit_notes import CreditNoteIssued
from contracts.events.invoices import (
    InvoiceIssued,
    InvoiceLine,
    InvoiceOverdue,
    InvoicePaid,
    InvoiceVoided,
    InvoiceWrittenOff,
)
from contracts.events.payments import (
    CreditPaidOut,
    PaymentMethod,
    PaymentReceived,
    PaymentRefunded,
)
from contracts.events.projects import ProjectState
from contracts.events.time_entries import TimeEntryState

__all__ = [
    "BudgetThresholdCrossed",
    "ClientState",
    "CreditNoteIssued",
    "CreditPaidOut",
    "InvoiceIssued",
    "InvoiceLine",
    "InvoiceOverdue",
    "InvoicePaid",
    "InvoiceVoided",
    "InvoiceWrittenOff",
    "PaymentMethod",
    "PaymentReceived",
    "PaymentRefunded",
    "ProjectState",
    "TimeEntryState",
]
