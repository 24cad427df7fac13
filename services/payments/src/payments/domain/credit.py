"""Credit balances: spending one on a client's open invoices, and paying one out.

A balance only moves by movements in its ledger (`credit_movements`), and never below zero:
an application or a refund takes the balance's lock, reads it, and moves at most what it
holds. Each cent spent lands on exactly one invoice, at most what that invoice owes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal
from uuid import UUID

from payments.domain.payments import PaymentsError
from servicekit.problems import ConflictError, NotFoundError

MovementKind = Literal["overpayment", "applied", "returned", "refunded"]
RefundDestination = Literal["client", "credit_balance"]
CREDIT_METHOD = "credit_balance"


class NothingToApply(PaymentsError, ConflictError):
    slug = "nothing-to-apply"
    title = "No credit to apply, or nothing owed"


class CreditRefundRefused(PaymentsError, ConflictError):
    slug = "credit-refund-refused"
    title = "Refund is more than the credit balance"


class CreditApplicationNotFound(PaymentsError, NotFoundError):
    slug = "credit-application-not-found"
    title = "Credit application not found"


def allocate(balance_minor: int, owed_minor: Sequence[int], cap_minor: int | None) -> list[int]:
    """What to put on each invoice, in the order given: the oldest first takes all it owes
    until the balance (or the cap, when smaller) runs out."""
    left = max(balance_minor, 0) if cap_minor is None else min(max(balance_minor, 0), cap_minor)
    taken = []
    for owed in owed_minor:
        take = min(max(owed, 0), left)
        taken.append(take)
        left -= take
    return taken


@dataclass(frozen=True, slots=True)
class CreditMovement:
    """One entry of a client's credit ledger: positive adds to the balance."""

    tenant_id: UUID
    id: UUID
    client_id: UUID
    currency: str
    amount_minor: int
    kind: MovementKind
    payment_id: UUID | None
    invoice_id: UUID | None
    reference_id: UUID | None
    reason: str | None
    created_at: datetime
