"""Payloads of `payment.received` and `payment.refunded` (keyed by invoice) and of
`credit.paid_out` (keyed by client)."""

from __future__ import annotations

from enum import StrEnum
from uuid import UUID

from pydantic import AwareDatetime, Field

from contracts.events.base import ContractModel
from contracts.money import CurrencyCode

__all__ = ["CreditPaidOut", "PaymentMethod", "PaymentReceived", "PaymentRefunded", "RefundedTo"]


class PaymentMethod(StrEnum):
    """How the money arrived."""

    CARD = "card"
    BANK_TRANSFER = "bank_transfer"
    ACH = "ach"
    CASH = "cash"
    CHECK = "check"
    OTHER = "other"
    # The client's credit balance (an earlier overpayment) spent on this invoice.
    CREDIT_BALANCE = "credit_balance"


class RefundedTo(StrEnum):
    """Where money taken off an invoice went."""

    CLIENT = "client"
    # The client's credit balance: a refund of a payment made from it, or what a credit
    # note left paid beyond the invoice's new total.
    CREDIT_BALANCE = "credit_balance"


class PaymentReceived(ContractModel):
    """Money received against one invoice."""

    payment_id: UUID = Field(description="The payment.")
    invoice_id: UUID = Field(description="Invoice paid; message key on `payment-received`.")
    client_id: UUID = Field(description="Client who paid.")
    amount_minor: int = Field(gt=0, description="Amount received in minor units of `currency`.")
    currency: CurrencyCode = Field(description="ISO 4217 code; the invoice's currency.")
    method: PaymentMethod = Field(description="How the money arrived.")
    received_at: AwareDatetime = Field(description="When the money was received.")
    reference: str | None = Field(
        default=None, description="Provider or bank reference, for reconciliation."
    )


class PaymentRefunded(ContractModel):
    """Money paid against an invoice went back to the client."""

    refund_id: UUID = Field(description="The refund.")
    payment_id: UUID = Field(description="The payment refunded, wholly or in part.")
    invoice_id: UUID = Field(
        description="Invoice the payment paid; message key on `payment-refunded`."
    )
    client_id: UUID = Field(description="Client refunded.")
    amount_minor: int = Field(gt=0, description="Amount refunded in minor units of `currency`.")
    currency: CurrencyCode = Field(description="ISO 4217 code; the payment's currency.")
    refunded_at: AwareDatetime = Field(description="When the refund was made.")
    reason: str | None = Field(default=None, description="Why, free text.")
    destination: RefundedTo = Field(
        default=RefundedTo.CLIENT,
        description="Back to the client, or into their credit balance (the money stays "
        "with us, off this invoice).",
    )


class CreditPaidOut(ContractModel):
    """Money of a client's credit balance went back to the client (no invoice involved)."""

    payout_id: UUID = Field(description="The payout, as in the balance's movements.")
    client_id: UUID = Field(description="Client paid; message key on `credit-paid-out`.")
    amount_minor: int = Field(gt=0, description="Amount paid out in minor units of `currency`.")
    currency: CurrencyCode = Field(description="ISO 4217 code of the balance paid from.")
    paid_out_at: AwareDatetime = Field(description="When the payout was recorded.")
    reason: str | None = Field(default=None, description="Why, free text.")
