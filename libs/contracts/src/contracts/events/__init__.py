"""Event payload models, one module per stream."""

from contracts.events.budgets import BudgetThresholdCrossed
from contracts.events.clients import ClientState
from contracts.events.invoices import InvoiceIssued, InvoiceLine, InvoiceVoided
from contracts.events.payments import PaymentMethod, PaymentReceived
from contracts.events.projects import ProjectState
from contracts.events.time_entries import TimeEntryState

__all__ = [
    "BudgetThresholdCrossed",
    "ClientState",
    "InvoiceIssued",
    "InvoiceLine",
    "InvoiceVoided",
    "PaymentMethod",
    "PaymentReceived",
    "ProjectState",
    "TimeEntryState",
]
