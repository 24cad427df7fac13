"""Payments: how much of a payment goes onto its invoice and how much to the client's credit.

Every cent that enters is on exactly one invoice (`applied_minor`) or in the client's credit
balance (`to_credit_minor`); a refund never takes back more than the payment put on the
invoice and has not been refunded yet.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from servicekit.problems import ConflictError, NotFoundError, ServiceError

Status = Literal["pending", "succeeded", "failed"]
Excess = Literal["credit_balance", "reject"]


class PaymentsError(ServiceError):
    """Base of payments' domain errors."""


class InvoiceNotFound(PaymentsError, NotFoundError):
    slug = "invoice-not-found"
    title = "Invoice not found (or not issued yet)"


class ClientNotFound(PaymentsError, NotFoundError):
    slug = "client-not-found"
    title = "Client not found"


class PaymentNotFound(PaymentsError, NotFoundError):
    slug = "payment-not-found"
    title = "Payment not found"


class OverpaymentRefused(PaymentsError, ConflictError):
    slug = "overpayment-refused"
    title = "Payment is more than the invoice owes"


class CurrencyMismatch(PaymentsError):
    status = 422
    slug = "currency-mismatch"
    title = "Payment currency is not the invoice's"


class RefundNotFound(PaymentsError, NotFoundError):
    slug = "refund-not-found"
    title = "Refund not found"


class RefundRefused(PaymentsError, ConflictError):
    slug = "refund-refused"
    title = "Refund not possible"


class TransitionRefused(PaymentsError, ConflictError):
    slug = "invalid-transition"
    title = "Not allowed in the payment's current status"


@dataclass(frozen=True, slots=True)
class Receivable:
    tenant_id: UUID
    invoice_id: UUID
    client_id: UUID
    number: str
    currency: str
    total_minor: int
    credited_minor: int
    paid_minor: int
    void: bool
    due_date: object
    issued_at: datetime

    @property
    def owed_minor(self) -> int:
        """What a payment may still put on the invoice (nothing on a void one)."""
        return 0 if self.void else max(self.total_minor - self.credited_minor - self.paid_minor, 0)


def apportion(amount_minor: int, owed_minor: int, excess: Excess) -> tuple[int, int]:
    """(applied to the invoice, to the credit balance) of a payment of `amount_minor`."""
    applied = min(amount_minor, max(owed_minor, 0))
    rest = amount_minor - applied
    if rest and excess == "reject":
        raise OverpaymentRefused(
            f"the invoice owes {owed_minor}; {rest} more would be an overpayment "
            "(send excess=credit_balance to keep it as the client's credit)",
            errors=[{"pointer": "#/amount_minor", "detail": f"at most {owed_minor}"}],
        )
    return applied, rest


def refundable(applied_minor: int, refunded_minor: int) -> int:
    return applied_minor - refunded_minor


@dataclass(frozen=True, slots=True)
class Payment:
    tenant_id: UUID
    id: UUID
    invoice_id: UUID
    client_id: UUID
    currency: str
    amount_minor: int
    applied_minor: int
    to_credit_minor: int
    refunded_minor: int
    method: str
    excess: Excess
    received_at: datetime
    reference: str | None
    notes: str | None
    status: Status
    version: int
    created_at: datetime
    updated_at: datetime
    succeeded_at: datetime | None
    failed_at: datetime | None
    # Set on a payment made from the client's credit balance (method credit_balance).
    credit_application_id: UUID | None = None


@dataclass(frozen=True, slots=True)
class Refund:
    """Money taken back off a payment: to the client, or into their credit balance."""

    tenant_id: UUID
    id: UUID
    payment_id: UUID
    invoice_id: UUID
    amount_minor: int
    reason: str | None
    destination: str
    created_at: datetime
    # For money a provider holds: its refund (or dispute) this records, and what became of
    # it there ('recorded', or 'failed' once the provider gave the money back).
    provider: str | None
    provider_refund_id: str | None
    provider_state: str | None
