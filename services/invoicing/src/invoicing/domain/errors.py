from __future__ import annotations

from servicekit import problems
from servicekit.problems import ConflictError, NotFoundError, ServiceError


class InvoicingError(ServiceError):
    """Base of invoicing's domain errors."""


class FieldInvalid(InvoicingError, problems.FieldInvalid):
    """A request field breaks a rule; the pointer names the field."""


class DuplicateValue(InvoicingError, ConflictError):
    slug = "duplicate-value"
    title = "Value already in use"

    def __init__(self, field: str, detail: str) -> None:
        super().__init__(detail, errors=[{"pointer": f"#/{field}", "detail": detail}])


class TransitionRefused(InvoicingError, ConflictError):
    """The document is not in a state that allows this step (issue a void invoice...)."""

    slug = "invalid-transition"
    title = "Not allowed in the document's current state"


class NothingToBill(InvoicingError, ConflictError):
    slug = "nothing-to-bill"
    title = "No unbilled work or lines for this invoice"


class RateMissing(InvoicingError, ConflictError):
    """Some billable entries have no rate rule in effect; nothing was drafted."""

    slug = "rate-missing"
    title = "No rate for some billable time"


class DraftStale(InvoicingError, ConflictError):
    """Entries on the draft changed since it was drafted; redraft before issuing."""

    slug = "draft-stale"
    title = "Draft is out of date"


class ReplicaMissing(InvoicingError, ConflictError):
    """The client or project has not reached invoicing yet (its event is still on the way)."""

    slug = "replica-missing"
    title = "Client or project not known to invoicing yet"


class InvoiceNotFound(InvoicingError, NotFoundError):
    slug = "invoice-not-found"
    title = "Invoice not found"


class ClientNotFound(InvoicingError, NotFoundError):
    slug = "client-not-found"
    title = "Client not found"


class TaxRateNotFound(InvoicingError, NotFoundError):
    slug = "tax-rate-not-found"
    title = "Tax rate not found"


class RateRuleNotFound(InvoicingError, NotFoundError):
    slug = "rate-rule-not-found"
    title = "Rate rule not found"


class BillingRunNotFound(InvoicingError, NotFoundError):
    slug = "billing-run-not-found"
    title = "Billing run not found"


class CreditNoteNotFound(InvoicingError, NotFoundError):
    slug = "credit-note-not-found"
    title = "Credit note not found"


class RecurringInvoiceNotFound(InvoicingError, NotFoundError):
    slug = "recurring-invoice-not-found"
    title = "Recurring invoice not found"


class LineAdjusted(InvoicingError, ConflictError):
    slug = "line-adjusted"
    title = "Line already adjusted by a later invoice"
