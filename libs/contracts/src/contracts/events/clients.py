"""Payload of `client.changed` (compacted topic `client-changed`)."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from contracts.events.base import ContractModel
from contracts.money import CurrencyCode

__all__ = ["ClientState"]


class ClientState(ContractModel):
    """Full state of a client after the change, for replicas built from the topic."""

    client_id: UUID = Field(description="The client; message key on `client-changed`.")
    version: int = Field(ge=1, description="Revision number, +1 on every change.")
    name: str = Field(min_length=1, description="Display and invoice name.")
    currency: CurrencyCode = Field(description="ISO 4217 code the client is invoiced in.")
    payment_terms_days: int = Field(ge=0, description="Days from issue to due date.")
    contact_emails: list[str] = Field(default=[], description="Where invoices and reminders go.")
    billing_address: str | None = Field(default=None, description="Postal address, free text.")
    tax_id: str | None = Field(default=None, description="Client's VAT or tax number.")
    default_tax_rate_id: UUID | None = Field(
        default=None, description="Tax rate applied to this client's lines unless overridden."
    )
    archived: bool = Field(default=False, description="Archived clients get no new work.")
    deleted: bool = Field(
        default=False, description="The client was deleted (it never had time); drop the replica."
    )
